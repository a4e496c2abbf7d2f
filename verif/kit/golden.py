"""Expected values for the benches, computed by the golden model only.

Nothing here re-implements the arithmetic: products and sums come from
``model.gemm.gemm_exact`` and overflow flags from ``model.gemm.overflow_mask``;
this module only slices operands and wraps sums to the register width.
The one case the model has no format for is the reserved A-format code 3,
whose product is 0 by the hardware contract (docs/hardware.md).
"""

from __future__ import annotations

import numpy as np

from model.formats import FORMATS, from_nibbles
from model.gemm import gemm_exact, overflow_mask

A_FMT_NAMES = {f.hw_code: n for n, f in FORMATS.items() if f.hw_code is not None}
B_FMT_NAMES = {0: "int4", 1: "uint4"}
RESERVED_A_FMT = 3


def wrap(x, width: int):
    """Two's-complement wrap of exact sums to ``width`` bits (what the register holds)."""
    x = np.asarray(x, dtype=object) if width >= 63 else np.asarray(x, dtype=np.int64)
    m = 1 << width
    return ((x + (m >> 1)) % m) - (m >> 1)


def codes(nibbles, a_or_b: str, fmt_code: int):
    names = A_FMT_NAMES if a_or_b == "a" else B_FMT_NAMES
    return from_nibbles(np.asarray(nibbles, dtype=np.uint8), names[fmt_code])


def gemm_expect(a_nib, b_nib, a_fmt: int, b_fmt: int, width: int):
    """(wrapped sums, overflow mask) of A (M x K nibbles) times B (K x N nibbles)."""
    a_nib = np.asarray(a_nib, dtype=np.uint8)
    b_nib = np.asarray(b_nib, dtype=np.uint8)
    m, n = a_nib.shape[0], b_nib.shape[1]
    if a_fmt == RESERVED_A_FMT:
        return np.zeros((m, n), dtype=np.int64), np.zeros((m, n), dtype=bool)
    fa, fb = A_FMT_NAMES[a_fmt], B_FMT_NAMES[b_fmt]
    a = codes(a_nib, "a", a_fmt)
    b = codes(b_nib, "b", b_fmt)
    exact = gemm_exact(a, b, fa, fb)
    # The model's accumulator range check stops at 63 bits; no test sum gets
    # anywhere near 2^62, so a 64-bit register is checked as a 63-bit one.
    ovf = overflow_mask(a, b, fa, fb, min(width, 63))
    return wrap(exact, width), ovf


def product_table(a_fmt: int, b_fmt: int) -> np.ndarray:
    """16 x 16 products indexed [a nibble, b nibble] (an outer product: K = 1)."""
    nib = np.arange(16, dtype=np.uint8)
    sums, _ = gemm_expect(nib[:, None], nib[None, :], a_fmt, b_fmt, 64)
    return np.asarray(sums, dtype=np.int64)


def running_expect(a_nibs, b_nibs, a_fmt: int, b_fmt: int, width: int, at=None):
    """Accumulator and overflow flag after each of K products (or only at ``at``).

    Returns {k: (acc, overflow)} for prefix lengths k+1.
    """
    a_nibs = np.asarray(a_nibs, dtype=np.uint8)
    b_nibs = np.asarray(b_nibs, dtype=np.uint8)
    idx = range(len(a_nibs)) if at is None else at
    out = {}
    for k in idx:
        s, o = gemm_expect(a_nibs[None, :k + 1], b_nibs[:k + 1, None], a_fmt, b_fmt, width)
        out[k] = (int(s[0, 0]), bool(o[0, 0]))
    return out


# Extreme nibbles per hardware format code: int4 -8/7/-1/0, uint4 15/0,
# fp4 the two zeros (0x0, 0x8) and the top exponents (0x7, 0xF).
A_EXTREMES = {0: [0x8, 0x7, 0xF, 0x0], 1: [0xF, 0x0], 2: [0x0, 0x8, 0x7, 0xF], 3: [0xF]}
B_EXTREMES = {0: [0x8, 0x7, 0xF], 1: [0xF, 0x0]}


def random_operands(np_rng, rows, cols, k, af, bf, p_extreme=0.25):
    """Random A (rows x k) and B (k x cols) nibbles, a share of them extremes."""
    a = np_rng.integers(0, 16, size=(rows, k), dtype=np.uint8)
    b = np_rng.integers(0, 16, size=(k, cols), dtype=np.uint8)
    if p_extreme:
        ma = np_rng.random(a.shape) < p_extreme
        a[ma] = np_rng.choice(A_EXTREMES[af], size=int(ma.sum()))
        mb = np_rng.random(b.shape) < p_extreme
        b[mb] = np_rng.choice(B_EXTREMES[bf], size=int(mb.sum()))
    return a, b
