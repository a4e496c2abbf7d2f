"""The exact block dot product of MXFP4 and NVFP4 (issue 25; docs/formats.md).

For ``C = A . B`` with ``A`` blocked along K (``(..., M, K)``) and ``B``
along K (``(..., K, N)``), both of one block format with the same block
length ``Bk`` along K:

1. element products are exact integers: E2M1 values are ``iv / 2`` with
   ``iv`` in -12..12 (``model.formats``), so ``iv_a * iv_b`` is in -144..144;
2. each block's sum ``P = sum_k iv_a * iv_b`` over its ``Bk`` elements is an
   exact integer (|P| <= 144 * Bk: 13 bits and a sign for NVFP4's 16);
3. the two block scales are exact ``M * 2^E`` (``model.block_formats``:
   E8M0 ``1 * 2^E``, UE4M3 ``M * 2^E`` with ``M`` <= 15), so each block
   contributes the exact term ``P * Ma * Mb * 2^(Ea + Eb - 2)``;
4. the terms of all blocks are summed exactly (a wide fixed-point sum, no
   rounding), multiplied exactly by the tensor scales ``d_a * d_b`` (FP32
   numbers; NVFP4 only), and the result is rounded once to float64 (nearest,
   ties to even).

``block_terms`` returns steps 1-3 (what a block-scaled PE computes per
block); ``block_gemm`` the result of step 4, by a fast path whose exactness
is checked per output (``block_gemm``'s docstring) and Python fractions for
any output the check does not clear.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from .block_formats import ELEMENT, get_block_format, scale_factors
from .block_quant import BlockTensor, expand_blocks
from .formats import get_format, int_value

__all__ = ["block_terms", "block_gemm", "check_block_operands"]


def check_block_operands(a: BlockTensor, b: BlockTensor, name: str = "gemm") -> int:
    """The block length along K, after checking that ``a . b`` is a block GEMM."""
    if not isinstance(a, BlockTensor) or not isinstance(b, BlockTensor):
        raise ValueError(f"GEMM {name!r}: block GEMM operands must be BlockTensors")
    if a.fmt != b.fmt:
        raise ValueError(f"GEMM {name!r}: block formats differ ({a.fmt} x {b.fmt})")
    if a.shape[-1] != b.shape[-2] or a.codes.shape[-1] != b.codes.shape[-2]:
        raise ValueError(f"GEMM {name!r}: shape mismatch A {a.shape} x B {b.shape}")
    if a.shape[:-2] != b.shape[:-2]:
        raise ValueError(f"GEMM {name!r}: batch shapes differ {a.shape} x {b.shape}")
    if a.block[1] != b.block[0]:
        raise ValueError(f"GEMM {name!r}: blocks along K differ ({a.block[1]} x {b.block[0]}); "
                         "A must be blocked along its rows and B along its columns")
    return a.block[1]


def block_terms(a: BlockTensor, b: BlockTensor, name: str = "gemm"):
    """Per-block exact terms of ``a . b``: ``(P, F, E)``, each ``(..., nkb, Mp, Np)``
    int64, with block ``kb``'s contribution to ``C[i, j]`` equal to
    ``P * F * 2^E`` (``P``: the block's integer dot product; ``F = Ma * Mb``;
    ``E = Ea + Eb - 2 * scale_offset``).  Tensor scales are not included."""
    bk = check_block_operands(a, b, name)
    scale = get_block_format(a.fmt).scale
    av = int_value(a.codes, ELEMENT).astype(np.float64)
    bv = int_value(b.codes, ELEMENT).astype(np.float64)
    lead, (mp, kp), np_ = av.shape[:-2], av.shape[-2:], bv.shape[-1]
    nkb = kp // bk
    a_blocks = np.swapaxes(av.reshape(*lead, mp, nkb, bk), -2, -3)      # (..., nkb, Mp, bk)
    b_blocks = bv.reshape(*lead, nkb, bk, np_)                          # (..., nkb, bk, Np)
    p = np.matmul(a_blocks, b_blocks).astype(np.int64)   # |P| <= 144 * bk: exact in float64
    ma, ea = scale_factors(a.scales, scale)              # (..., Mp // br, nkb)
    mb, eb = scale_factors(b.scales, scale)              # (..., nkb, Np // bc)
    rows = lambda s: np.swapaxes(np.repeat(s, a.block[0], axis=-2), -1, -2)[..., None]  # noqa: E731
    cols = lambda s: np.repeat(s, b.block[1], axis=-1)[..., None, :]                    # noqa: E731
    f = rows(ma) * cols(mb)
    e = rows(ea) + cols(eb) - 2 * get_format(ELEMENT).scale_offset
    return p, np.broadcast_to(f, p.shape), np.broadcast_to(e, p.shape)


def _unscaled(t: BlockTensor) -> tuple[np.ndarray, np.ndarray]:
    """Element values times block scales (exact float64, padded), and each
    element's block scale exponent where the block holds a non-zero code
    (a large number elsewhere)."""
    scale = get_block_format(t.fmt).scale
    m, e = scale_factors(t.scales, scale)
    nonzero = expand_blocks((int_value(t.codes, ELEMENT) != 0), (1, 1))
    e_full = expand_blocks(e, t.block)
    values = np.ldexp(int_value(t.codes, ELEMENT) * expand_blocks(m, t.block).astype(np.float64),
                      e_full - get_format(ELEMENT).scale_offset)
    return values, np.where(nonzero, e_full, _NO_TERM)


_NO_TERM = 1 << 20


def block_gemm(a: BlockTensor, b: BlockTensor, name: str = "gemm") -> np.ndarray:
    """``a . b`` (float64, unpadded ``(..., M, N)``): the exact sum of every
    block's term times the tensor scales, rounded once (module docstring).

    Fast path: ``va @ vb`` in float64, where ``va``, ``vb`` are the operands'
    exact values without tensor scales.  Every product is exact and a
    multiple of ``2^(ea_min + eb_min - 2)`` (the smallest exponents of the
    row's and the column's non-zero elements), so when ``|va| @ |vb|`` stays
    below ``2^51`` of that unit, every partial sum in any order is exact.
    Other outputs are summed from ``block_terms`` with fractions."""
    check_block_operands(a, b, name)
    alpha = a.tensor_scale * b.tensor_scale          # FP32 x FP32: exact in float64
    va, ea = _unscaled(a)
    vb, eb = _unscaled(b)
    s = np.matmul(va, vb)
    bound = np.matmul(np.abs(va), np.abs(vb))
    unit = ea.min(axis=-1)[..., :, None] + eb.min(axis=-2)[..., None, :] \
        - 2 * get_format(ELEMENT).scale_offset
    with np.errstate(over="ignore"):
        exact = (bound < np.ldexp(1.0, np.minimum(unit, 1 << 12) + 51)) | (bound == 0)
    out = s * alpha                                   # exact s: one rounding
    if not exact.all():
        p, f, e = block_terms(a, b, name)
        terms = np.ldexp((p * f).astype(np.float64), e)   # each exact (|p * f| < 2^20)
        for idx in zip(*np.nonzero(~exact)):
            col = terms[idx[:-2] + (slice(None),) + idx[-2:]]
            total = sum((Fraction(float(t)) for t in col), Fraction(0))
            out[idx] = float(total * Fraction(alpha))
    return out[..., :a.shape[-2], :b.shape[-1]]
