"""Weight and activation quantizers (SPEC 1.6) and 8-bit nibble decomposition.

- SAWB for INT4 weights; 8-bit weights (first/last layer recipes) use a
  max-abs scale, since SAWB's fitted coefficients are for 4 bits only.
- PACT for UINT4 (or UINT8) activations with its learnable clip ``alpha``.
- ``decompose`` / ``nibble_gemm``: an 8-bit operand is ``16*hi + lo`` with
  ``lo`` uint4 and ``hi`` int4 (signed) or uint4 (unsigned), so an 8-bit GEMM
  is a handful of exact 4-bit GEMMs recombined with shifts.

Float edges (subnormals, the largest finite floats, +-0, one element, huge
dynamic range in one tensor): every quantizer returns correct codes with a
step (``scale``) that is a positive *normal* float64, or raises
``ValueError`` naming the tensor.  A step that would be subnormal or zero
(the tensor's magnitude is below about ``qmax * 2^-1022``) or infinite is
refused rather than returned: a zero step silently dequantizes everything to
0, a subnormal one has lost the precision the codes assume.  All-zero tensors
(including -0.0) get step 1 and zero codes.  Docs: docs/architecture.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .formats import check_codes, get_format
from .gemm import gemm_exact

__all__ = ["Quantized", "sawb_alpha", "sawb_quantize", "ste_grad",
           "pact_quantize", "pact_grad", "WIDE_FORMATS", "decompose",
           "recombine", "nibble_parts", "nibble_gemm", "format_bits", "int8_grad_quantize",
           "check_step"]

SAWB_C1, SAWB_C2 = 12.1, 12.2
_TINY = float(np.finfo(np.float64).tiny)   # smallest normal float64, 2^-1022
# SAWB squares the weights; outside this magnitude range the squares (or
# their mean) could over- or underflow, so such a tensor is first scaled by a
# power of two, which is exact, and the formula is scale-invariant.
_SAWB_SAFE = (2.0 ** -250, 2.0 ** 250)


@dataclass(frozen=True)
class Quantized:
    """Codes, their format and the real value of one code step."""

    codes: np.ndarray
    fmt: str
    scale: float

    def dequantize(self) -> np.ndarray:
        from .formats import int_value
        if self.fmt in WIDE_FORMATS:
            return self.codes.astype(np.float64) * self.scale
        return int_value(self.codes, self.fmt).astype(np.float64) * self.scale


def _finite(x, name):
    arr = np.asarray(x, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or inf; refusing to quantize")
    return arr


def check_step(step: float, name: str, what: str) -> float:
    """``step`` if it is a positive normal finite float, else a ValueError naming the tensor."""
    if not (_TINY <= step and math.isfinite(step)):
        raise ValueError(f"{name}: {what} gives the quantization step {step!r}, which is not a "
                         f"positive normal float64 (the tensor's magnitude is outside the "
                         f"range the format can scale)")
    return step


def _fit_top(step: float, qmax: int) -> tuple[float, int]:
    """``(step, limit)`` such that every code up to ``limit`` dequantizes to a finite value.

    Only tensors within a few steps of the largest float need this.  When
    ``qmax * step`` overflows only because the step was rounded up, the step
    goes down by one ulp (codes are unchanged and still nearest).  Otherwise
    (a SAWB clip above the largest float) the codes saturate at the largest
    one whose value is finite, as FP4 saturates at its top level.
    """
    _huge = float(np.finfo(np.float64).max)
    if qmax * step <= _huge:
        return step, qmax
    lower = float(np.nextafter(step, 0.0))
    if qmax * lower <= _huge:
        return lower, qmax
    return step, int(_huge // step)


def _sawb_alpha_exp(w: np.ndarray) -> tuple[float, int]:
    """SAWB's clip as ``(a, k)``, ``alpha = a * 2^k``, free of over- and underflow."""
    amax = float(np.max(np.abs(w)))
    k = 0
    if amax > 0 and not _SAWB_SAFE[0] <= amax <= _SAWB_SAFE[1]:
        k = int(np.frexp(amax)[1])
        w = np.ldexp(w, -k)
    alpha = SAWB_C1 * np.sqrt(np.mean(w * w)) - SAWB_C2 * np.mean(np.abs(w))
    if alpha <= 0:
        alpha = float(np.max(np.abs(w)))
    return float(alpha), k


