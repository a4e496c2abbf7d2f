"""Quantizers of the block-scaled formats (MXFP4, NVFP4) and the random
Hadamard transform of NVIDIA's recipe (issue 25; docs/formats.md).

``quantize(x, fmt, axis=..., tile=..., rounding=...)`` turns a float tensor
(2-D, or stacked 2-D matrices ``(..., R, C)``) into a ``BlockTensor``: E2M1
codes, one scale code per block, and (NVFP4) the FP32 tensor scale.  Blocks
run along ``axis`` (-1: rows of the matrix, the A operand of a GEMM; -2:
columns, the B operand), or are ``B x B`` tiles (``tile``: NVFP4's 2-D weight
blocks, the same scales for a matrix and its transpose).  A dimension that is
not a multiple of the block is padded with zeros (code 0, which adds nothing
to any sum).

Scale rules, per block of maximum magnitude ``amax``:

- MXFP4 (OCP MX v1.0, section 6.3): shared exponent
  ``X = floor(log2(amax)) - emax_elem`` (``emax_elem = 2``, the exponent of
  E2M1's largest value 6), stored as E8M0; elements ``RNE(x / 2^X)``, which
  saturate at 6 (``amax / 2^X`` lies in [4, 8)).  An all-zero block gets
  ``X = -127``; ``X`` below -127 is clamped to -127 (tiny blocks flush
  toward 0); above 127 raises.
- NVFP4 (NVIDIA, arXiv 2509.25149): tensor decode factor
  ``d = RN_fp32(amax_tensor / (6 * 448))`` (1 for an all-zero tensor); block
  scale ``s = UE4M3(amax / (6 d))`` (nearest even, saturating at 448);
  elements ``E2M1(RN64(x / (s d)))``, 0 where ``s`` is 0.  NVIDIA's kernels
  keep the encode factor ``1/d`` in FP32; storing ``d`` instead makes every
  decoded value the exact product ``e * s * d``.

NaN or inf anywhere raises ``ValueError`` naming the tensor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .block_formats import (E8M0_BIAS, E8M0_MAX, E8M0_MIN, e2m1_decode, e2m1_encode,
                            element_grid, get_block_format, scale_values, ue4m3_encode,
                            ue4m3_values)

__all__ = ["BlockTensor", "quantize", "mx_shared_exponent", "nv_tensor_scale", "rht",
           "RHT_SIZE", "expand_blocks"]

_FP32_TINY = float(np.finfo(np.float32).tiny)
_FP32_MAX = float(np.finfo(np.float32).max)
RHT_SIZE = 16
_RHT_SEED = 25          # issue 25: one fixed random sign vector for every transform


@dataclass(frozen=True)
class BlockTensor:
    """A block-quantized tensor: ``value = e2m1(codes) * scale(block) * tensor_scale``."""

    fmt: str                    # a BLOCK_FORMATS name
    codes: np.ndarray           # (..., Rp, Cp) uint8 E2M1 codes, zero-padded
    scales: np.ndarray          # (..., Rp // br, Cp // bc) uint8 scale codes
    block: tuple[int, int]      # (br, bc): rows x columns one scale covers
    tensor_scale: float         # FP32 decode factor d (1.0 without one)
    shape: tuple[int, ...]      # the unpadded shape

    @property
    def T(self) -> "BlockTensor":
        """The transpose of the last two axes (codes, scales and blocks alike)."""
        return BlockTensor(self.fmt, np.swapaxes(self.codes, -1, -2),
                           np.swapaxes(self.scales, -1, -2), self.block[::-1],
                           self.tensor_scale, self.shape[:-2] + self.shape[:-3:-1])

    def scale_array(self) -> np.ndarray:
        """Every element's block scale value (float64, exact), padded shape."""
        return expand_blocks(scale_values(self.scales, get_block_format(self.fmt).scale),
                             self.block)

    def dequantize(self) -> np.ndarray:
        """The real values (float64, exact products), unpadded."""
        v = e2m1_decode(self.codes) * self.scale_array() * self.tensor_scale
        return v[..., :self.shape[-2], :self.shape[-1]]


