"""Training recipes: which precision each part of a training step runs at.

One table, ``RECIPES``; every recipe is a ``Recipe`` row.  The 4-bit
arithmetic is that of Sun et al. (NeurIPS 2020) as fixed by SPEC 1:

- weights: SAWB INT4 (``model.quant.sawb_quantize``);
- activations feeding a GEMM: PACT UINT4 with a learnable clip (the ReLU in
  front of a layer becomes a PACT); the network's own inputs, which have no
  ReLU in front of them, get a fixed scale calibrated once on the first batch
  (max |x|; unsigned UINT4 when the data are non-negative, symmetric INT4
  otherwise);
- output gradients dL/dY: radix-4 FP4, per-layer GradScale (SPEC 1.4) and
  two-phase rounding (SPEC 1.5), nearest rounding;
- every forward, dX and dW product is an exact integer GEMM on a backend.

Names follow SPEC 4.  ``4bit`` is the field's convention (and the paper's):
the first and last GEMM layers run at 8 bits -- INT8 weights, UINT8 input
activations, INT8 output gradients, all as nibble GEMMs on the same 4-bit
datapath -- and every other GEMM is 4-bit as above.  ``4bit-all`` makes
every GEMM 4-bit (until issue 16 this recipe was called ``4bit``, and the
8-bit-ends one ``4bit-8bit-ends``).  The ablations ``4bit-<change>`` change
one thing each against ``4bit``.  ``4bit-all-sr-last`` is a variant of
``4bit-all`` (stochastic rounding of the softmax gradient only), kept
because it isolates the bias finding of docs/results.md; with 8-bit ends
that gradient is INT8, so the variant would be moot on ``4bit``.  ``luq`` is
the peer method of Chmiel et al.; ``4bit-onchip*`` are ``4bit-all`` with
quantization on chip (the unit emits 4-bit codes only); ``4bit-onchip-sr``
rounds the gradients stochastically, with the unit's own generators.  ``mxfp4`` and
``nvfp4`` are the block-scaled E2M1 formats of issue 25 (``model.block_*``,
docs/formats.md): their GEMM layers quantize float operands to blocks along
each GEMM's reduction axis and run ``backend.block_gemm``; no PACT (a ReLU
stays a ReLU in front of a block layer).

Around the quantizers, every recipe centers the output layer (the trainer
projects its gradient onto the zero class-mean subspace softmax can see; a
no-op on exact gradients, see ``model.train``); ``4bit-nocenter`` does not.
``fp32`` computes in floating point (float64 arithmetic, float32 master
weights) and never touches a backend.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["Recipe", "RECIPES", "get_recipe", "RECIPE_NAMES", "hardware_formats", "check_hardware"]


@dataclass(frozen=True)
class Recipe:
    """Precision settings of one training recipe."""

    name: str
    quantized: bool = True
    weight_bits: int = 4            # SAWB INT4 (8: max-abs INT8)
    act_bits: int = 4               # PACT UINT4 (8: UINT8)
    grad_format: str = "fp4"        # log format of dL/dY: "fp4" (radix 4) or "fp4r2"
    grad_scale: bool = True         # per-layer, per-step sigma (SPEC 1.4)
    tpr: bool = True                # two-phase rounding (SPEC 1.5)
    rounding: str = "nearest"       # or "stochastic"
    ends_bits: int | None = None    # first and last GEMM layers (weights, inputs and
                                    # output gradients) at this many bits
    center_output: bool = True      # drop the class-shared part of the output layer's gradient
    output_rounding: str | None = None  # rounding of the last GEMM layer's dL/dY (None: ``rounding``)
    onchip: str | None = None       # quantization on chip (model.onchip): "exact" or "delayed"
    block: str | None = None        # block format of the GEMM layers (model.block_formats)
    block_rht: bool = False         # random Hadamard transform on the dW GEMM's inputs
    block_2d_weights: bool = False  # weights in B x B tiles (one quantization for fwd and dX)
    block_attention: bool = True    # attention products (Q.K^T, P.V) in the block format too
    description: str = ""

    def layer_bits(self, index: int, count: int) -> tuple[int, int]:
        """(weight bits, input-activation bits) of GEMM layer ``index`` of ``count``."""
        if self.ends_bits is not None and index in (0, count - 1):
            return self.ends_bits, self.ends_bits
        return self.weight_bits, self.act_bits

    def layer_block(self, index: int, count: int) -> str | None:
        """Block format of GEMM layer ``index`` of ``count`` (None: integer path)."""
        if self.ends_bits is not None and index in (0, count - 1):
            return None
        return self.block

    def layer_grad_bits(self, index: int, count: int) -> int:
        """Bits of GEMM layer ``index``'s output gradient: 4 (FP4) or 8 (INT8)."""
        if self.ends_bits is not None and index in (0, count - 1):
            return self.ends_bits
        return 4

    def grad_rounding(self, index: int, count: int) -> str:
        """FP4 rounding mode of the output gradient of GEMM layer ``index`` of ``count``."""
        if self.output_rounding is not None and index == count - 1:
            return self.output_rounding
        return self.rounding


