"""The overflow rule of a k-lane PE (docs/architecture.md, "Overflow with
lanes") in the golden model, against a plain-Python reference.

``overflow_mask(..., lanes=k)`` judges the running sum only at the end of
each group of ``k`` consecutive products (K zero-padded to a multiple of
``k``): a sum that leaves the accumulator range and comes back inside one
group is not flagged for that ``k`` (but is for ``k = 1``).
"""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from model.backend import GemmOverflowError, GoldenBackend
from model.config import ConfigError
from model.gemm import LANES_MAX, check_lanes, overflow_mask
from model.onchip_tile import GoldenQuantTile

ALL_PAIRS = list(itertools.product(["int4", "uint4", "fp4"], ["int4", "uint4"]))
RANGES = {"int4": (-8, 7, np.int8), "uint4": (0, 15, np.uint8), "fp4": (0, 15, np.uint8)}
TOP = 4096 * 15          # the largest |product| (fp4 e=7 x uint4 15)
POS, NEG = 0x7, 0xF      # fp4 +4096 and -4096


def iv(code, fmt):
    """SPEC 2's integer value, written here without model.formats."""
    code = int(code)
    if fmt != "fp4":
        return code
    s, e = code >> 3, code & 7
    return 0 if e == 0 else (-1) ** s * 4 ** (e - 1)