def expand_blocks(per_block: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    """Per-block values repeated over each block's elements."""
    return np.repeat(np.repeat(per_block, block[0], axis=-2), block[1], axis=-1)


def _pad_to(x: np.ndarray, rows: int, cols: int) -> np.ndarray:
    r, c = x.shape[-2:]
    pr, pc = -r % rows, -c % cols
    if not pr and not pc:
        return x
    return np.pad(x, [(0, 0)] * (x.ndim - 2) + [(0, pr), (0, pc)])


def mx_shared_exponent(amax, *, name: str = "tensor") -> np.ndarray:
    """OCP MX shared exponents ``floor(log2(amax)) - emax_elem`` (int64), clamped
    below at -127; -127 for an all-zero block; above 127 raises."""
    amax = np.asarray(amax, dtype=np.float64)
    emax_elem = int(np.frexp(element_grid()[-1])[1]) - 1        # 6 = 1.5 * 2^2: 2
    _, e = np.frexp(np.where(amax > 0, amax, 1.0))              # exact, subnormals too
    x = np.where(amax > 0, e.astype(np.int64) - 1 - emax_elem, E8M0_MIN)
    if x.size and x.max() > E8M0_MAX:
        raise ValueError(f"{name}: max |x| = {float(amax.max()):.6g} needs shared exponent "
                         f"{int(x.max())}, above E8M0's {E8M0_MAX}")
    return np.maximum(x, E8M0_MIN)


def nv_tensor_scale(amax: float, *, name: str = "tensor") -> float:
    """NVFP4's FP32 tensor decode factor ``RN_fp32(amax / (6 * 448))`` (1 for 0)."""
    if amax == 0:
        return 1.0
    top = float(element_grid()[-1] * ue4m3_values()[-1])        # 6 * 448
    d = float(np.float32(amax / top)) if amax / top <= _FP32_MAX else float("inf")
    if not _FP32_TINY <= d <= _FP32_MAX:
        raise ValueError(f"{name}: max |x| = {amax:.6g} gives the NVFP4 tensor scale {d!r}, "
                         "which is not a normal FP32 number")
    return d


def quantize(x, fmt: str, *, axis: int = -1, tile: bool = False, rounding: str = "nearest",
             rng=None, name: str = "tensor") -> BlockTensor:
    """Block-quantize ``x`` (``(..., R, C)``) to ``fmt`` (see the module docstring)."""
    bf = get_block_format(fmt)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError(f"{name}: block quantization needs a matrix, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: contains NaN or inf; refusing to quantize it as {fmt}")
    if axis not in (-1, -2):
        raise ValueError(f"axis must be -1 or -2, got {axis!r}")
    b = bf.block
    block = (b, b) if tile else ((1, b) if axis == -1 else (b, 1))
    xp = _pad_to(x, *block)
    lead, (rp, cp) = xp.shape[:-2], xp.shape[-2:]
    amax = np.abs(xp.reshape(*lead, rp // block[0], block[0], cp // block[1], block[1])) \
        .max(axis=(-3, -1), initial=0.0)
    if bf.scale == "e8m0":
        d = 1.0
        scale_codes = (mx_shared_exponent(amax, name=name) + E8M0_BIAS).astype(np.uint8)
    else:
        d = nv_tensor_scale(float(amax.max(initial=0.0)), name=name)
        top = float(element_grid()[-1])
        scale_codes = ue4m3_encode(amax / (top * d), name=f"{name}: block scale")
    denom = expand_blocks(scale_values(scale_codes, bf.scale), block) * d   # exact
    y = np.divide(xp, denom, out=np.zeros_like(xp), where=denom > 0)
    codes = e2m1_encode(y, rounding, rng, name=name)
    return BlockTensor(fmt, codes, scale_codes, block, d, x.shape)


def _rht_matrix() -> np.ndarray:
    """``H diag(s) / 4``: the 16-point Walsh-Hadamard matrix with one fixed
    random sign vector, orthonormal."""
    h = np.ones((1, 1))
    while h.shape[0] < RHT_SIZE:
        h = np.block([[h, h], [h, -h]])
    signs = np.random.default_rng(_RHT_SEED).choice([-1.0, 1.0], RHT_SIZE)
    return h * signs / np.sqrt(RHT_SIZE)


_RHT = _rht_matrix()


def rht(x) -> np.ndarray:
    """Random Hadamard transform along axis -2, in chunks of 16 rows (zero-padded).

    ``rht(X)^T rht(Y) == X^T Y`` up to float rounding (the transform is
    orthonormal), so NVIDIA's recipe applies it to both inputs of a
    weight-gradient GEMM, whose reduction axis is -2 of both.
    """
    xp = _pad_to(np.asarray(x, dtype=np.float64), RHT_SIZE, 1)
    lead, (rp, c) = xp.shape[:-2], xp.shape[-2:]
    chunks = xp.reshape(*lead, rp // RHT_SIZE, RHT_SIZE, c)
    return np.einsum("ij,...cjn->...cin", _RHT, chunks).reshape(xp.shape)
