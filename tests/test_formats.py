"""The golden model's number formats against SPEC 1.1-1.5, written from the SPEC."""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from model.formats import (FORMATS, check_codes, fp4_decode, fp4_encode, fp4_levels,
                           from_nibbles, get_format, grad_scale_sigma, int_encode,
                           int_value, int_value_table, log_decode, log_encode,
                           to_nibbles, tpr_encode)

finite_reals = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)
sigmas = st.integers(min_value=-40, max_value=40)
phases = st.sampled_from([0, 1])


# ---------------------------------------------------------------- exhaustive tables

def spec_fp4_value(code, sigma, phase):
    """SPEC 1.2 written out literally for one code."""
    s, e = code >> 3, code & 7
    if e == 0:
        return 0.0
    return (-1) ** s * 2.0 ** (sigma + phase - 2 * (7 - e))


@pytest.mark.parametrize("sigma", [-7, 0, 3, 12])
@pytest.mark.parametrize("phase", [0, 1])
def test_fp4_decode_every_code(sigma, phase):
    codes = np.arange(16, dtype=np.uint8)
    got = fp4_decode(codes, sigma, phase)
    want = [spec_fp4_value(c, sigma, phase) for c in range(16)]
    assert got.dtype == np.float64
    assert list(got) == want


def test_fp4_integer_view_every_code():
    want = [0, 1, 4, 16, 64, 256, 1024, 4096, 0, -1, -4, -16, -64, -256, -1024, -4096]
    assert list(int_value(np.arange(16), "fp4")) == want
    # value = iv * 2^(sigma + p - 12)
    for c in range(16):
        assert fp4_decode(np.uint8(c), 5, 1) == want[c] * 2.0 ** (5 + 1 - 12)


def test_int_formats_every_code():
    assert list(int_value(np.arange(-8, 8), "int4")) == list(range(-8, 8))
    assert list(int_value(np.arange(16), "uint4")) == list(range(16))
    assert list(int_value_table("int4")) == [0, 1, 2, 3, 4, 5, 6, 7, -8, -7, -6, -5, -4, -3, -2, -1]
    assert list(int_value_table("uint4")) == list(range(16))


@pytest.mark.parametrize("fmt", ["int4", "uint4", "fp4", "fp4r2"])
def test_nibble_round_trip_every_code(fmt):
    spec = FORMATS[fmt]
    codes = np.arange(spec.code_min, spec.code_max + 1).astype(spec.dtype)
    nib = to_nibbles(codes, fmt)
    assert nib.dtype == np.uint8 and nib.min() >= 0 and nib.max() <= 15
    assert np.array_equal(from_nibbles(nib, fmt), codes)
    assert np.array_equal(int_value_table(fmt)[nib], int_value(codes, fmt))


def test_radix2_variant_values():
    want = [0, 1, 2, 4, 8, 16, 32, 64, 0, -1, -2, -4, -8, -16, -32, -64]
    assert list(int_value(np.arange(16), "fp4r2")) == want
    assert log_decode(np.uint8(7), 0, fmt="fp4r2") == 1.0
    assert log_decode(np.uint8(1), 0, fmt="fp4r2") == 2.0 ** -6


@pytest.mark.parametrize("fmt,bad", [("int4", 8), ("int4", -9), ("uint4", 16), ("uint4", -1),
                                     ("fp4", 16), ("fp4", -1)])
def test_out_of_range_codes_raise(fmt, bad):
    with pytest.raises(ValueError, match="out of range"):
        int_value(np.array([0, bad]), fmt)


def test_non_integer_codes_raise():
    with pytest.raises(ValueError, match="integer dtype"):
        check_codes(np.array([1.0]), "int4")
    with pytest.raises(ValueError, match="integer dtype"):
        check_codes(np.array([True]), "uint4")


def test_unknown_format_raises():
    with pytest.raises(ValueError, match="unknown format"):
        get_format("int5")


def test_int_encode_rounds_and_clips():
    got = int_encode([-9.7, -0.5, 0.5, 1.5, 2.5, 7.4, 100], "int4")
    assert list(got) == [-8, 0, 0, 2, 2, 7, 7]
    assert got.dtype == np.int8
    with pytest.raises(ValueError, match="NaN"):
        int_encode([np.nan], "uint4")


# ---------------------------------------------------------------- encoder, directed

def test_fp4_encode_directed_edges():
    sigma, top, m = 0, 1.0, 4.0 ** -6
    xs = np.array([0.0, -0.0, top, 2 * top, np.inf, -np.inf,
                   m, m / 2, m / 2 * (1 - 1e-12), -m / 2,
                   2.5 * m, 2.5 * m * (1 - 1e-12), 0.25, 0.25 * 2.5, 0.25 * 2.499])
    want = [0x0, 0x0, 0x7, 0x7, 0x7, 0xF,
            0x1, 0x1, 0x0, 0x9,
            0x2, 0x1, 0x6, 0x7, 0x6]
    assert list(fp4_encode(xs, sigma)) == want


