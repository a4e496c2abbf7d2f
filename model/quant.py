"""Weight and activation quantizers (SPEC 1.6) and 8-bit nibble decomposition.

- SAWB for INT4 weights; 8-bit weights (first/last layer recipes) use a
  max-abs scale, since SAWB's fitted coefficients are for 4 bits only.
- PACT for UINT4 (or UINT8) activations with its learnable clip ``alpha``.
- ``decompose`` / ``nibble_gemm``: an 8-bit operand is ``16*hi + lo`` with
  ``lo`` uint4 and ``hi`` int4 (signed) or uint4 (unsigned), so an 8-bit GEMM
  is a handful of exact 4-bit GEMMs recombined with shifts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .formats import check_codes, get_format
from .gemm import gemm_exact

__all__ = ["Quantized", "sawb_alpha", "sawb_quantize", "ste_grad",
           "pact_quantize", "pact_grad", "WIDE_FORMATS", "decompose",
           "recombine", "nibble_gemm", "format_bits", "int8_grad_quantize"]

SAWB_C1, SAWB_C2 = 12.1, 12.2


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


def sawb_alpha(w) -> float:
    """SAWB clip: ``12.1*sqrt(E[w^2]) - 12.2*E[|w|]``, or ``max|w|`` if that is <= 0."""
    w = _finite(w, "weights")
    if w.size == 0:
        return 0.0
    alpha = SAWB_C1 * np.sqrt(np.mean(w * w)) - SAWB_C2 * np.mean(np.abs(w))
    if alpha <= 0:
        alpha = float(np.max(np.abs(w)))
    return float(alpha)


def sawb_quantize(w, bits: int = 4) -> Quantized:
    """Symmetric weight quantizer: INT4 by SAWB, INT8 by max-abs.

    Codes lie in ``[-(2^(bits-1)-1), 2^(bits-1)-1]`` (``np.rint``, ties to
    even).  An all-zero tensor gets scale 1 and all-zero codes.
    """
    w = _finite(w, "weights")
    if bits == 4:
        alpha, fmt = sawb_alpha(w), "int4"
    elif bits == 8:
        alpha, fmt = (float(np.max(np.abs(w))) if w.size else 0.0), "int8"
    else:
        raise ValueError(f"weight quantizer supports 4 or 8 bits, got {bits}")
    qmax = (1 << (bits - 1)) - 1
    scale = alpha / qmax if alpha > 0 else 1.0
    codes = np.clip(np.rint(w / scale), -qmax, qmax).astype(np.int8)
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
    scale = amax / 127 if amax > 0 else 1.0
    codes = np.clip(np.rint(g / scale), -127, 127).astype(np.int8)
    return Quantized(codes, "int8", scale)


def ste_grad(grad_out):
    """Straight-through estimator: the weight quantizer passes gradients as is."""
    return np.asarray(grad_out, dtype=np.float64)


def pact_quantize(x, alpha: float, bits: int = 4) -> Quantized:
    """PACT: ``rint(clip(x, 0, alpha) / alpha * (2^bits - 1))``, unsigned codes."""
    x = _finite(x, "activations")
    if not np.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"PACT alpha must be a positive finite number, got {alpha!r}")
    if bits not in (4, 8):
        raise ValueError(f"PACT supports 4 or 8 bits, got {bits}")
    levels = (1 << bits) - 1
    codes = np.rint(np.clip(x, 0.0, alpha) / alpha * levels).astype(np.uint8)
    return Quantized(codes, "uint4" if bits == 4 else "uint8", float(alpha) / levels)


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
    for a4, fa4, sa in decompose(a, a_format, "A"):
        for b4, fb4, sb in decompose(b, b_format, "B"):
            out += np.asarray(gemm(a4, b4, fa4, fb4), dtype=np.int64) << (sa + sb)
    return out
