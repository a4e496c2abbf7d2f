"""gemm_exact and the overflow rule against plain-Python references."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from model.backend import GemmOverflowError, GoldenBackend
from hw.pe import ProcessingElement
from model.config import ACC_WIDTH_MAX, ACC_WIDTH_MIN, acc_range
from model.gemm import exceeds_acc, gemm_exact, overflow_mask

RANGES = {"int4": (-8, 7, np.int8), "uint4": (0, 15, np.uint8), "fp4": (0, 15, np.uint8),
          "fp4r2": (0, 15, np.uint8)}
ALL_PAIRS = list(itertools.product(["int4", "uint4", "fp4"], ["int4", "uint4"]))


def iv_python(code, fmt):
    """SPEC 2's iv, written independently of model.formats."""
    code = int(code)
    if fmt in ("int4", "uint4"):
        return code
    s, e = code >> 3, code & 7
    radix = 4 if fmt == "fp4" else 2
    return 0 if e == 0 else (-1) ** s * radix ** (e - 1)


def triple_loop(a, b, fa, fb):
    m, k = a.shape
    n = b.shape[1]
    return [[sum(iv_python(a[i, t], fa) * iv_python(b[t, j], fb) for t in range(k))
             for j in range(n)] for i in range(m)]


def rand_codes(rng, fmt, shape):
    lo, hi, dt = RANGES[fmt]
    return rng.integers(lo, hi + 1, shape).astype(dt)


@pytest.mark.parametrize("fa,fb", ALL_PAIRS + [("fp4", "fp4"), ("uint4", "fp4"), ("fp4r2", "int4")])
@pytest.mark.parametrize("m,k,n", [(1, 0, 1), (3, 0, 2), (1, 1, 1), (2, 1, 3), (4, 5, 3),
                                   (7, 13, 5), (1, 40, 1)])
def test_gemm_matches_triple_loop(fa, fb, m, k, n):
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a, b = rand_codes(rng, fa, (m, k)), rand_codes(rng, fb, (k, n))
    c = gemm_exact(a, b, fa, fb)
    assert c.dtype == np.int64 and c.shape == (m, n)
    assert c.tolist() == triple_loop(a, b, fa, fb)


def test_gemm_extremes_are_exact_for_long_k():
    k = 300_000  # sums of 1.8e10: beyond int32, exact in int64
    a = np.full((1, k), 0xF, np.uint8)          # -4096
    b = np.full((k, 2), 15, np.uint8)
    c = gemm_exact(a, b, "fp4", "uint4")
    assert c.tolist() == [[-4096 * 15 * k] * 2]


def test_gemm_accepts_any_integer_dtype():
    a = np.array([[1, -2]], dtype=np.int64)
    b = np.array([[3], [4]], dtype=np.int16)
    assert gemm_exact(a, b, "int4", "int4").tolist() == [[-5]]


@pytest.mark.parametrize("a,b,fa,fb,match", [
    (np.zeros((2, 3), np.int8), np.zeros((2, 3), np.int8), "int4", "int4", "shape mismatch"),
    (np.zeros(3, np.int8), np.zeros((3, 1), np.int8), "int4", "int4", "2-D"),
    (np.zeros((1, 1)), np.zeros((1, 1), np.int8), "int4", "int4", "integer dtype"),
    (np.full((1, 1), 8), np.zeros((1, 1), np.int8), "int4", "int4", "out of range"),
    (np.zeros((1, 1), np.int8), np.full((1, 1), -1), "int4", "uint4", "out of range"),
    (np.zeros((1, 1), np.int8), np.zeros((1, 1), np.int8), "int3", "int4", "unknown format"),
])
def test_gemm_bad_input(a, b, fa, fb, match):
    with pytest.raises(ValueError, match=match):
        gemm_exact(a, b, fa, fb)


def running_sum_overflow(a, b, fa, fb, width):
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    m, k = a.shape
    out = np.zeros((m, b.shape[1]), bool)
    for i in range(m):
        for j in range(b.shape[1]):
            s = 0
            for t in range(k):
                s += iv_python(a[i, t], fa) * iv_python(b[t, j], fb)
                out[i, j] |= not lo <= s <= hi
    return out


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), pair=st.sampled_from(ALL_PAIRS),
       width=st.integers(18, 20), k=st.integers(1, 12))
def test_overflow_mask_is_the_running_sum_rule(seed, pair, width, k):
    fa, fb = pair
    rng = np.random.default_rng(seed)
    a, b = rand_codes(rng, fa, (3, k)), rand_codes(rng, fb, (k, 2))
    got = overflow_mask(a, b, fa, fb, width, block=7)
    assert np.array_equal(got, running_sum_overflow(a, b, fa, fb, width))


