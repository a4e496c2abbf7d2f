"""Every quantizer at the float edges (issue 17): subnormals, the largest
finite floats, +-0, single elements, huge dynamic range within one tensor,
and sigma where ldexp would over- or underflow.

The rule under test: a correct code, or a ``ValueError`` that names the
tensor; never a silent zero step, inf or NaN.  Expected values come from the
SPEC's definitions (exact rational arithmetic where rounding matters), not
from the implementation.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

from model.formats import (check_codes, fp4_decode, fp4_encode, grad_scale_sigma, log_decode,
                           log_encode, sigma_range, tpr_encode)
from model.quant import (decompose, int8_grad_quantize, pact_quantize, recombine, sawb_alpha,
                         sawb_quantize)

TINY = float(np.finfo(np.float64).tiny)      # 2^-1022, smallest normal
SUB = 5e-324                                 # 2^-1074, smallest subnormal
BIG = float(np.finfo(np.float64).max)        # largest finite

any_float = st.floats(allow_nan=False, allow_infinity=False)   # full range, subnormals included
float_arrays = st.lists(any_float, min_size=1, max_size=16).map(np.array)


def _normal_step(q):
    assert TINY <= q.scale < math.inf, q.scale
    with np.errstate(over="raise"):
        assert np.all(np.isfinite(q.dequantize()))


# --------------------------------------------------------------------------
# INT8 gradient quantizer


def test_int8_smallest_subnormal_is_refused_by_name():
    # The known bug: amax / 127 underflowed to 0, code 127 with scale 0.
    with pytest.raises(ValueError, match="fc2.dY"):
        int8_grad_quantize(np.array([SUB]), "fc2.dY")


def test_int8_smallest_legal_tensor_has_the_smallest_normal_step():
    g = np.array([127 * TINY, -TINY, 0.0])
    q = int8_grad_quantize(g, "g")
    assert q.scale == TINY
    assert q.codes.tolist() == [127, -1, 0]


def test_int8_largest_floats():
    # BIG / 127 rounds up, so 127 steps would overflow: the step must give way.
    q = int8_grad_quantize(np.array([BIG, -BIG, BIG / 50]))
    _normal_step(q)
    assert q.codes.tolist() == [127, -127, 3]


def test_int8_signed_zeros_and_single_element():
    q = int8_grad_quantize(np.array([-0.0, 0.0]))
    assert q.scale == 1.0 and q.codes.tolist() == [0, 0]
    q = int8_grad_quantize(np.array([-3e-300]))
    assert q.codes.tolist() == [-127] and q.scale == pytest.approx(3e-300 / 127, rel=1e-15)


def test_int8_huge_dynamic_range_flushes_the_small_end():
    q = int8_grad_quantize(np.array([1e300, 1e-300, -SUB]))
    assert q.codes.tolist() == [127, 0, 0]


@given(float_arrays)
@settings(max_examples=300)
def test_int8_full_range_property(g):
    amax = float(np.abs(g).max())
    if 0 < amax < 127 * TINY:
        with pytest.raises(ValueError, match="dY"):
            int8_grad_quantize(g, "dY")
        return
    q = int8_grad_quantize(g, "dY")
    if amax == 0:
        assert q.scale == 1.0 and not q.codes.any()
        return
    _normal_step(q)
    codes = q.codes.astype(int)
    assert np.abs(codes).max() == 127
    # Nearest: within half a step of the real value (exact rationals).
    s = Fraction(q.scale)
    for x, c in zip(g.tolist(), codes.tolist()):
        assert abs(Fraction(x) - c * s) <= s / 2 * (1 + Fraction(1, 10**9))


# --------------------------------------------------------------------------
# SAWB (INT4) and max-abs (INT8) weights


def test_sawb_subnormal_weights_are_refused_by_name():
    for bits in (4, 8):
        with pytest.raises(ValueError, match="fc1.W"):
            sawb_quantize(np.array([SUB, -SUB]), bits, name="fc1.W")


def test_sawb_largest_floats_keep_the_formula():
    # Squares of these overflow; the SAWB clip is scale-invariant, so the
    # codes must equal those of the same tensor scaled down by 2^-1000.
    w = np.array([BIG / 4, -BIG / 12, BIG / 28, 0.0])
    small = np.ldexp(w, -1000)
    q, q0 = sawb_quantize(w), sawb_quantize(small)
    assert q.codes.tolist() == q0.codes.tolist()
    assert q.scale == math.ldexp(q0.scale, 1000)
    # One huge weight among zeros: SAWB's clip is 3x max|w| (12.1/2 - 12.2/4),
    # which does not fit in a float, but the step 3*BIG/7 does.
    q = sawb_quantize(np.array([BIG, 0.0, 0.0, 0.0]))
    assert q.codes.tolist() == [2, 0, 0, 0]       # rint(7/3)
    _normal_step(q)
    # Clip just above the largest float, weight within half a step of it:
    # nearest would be a code whose value is not a float; it saturates instead.
    w = np.array([BIG, BIG / 4, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    q = sawb_quantize(w)
    _normal_step(q)
    assert sawb_quantize(np.ldexp(w, -1000)).codes[0] == 3    # the nearest code, unscaled
    assert q.codes.tolist()[:2] == [2, 1]                     # 3 steps exceed BIG: saturate
    with pytest.raises(ValueError, match="weights.*overflows"):
        sawb_alpha(np.array([BIG, 0.0, 0.0, 0.0]))


def test_sawb_signed_zeros_single_element_and_range():
    q = sawb_quantize(np.array([-0.0, 0.0]))
    assert q.scale == 1.0 and q.codes.tolist() == [0, 0]
    assert sawb_quantize(np.array([-2.5])).codes.tolist() == [-7]   # clip <= 0: max-abs
    q = sawb_quantize(np.array([1e300, -1e300, 1e-300]), 8)
    assert q.codes.tolist() == [127, -127, 0]


@given(st.lists(st.floats(1e-3, 1e3) | st.floats(-1e3, -1e-3) | st.just(0.0),
                min_size=1, max_size=12),
       st.integers(-1000, 1000), st.sampled_from([4, 8]))
@settings(max_examples=300)
def test_sawb_is_scale_invariant_over_the_whole_exponent_range(values, shift, bits):
    w = np.array(values)
    assume(np.any(w))
    big = np.ldexp(w, shift)
    q0, q = sawb_quantize(w, bits), sawb_quantize(big, bits)
    assert q.codes.tolist() == q0.codes.tolist()
    assert q.scale == math.ldexp(q0.scale, shift)


@given(float_arrays, st.sampled_from([4, 8]))
@settings(max_examples=300)
def test_sawb_full_range_property(w, bits):
    amax = float(np.abs(w).max())
    qmax = 7 if bits == 4 else 127
    try:
        q = sawb_quantize(w, bits, name="L.W")
    except ValueError as exc:
        assert "L.W" in str(exc)
        # Only a tensor at the bottom or top of the float range may be refused
        # (or one whose SAWB clip cancels to almost nothing: a vanishing step).
        wn = np.ldexp(w, -int(np.frexp(amax)[1]))
        clip = 12.1 * np.sqrt(np.mean(wn * wn)) - 12.2 * np.mean(np.abs(wn))
        assert amax < 2.0 ** -1000 or amax > 2.0 ** 1020 or (bits == 4 and 0 < clip < 1e-12)
        return
    if amax == 0:
        assert q.scale == 1.0 and not q.codes.any()
        return
    _normal_step(q)
    s = Fraction(q.scale)
    # Codes saturate at qmax, or lower where qmax steps exceed the largest float.
    top = min(qmax, math.floor(Fraction(BIG) / s))
    for x, c in zip(w.tolist(), q.codes.tolist()):
        assert abs(c) <= top
        if abs(c) < top:           # not clipped: nearest code
            assert abs(Fraction(x) - c * s) <= s / 2 * (1 + Fraction(1, 10**9))
        else:                      # clipped: same sign, at least half a step out
            assert np.sign(x) == np.sign(c)
            assert abs(Fraction(x)) >= (top - Fraction(1, 2)) * s * (1 - Fraction(1, 10**9))


# --------------------------------------------------------------------------
# PACT, 4 and 8 bits


@pytest.mark.parametrize("bits, levels", [(4, 15), (8, 255)])
def test_pact_alpha_too_small_for_a_normal_step_is_refused_by_name(bits, levels):
    with pytest.raises(ValueError, match="pact3"):
        pact_quantize(np.array([1.0]), SUB, bits, name="pact3")
    with pytest.raises(ValueError, match="pact3"):
        pact_quantize(np.array([1.0]), levels * TINY / 2, bits, name="pact3")
    q = pact_quantize(np.array([1.0, SUB, -0.0]), levels * TINY, bits, name="pact3")
    assert q.scale == TINY and q.codes.tolist() == [levels, 0, 0]


@pytest.mark.parametrize("bits, levels", [(4, 15), (8, 255)])
def test_pact_largest_alpha_and_inputs(bits, levels):
    q = pact_quantize(np.array([BIG, -BIG, BIG / 2, SUB]), BIG, bits)
    _normal_step(q)
    # BIG/2 is 7.5 (or 127.5) steps: ties to even.
    assert q.codes.tolist() == [levels, 0, 8 if bits == 4 else 128, 0]
    with pytest.raises(ValueError, match="alpha"):
        pact_quantize(np.array([1.0]), math.inf, bits)


@given(float_arrays, st.floats(min_value=SUB, allow_infinity=False), st.sampled_from([4, 8]))
@settings(max_examples=300)
def test_pact_full_range_property(x, alpha, bits):
    levels = (1 << bits) - 1
    if alpha / levels < TINY:
        with pytest.raises(ValueError, match="act"):
            pact_quantize(x, alpha, bits, name="act")
        return
    q = pact_quantize(x, alpha, bits, name="act")
    _normal_step(q)
    s = Fraction(levels) / Fraction(alpha)   # codes per unit
    for v, c in zip(x.tolist(), q.codes.tolist()):
        clipped = min(max(Fraction(v), Fraction(0)), Fraction(alpha))
        # Nearest code to the clipped value (the division's own rounding
        # can move an exact tie by one code, hence the small slack).
        assert abs(clipped * s - c) <= Fraction(1, 2) + Fraction(1, 10**9)
        assert 0 <= c <= levels


# --------------------------------------------------------------------------
# GradScale and the FP4 codec


def test_sigma_range_is_where_every_level_is_a_finite_normal_float():
    for fmt, offset in (("fp4", 12), ("fp4r2", 6)):
        lo, hi = sigma_range(fmt)
        assert (lo, hi) == (-1022 + offset, 1022)
        top = log_decode(np.array([7]), hi, 1, fmt=fmt)[0]
        bottom = log_decode(np.array([1]), lo, 0, fmt=fmt)[0]
        assert top == 2.0 ** 1023 and bottom == TINY
        for sigma in (lo - 1, hi + 1):
            with pytest.raises(ValueError, match="fc9.dY.*legal range"):
                log_encode(np.array([1.0]), sigma, 0, fmt=fmt, name="fc9.dY")
            with pytest.raises(ValueError, match="legal range"):
                log_decode(np.array([1]), sigma, 0, fmt=fmt)


def test_grad_scale_over_the_whole_float_range():
    # Powers of two are exact: sigma = log2 of them; anything above needs one more.
    for j in (-1074, -1073, -1023, -1022, -1, 0, 1, 1021, 1022):
        assert grad_scale_sigma(np.array([0.0, -(2.0 ** j)])) == j
    assert grad_scale_sigma(np.array([3 * SUB])) == -1072
    assert grad_scale_sigma(np.array([-0.0, 0.0])) == 0
    with pytest.raises(ValueError, match="fc1.dY.*1023"):
        grad_scale_sigma(np.array([np.nextafter(2.0 ** 1022, math.inf)]), "fc1.dY")
    with pytest.raises(ValueError, match="fc1.dY.*1024"):
        grad_scale_sigma(np.array([BIG]), "fc1.dY")


def test_tpr_of_a_subnormal_gradient_is_refused_by_name():
    with pytest.raises(ValueError, match="fc2.dY"):
        tpr_encode(np.array([SUB, 0.0]), name="fc2.dY")


def test_tpr_at_the_top_of_the_range():
    g = np.array([2.0 ** 1022, -(2.0 ** 1022), 1.0, -0.0])
    dx, dw, sigma = tpr_encode(g, name="g")
    assert sigma == 1022
    assert dx.tolist() == [7, 15, 0, 0]     # 1.0 is far below the bottom level: 0
    assert dw.tolist() == [6, 14, 0, 0]     # phase 1: 2^1022 < 2.5 * 2^1021
    assert np.all(np.isfinite(fp4_decode(dw, sigma, 1)))


def test_fp4_thresholds_stay_exact_at_the_bottom_of_the_range():
    lo = sigma_range("fp4")[0]               # bottom level m = 2^-1022
    m = TINY
    below = np.nextafter
    cases = {m / 2: 1, below(m / 2, 0): 0, SUB: 0, -0.0: 0,
             2.5 * m: 2, below(2.5 * m, 0): 1, -(2.5 * m): 10}
    codes = fp4_encode(np.array(list(cases)), lo, 0, name="t")
    assert codes.tolist() == list(cases.values())


def _spec_fp4_nearest(x: float, sigma: int, phase: int) -> Fraction:
    """SPEC 1.3 nearest rounding, in exact rationals."""
    top = Fraction(2) ** (sigma + phase)
    levels = [top / 4 ** j for j in range(7)]
    a = abs(Fraction(x)) if math.isfinite(x) else top
    sign = -1 if x < 0 else 1
    if a >= top:
        return sign * top
    for hi, lo in zip(levels, levels[1:]):
        if lo <= a < hi:
            return sign * (hi if a >= Fraction(5, 2) * lo else lo)
    m = levels[-1]
    return sign * (m if a >= m / 2 else Fraction(0))


@given(st.lists(st.floats(allow_nan=False), min_size=1, max_size=8),
       st.integers(-1100, 1100), st.sampled_from([0, 1]))
@settings(max_examples=400)
def test_fp4_nearest_matches_spec_over_all_floats_and_sigmas(values, sigma, phase):
    x = np.array(values)
    lo, hi = sigma_range("fp4")
    if not lo <= sigma <= hi:
        with pytest.raises(ValueError, match="grad"):
            fp4_encode(x, sigma, phase, name="grad")
        return
    codes = fp4_encode(x, sigma, phase, name="grad")
    decoded = fp4_decode(codes, sigma, phase)
    assert np.all(np.isfinite(decoded))
    for v, c, d in zip(values, codes.tolist(), decoded.tolist()):
        want = _spec_fp4_nearest(v, sigma, phase)
        assert Fraction(d) == want, (v, c)
        if want == 0:
            assert c == 0                    # zero, and anything rounded to it, is 0x0


@given(st.lists(any_float, min_size=1, max_size=8))
@settings(max_examples=300)
def test_grad_scale_and_tpr_over_all_floats(values):
    g = np.array(values)
    amax = Fraction(float(np.abs(g).max()))
    try:
        dx, dw, sigma = tpr_encode(g, name="layer.dY")
    except ValueError as exc:
        assert "layer.dY" in str(exc)
        lo, hi = sigma_range("fp4")
        assert amax > Fraction(2) ** hi or 0 < amax <= Fraction(2) ** (lo - 1)
        return
    if amax == 0:
        assert sigma == 0 and not dx.any() and not dw.any()
        return
    # ceil(log2(amax)): top of phase 0 covers amax, half of it does not.
    assert Fraction(2) ** (sigma - 1) < amax <= Fraction(2) ** sigma
    for codes, phase in ((dx, 0), (dw, 1)):
        d = fp4_decode(codes, sigma, phase)
        assert np.all(np.isfinite(d))
        assert np.all(np.abs(d) <= 2.0 ** (sigma + phase))


# --------------------------------------------------------------------------
# Codes and nibble decomposition


@pytest.mark.parametrize("fmt", ["int4", "uint4", "fp4"])
def test_check_codes_rejects_uint64_codes_that_wrap_to_legal_int64(fmt):
    # 2^64 - 1 cast to int64 is -1, a legal int4 code; 2^64 - 13 is -13.
    for raw in (2**64 - 1, 2**64 - 13, 2**63):
        with pytest.raises(ValueError, match="Bcodes.*out of range"):
            check_codes(np.array([raw], dtype=np.uint64), fmt, "Bcodes")


@pytest.mark.parametrize("fmt", ["int8", "uint8"])
def test_decompose_rejects_wrapping_uint64_and_floats(fmt):
    with pytest.raises(ValueError, match="A.*out of range"):
        decompose(np.array([2**64 - 13], dtype=np.uint64), fmt, "A")
    with pytest.raises(ValueError, match="integer dtype"):
        decompose(np.array([1.0]), fmt, "A")


_INT_DTYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]


@given(st.sampled_from(_INT_DTYPES).flatmap(
           lambda dt: st.tuples(st.just(dt), st.lists(
               st.integers(int(np.iinfo(dt).min), int(np.iinfo(dt).max)), min_size=1,
               max_size=8))),
       st.sampled_from(["int8", "uint8", "int4", "uint4"]))
@settings(max_examples=400)
def test_decompose_full_integer_range(dtype_values, fmt):
    dtype, values = dtype_values
    lo, hi = {"int8": (-128, 127), "uint8": (0, 255), "int4": (-8, 7), "uint4": (0, 15)}[fmt]
    codes = np.array(values, dtype=dtype)
    if all(lo <= v <= hi for v in values):
        parts = decompose(codes, fmt, "X")
        assert recombine(parts).tolist() == values
    else:
        with pytest.raises(ValueError, match="X"):
            decompose(codes, fmt, "X")
