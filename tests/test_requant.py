"""model.requant against exact rational references of SPEC 1.3-1.6 (fractions.Fraction).

The references below are written from the real-number definitions, not from
the integer code: x = acc * mantissa / 2^shift as a Fraction, then SPEC's
levels, midpoints and clip bounds.  The stated integer rules (round half up
for forward codes; r / 2^16 < fraction for stochastic rounding) are the only
choices the references take from docs/quantizer.md.
"""

from fractions import Fraction as F

import numpy as np
import pytest

from model import requant as rq
from model.formats import fp4_decode, fp4_encode, grad_scale_sigma

HALF = F(1, 2)


def floor_frac(x: F) -> int:
    return x.numerator // x.denominator


def ref_forward(v, mant, shift, mode):
    x = F(v * mant, 1 << shift)
    lo, hi = (0, 15) if mode == "uint4" else (-7, 7)
    code = min(max(floor_frac(x + HALF), lo), hi)          # clip then round half up
    alpha = F(15) if mode == "uint4" else F(7)
    mask = (0 <= x < alpha) if mode == "uint4" else (-alpha <= x < alpha)
    return code, mask


def ref_levels(sigma, phase):
    top = F(2) ** (sigma + phase)
    return [top / F(4) ** j for j in range(6, -1, -1)]     # bottom .. top


def ref_fp4(g: F, sigma, phase, r=None):
    """SPEC 1.3 on an exact rational g; ``r`` (16-bit) selects stochastic rounding."""
    lv = ref_levels(sigma, phase)
    a = abs(g)
    if a == 0:
        return 0
    if a >= lv[-1]:
        e = 7
    elif a < lv[0]:
        up = (a >= lv[0] / 2) if r is None else (F(r, 1 << 16) < a / lv[0])
        e = 1 if up else 0
    else:
        k = max(i for i in range(7) if lv[i] <= a)          # lower level index
        L = lv[k]
        up = (a >= F(5, 2) * L) if r is None else (F(r, 1 << 16) < (a - L) / (3 * L))
        e = k + 1 + int(up)
    return (8 if (g < 0 and e) else 0) | e


# ---------------------------------------------------------------- forward

FWD_MULTS = [(1, 0), (1, 1), (3, 2), (5, 4), (15, 4), (0x8001, 17), (0xFFFF, 20), (40000, 13)]


@pytest.mark.parametrize("mode", ["uint4", "int4"])
def test_forward_exhaustive_small(mode):
    """Every accumulator value in a window that covers both clip edges and the
    round-half boundaries, for several multipliers, with and without bias."""
    for mant, shift in FWD_MULTS:
        # window: |v*M| up to ~20 code steps, so every code and both clips are hit
        span = min(int(F(21 << shift, mant)) + 2, 4000)
        v = np.arange(-span, span + 1, dtype=np.int64)
        codes, mask = rq.forward_codes(v, mant, shift, mode=mode)
        for vi, c, m in zip(v.tolist(), codes.tolist(), mask.tolist()):
            assert (c, m) == ref_forward(vi, mant, shift, mode), (mode, mant, shift, vi)


def test_forward_bias_is_added_per_column():
    rng = np.random.default_rng(1)
    acc = rng.integers(-(1 << 20), 1 << 20, (16, 4))
    bias = np.array([-(1 << 31), -5, 7, (1 << 31) - 1])
    mant, shift = 46341, 31
    codes, mask = rq.forward_codes(acc, mant, shift, bias=bias)
    for (i, j), c in np.ndenumerate(codes):
        assert (c, mask[i, j]) == ref_forward(int(acc[i, j]) + int(bias[j]), mant, shift, "uint4")


def test_forward_matches_spec_pact_except_exact_ties():
    """Round half up vs np.rint (ties to even) differ only where v*M is exactly k + 1/2."""
    mant, shift = 3, 3          # M = 3/8: ties happen
    v = np.arange(-50, 80)
    codes, mask = rq.forward_codes(v, mant, shift)
    x = v * mant / 2 ** shift                     # exact in float64
    alpha = 15.0                                  # PACT with code step 1: x/alpha*15 = x
    spec = np.rint(np.clip(x, 0, alpha)).astype(int)
    tie = (x * 2 % 2 == 1) & (x > 0) & (x < alpha)
    assert np.array_equal(codes[~tie], spec[~tie])
    assert np.all(codes[tie] == np.floor(x[tie] + 0.5))
    assert np.array_equal(mask, (x >= 0) & (x < alpha))