_4BIT_ALL = Recipe("4bit-all", description="every GEMM layer 4-bit: INT4 SAWB weights, UINT4 PACT "
                                          "activations, radix-4 FP4 gradients with GradScale and TPR")
# The field's convention (SPEC 4): first and last GEMM layers at 8 bits, run
# as nibble GEMMs on the same 4-bit datapath; every other GEMM as 4bit-all.
_4BIT = replace(_4BIT_ALL, name="4bit", ends_bits=8,
                description="first and last GEMM layers at 8 bits (INT8 weights, UINT8 input "
                            "activations, INT8 output gradients; nibble GEMMs), every other GEMM "
                            "as 4bit-all: INT4 SAWB, UINT4 PACT, radix-4 FP4 gradients with "
                            "GradScale and TPR, nearest rounding")

RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("fp32", quantized=False, description="floating-point baseline (no backend)"),
    _4BIT,
    _4BIT_ALL,
    replace(_4BIT, name="4bit-notpr", tpr=False,
            description="4bit without two-phase rounding (phase 0 for dX and dW)"),
    replace(_4BIT, name="4bit-nogradscale", grad_scale=False,
            description="4bit with one fixed sigma for all layers and steps, "
                        "calibrated once on the first gradient encoded"),
    replace(_4BIT, name="4bit-radix2", grad_format="fp4r2",
            description="4bit with radix-2 FP4 gradients (levels 2x apart, 64x range); "
                        "golden model only (the PE shifts by radix-4 steps)"),
    replace(_4BIT, name="4bit-stochastic", rounding="stochastic",
            description="4bit with stochastic rounding of the FP4 gradients"),
    replace(_4BIT, name="4bit-nocenter", center_output=False,
            description="4bit without removing, before each step, the component of the "
                        "output layer's gradient shared by all classes (which softmax "
                        "cannot see)"),
    replace(_4BIT_ALL, name="4bit-all-sr-last", output_rounding="stochastic",
            description="4bit-all with stochastic rounding of the output layer's FP4 gradient "
                        "(the softmax gradient) only; nearest everywhere else"),
    # LUQ (Chmiel et al., ICLR 2023): radix-2 FP4 gradients scaled to the
    # tensor's max, rounded stochastically between adjacent powers of two
    # (unbiased in the log domain) and stochastically to 0 or the smallest
    # level below it -- exactly SPEC 1.3's stochastic rule on the radix-2
    # grid.  LUQ has no two-phase rounding.  Same 8-bit ends as 4bit, so the
    # two differ only in how the hidden gradients are quantized.  LUQ's
    # optional extras (averaging several samples, a high-precision
    # fine-tuning phase) are left out.
    replace(_4BIT, name="luq", grad_format="fp4r2", rounding="stochastic", tpr=False,
            description="LUQ (Chmiel et al., ICLR 2023) with 4bit's 8-bit ends: radix-2 FP4 "
                        "gradients scaled to max |g|, unbiased stochastic rounding between "
                        "powers of two, stochastic underflow below the smallest level, no TPR; "
                        "golden model only (the PE shifts by radix-4 steps)"),
    # The on-chip unit emits 4-bit codes only, so these stay all-4-bit.
    replace(_4BIT_ALL, name="4bit-onchip", onchip="exact",
            description="4bit-all with every activation and gradient entering a GEMM produced "
                        "by the on-chip quantization unit (SPEC 1.7), exact GradScale in two "
                        "passes (model.onchip)"),
    replace(_4BIT_ALL, name="4bit-onchip-delayed", onchip="delayed",
            description="4bit-onchip with GradScale's sigma from the previous step's amax "
                        "(one pass, saturating per SPEC 1.3)"),
    # The unit's stochastic rounding (its xorshift32 lanes, SPEC 1.7) for the
    # hidden gradients; the loss gradient, quantized on the host as in
    # 4bit-onchip, uses the host's stochastic rule (SPEC 1.3) like 4bit-stochastic.
    replace(_4BIT_ALL, name="4bit-onchip-sr", onchip="exact", rounding="stochastic",
            description="4bit-onchip with stochastic rounding of the FP4 gradients: the "
                        "unit's per-lane xorshift32 for every hidden gradient, the host's "
                        "stochastic rule for the loss gradient"),
    # Block-scaled E2M1 (issue 25).  Gradients (dL/dY) are rounded
    # stochastically, weights and activations to nearest (even).
    Recipe("mxfp4", block="mxfp4", rounding="stochastic",
           description="every GEMM in OCP MXFP4 (E2M1 elements, blocks of 32 along the "
                       "reduction axis, E8M0 scale by the OCP rule), nearest rounding of "
                       "weights and activations, stochastic rounding of gradients"),
    Recipe("nvfp4", block="nvfp4", rounding="stochastic", ends_bits=8, block_rht=True,
           block_2d_weights=True, block_attention=False,
           description="NVIDIA's NVFP4 recipe (arXiv 2509.25149): E2M1 elements, blocks of 16, "
                       "UE4M3 block scale and FP32 tensor scale; 16x16 weight tiles, random "
                       "Hadamard transform (16-point) on both dW inputs, stochastic rounding "
                       "of gradients; first and last GEMM layers at 8 bits as in 4bit, "
                       "attention products in float as in the paper"),
)}
# The 2 x 2 of issue 25's comparison: each block recipe also with the other
# choice of end layers, so formats can be compared at equal ends
# (4bit / luq / nvfp4 / mxfp4-ends; 4bit-all / mxfp4 / nvfp4-all).
RECIPES["mxfp4-ends"] = replace(RECIPES["mxfp4"], name="mxfp4-ends", ends_bits=8,
                                description="mxfp4 with 4bit's 8-bit first and last GEMM layers")
