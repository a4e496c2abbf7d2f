"""The hardware arithmetic of the block-scaled PEs (MXFP4, NVFP4; issue 25 item 3).

Contract (docs/formats.md, "Hardware arithmetic"; ``hw.block_dot_pe`` matches
it bit for bit).  ``model.block_gemm.block_gemm`` (exact, rounded once) stays
the golden result; this module states how a fixed-point PE array reproduces it:

1. **Host rebias** (``rebias``, exact).  A *line* is a row ``i`` of A or a
   column ``j`` of B; its blocks along K have scales ``M * 2^E``
   (``model.block_formats.scale_factors``).  A block is *live* when it holds a
   non-zero code and ``M != 0``.  ``top`` = the largest ``E`` over the line's
   live blocks (0 for a line without one); each block is sent as
   ``d = top - E`` (0..R) and ``m = M``.  A dead block is sent with
   ``d = R`` (it adds 0 whatever ``d`` is).  A live block with ``d > R``
   cannot be run exactly: ``BlockWindowError`` (a ``ValueError`` naming the
   GEMM).  NVFP4 always fits (UE4M3's ``E`` spans -9..5, 14 = R); MXFP4's
   E8M0 fits when a line's live block exponents span at most R = 17.
2. **Scale field** (``HwFormat``), per line per beat, the scale of the block
   the beat lies in (``k`` divides the block length: beats never straddle a
   block): ``d`` in the low ``d_bits`` bits, ``m`` above it in ``m_bits``
   bits (UE4M3: 4 bits, 0..15 incl. subnormals; E8M0: no ``m``, ``M = 1``).

   ==========  ====  ======  ======  ===========  =====================
   format      R     d_bits  m_bits  scale_width  F = Ma * Mb
   ==========  ====  ======  ======  ===========  =====================
   ``mxfp4``   17    5       0       5            1 (shift only)
   ``nvfp4``   14    4       4       8            0..225 (4x4-bit multiply)
   ==========  ====  ======  ======  ===========  =====================

3. **PE** (``k`` lanes), per valid beat: ``S = sum_l iv_a[l] * iv_b[l]``
   (E2M1 integer values, -12..12; products -144..144; ``|S| <= 144 k``) and
   ``term = S * (Ma * Mb) << (2R - da - db)`` into a signed
   ``ACC_WIDTH = 64``-bit accumulator.  The register wraps; the sticky
   overflow flag is set when the exact running sum after a beat leaves the
   64-bit range (the project's group rule, docs/architecture.md, with a
   beat as the group); ``clear`` with ``valid`` starts from this beat's term.
4. **Window R**: the largest R with ``K_GUARANTEED * 144 * F_max * 2^(2R)
   <= 2^63 - 1`` for ``K_GUARANTEED = 2^20`` (the RTL's deepest job, 65,536
   beats of 16 lanes): every product adds at most ``144 F_max 2^(2R)``, so
   no GEMM with K <= 2^20 can overflow.  MXFP4: 144 * 2^34 * 2^20 < 2^63,
   R = 17; NVFP4: 144 * 225 * 2^28 * 2^20 < 2^63 (2^62.98), R = 14.
   Longer K is still exact or flagged (the flag is judged per beat).
5. **Host conversion** (``convert``): ``C[i, j] = RN64(acc * 2^(top_a[i] +
   top_b[j] - 2R - 2) * alpha)``, ``alpha = d_a * d_b`` (the FP32 tensor
   scales, exact in float64), one rounding: for ``|acc| < 2^53``,
   ``ldexp(float(acc), e)`` is exact (a normal float64: the exponents stay
   within +-600) and one multiply by ``alpha`` rounds once; otherwise
   Python fractions.  -2 undoes the two factors 2 of the element integers.
   A zero result is +0 (the hardware has one zero; ``block_gemm`` may give
   -0 for an all-zero dot product).

``block_gemm_hw(a, b, lanes)`` runs 1-5 and equals ``block_gemm`` bit for bit
(tests/test_block_hw.py); ``beat_term``/``accumulate`` are the PE's beat-level
reference for the RTL benches.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np

from .block_formats import ELEMENT, get_block_format, scale_factors
from .block_gemm import check_block_operands
from .block_quant import BlockTensor
from .formats import get_format, int_value, int_value_table

__all__ = ["BLOCK_ACC_WIDTH", "K_GUARANTEED", "LANE_PRODUCT_MAX", "HwFormat", "hw_format",
           "BlockWindowError", "HwLines", "rebias", "beat_term", "accumulate",
           "lane_sum", "hw_accumulators", "convert", "block_gemm_hw"]

BLOCK_ACC_WIDTH = 64
K_GUARANTEED = 1 << 20
LANE_PRODUCT_MAX = int(np.abs(int_value_table(ELEMENT)).max()) ** 2    # 12 * 12 = 144
_SCALE_OFFSET = get_format(ELEMENT).scale_offset                      # iv = 2 * value


class BlockWindowError(ValueError):
    """A live block's scale lies more than R binades below its line's top."""

    def __init__(self, gemm_name: str, fmt: str, side: str, count: int, span: int, window: int):
        super().__init__(
            f"GEMM {gemm_name!r}: {count} {fmt} block(s) of {side} lie {span} binades below "
            f"their line's largest block scale, beyond the PE's window of {window}; "
            "the block-scaled array cannot compute this GEMM exactly")
        self.gemm_name, self.fmt, self.side = gemm_name, fmt, side
        self.count, self.span, self.window = count, span, window


@dataclass(frozen=True)
class HwFormat:
    """The PE arithmetic of one block format (module docstring, 2 and 4)."""

    fmt: str
    window: int          # R
    d_bits: int
    m_bits: int          # 0: no m field (M = 1)
    f_max: int           # largest Ma * Mb

    @property
    def scale_width(self) -> int:
        return self.d_bits + self.m_bits

    def pack_scale(self, m, d) -> np.ndarray:
        """Scale fields (int64): ``d | m << d_bits`` (``m`` dropped without an m field)."""
        m, d = np.asarray(m, dtype=np.int64), np.asarray(d, dtype=np.int64)
        return d | (m << self.d_bits) if self.m_bits else d.copy()

    def unpack_scale(self, field) -> tuple[np.ndarray, np.ndarray]:
        """``(m, d)`` of scale fields (``m = 1`` without an m field)."""
        f = np.asarray(field, dtype=np.int64)
        d = f & ((1 << self.d_bits) - 1)
        m = f >> self.d_bits if self.m_bits else np.ones_like(f)
        return m, d

    def shift(self, da, db):
        """The term's left shift ``2R - da - db``."""
        return 2 * self.window - da - db