# ---------------------------------------------------------------- backward, nearest

BWD_CFGS = [(1, 0, 0), (1, 12, 0), (3, 5, -2), (0xB505, 30, -6), (0xFFFF, 40, -20),
            (0x8000, 63, -40), (7, 0, 20), (12345, 20, 3), (1, 60, -127), (0xFFFF, 0, 127)]


def threshold_accs(mant, shift, sigma):
    """Accumulator values at and next to every level, 2.5*L midpoint, m/2 and top, both phases."""
    vals = {0, 1, -1}
    M = F(mant, 1 << shift)
    for phase in (0, 1):
        lv = ref_levels(sigma, phase)
        for t in [lv[0] / 2] + lv + [F(5, 2) * L for L in lv[:-1]] + [lv[-1] * 2]:
            a = t / M
            c = -(-a.numerator // a.denominator)          # ceil(t / M)
            for d in (-1, 0, 1):
                if 0 <= c + d < (1 << 62):
                    vals |= {c + d, -(c + d)}
    return sorted(vals)


@pytest.mark.parametrize("mant,shift,sigma", BWD_CFGS)
def test_backward_nearest_every_threshold(mant, shift, sigma):
    accs = threshold_accs(mant, shift, sigma)
    arr = np.array(accs, dtype=object)
    c0, c1 = rq.backward_codes(arr, mant, shift, sigma)
    for acc, a, b in zip(accs, c0.tolist(), c1.tolist()):
        g = F(acc * mant, 1 << shift)
        assert (a, b) == (ref_fp4(g, sigma, 0), ref_fp4(g, sigma, 1)), (mant, shift, sigma, acc)


def test_backward_random_against_reference_and_spec_encoder():
    rng = np.random.default_rng(7)
    for _ in range(20):
        mant, shift = int(rng.integers(1, 1 << 16)), int(rng.integers(0, 64))
        acc = rng.integers(-(1 << 31), 1 << 31, 200) >> rng.integers(0, 31, 200)
        sigma = rq.sigma_from_amax(rq.amax(acc), mant, shift) - int(rng.integers(-2, 3))
        c0, c1 = rq.backward_codes(acc, mant, shift, sigma)
        for i, a in enumerate(acc.tolist()):
            g = F(a * mant, 1 << shift)
            assert (c0[i], c1[i]) == (ref_fp4(g, sigma, 0), ref_fp4(g, sigma, 1))
        # model.formats' real-number encoder agrees where g is exact in float64
        g = acc * mant / 2.0 ** shift
        assert np.array_equal(c0, fp4_encode(g, sigma, 0))
        assert np.array_equal(c1, fp4_encode(g, sigma, 1))


def test_backward_saturation_and_wide_accumulators():
    big = [(1 << 63) - 1, -(1 << 63), (1 << 40), -(1 << 50)]
    c0, c1 = rq.backward_codes(np.array(big, dtype=object), 0xFFFF, 0, -5)
    assert c0.tolist() == [7, 15, 7, 15] and c1.tolist() == [7, 15, 7, 15]
    # a tiny scale turns the same values into exact small codes
    c0, _ = rq.backward_codes(np.array(big, dtype=object), 1, 63, 0)
    for a, c in zip(big, c0.tolist()):
        assert c == ref_fp4(F(a, 1 << 63), 0, 0)


def test_mask_zeroes_elements_and_amax():
    acc = np.array([[5, -9, 100], [-(1 << 31), 3, 0]])
    mask = np.array([[1, 0, 1], [0, 1, 1]])
    c0, c1 = rq.backward_codes(acc, 1, 0, 7, mask=mask)
    assert c0[0, 1] == c1[0, 1] == c0[1, 0] == c1[1, 0] == 0
    assert rq.amax(acc, mask) == 100
    assert rq.amax(acc) == 1 << 31
    assert rq.amax(acc, np.zeros_like(mask)) == 0


def test_amax_zero_gives_sigma_zero_and_zero_codes():
    acc = np.zeros((3, 4), dtype=np.int64)
    assert rq.amax(acc) == 0 and rq.sigma_from_amax(0, 1234, 9) == 0
    res = rq.run_job(rq.JobConfig("fp4", 1234, 9, 0), acc)
    assert not res.code0.any() and not res.code1.any() and res.amax == 0


@pytest.mark.parametrize("amax_v", [1, 2, 3, 4, 5, 1023, 1024, 1025, (1 << 31), (1 << 40) + 1])
@pytest.mark.parametrize("mant,shift", [(1, 0), (3, 7), (0xFFFF, 40), (0x8000, 15)])
def test_sigma_from_amax_is_ceil_log2(amax_v, mant, shift):
    x = F(amax_v * mant, 1 << shift)
    sigma = rq.sigma_from_amax(amax_v, mant, shift)
    assert F(2) ** (sigma - 1) < x <= F(2) ** sigma
    if float(x) == x:
        assert sigma == grad_scale_sigma(np.array([float(x)]))
    # with this sigma nothing saturates: amax maps to the top level at most
    c0, _ = rq.backward_codes(np.array([amax_v], dtype=object), mant, shift, sigma)
    assert fp4_decode(c0, sigma)[0] <= 2.0 ** sigma


# ---------------------------------------------------------------- stochastic


def test_xorshift32_reference_value():
    # Marsaglia, "Xorshift RNGs" (2003): y = 2463534242, shifts 13/17/5 -> 723471715
    assert rq.xorshift32(2463534242) == 723471715


def test_lane_randoms_sequence():
    words = rq.lane_randoms(1234, 5, 3)
    for c, x in enumerate(rq.lane_seeds(1234, 3)):
        assert x == (1234 ^ (c * 0x9E3779B9)) & 0xFFFFFFFF
        for n in range(5):
            x = rq.xorshift32(x)
            assert words[n, c] == x
    assert rq.lane_seeds(0, 1) == [0x6D2B79F5]        # the all-zero state is replaced


def test_lane_randoms_equal_the_stepped_generator_at_every_length():
    """The vectorised lane_randoms (GF(2) basis, grown on demand) against
    stepping xorshift32 word by word: random seeds, lengths across the
    basis' growth points, the zero-seed lane, calls in growing and shrinking order."""
    rng = np.random.default_rng(24)
    cases = [(0, 0, 1), (0x6D2B79F5, 3, 1), (0, 7, 8), (0xFFFFFFFF, 1, 3)]
    cases += [(int(rng.integers(0, 1 << 32)), int(n), int(c))
              for n, c in ((1, 1), (1023, 8), (1024, 2), (1025, 5), (3000, 8), (17, 64))]
    for seed, beats, cols in cases + cases[::-1]:
        words = rq.lane_randoms(seed, beats, cols)
        assert words.shape == (beats, cols) and words.dtype == np.uint32
        for c, x in enumerate(rq.lane_seeds(seed, cols)):
            want = []
            for _ in range(beats):
                x = rq.xorshift32(x)
                want.append(x)
            assert words[:, c].tolist() == want, (seed, beats, c)


def test_stochastic_against_reference():
    rng = np.random.default_rng(3)
    for mant, shift, sigma in BWD_CFGS[:8]:
        accs = threshold_accs(mant, shift, sigma)
        arr = np.array(accs, dtype=object)
        r0 = rng.integers(0, 1 << 16, len(accs))
        r1 = rng.integers(0, 1 << 16, len(accs))
        r0[:3], r1[:3] = 0, 0xFFFF                      # the random extremes
        c0, c1 = rq.backward_codes(arr, mant, shift, sigma, rounding="stochastic",
                                   rand0=r0, rand1=r1)
        for i, acc in enumerate(accs):
            g = F(acc * mant, 1 << shift)
            assert c0[i] == ref_fp4(g, sigma, 0, int(r0[i])), (mant, shift, sigma, acc)
            assert c1[i] == ref_fp4(g, sigma, 1, int(r1[i])), (mant, shift, sigma, acc)


def test_stochastic_exactly_at_the_compare():
    """acc placed so that ceil(Qt) sits at, just below and just above the
    stochastic compare for its random word (the sticky bit decides half of them)."""
    rng = np.random.default_rng(4)
    for _ in range(400):
        p, k, r = int(rng.integers(0, 2)), int(rng.integers(-1, 6)), int(rng.integers(0, 1 << 16))
        y = (r << p) if k < 0 else (3 * r + (1 << 16)) << (p + 2 * k)
        for acc in (2 * y - 2, 2 * y - 1, 2 * y, 2 * y + 1):
            if acc < 0:
                continue
            rr = np.array([r])
            c = rq.backward_codes(np.array([acc]), 1, 29, 0, rounding="stochastic",
                                  rand0=rr, rand1=rr)[p]
            assert c[0] == ref_fp4(F(acc, 1 << 29), 0, p, r), (p, k, r, acc)


def test_stochastic_job_is_unbiased():
    """Mean of decoded codes over one job's lanes/beats matches g within 4 sigma."""
    beats, cols = 1000, 8
    mant, shift, sigma = 0x9000, 20, 10          # bottom level 1/4, top 1024
    for acc_v in (5, 77, 500, -3333):           # below bottom, in range x2, negative
        acc = np.full((beats, cols), acc_v)
        res = rq.run_job(rq.JobConfig("fp4", mant, shift, sigma, "stochastic", seed=99), acc)
        g = acc_v * mant / 2 ** shift
        for phase, codes in ((0, res.code0), (1, res.code1)):
            vals = fp4_decode(codes, sigma, phase)
            lo, hi = np.min(vals), np.max(vals)
            sd = (hi - lo) / 2 / np.sqrt(vals.size) + 1e-12
            assert abs(vals.mean() - g) < 4 * sd + abs(g) * 2 ** -15, (acc_v, phase)
    # different seeds give different streams; the same seed the same
    a, b, c = (rq.run_job(rq.JobConfig("fp4", mant, shift, sigma, "stochastic", seed=s), acc)
               for s in (1, 2, 1))
    assert not np.array_equal(a.code0, b.code0) and np.array_equal(a.code0, c.code0)


# ---------------------------------------------------------------- host helpers and bad input


def test_quantize_multiplier():
    for real in (1.0, 0.5, 3.7e-5, 1e-12, 65535.0, 0.1, 2.0 ** -47):
        m, s = rq.quantize_multiplier(real)
        assert abs(F(m, 1 << s) - F(real)) <= F(real) * F(1, 1 << 16)
        if s < 63:
            assert 1 << 15 <= m < 1 << 16
    for bad in (0.0, -1.0, float("nan"), 70000.0, 1e-30):
        with pytest.raises(ValueError):
            rq.quantize_multiplier(bad)


@pytest.mark.parametrize("call,words", [
    (lambda: rq.forward_codes([1], 0, 3), "mantissa"),
    (lambda: rq.forward_codes([1], 1 << 16, 3), "mantissa"),
    (lambda: rq.forward_codes([1], 5, 64), "shift"),
    (lambda: rq.forward_codes([1], 5, -1), "shift"),
    (lambda: rq.backward_codes([1], 5, 3, 128), "sigma"),
    (lambda: rq.backward_codes([1], 5, 3, -129), "sigma"),
    (lambda: rq.backward_codes([1], 5, 3, 1.5), "sigma"),
    (lambda: rq.backward_codes([[1, 2]], 5, 3, 0, mask=[[1, 0, 1]]), "mask"),
    (lambda: rq.run_job(rq.JobConfig("fp4", 5, 3), [[1, 2], [3, 4]], mask=[[1, 1]]), "mask"),
    (lambda: rq.run_job(rq.JobConfig("fp8", 5, 3), [[1]]), "mode"),
    (lambda: rq.run_job(rq.JobConfig("uint4", 5, 3, bias=(1, 2)), [[1]]), "bias"),
    (lambda: rq.run_job(rq.JobConfig("fp4", 5, 3, seed=1 << 32), [[1]]), "seed"),
    (lambda: rq.forward_codes([1.5], 5, 3), "integer"),
])
def test_bad_input_names_the_field(call, words):
    with pytest.raises(ValueError, match=words):
        call()