def sawb_alpha(w, name: str = "weights") -> float:
    """SAWB clip: ``12.1*sqrt(E[w^2]) - 12.2*E[|w|]``, or ``max|w|`` if that is <= 0.

    Exact to the float's rounding for every finite tensor (see ``_SAWB_SAFE``);
    a clip beyond the largest float64 (weights near 1e308) raises ``ValueError``.
    """
    w = _finite(w, name)
    if w.size == 0:
        return 0.0
    a, k = _sawb_alpha_exp(w)
    with np.errstate(over="ignore"):   # checked just below
        alpha = float(np.ldexp(a, k))
    if not math.isfinite(alpha):
        raise ValueError(f"{name}: the SAWB clip {a!r} * 2^{k} overflows float64")
    return alpha


def sawb_quantize(w, bits: int = 4, *, name: str = "weights") -> Quantized:
    """Symmetric weight quantizer: INT4 by SAWB, INT8 by max-abs.

    Codes lie in ``[-(2^(bits-1)-1), 2^(bits-1)-1]`` (``np.rint``, ties to
    even).  An all-zero tensor gets scale 1 and all-zero codes; a tensor too
    small or too large for a normal scale raises ``ValueError`` naming ``name``.
    """
    w = _finite(w, name)
    if bits not in (4, 8):
        raise ValueError(f"weight quantizer supports 4 or 8 bits, got {bits}")
    fmt = "int4" if bits == 4 else "int8"
    qmax = (1 << (bits - 1)) - 1
    if w.size == 0 or not np.any(w):
        return Quantized(np.zeros(w.shape, dtype=np.int8), fmt, 1.0)
    if bits == 4:
        # alpha / qmax, scaled back by 2^k only after the division, so a clip
        # just above the largest float still gives a finite step.
        a, k = _sawb_alpha_exp(w)
        step = a / qmax if k == 0 else float(np.ldexp(a / qmax, k))
    else:
        step = float(np.max(np.abs(w))) / qmax
    scale = check_step(step, name, f"{fmt} quantization of max |w| = "
                                      f"{float(np.max(np.abs(w))):.6g}")
    scale, limit = _fit_top(scale, qmax)
    with np.errstate(over="ignore"):   # w / scale beyond float64 saturates in the clip
        codes = np.clip(np.rint(w / scale), -limit, limit).astype(np.int8)
    return Quantized(codes, fmt, scale)


def int8_grad_quantize(g, name: str = "gradient") -> Quantized:
    """INT8 gradient for a layer a recipe runs at 8 bits (SPEC 1.6).

    Symmetric, scaled by the tensor's own max (``scale = max|g| / 127``, the
    integer analogue of GradScale), nearest rounding (``np.rint``).  The
    datapath multiplies it as two nibbles like any 8-bit operand.  NaN or inf
    raises ``ValueError`` naming the tensor; an all-zero tensor gets scale 1.
    """
    g = np.asarray(g, dtype=np.float64)
    if not np.isfinite(g).all():
        raise ValueError(f"{name}: gradient contains NaN or inf; refusing to encode")
    amax = float(np.max(np.abs(g))) if g.size else 0.0
    if amax == 0:
        return Quantized(np.zeros(g.shape, dtype=np.int8), "int8", 1.0)
    # amax / 127 underflows (to a subnormal or 0) for amax below 127 * 2^-1022.
    scale = check_step(amax / 127, name, f"INT8 gradient scaling of max |g| = {amax:.6g}")
    scale, _ = _fit_top(scale, 127)   # max-abs scaling: always a one-ulp fix at most
    codes = np.clip(np.rint(g / scale), -127, 127).astype(np.int8)
    return Quantized(codes, "int8", scale)


def ste_grad(grad_out):
    """Straight-through estimator: the weight quantizer passes gradients as is."""
    return np.asarray(grad_out, dtype=np.float64)


def pact_quantize(x, alpha: float, bits: int = 4, *, name: str = "activations") -> Quantized:
    """PACT: ``rint(clip(x, 0, alpha) / alpha * (2^bits - 1))``, unsigned codes.

    ``alpha`` must be finite and at least ``(2^bits - 1) * 2^-1022`` (so the
    step ``alpha / (2^bits - 1)`` is a normal float); otherwise ``ValueError``
    naming ``name``.
    """
    x = _finite(x, name)
    if not np.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"{name}: PACT alpha must be a positive finite number, got {alpha!r}")
    if bits not in (4, 8):
        raise ValueError(f"PACT supports 4 or 8 bits, got {bits}")
    levels = (1 << bits) - 1
    scale = check_step(float(alpha) / levels, name, f"PACT alpha {float(alpha)!r}")
    scale, _ = _fit_top(scale, levels)   # codes come from alpha; only the step may move
    codes = np.rint(np.clip(x, 0.0, alpha) / alpha * levels).astype(np.uint8)
    return Quantized(codes, "uint4" if bits == 4 else "uint8", scale)


