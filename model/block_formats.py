"""Block-scaled 4-bit formats (issue 25): the element codec, the scale codecs
and one row per block format.

- Elements are E2M1 (``model.formats``' ``e2m1`` row; its values come from that
  table).  ``grid_round`` rounds to any non-negative grid indexed by code:
  nearest with ties to the even code (OCP's round-half-to-even: even code =
  even mantissa bit), or stochastic between the two neighbours; beyond the
  top it saturates (E2M1 has no infinity).
- Scales: ``E8M0`` (OCP MX: code ``c`` is ``2^(c-127)``, 255 is NaN and never
  produced) and ``UE4M3`` (NVFP4: the positive half of FP8 E4M3, bias 7,
  max 448; code 127 is NaN and never produced).  Every scale value is an
  exact ``M * 2^E`` with a small integer ``M`` (``scale_factors``), which is
  what makes the block GEMM exact (``model.block_gemm``).
- ``BLOCK_FORMATS``: ``mxfp4`` (block 32, E8M0) and ``nvfp4`` (block 16,
  UE4M3, an FP32 tensor scale).  The quantizers are in ``model.block_quant``.

Docs: docs/formats.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .formats import ROUNDING_MODES, get_format, int_value_table

__all__ = ["BlockFormat", "BLOCK_FORMATS", "get_block_format", "ELEMENT", "element_grid",
           "grid_round", "e2m1_encode", "e2m1_decode", "ue4m3_values", "ue4m3_encode",
           "E8M0_BIAS", "E8M0_MIN", "E8M0_MAX", "scale_factors", "scale_values"]

ELEMENT = "e2m1"

E8M0_BIAS = 127
E8M0_MIN, E8M0_MAX = -127, 127       # exponents of codes 0..254 (255: NaN)
UE4M3_NAN = 0x7F                     # e = 15, m = 7


@dataclass(frozen=True)
class BlockFormat:
    """One block-scaled format: E2M1 elements sharing a scale per block."""

    name: str
    block: int                  # elements per scale block (along the reduction axis)
    scale: str                  # "e8m0" or "ue4m3"
    tensor_scale: bool          # an FP32 per-tensor decode factor as well
    description: str = ""


BLOCK_FORMATS: dict[str, BlockFormat] = {f.name: f for f in (
    BlockFormat("mxfp4", 32, "e8m0", False,
                "OCP Microscaling v1.0 MXFP4: E2M1 elements, blocks of 32, E8M0 scale"),
    BlockFormat("nvfp4", 16, "ue4m3", True,
                "NVIDIA NVFP4: E2M1 elements, blocks of 16, UE4M3 scale, FP32 tensor scale"),
)}


def get_block_format(name: str) -> BlockFormat:
    try:
        return BLOCK_FORMATS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown block format {name!r}; expected one of "
                         f"{', '.join(BLOCK_FORMATS)}") from None


# --------------------------------------------------------------------------
# Rounding to a grid


def grid_round(y, grid: np.ndarray, rounding: str = "nearest", rng=None) -> np.ndarray:
    """Index (code) of the grid point ``|y|`` rounds to; ``grid`` is increasing from 0.

    Nearest: ties go to the even index.  Stochastic: up with probability
    ``(|y| - lo) / (hi - lo)`` (unbiased below the top).  ``|y| >= grid[-1]``
    saturates to the top.  ``y`` must be finite (callers check).
    """
    if rounding not in ROUNDING_MODES:
        raise ValueError(f"rounding must be one of {ROUNDING_MODES}, got {rounding!r}")
    if rounding == "stochastic" and not isinstance(rng, np.random.Generator):
        raise ValueError("stochastic rounding needs rng=numpy.random.Generator")
    ay = np.abs(np.asarray(y, dtype=np.float64))
    top = len(grid) - 1
    if rounding == "nearest":
        mids = _midpoints(grid.tobytes())           # exact: the grids are dyadic
        k = np.searchsorted(mids, ay, side="left")  # midpoints below |y|
        # A tie (|y| on midpoint k) goes up iff the lower index k is odd.
        tie = (k < top) & (ay == mids[np.minimum(k, top - 1)]) & (k % 2 == 1)
        return k + tie
    k = np.clip(np.searchsorted(grid, ay, side="right") - 1, 0, top - 1)   # lower neighbour
    lo, hi = grid[k], grid[k + 1]
    up = rng.random(ay.shape) < (ay - lo) / (hi - lo)
    return np.where(ay >= grid[-1], top, k + up).astype(np.int64)


@lru_cache(maxsize=None)
def _midpoints(grid_bytes: bytes) -> np.ndarray:
    grid = np.frombuffer(grid_bytes, dtype=np.float64)
    return (grid[:-1] + grid[1:]) / 2


@lru_cache(maxsize=None)
def element_grid(fmt: str = ELEMENT) -> np.ndarray:
    """Non-negative values of a minifloat's codes 0.. (from the format table)."""
    spec = get_format(fmt)
    half = int_value_table(fmt)[: 1 << (spec.bits - 1)]
    return np.ldexp(half.astype(np.float64), -spec.scale_offset)


