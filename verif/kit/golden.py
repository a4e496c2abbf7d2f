"""Expected values for the benches, computed by the golden model only.

Nothing here re-implements the arithmetic: products and sums come from
``model.gemm.gemm_exact`` and overflow flags from ``model.gemm.overflow_mask``;
this module only slices operands and wraps sums to the register width.
The one case the model has no format for is a reserved select code (a value
of the format field that names no format, e.g. A code 3), whose product is 0
by the hardware contract (docs/hardware.md).  Which codes name which format
is read from ``model.formats.FORMATS`` at call time.
"""

from __future__ import annotations

import numpy as np

from model.formats import FORMATS, from_nibbles, to_nibbles
from model.hw_vocab import extreme_codes, lane_width, max_abs_product, select_width, side_formats
from model.gemm import gemm_exact, overflow_mask


def format_names(side: str) -> dict[int, str]:
    """Hardware select code -> format name for GEMM side ``"a"`` / ``"b"``."""
    return {FORMATS[n].hw_code: n for n in side_formats(side)}


def reserved_codes(side: str) -> list[int]:
    """Select-field values that name no format (the datapath multiplies by 0)."""
    used = format_names(side)
    return [c for c in range(1 << select_width(side)) if c not in used]


def format_pairs() -> list[tuple[int, int]]:
    """Every (A select code, B select code) pair the datapath supports."""
    return [(a, b) for a in format_names("a") for b in format_names("b")]


def pair_label(a_code: int, b_code: int) -> str:
    """Coverage bin name of a format pair (reserved A codes by number)."""
    fa = format_names("a").get(a_code, f"reserved a{a_code}")
    return f"{fa} x {format_names('b')[b_code]}"


def wrap(x, width: int):
    """Two's-complement wrap of exact sums to ``width`` bits (what the register holds)."""
    x = np.asarray(x, dtype=object) if width >= 63 else np.asarray(x, dtype=np.int64)
    m = 1 << width
    return ((x + (m >> 1)) % m) - (m >> 1)


def codes(nibbles, a_or_b: str, fmt_code: int):
    names = format_names(a_or_b)
    return from_nibbles(np.asarray(nibbles, dtype=np.uint8), names[fmt_code])


def gemm_expect(a_nib, b_nib, a_fmt: int, b_fmt: int, width: int, lanes: int = 1):
    """(wrapped sums, overflow mask) of A (M x K nibbles) times B (K x N nibbles),
    the flags of a PE of ``lanes`` lanes (``model.gemm.overflow_mask``)."""
    a_nib = np.asarray(a_nib, dtype=np.uint8)
    b_nib = np.asarray(b_nib, dtype=np.uint8)
    m, n = a_nib.shape[0], b_nib.shape[1]
    if a_fmt in reserved_codes("a"):
        return np.zeros((m, n), dtype=np.int64), np.zeros((m, n), dtype=bool)
    fa, fb = format_names("a")[a_fmt], format_names("b")[b_fmt]
    a = codes(a_nib, "a", a_fmt)
    b = codes(b_nib, "b", b_fmt)
    exact = gemm_exact(a, b, fa, fb)
    # The model's accumulator range check stops at 63 bits; no test sum gets
    # anywhere near 2^62, so a 64-bit register is checked as a 63-bit one.
    ovf = overflow_mask(a, b, fa, fb, min(width, 63), lanes=lanes)
    return wrap(exact, width), ovf


def product_table(a_fmt: int, b_fmt: int) -> np.ndarray:
    """Products indexed [a code, b code] over every lane value each format
    takes (16 x 16 for 4-bit codes): an outer product, K = 1."""
    a = np.arange(code_count("a", a_fmt), dtype=np.uint8)
    b = np.arange(code_count("b", b_fmt), dtype=np.uint8)
    sums, _ = gemm_expect(a[:, None], b[None, :], a_fmt, b_fmt, 64)
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


def extreme_nibbles(side: str, code: int) -> list[int]:
    """Wire nibbles of the format's extreme codes (``model.hw_vocab.extreme_codes``);
    any nibble for a reserved code."""
    name = format_names(side).get(code)
    if name is None:
        return list(range(code_count(side, code)))
    return sorted({int(x) for x in to_nibbles(np.array(extreme_codes(name)), name)})


def code_count(side: str, code: int) -> int:
    """How many lane values a format's codes take (every lane value for a
    reserved select code)."""
    name = format_names(side).get(code)
    return 1 << (FORMATS[name].bits if name else lane_width())


def random_operands(np_rng, rows, cols, k, af, bf, p_extreme=0.25):
    """Random A (rows x k) and B (k x cols) lane values, a share of them extremes."""
    a = np_rng.integers(0, code_count("a", af), size=(rows, k), dtype=np.uint8)
    b = np_rng.integers(0, code_count("b", bf), size=(k, cols), dtype=np.uint8)
    if p_extreme:
        ma = np_rng.random(a.shape) < p_extreme
        a[ma] = np_rng.choice(extreme_nibbles("a", af), size=int(ma.sum()))
        mb = np_rng.random(b.shape) < p_extreme
        b[mb] = np_rng.choice(extreme_nibbles("b", bf), size=int(mb.sum()))
    return a, b


def fill_pair() -> tuple[int, int]:
    """The format pair whose products reach ``max_abs_product`` in both signs."""
    top = max_abs_product()
    for a, b in format_pairs():
        t = product_table(a, b)
        if (t == top).any() and (t == -top).any() and (np.abs(t) == 1).any():
            return a, b
    raise ValueError("no hardware format pair reaches +-max_abs_product() (and +-1)")


def fill_to(target: int) -> tuple[int, int, list[tuple[int, int]]]:
    """``(a_fmt, b_fmt, [(a nibble, b nibble), ...])`` whose products sum to ``target``.

    Greedy over the products of the fastest-growing format pair (read from
    the table): the largest product of the target's sign not beyond what is
    left, so a sum reaches ACC_WIDTH's bounds in few beats.  Only picks
    operands; every expected value still comes from the model.
    """
    a_fmt, b_fmt = fill_pair()
    table = product_table(a_fmt, b_fmt)
    rest, pairs = abs(int(target)), []
    sign = 1 if target >= 0 else -1
    while rest:
        fits = (table * sign > 0) & (table * sign <= rest)
        best = np.argmax(np.where(fits, table * sign, 0))
        x, y = divmod(int(best), table.shape[1])
        step = int(table[x, y]) * sign
        if step <= 0:
            raise ValueError(f"cannot reach {target} with {pair_label(a_fmt, b_fmt)} products")
        pairs.append((x, y))
        rest -= step
    return a_fmt, b_fmt, pairs


def product_nibbles(a_fmt: int, b_fmt: int, value: int) -> tuple[int, int]:
    """A pair of nibbles whose product in the format pair is ``value``."""
    hits = np.argwhere(product_table(a_fmt, b_fmt) == value)
    if not len(hits):
        raise ValueError(f"no {pair_label(a_fmt, b_fmt)} product equals {value}")
    return int(hits[0][0]), int(hits[0][1])