def test_negative_values_rounding_to_zero_emit_0x0():
    assert fp4_encode(np.array([-1e-30]), 0)[0] == 0x0


def test_fp4_encode_nan_raises_naming_tensor():
    with pytest.raises(ValueError, match="fc1.dY"):
        fp4_encode(np.array([1.0, np.nan]), 0, name="fc1.dY")


def test_bad_sigma_phase_rounding():
    with pytest.raises(ValueError):
        fp4_encode([1.0], 0.5)
    with pytest.raises(ValueError):
        fp4_encode([1.0], 0, phase=2)
    with pytest.raises(ValueError):
        fp4_encode([1.0], 0, rounding="up")
    with pytest.raises(ValueError, match="rng"):
        fp4_encode([1.0], 0, rounding="stochastic")


def nearest_level_spec(x, sigma, phase):
    """SPEC 1.3 nearest rounding, written as a scan over the levels."""
    top = 2.0 ** (sigma + phase)
    levels = [top * 4.0 ** -j for j in range(7)]  # L_0 = top ... L_6 = m
    ax = abs(x)
    if ax >= top:
        mag = top
    elif ax < levels[6]:
        mag = 0.0 if ax < levels[6] / 2 else levels[6]
    else:
        mag = None
        for j in range(1, 7):
            low = levels[j]
            if low <= ax < 4 * low:
                mag = 4 * low if ax >= 2.5 * low else low
                break
    return math.copysign(mag, x) if mag else 0.0


@settings(max_examples=400, deadline=None)
@given(x=finite_reals, sigma=sigmas, phase=phases)
def test_nearest_gives_spec_level(x, sigma, phase):
    x = x * 2.0 ** sigma / 64
    got = fp4_decode(fp4_encode(np.array([x]), sigma, phase), sigma, phase)[0]
    assert got == nearest_level_spec(x, sigma, phase)


@settings(max_examples=200, deadline=None)
@given(sigma=sigmas, phase=phases, j=st.integers(0, 6), frac=st.floats(0, 1))
def test_nearest_within_levels(sigma, phase, j, frac):
    top = 2.0 ** (sigma + phase)
    low = top * 4.0 ** -j
    x = low * (1 + 3 * frac) if j > 0 else top * (1 + frac)
    got = fp4_decode(fp4_encode(np.array([x]), sigma, phase), sigma, phase)[0]
    assert got == nearest_level_spec(x, sigma, phase)


@settings(max_examples=100, deadline=None)
@given(xs=st.lists(finite_reals, min_size=2, max_size=50), sigma=sigmas, phase=phases)
def test_nearest_is_monotone(xs, sigma, phase):
    xs = np.sort(np.array(xs))
    vals = fp4_decode(fp4_encode(xs, sigma, phase), sigma, phase)
    assert np.all(np.diff(vals) >= 0)


@settings(max_examples=100, deadline=None)
@given(x=finite_reals, sigma=sigmas, phase=phases)
def test_saturation_and_symmetry(x, sigma, phase):
    top = 2.0 ** (sigma + phase)
    c_pos = fp4_encode(np.array([abs(x)]), sigma, phase)[0]
    c_neg = fp4_encode(np.array([-abs(x)]), sigma, phase)[0]
    assert c_neg == (c_pos | 8 if c_pos else 0)
    if abs(x) >= top:
        assert c_pos == 7
    assert abs(fp4_decode(c_pos, sigma, phase)) <= top


def test_levels_table():
    assert list(fp4_levels(0, 0)) == [4.0 ** -j for j in range(6, -1, -1)]
    assert fp4_levels(3, 1)[-1] == 16.0


# ---------------------------------------------------------------- stochastic rounding

@pytest.mark.parametrize("x", [0.3, 0.26, 0.9, 1e-4, 3e-4, 0.0625 * 1.7])
def test_stochastic_rounding_is_unbiased(x):
    rng = np.random.default_rng(1234)
    n = 200_000
    vals = fp4_decode(fp4_encode(np.full(n, x), 0, rounding="stochastic", rng=rng), 0)
    # Only the two neighbouring levels may appear.
    levels = np.unique(vals)
    assert len(levels) <= 2
    lo, hi = levels.min(), levels.max()
    std = (hi - lo) / 2 / np.sqrt(n)  # upper bound on the std of the mean
    assert abs(vals.mean() - x) < 5 * std + 1e-15


def test_stochastic_is_reproducible_and_exact_on_levels():
    x = np.linspace(-1, 1, 1001)
    a = fp4_encode(x, 0, rounding="stochastic", rng=np.random.default_rng(7))
    b = fp4_encode(x, 0, rounding="stochastic", rng=np.random.default_rng(7))
    assert np.array_equal(a, b)
    lv = fp4_levels(0, 0)
    got = fp4_decode(fp4_encode(lv, 0, rounding="stochastic", rng=np.random.default_rng(0)), 0)
    assert np.array_equal(got, lv)