def group_rule(a, b, fa, fb, width, lanes):
    """The rule in plain Python: pad K with zeros to a multiple of ``lanes``,
    add each group's exact sum, flag when a running sum is out of range."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    m, k = a.shape
    padded = -(-k // lanes) * lanes
    out = np.zeros((m, b.shape[1]), bool)
    for i, j in itertools.product(range(m), range(b.shape[1])):
        acc = 0
        for g in range(0, padded, lanes):
            acc += sum(iv(a[i, t], fa) * iv(b[t, j], fb) for t in range(g, min(g + lanes, k)))
            out[i, j] |= not lo <= acc <= hi
    return out


def fp4_row(products):
    """A (1 x K fp4 codes) and B (K x 1 uint4) whose products are ``products``
    (each a multiple 4^j * b of the table, found by search)."""
    table = {iv(c, "fp4") * b: (c, b) for c in range(16) for b in range(16)}
    pairs = [table[p] for p in products]
    a = np.array([[c for c, _ in pairs]], np.uint8)
    b = np.array([[v] for _, v in pairs], np.uint8)
    return a, b


def flags(products, width, lanes):
    a, b = fp4_row(products)
    got = bool(overflow_mask(a, b, "fp4", "uint4", width, lanes=lanes)[0, 0])
    assert got == bool(group_rule(a, b, "fp4", "uint4", width, lanes)[0, 0])
    return got


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**31), pair=st.sampled_from(ALL_PAIRS),
       width=st.integers(18, 20), k=st.integers(1, 40), lanes=st.sampled_from([1, 2, 3, 4, 8, 16]),
       block=st.sampled_from([7, 64, 1 << 22]))
def test_overflow_mask_is_the_group_rule(seed, pair, width, k, lanes, block):
    """Random codes biased to the extremes, any K (padding), small chunks."""
    fa, fb = pair
    rng = np.random.default_rng(seed)
    a = rng.integers(RANGES[fa][0], RANGES[fa][1] + 1, (3, k)).astype(RANGES[fa][2])
    b = rng.integers(RANGES[fb][0], RANGES[fb][1] + 1, (k, 2)).astype(RANGES[fb][2])
    if fa == "fp4":   # mostly the largest magnitudes, so narrow widths overflow
        a = np.where(rng.random(a.shape) < 0.7, np.where(rng.random(a.shape) < 0.5, POS, NEG), a)
        a = a.astype(np.uint8)
    got = overflow_mask(a, b, fa, fb, width, lanes=lanes, block=block)
    assert np.array_equal(got, group_rule(a, b, fa, fb, width, lanes))


def test_lanes_one_is_the_prefix_rule():
    rng = np.random.default_rng(5)
    a = np.where(rng.random((4, 50)) < 0.5, POS, NEG).astype(np.uint8)
    b = np.full((50, 3), 15, np.uint8)
    assert np.array_equal(overflow_mask(a, b, "fp4", "uint4", 18),
                          overflow_mask(a, b, "fp4", "uint4", 18, lanes=1))


def test_leaving_and_reentering_inside_a_group_is_not_flagged():
    """+T +T +T -T at W = 18: the third prefix (3T = 184320) is out of range,
    the group end (2T = 122880) is back in."""
    seq = [TOP, TOP, TOP, -TOP]
    assert flags(seq, 18, lanes=1)          # every prefix is seen
    assert flags(seq, 18, lanes=2) is False  # group ends: 2T, 2T
    assert flags(seq, 18, lanes=3)          # group end 3T
    assert flags(seq, 18, lanes=4) is False  # group end 2T
    # The same excursion in the other direction.
    assert flags([-x for x in seq], 18, lanes=1)
    assert flags([-x for x in seq], 18, lanes=4) is False


def test_sticky_across_groups():
    """Out of range at a group end, back in at the next one: still flagged."""
    assert flags([TOP, TOP, TOP, 0, -TOP, -TOP, -TOP, 0], 18, lanes=4)
    assert flags([TOP, TOP, TOP, 0, -TOP, -TOP, -TOP, 0], 18, lanes=8) is False


@pytest.mark.parametrize("lanes", [1, 2, 4, 8])
@pytest.mark.parametrize("width", [18, 20])
def test_group_sum_exactly_at_the_edges(width, lanes):
    """A group end exactly at 2^(W-1) - 1 / -2^(W-1) is not flagged; one more
    (in the same or the next group) is."""
    hi, lo = (1 << (width - 1)) - 1, -(1 << (width - 1))
    for edge, step in ((hi, 1), (lo, -1)):
        sign = 1 if edge > 0 else -1
        parts, rest = [], abs(edge)
        while rest:   # greedy: largest product not beyond the rest (4^j * b)
            p = max(x for x in (4 ** j * v for j in range(7) for v in range(1, 16)) if x <= rest)
            parts.append(sign * p)
            rest -= p
        padded = parts + [0] * (-len(parts) % lanes)       # the edge at a group end
        assert not flags(padded, width, lanes)
        assert flags(padded + [step], width, lanes)
        # One beyond and back inside one group: seen only with one lane.
        assert flags(padded + [step, -step], width, lanes) == (lanes == 1)


def test_group_sum_wider_than_the_accumulator():
    """W = 18, k = 16: one group of 16 top products is 983040, more than the
    accumulator (and than a 17-bit product) holds; judged as one exact sum."""
    assert flags([TOP] * 16, 18, lanes=16)
    assert flags([-TOP] * 16, 18, lanes=16)
    # +8 T and -8 T in one group: the group sum is 0, nothing is seen.
    assert flags([TOP] * 8 + [-TOP] * 8, 18, lanes=16) is False
    assert flags([TOP] * 8 + [-TOP] * 8, 18, lanes=1)
    # The first beat of a sum (a clear) can overflow: 2 T + 2 T > 2^17.
    assert flags([TOP] * 3, 18, lanes=4)


def test_padding_judges_the_last_partial_group_at_k():
    """K = 5 with 4 lanes: groups [0, 4) and [4, 8) padded; the end of the
    second is K itself."""
    assert flags([0, 0, 0, 0, TOP], 18, lanes=4) is False
    assert flags([TOP, TOP, 0, 0, TOP], 18, lanes=4)             # 3 T at K
    assert flags([TOP, TOP, TOP, -TOP, -TOP], 18, lanes=4) is False  # 2 T, then T


def test_golden_backends_take_lanes():
    a, b = fp4_row([TOP, TOP, TOP, -TOP])
    with pytest.raises(GemmOverflowError):
        GoldenBackend(18).gemm(a, b, "fp4", "uint4")
    assert GoldenBackend(18, lanes=4).gemm(a, b, "fp4", "uint4").tolist() == [[2 * TOP]]
    assert GoldenQuantTile(2, 2, 18, lanes=4).lanes == 4
    # 3 lanes: the model's rule takes it (overflow_mask above), a backend's
    # configuration only the lane counts the RTL implements.
    assert overflow_mask(a, b, "fp4", "uint4", 18, lanes=3).all()
    with pytest.raises(ConfigError, match="lanes must be one of"):
        GoldenBackend(18, lanes=3)


@pytest.mark.parametrize("bad", [0, -1, LANES_MAX + 1, True, 2.0, "4"])
def test_bad_lanes(bad):
    with pytest.raises(ValueError, match="lanes"):
        check_lanes(bad)
    with pytest.raises(ValueError, match="lanes"):
        overflow_mask(np.zeros((1, 1), np.int8), np.zeros((1, 1), np.int8), "int4", "int4",
                      lanes=bad)