def e2m1_encode(y, rounding: str = "nearest", rng=None, *, name: str = "tensor") -> np.ndarray:
    """E2M1 codes (uint8) of real numbers, saturating at +-6; NaN/inf raise.

    Anything that rounds to zero gets code 0 (no -0).
    """
    y = np.asarray(y, dtype=np.float64)
    if not np.isfinite(y).all():
        raise ValueError(f"{name}: contains NaN or inf; refusing to encode it as {ELEMENT}")
    idx = grid_round(y, element_grid(), rounding, rng)
    sign = (y < 0) & (idx != 0)
    return ((sign.astype(np.int64) << (get_format(ELEMENT).bits - 1)) | idx).astype(np.uint8)


def e2m1_decode(codes) -> np.ndarray:
    """Real values (float64) of E2M1 codes."""
    from .formats import int_value
    spec = get_format(ELEMENT)
    return np.ldexp(int_value(codes, ELEMENT).astype(np.float64), -spec.scale_offset)


# --------------------------------------------------------------------------
# Scale codecs


@lru_cache(maxsize=None)
def ue4m3_values() -> np.ndarray:
    """Values of UE4M3 codes 0..126 (code 127 is NaN): ``m * 2^-9`` for e = 0,
    ``(8 + m) * 2^(e - 10)`` for e = 1..15."""
    m, e = _ue4m3_fields(np.arange(UE4M3_NAN))
    return np.ldexp(m.astype(np.float64), e)


def _ue4m3_fields(codes) -> tuple[np.ndarray, np.ndarray]:
    """``(M, E)`` with value ``M * 2^E`` of UE4M3 codes (M in 0..15)."""
    c = np.asarray(codes, dtype=np.int64)
    e, m = c >> 3, c & 7
    return m + 8 * (e > 0), np.maximum(e, 1) - 10


def ue4m3_encode(v, *, name: str = "scale") -> np.ndarray:
    """UE4M3 codes (uint8) of non-negative reals: nearest, ties to even, saturating at 448."""
    v = np.asarray(v, dtype=np.float64)
    if not np.isfinite(v).all() or (v < 0).any():
        raise ValueError(f"{name}: a UE4M3 scale must be finite and >= 0")
    return grid_round(v, ue4m3_values()).astype(np.uint8)


def scale_factors(codes, scale: str) -> tuple[np.ndarray, np.ndarray]:
    """``(M, E)``, int64, with scale value ``M * 2^E`` exactly."""
    c = np.asarray(codes, dtype=np.int64)
    if scale == "e8m0":
        if c.size and (c.min() < 0 or c.max() > E8M0_MAX + E8M0_BIAS):
            raise ValueError("E8M0 scale code out of range 0..254 (255 is NaN)")
        return np.ones_like(c), c - E8M0_BIAS
    if scale == "ue4m3":
        if c.size and (c.min() < 0 or c.max() >= UE4M3_NAN):
            raise ValueError("UE4M3 scale code out of range 0..126 (127 is NaN)")
        return _ue4m3_fields(c)
    raise ValueError(f"unknown scale codec {scale!r}")


def scale_values(codes, scale: str) -> np.ndarray:
    """Scale values (float64, exact) of scale codes."""
    m, e = scale_factors(codes, scale)
    return np.ldexp(m.astype(np.float64), e)