def test_overflow_flag_is_sticky_even_if_the_sum_returns():
    # +4096*15 * 3 = 184320 > 2^17 - 1, then back down to 0 with three negatives.
    a = np.array([[0x7, 0x7, 0x7, 0xF, 0xF, 0xF]], np.uint8)
    b = np.full((6, 1), 15, np.uint8)
    assert gemm_exact(a, b, "fp4", "uint4")[0, 0] == 0
    assert overflow_mask(a, b, "fp4", "uint4", 18)[0, 0]
    assert not exceeds_acc(gemm_exact(a, b, "fp4", "uint4"), 18)[0, 0]
    assert not overflow_mask(a, b, "fp4", "uint4", 19)[0, 0]


def test_overflow_boundary_at_32_bits():
    # 34,952 worst-case FP4 x UINT4 products fit (SPEC 2); 34,953 do not.
    lo, hi = acc_range(32)
    assert 4096 * 15 * 34952 <= hi < 4096 * 15 * 34953
    b = np.full((34953, 1), 15, np.uint8)
    a = np.full((1, 34953), 0x7, np.uint8)
    assert not overflow_mask(a[:, :-1], b[:-1], "fp4", "uint4", 32).any()
    assert overflow_mask(a, b, "fp4", "uint4", 32).all()
    neg = np.full((1, 34953), 0xF, np.uint8)
    assert -4096 * 15 * 34953 < lo   # negative side has one more value, still overflows
    assert overflow_mask(neg, b, "fp4", "uint4", 32).all()


def test_acc_range_validation():
    """One range everywhere (SPEC 2): 18..64, as the RTL (tests/test_pe.py)."""
    assert (ACC_WIDTH_MIN, ACC_WIDTH_MAX) == (18, 64)
    assert acc_range(18) == (-131072, 131071)
    assert acc_range(64) == (-(2 ** 63), 2 ** 63 - 1)
    for bad in (1, 17, 65, 3.0, True):
        with pytest.raises(ValueError, match=r"18\.\.64"):
            acc_range(bad)
        with pytest.raises(ValueError, match=r"18\.\.64"):
            GoldenBackend(acc_width=bad)
        with pytest.raises(ValueError, match=r"18\.\.64"):
            ProcessingElement(bad)


def test_64_bit_accumulator_on_golden():
    """W = 64 works: no flag for the largest sums memory allows, the extreme
    products run through the running-sum path, and a sum one past the 64-bit
    edge (built with Python integers) would be flagged by exceeds_acc."""
    rng = np.random.default_rng(64)
    a = np.full((2, 5000), 0x7, np.uint8)
    b = np.full((5000, 3), 15, np.uint8)
    assert not overflow_mask(a, b, "fp4", "uint4", 64).any()
    backend = GoldenBackend(acc_width=64)
    x = rand_codes(rng, "fp4", (4, 9))
    y = rand_codes(rng, "int4", (9, 2))
    assert backend.gemm(x, y, "fp4", "int4").tolist() == triple_loop(x, y, "fp4", "int4")
    # The forced walk (block tiny, bound check bypassed by a 64-bit edge).
    assert not overflow_mask(a[:, :7], b[:7], "fp4", "uint4", 64, block=1).any()
    assert exceeds_acc(np.array([2 ** 63 - 1]), 64).tolist() == [False]


def test_overflow_mask_int64_running_sums_are_exact_near_the_edge():
    """The running sums are int64 for every accepted width: at W = 64 the
    bound check alone decides (K would need > 2^47 terms to reach 2^63), and
    at narrow widths the walk sees the same edge as a Python-integer loop."""
    a = np.array([[0x7] * 3 + [0xF] * 3], np.uint8)
    b = np.full((6, 1), 15, np.uint8)
    for width in (18, 19, 20, 63, 64):
        assert overflow_mask(a, b, "fp4", "uint4", width).tolist() == \
            running_sum_overflow(a, b, "fp4", "uint4", width).tolist()


def test_golden_backend_names_overflowing_gemm():
    backend = GoldenBackend(acc_width=18)
    a = np.full((2, 3), 0x7, np.uint8)
    b = np.full((3, 2), 15, np.uint8)
    with pytest.raises(GemmOverflowError, match="layer3.dX"):
        backend.gemm(a, b, "fp4", "uint4", name="layer3.dX")
    assert GoldenBackend(acc_width=20).gemm(a, b, "fp4", "uint4").tolist() == [[184320] * 2] * 2


def test_golden_backend_fp4_on_b_side_and_8bit():
    rng = np.random.default_rng(3)
    x = rand_codes(rng, "uint4", (6, 5))
    dy = rand_codes(rng, "fp4", (5, 4))
    backend = GoldenBackend()
    assert np.array_equal(backend.gemm(x, dy, "uint4", "fp4"), triple_loop(x, dy, "uint4", "fp4"))
    a8 = rng.integers(-128, 128, (3, 7)).astype(np.int16)
    b8 = rng.integers(0, 256, (7, 2)).astype(np.int16)
    assert np.array_equal(backend.gemm(a8, b8, "int8", "uint8"), a8.astype(np.int64) @ b8)