def pact_grad(x, alpha: float, grad_out):
    """Straight-through PACT gradients: ``(dL/dx, dL/dalpha)``."""
    x = np.asarray(x, dtype=np.float64)
    g = np.asarray(grad_out, dtype=np.float64)
    if g.shape != x.shape:
        raise ValueError(f"PACT gradient shape {g.shape} does not match input {x.shape}")
    pass_through = (x >= 0) & (x < alpha)
    return g * pass_through, float(np.sum(g * (x >= alpha)))


# --------------------------------------------------------------------------
# 8-bit operands on the 4-bit datapath

# name -> (signed, bits, 4-bit format of the high nibble)
WIDE_FORMATS = {"int8": (True, 8, "int4"), "uint8": (False, 8, "uint4")}


def format_bits(fmt: str) -> int:
    if fmt in WIDE_FORMATS:
        return WIDE_FORMATS[fmt][1]
    return get_format(fmt).bits


def _check_wide(codes, fmt, name):
    signed, bits, _ = WIDE_FORMATS[fmt]
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    arr = np.asarray(codes)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: {fmt} codes must have an integer dtype, got {arr.dtype}")
    if arr.size and arr.dtype.kind == "u" and int(arr.max()) > hi:
        # Before the cast: uint64 codes above 2^63 would wrap to negative int64.
        raise ValueError(f"{name}: code out of range for {fmt} [{lo}, {hi}]")
    wide = arr.astype(np.int64)
    if wide.size and (wide.min() < lo or wide.max() > hi):
        raise ValueError(f"{name}: code out of range for {fmt} [{lo}, {hi}]")
    return wide


def decompose(codes, fmt: str, name: str = "codes"):
    """Split codes into 4-bit parts: a list of ``(codes4, fmt4, shift)``.

    ``sum(iv(codes4) << shift) == value``.  4-bit formats are returned as one
    part with shift 0.
    """
    if fmt not in WIDE_FORMATS:
        spec = get_format(fmt)
        return [(check_codes(codes, fmt, name).astype(spec.dtype), fmt, 0)]
    wide = _check_wide(codes, fmt, name)
    _, _, hi_fmt = WIDE_FORMATS[fmt]
    lo = (wide & 15).astype(np.uint8)
    hi = (wide >> 4).astype(get_format(hi_fmt).dtype)  # arithmetic shift keeps the sign
    return [(hi, hi_fmt, 4), (lo, "uint4", 0)]


def recombine(codes4_parts) -> np.ndarray:
    """Inverse of ``decompose`` on integer formats (for tests and tools)."""
    from .formats import int_value
    return sum(int_value(c, f) << s for c, f, s in codes4_parts)


def nibble_parts(a, b, a_format: str, b_format: str) -> list:
    """The 4-bit part GEMMs of an (up to) 8-bit GEMM, in the order they are summed:
    ``[(a4, fa4, b4, fb4, shift)]`` with ``A @ B == sum((a4 @ b4) << shift)``.

    One part for 4-bit operands, two for one 8-bit side, four for two.  The
    parts are independent, so a backend may run them in any order or at
    once (``sim.distributed`` does); their *order* is the one every backend
    reports overflow in (the first overflowing part)."""
    return [(a4, fa4, b4, fb4, sa + sb)
            for a4, fa4, sa in decompose(a, a_format, "A")
            for b4, fb4, sb in decompose(b, b_format, "B")]


def nibble_gemm(a, b, a_format: str, b_format: str, gemm=gemm_exact) -> np.ndarray:
    """Exact GEMM of operands up to 8 bits via 4-bit GEMMs and shifts.

    ``gemm(a4, b4, fa4, fb4)`` is any implementation of the 4-bit contract
    (the golden model or an RTL backend); the partial products are shifted
    and summed in int64.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"shape mismatch: A {a.shape} x B {b.shape}")
    out = np.zeros((a.shape[0], b.shape[1]), dtype=np.int64)
    for a4, fa4, b4, fb4, shift in nibble_parts(a, b, a_format, b_format):
        out += np.asarray(gemm(a4, b4, fa4, fb4), dtype=np.int64) << shift
    return out
