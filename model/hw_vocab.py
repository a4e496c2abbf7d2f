"""Hardware vocabulary derived from ``model.formats.FORMATS``.

Everything the RTL, the benches and the driver need to know about formats
(select-field widths, lane and product widths, which GEMM side takes what,
the codes at a format's edges) is computed here from the table.  The
functions read the table at call time, so a row added at run time (a test's
throwaway format) is seen everywhere.  (Not re-exported by ``model.formats``:
this module reads the table, so the table cannot import it back.)
"""

from __future__ import annotations

import numpy as np

from .formats import FORMATS, get_format, int_value, int_value_table

__all__ = ["SIDES", "side_formats", "select_width", "lane_width", "product_range",
           "product_width", "max_abs_product", "extreme_codes", "hardware_orientation"]

SIDES = ("a", "b")


def _check_side(side: str) -> str:
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}, got {side!r}")
    return side


def side_formats(side: str) -> tuple[str, ...]:
    """Names of the formats the datapath accepts on GEMM side ``"a"`` or ``"b"``,
    in hardware select-code order."""
    _check_side(side)
    names = [n for n, f in FORMATS.items() if f.hw_code is not None and side in f.sides]
    return tuple(sorted(names, key=lambda n: FORMATS[n].hw_code))


def select_width(side: str) -> int:
    """Width of the RTL format-select field of ``side`` (at least 1 bit)."""
    codes = [FORMATS[n].hw_code for n in side_formats(side)]
    return max(1, max(codes, default=0).bit_length())


def lane_width() -> int:
    """Bits of one operand lane on the datapath: the widest hardware code.
    Narrower codes sit in the low bits of a lane (the PE sign- or
    zero-extends them by kind)."""
    return max(FORMATS[n].bits for side in SIDES for n in side_formats(side))


def product_range(a_format: str, b_format: str) -> tuple[int, int]:
    """Smallest and largest exact product of one A code by one B code."""
    av = int_value_table(a_format)
    bv = int_value_table(b_format)
    products = np.outer(av, bv)
    return int(products.min()), int(products.max())


def product_width() -> int:
    """Signed width that holds every product of every hardware format pair."""
    lo = hi = 0
    for fa in side_formats("a"):
        for fb in side_formats("b"):
            p_lo, p_hi = product_range(fa, fb)
            lo, hi = min(lo, p_lo), max(hi, p_hi)
    width = 1
    while not -(1 << (width - 1)) <= lo or not hi <= (1 << (width - 1)) - 1:
        width += 1
    return width


def max_abs_product() -> int:
    """Largest |product| over all hardware format pairs (how fast a sum can grow)."""
    return max(max(abs(v) for v in product_range(fa, fb))
               for fa in side_formats("a") for fb in side_formats("b"))


def extreme_codes(fmt: str) -> tuple[int, ...]:
    """Codes (as held in numpy) standing for the format's edge values: the most
    negative, the most positive, zero and the smallest non-zero magnitudes.
    Random operand generators mix these in so that every bench hits them."""
    spec = get_format(fmt)
    codes = np.arange(spec.code_min, spec.code_max + 1)
    values = int_value(codes, fmt)
    nonzero = np.abs(values[values != 0])
    smallest = nonzero.min() if nonzero.size else 0
    picks = {int(codes[np.argmin(values)]), int(codes[np.argmax(values)])}
    picks |= {int(c) for c, v in zip(codes, values) if v == 0 or abs(v) == smallest}
    return tuple(sorted(picks))


def hardware_orientation(a_format: str, b_format: str) -> bool:
    """Whether a 4-bit GEMM runs as is (False) or transposed (True).

    The datapath takes each format only on the sides the table allows; a pair
    that fits only the other way round is computed as ``(B^T A^T)^T``.  A pair
    that fits neither way raises ``ValueError``.
    """
    if a_format in side_formats("a") and b_format in side_formats("b"):
        return False
    if b_format in side_formats("a") and a_format in side_formats("b"):
        return True
    raise ValueError(f"the datapath cannot multiply {a_format} (A) by {b_format} (B) "
                     "in either orientation")