RECIPES["nvfp4-all"] = replace(RECIPES["nvfp4"], name="nvfp4-all", ends_bits=None,
                               description="nvfp4 with every GEMM layer in NVFP4 (no 8-bit ends)")


RTL_BACKENDS = ("verilator", "icarus")   # backend names that run the PE (not the model)


def hardware_formats(recipe: str | Recipe) -> set[str]:
    """The 4-bit formats a quantized recipe's GEMMs feed the datapath (model only: empty)."""
    r = get_recipe(recipe)
    if not r.quantized:
        return set()
    if r.block:
        return {"e2m1"} | ({"int4", "uint4"} if r.ends_bits else set())
    return {"int4", "uint4", r.grad_format}


def check_hardware(recipe: str | Recipe, backend_name: str) -> None:
    """Raise ``ValueError`` if ``recipe`` cannot run on the RTL backend ``backend_name``.

    The PE multiplies a log code by a shift of ``2*(e-1)`` (radix 4, SPEC 2);
    a radix-2 code would need a shift of ``e-1``, which it does not have, so
    recipes with ``fp4r2`` gradients are golden-model only.  Refusing up front
    beats failing in the first backward GEMM after the simulator has been built.
    A block recipe's E2M1 GEMMs run on a tile of its format's PEs, its 8-bit
    ends on a radix-4 tile beside it (``sim.tile_pair``).
    """
    from .formats import get_format
    r = get_recipe(recipe)
    if backend_name not in RTL_BACKENDS:
        return
    block_codes = {"e2m1"} if r.block else set()
    missing = sorted(f for f in hardware_formats(r) - block_codes
                     if get_format(f).hw_code is None)
    if missing:
        raise ValueError(f"recipe {r.name!r} uses {', '.join(missing)} codes, which the PE "
                         f"cannot multiply (it shifts by radix-4 steps only); run it with "
                         f"--backend golden")


RECIPE_NAMES = tuple(RECIPES)


def get_recipe(recipe: str | Recipe) -> Recipe:
    """A recipe by name (or the recipe itself); unknown names raise ``ValueError``."""
    if isinstance(recipe, Recipe):
        return recipe
    try:
        return RECIPES[recipe]
    except (KeyError, TypeError):
        raise ValueError(f"unknown recipe {recipe!r}; expected one of "
                         f"{', '.join(RECIPES)}") from None