# ---------------------------------------------------------------- GradScale and TPR

def test_grad_scale_directed():
    assert grad_scale_sigma(np.zeros(5)) == 0
    assert grad_scale_sigma(np.array([1.0])) == 0
    assert grad_scale_sigma(np.array([-1.0000001])) == 1
    assert grad_scale_sigma(np.array([0.25, -0.1])) == -2
    assert grad_scale_sigma(np.array([0.2500001])) == -1
    assert grad_scale_sigma(np.array([3e-300])) == math.ceil(math.log2(3e-300))
    with pytest.raises(ValueError, match="NaN"):
        grad_scale_sigma(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="inf"):
        grad_scale_sigma(np.array([np.inf]))


@settings(max_examples=200, deadline=None)
@given(g=st.lists(st.one_of(st.just(0.0), st.floats(1e-250, 1e30), st.floats(-1e30, -1e-250)),
                  min_size=1, max_size=30))
def test_grad_scale_never_saturates_its_step(g):
    g = np.array(g)
    sigma = grad_scale_sigma(g)
    amax = np.abs(g).max()
    for phase in (0, 1):
        assert 2.0 ** (sigma + phase) >= amax
    if amax > 0:
        assert 2.0 ** (sigma - 1) < amax  # tightest such exponent
        codes, _, _ = tpr_encode(g)
        # The largest magnitude is represented without clipping: its code decodes
        # to the level nearest to it, never below the top-level midpoint rule.
        dec = fp4_decode(codes, sigma, 0)
        assert np.abs(dec).max() <= 2.0 ** sigma


def test_tpr_pair_phases():
    g = np.array([0.3, -0.07, 0.001, 0.0])
    dx, dw, sigma = tpr_encode(g)
    assert sigma == grad_scale_sigma(g)
    assert np.array_equal(dx, fp4_encode(g, sigma, 0))
    assert np.array_equal(dw, fp4_encode(g, sigma, 1))
    dx2, dw2, _ = tpr_encode(g, tpr=False)
    assert np.array_equal(dx2, dw2)
    assert np.array_equal(dw2, fp4_encode(g, sigma, 0))
    # The two grids are offset by 2x: phase 1 levels are phase 0 levels doubled.
    assert np.array_equal(fp4_levels(sigma, 1), 2 * fp4_levels(sigma, 0))


def test_delayed_sigma_saturates():
    dx, dw, sigma = tpr_encode(np.array([5.0, -5.0]), sigma=0)
    assert sigma == 0
    assert list(dx) == [0x7, 0xF]


def test_radix2_encoder_midpoints():
    # radix 2: adjacent levels L, 2L, midpoint 1.5 L, ties up.
    L = 2.0 ** -3
    got = log_encode(np.array([L * 1.5, L * 1.4999, L]), 0, fmt="fp4r2")
    assert list(got) == [5, 4, 4]


# --------------------------------------------------------------------------
# Hardware vocabulary derived from the table (the same rows, read at call time;
# tests/test_throwaway_format.py adds rows and checks the derived values move).

def test_hardware_vocabulary_of_the_shipped_table():
    from model.hw_vocab import (hardware_orientation, lane_width, max_abs_product, product_range,
                                product_width, select_width, side_formats)
    assert side_formats("a") == ("int4", "uint4", "fp4")
    assert side_formats("b") == ("int4", "uint4")
    assert (select_width("a"), select_width("b"), lane_width()) == (2, 1, 4)
    assert product_range("fp4", "uint4") == (-4096 * 15, 4096 * 15)
    assert product_range("int4", "int4") == (-8 * 7, 64)
    assert max_abs_product() == 61440
    assert product_width() == 17          # 61440 < 2^16 <= 61440 * 2
    assert hardware_orientation("fp4", "int4") is False
    assert hardware_orientation("uint4", "fp4") is True
    for fa, fb in (("fp4", "fp4"), ("fp4r2", "int4"), ("int4", "fp4r2")):
        with pytest.raises(ValueError, match="either orientation"):
            hardware_orientation(fa, fb)
    with pytest.raises(ValueError, match="side"):
        side_formats("c")


def test_extreme_codes_are_the_value_edges():
    from model.hw_vocab import extreme_codes
    assert extreme_codes("int4") == (-8, -1, 0, 1, 7)
    assert extreme_codes("uint4") == (0, 1, 15)
    # fp4: -4096 (0xF), +4096 (0x7), zeros 0x0/0x8, +-1 (0x1, 0x9).
    assert extreme_codes("fp4") == (0, 1, 7, 8, 9, 15)