def _window(f_max: int, acc_width: int = BLOCK_ACC_WIDTH) -> int:
    r = 0
    while K_GUARANTEED * LANE_PRODUCT_MAX * f_max << (2 * (r + 1)) <= (1 << (acc_width - 1)) - 1:
        r += 1
    return r


@lru_cache(maxsize=None)
def hw_format(fmt: str) -> HwFormat:
    """The ``HwFormat`` of a ``model.block_formats.BLOCK_FORMATS`` name."""
    bf = get_block_format(fmt)
    codes = np.arange(255 if bf.scale == "e8m0" else 127)
    m, e = scale_factors(codes, bf.scale)
    f_max = int(m.max()) ** 2
    r = _window(f_max)
    m_bits = 0 if m.max() == m.min() == 1 else int(m.max()).bit_length()
    if bf.scale == "ue4m3":   # the claim of the docstring: NVFP4 always fits
        assert r >= int(e.max() - e.min()), (r, e.min(), e.max())
    return HwFormat(fmt, r, r.bit_length(), m_bits, f_max)


@dataclass(frozen=True)
class HwLines:
    """One operand rebiased, one line per row of A or column of B."""

    fmt: str
    codes: np.ndarray    # (..., lines, Kp) E2M1 codes (B: transposed)
    m: np.ndarray        # (..., lines, nkb) int64 scale significands
    d: np.ndarray        # (..., lines, nkb) int64 in 0..R
    top: np.ndarray      # (..., lines) int64 exponent of d = 0
    block: int           # block length along K

    def scale_fields(self, lanes: int) -> np.ndarray:
        """(..., lines, Kp // lanes) packed scale field of every beat."""
        per_block = hw_format(self.fmt).pack_scale(self.m, self.d)
        return np.repeat(per_block, self.block // lanes, axis=-1)


def rebias(t: BlockTensor, side: str, name: str = "gemm") -> HwLines:
    """Step 1 for ``side`` "a" (blocked along its rows) or "b" (along its columns)."""
    hwf = hw_format(t.fmt)
    m, e = scale_factors(t.scales, get_block_format(t.fmt).scale)
    codes = t.codes if side == "a" else np.swapaxes(t.codes, -1, -2)
    per_line = t.block[0] if side == "a" else t.block[1]
    bk = t.block[1] if side == "a" else t.block[0]
    if side == "b":
        m, e = np.swapaxes(m, -1, -2), np.swapaxes(e, -1, -2)
    m, e = np.repeat(m, per_line, axis=-2), np.repeat(e, per_line, axis=-2)
    lead, (lines, kp) = codes.shape[:-2], codes.shape[-2:]
    nz = (int_value(codes, ELEMENT) != 0).reshape(*lead, lines, kp // bk, bk).any(axis=-1)
    live = nz & (m != 0)
    top = np.where(live, e, np.iinfo(np.int64).min).max(axis=-1, initial=np.iinfo(np.int64).min)
    top = np.where(live.any(axis=-1), top, 0)
    d = np.where(live, top[..., None] - e, hwf.window)
    beyond = live & (d > hwf.window)
    if beyond.any():
        raise BlockWindowError(name, t.fmt, side.upper(), int(beyond.sum()), int(d[beyond].max()),
                               hwf.window)
    return HwLines(t.fmt, codes, m.astype(np.int64), d.astype(np.int64), top.astype(np.int64), bk)


def lane_sum(a_codes, b_codes) -> int:
    """A beat's exact ``S``: the sum of the lanes' E2M1 integer products."""
    av = int_value_table(ELEMENT)[np.asarray(a_codes, dtype=np.int64)]
    bv = int_value_table(ELEMENT)[np.asarray(b_codes, dtype=np.int64)]
    return int((av * bv).sum())


def beat_term(s: int, a_field: int, b_field: int, fmt: str) -> int:
    """One beat's term ``S * Ma * Mb << (2R - da - db)`` from the packed scale fields."""
    hwf = hw_format(fmt)
    (ma, da), (mb, db) = hwf.unpack_scale(a_field), hwf.unpack_scale(b_field)
    return int(s) * int(ma) * int(mb) << int(hwf.shift(da, db))


def accumulate(terms, clears=None, acc_width: int = BLOCK_ACC_WIDTH) -> list[tuple[int, bool]]:
    """The accumulator register and sticky flag after each valid beat
    (``clears[t]``: beat t starts a new sum): wraps, flags per beat."""
    lo, hi = -(1 << (acc_width - 1)), (1 << (acc_width - 1)) - 1
    acc, ovf, out = 0, False, []
    for t, term in enumerate(terms):
        if clears is not None and clears[t]:
            acc, ovf = 0, False
        total = acc + int(term)
        ovf = ovf or not lo <= total <= hi
        acc = ((total - lo) % (1 << acc_width)) + lo
        out.append((acc, ovf))
    return out


def hw_accumulators(a: HwLines, b: HwLines, lanes: int) -> tuple[np.ndarray, np.ndarray]:
    """Every PE's final ``(acc, overflow)`` ((..., Mp, Np); acc int64, wrapped)
    for the GEMM of ``a``'s rows and ``b``'s columns at ``lanes`` lanes."""
    hwf = hw_format(a.fmt)
    if a.block % lanes:
        raise ValueError(f"{lanes} lanes do not divide the block length {a.block}")
    kp = a.codes.shape[-1]
    beats = kp // lanes
    av = int_value_table(ELEMENT)[a.codes.astype(np.int64)].astype(np.float64)
    bv = int_value_table(ELEMENT)[b.codes.astype(np.int64)].astype(np.float64)
    lead = av.shape[:-2]
    ab = np.swapaxes(av.reshape(*lead, -1, beats, lanes), -2, -3)      # (..., beats, M, k)
    bb = np.swapaxes(bv.reshape(*lead, -1, beats, lanes), -2, -3)      # (..., beats, N, k)
    s = np.matmul(ab, np.swapaxes(bb, -1, -2)).astype(np.int64)       # exact: |S| <= 144 k
    per = a.block // lanes
    ma, da = (np.repeat(x, per, axis=-1) for x in (a.m, a.d))           # (..., M, beats)
    mb, db = (np.repeat(x, per, axis=-1) for x in (b.m, b.d))
    f = np.swapaxes(ma, -1, -2)[..., :, None] * np.swapaxes(mb, -1, -2)[..., None, :]
    sh = hwf.shift(np.swapaxes(da, -1, -2)[..., :, None], np.swapaxes(db, -1, -2)[..., None, :])
    terms = (s * f) << sh                                              # each < 2^53
    if kp <= K_GUARANTEED:          # no running sum can leave 64 bits (docstring, 4)
        acc = terms.sum(axis=-3)
        return acc, np.zeros(acc.shape, dtype=bool)
    running = np.cumsum(terms.astype(object), axis=-3)
    lo, hi = -(1 << (BLOCK_ACC_WIDTH - 1)), (1 << (BLOCK_ACC_WIDTH - 1)) - 1
    ovf = ((running < lo) | (running > hi)).any(axis=-3).astype(bool)
    wrap = np.vectorize(lambda v: ((v - lo) % (1 << BLOCK_ACC_WIDTH)) + lo, otypes=[np.int64])
    return wrap(running[..., -1, :, :]), ovf


def convert(acc, top_a, top_b, alpha: float, fmt: str) -> np.ndarray:
    """Step 5: ``RN64(acc * 2^(top_a + top_b - 2R - 2) * alpha)`` (float64)."""
    hwf = hw_format(fmt)
    acc = np.asarray(acc, dtype=np.int64)
    e = np.asarray(top_a)[..., :, None] + np.asarray(top_b)[..., None, :] \
        - 2 * hwf.window - 2 * _SCALE_OFFSET
    e = np.broadcast_to(e, acc.shape)
    out = np.ldexp(acc.astype(np.float64), e) * alpha          # exact, then one rounding
    wide = np.abs(acc) >= (1 << 53)
    for idx in zip(*np.nonzero(wide)):
        v = Fraction(int(acc[idx])) * Fraction(2) ** int(e[idx]) * Fraction(alpha)
        out[idx] = float(v)
    return out + 0.0                                            # one zero: +0


def block_gemm_hw(a: BlockTensor, b: BlockTensor, lanes: int = 8, name: str = "gemm") -> np.ndarray:
    """``a . b`` through the hardware arithmetic (steps 1-5): equal to
    ``model.block_gemm.block_gemm`` bit for bit (up to the sign of zero), or
    ``BlockWindowError`` / ``model.gemm.GemmOverflowError``."""
    check_block_operands(a, b, name)
    la, lb = rebias(a, "a", name), rebias(b, "b", name)
    acc, ovf = hw_accumulators(la, lb, lanes)
    if ovf.any():
        from .gemm import GemmOverflowError
        raise GemmOverflowError(name, int(ovf.sum()), BLOCK_ACC_WIDTH)
    out = convert(acc, la.top, lb.top, a.tensor_scale * b.tensor_scale, a.fmt)
    return out[..., :a.shape[-2], :b.shape[-1]]
