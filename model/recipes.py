"""Training recipes: which precision each part of a training step runs at.

One table, ``RECIPES``; every recipe is a ``Recipe`` row.  The 4-bit recipe
is the one of Sun et al. (NeurIPS 2020) as fixed by SPEC 1:

- weights: SAWB INT4 (``model.quant.sawb_quantize``);
- activations feeding a GEMM: PACT UINT4 with a learnable clip (the ReLU in
  front of a layer becomes a PACT); the network's own inputs, which have no
  ReLU in front of them, get a fixed scale calibrated once on the first batch
  (max |x|; unsigned UINT4 when the data are non-negative, symmetric INT4
  otherwise);
- output gradients dL/dY: radix-4 FP4, per-layer GradScale (SPEC 1.4) and
  two-phase rounding (SPEC 1.5), nearest rounding;
- every forward, dX and dW product is an exact integer GEMM on a backend.

Around the quantizers, every recipe centers the output layer (the trainer
projects its gradient onto the zero class-mean subspace softmax can see; a
no-op on exact gradients, see ``model.train``); ``4bit-nocenter`` does not.
A layer kept at 8 bits (``4bit-8bit-ends``) is 8-bit in its weights, its
input activations and its output gradient (INT8), all run as nibble GEMMs.

The ablations change one thing each.  ``4bit-sr-last`` is not an ablation
but a variant: it departs from the 4-bit recipe in the output layer's
gradient rounding only (stochastic there, nearest elsewhere).  ``fp32`` computes in floating point
(float64 arithmetic, float32 master weights) and never touches a backend.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["Recipe", "RECIPES", "get_recipe", "RECIPE_NAMES"]


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
    description: str = ""

    def layer_bits(self, index: int, count: int) -> tuple[int, int]:
        """(weight bits, input-activation bits) of GEMM layer ``index`` of ``count``."""
        if self.ends_bits is not None and index in (0, count - 1):
            return self.ends_bits, self.ends_bits
        return self.weight_bits, self.act_bits

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


_4BIT = Recipe("4bit", description="INT4 SAWB weights, UINT4 PACT activations, "
                                   "radix-4 FP4 gradients with GradScale and TPR")

RECIPES: dict[str, Recipe] = {r.name: r for r in (
    Recipe("fp32", quantized=False, description="floating-point baseline (no backend)"),
    _4BIT,
    replace(_4BIT, name="4bit-notpr", tpr=False,
            description="4bit without two-phase rounding (phase 0 for dX and dW)"),
    replace(_4BIT, name="4bit-nogradscale", grad_scale=False,
            description="4bit with one fixed sigma for all layers and steps, "
                        "calibrated once on the first gradient encoded"),
    replace(_4BIT, name="4bit-radix2", grad_format="fp4r2",
            description="4bit with radix-2 FP4 gradients (levels 2x apart, 64x range)"),
    replace(_4BIT, name="4bit-stochastic", rounding="stochastic",
            description="4bit with stochastic rounding of the FP4 gradients"),
    replace(_4BIT, name="4bit-sr-last", output_rounding="stochastic",
            description="4bit with stochastic rounding of the output layer's gradient "
                        "(the softmax gradient) only; nearest everywhere else"),
    replace(_4BIT, name="4bit-8bit-ends", ends_bits=8,
            description="4bit with the first and last layers at 8 bits: INT8 weights, "
                        "UINT8 input activations and INT8 output gradients "
                        "(nibble decomposition)"),
    replace(_4BIT, name="4bit-nocenter", center_output=False,
            description="4bit without removing, before each step, the component of the "
                        "output layer's gradient shared by all classes (which softmax "
                        "cannot see)"),
    replace(_4BIT, name="4bit-onchip", onchip="exact",
            description="4bit with every activation and gradient entering a GEMM produced by "
                        "the on-chip quantization unit (SPEC 1.7), exact GradScale in two "
                        "passes (model.onchip)"),
    replace(_4BIT, name="4bit-onchip-delayed", onchip="delayed",
            description="4bit-onchip with GradScale's sigma from the previous step's amax "
                        "(one pass, saturating per SPEC 1.3)"),
)}

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
