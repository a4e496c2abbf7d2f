"""The k-lane baseline PEs (hw/baselines/int8_dot.py, fp_dot.py) bit-exact
against their golden model (model/dot_baselines.py) in the Amaranth
simulator: random jobs streamed back to back with bubbles, directed
specials, subnormals, extremes and the overflow boundary (issue 27 item 4).
"""

import numpy as np
import pytest

from hw.baselines.fp_dot import Fp8DotPE, Fp16DotPE
from hw.baselines.int8_dot import Int8DotPE
from model.dot_baselines import get_float_format

from dot_baseline_bench import expected, random_jobs, run_jobs

CLASSES = {"int8": Int8DotPE, "fp8_e4m3": Fp8DotPE, "fp16": Fp16DotPE}
BITS = {"int8": 8, "fp8_e4m3": 8, "fp16": 16}


def check(kind, lanes, jobs, latency=None, seed=0):
    pe = CLASSES[kind](lanes=lanes, latency=latency)
    got = run_jobs(pe, jobs, seed=seed)
    want = expected(kind, jobs, lanes)
    for j, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"{kind} k={lanes} L={pe.latency} job {j}: got {g}, want {w}; {jobs[j]}"


def finite_draw(fmt):
    """Codes with the top exponent bit mostly clear (finite, wide exponent spread)."""
    f = get_float_format(fmt)

    def draw(rng, n):
        c = rng.integers(0, 1 << f.bits, n)
        mask = rng.random(n) < 0.9
        return np.where(mask, c & ~(1 << (f.bits - 2)), c)
    return draw


@pytest.mark.parametrize("kind", list(CLASSES))
@pytest.mark.parametrize("lanes", [1, 4])
def test_random_jobs(kind, lanes):
    rng = np.random.default_rng(hash((kind, lanes)) & 0xFFFF)
    draw = None if kind == "int8" else finite_draw(kind)
    jobs = random_jobs(rng, lanes, BITS[kind], 12, 4, draw=draw)
    check(kind, lanes, jobs, seed=lanes)


@pytest.mark.parametrize("kind", list(CLASSES))
def test_every_latency(kind):
    cls = CLASSES[kind]
    rng = np.random.default_rng(7)
    draw = None if kind == "int8" else finite_draw(kind)
    for latency in cls.latencies(8):
        jobs = random_jobs(rng, 8, BITS[kind], 4, 3, draw=draw)
        check(kind, 8, jobs, latency=latency, seed=latency)


def edge_codes(kind):
    if kind == "fp8_e4m3":
        # zeros, smallest / largest subnormal, smallest normal, 1, max (448), NaN
        return [0x00, 0x80, 0x01, 0x81, 0x07, 0x08, 0x38, 0xB8, 0x7E, 0xFE, 0x7F, 0xFF]
    if kind == "fp16":
        return [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF,
                0x7C00, 0xFC00, 0x7C01, 0x7E00]
    return [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x81]


@pytest.mark.parametrize("kind", list(CLASSES))
def test_edges(kind):
    """Every pair of edge codes in some lane, mixed with ordinary values."""
    codes = edge_codes(kind)
    lanes = 4
    rng = np.random.default_rng(11)
    pairs = [(x, y) for x in codes for y in codes]
    jobs = []
    for i in range(0, len(pairs), lanes):
        chunk = pairs[i:i + lanes]
        a = [x for x, _ in chunk] + [0] * (lanes - len(chunk))
        b = [y for _, y in chunk] + [0] * (lanes - len(chunk))
        # one edge beat, sometimes after an ordinary one
        job = [(np.array(a), np.array(b))]
        if rng.random() < 0.5:
            job.insert(0, (rng.choice(codes, lanes), rng.choice(codes, lanes)))
        jobs.append(job)
    check(kind, lanes, jobs, seed=3)


# Ties of the one rounding to FP32 (24 significand bits): x + half an ulp of x.
TIES = {
    # 2^7 + 2^-17 (even: down), 2^7 + 2^-16 + 2^-17 (odd: up), and the
    # negative of the first; E4M3 16 = 0x58, 8 = 0x50, 2^-9 = 0x01, 2^-8 = 0x02, 2^-7 = 0x04
    "fp8_e4m3": [([0x58, 0x01, 0, 0], [0x50, 0x02, 0, 0]),
                 ([0x58, 0x01, 0x01, 0], [0x50, 0x02, 0x04, 0]),
                 ([0xD8, 0x81, 0, 0], [0x50, 0x02, 0, 0]),
                 # 2^7 - 2^-18: 25 ones, rounds up into the next binade (2^7)
                 ([0x58, 0x81, 0, 0], [0x50, 0x01, 0, 0])],
    # 1 + 2^-24 (even: down), 1 + 2^-23 + 2^-24 (odd: up); 2^-12 = 0x0C00, 2^-11 = 0x1000
    "fp16": [([0x3C00, 0x0C00, 0, 0], [0x3C00, 0x0C00, 0, 0]),
             ([0x3C00, 0x0C00, 0x0C00, 0], [0x3C00, 0x0C00, 0x1000, 0]),
             ([0xBC00, 0x8C00, 0, 0], [0x3C00, 0x0C00, 0, 0]),
             # 1 - 2^-25: 25 ones, rounds up to 1.0 (2^-13 = 0x0800)
             ([0x3C00, 0x8C00, 0, 0], [0x3C00, 0x0800, 0, 0])],
}


@pytest.mark.parametrize("kind", ["fp8_e4m3", "fp16"])
def test_rounding_ties_and_cancellation(kind):
    """Round-to-nearest-even ties, sums that cancel to tiny values, -0."""
    f = get_float_format(kind)
    one = f.bias << f.man_bits                     # 1.0
    neg = 1 << (f.bits - 1)
    tiny = 1                                       # smallest subnormal
    big = ((f.exp_max_field - 1) << f.man_bits) | ((1 << f.man_bits) - 1)
    if not f.has_inf:
        big = (f.exp_max_field << f.man_bits) | ((1 << f.man_bits) - 2)
    jobs = [[(np.array(a), np.array(b))] for a, b in TIES[kind]] + [
        [(np.array([big, big, 0, 0]), np.array([big, big | neg, 0, 0]))],       # exact 0
        [(np.array([big, tiny, 0, 0]), np.array([big, tiny, 0, 0])),
         (np.array([big, 0, 0, 0]), np.array([big | neg, 0, 0, 0]))],           # tiny survives
        [(np.array([big, one, 0, 0]), np.array([big, one, 0, 0]))],             # big + 1
        [(np.array([0, neg, 0, 0]), np.array([neg, 0, 0, 0]))],                 # -0 -> +0
    ]
    want = expected(kind, jobs, 4)
    # The ties are real ties: even rounds down, odd rounds up (FP32 LSB).
    assert want[0][0] & 1 == 0 and want[1][0] & 1 == 0 and want[1][0] == want[0][0] + 2
    assert want[3][0] in (0x43000000, 0x3F800000)      # exactly 2^7 / 1.0 after the carry
    check(kind, 4, jobs, seed=5)


@pytest.mark.slow
def test_int8_overflow_flag_in_rtl():
    """The sticky flag, judged per group, at the 32-bit boundary: 2^17 - 1
    products of 16384 fit exactly, then a group (+16384, -16256) leaves and
    re-enters inside the group (no flag), then one more (flag)."""
    lanes = 2
    n = ((1 << 31) - 1) // 16384          # 131071
    m128 = np.array([0x80, 0x80])
    # n is odd: one beat of (16384, 0) first keeps the pairs aligned.
    first = [(np.array([0x80, 0]), np.array([0x80, 0]))]
    body = [(m128, m128)] * ((n - 1) // 2)
    edge = [(np.array([0x80, 0x80]), np.array([0x80, 0x7F]))]
    jobs = [first + body + edge, first + body + [(m128, m128)]]
    check("int8", lanes, jobs, seed=1)


@pytest.mark.slow
def test_fp8_overflow_flag_in_rtl():
    """The FP8 accumulator (54 bits) at its boundary: n largest products
    fit, a group (+max, -max) goes over and back inside the group (no flag),
    one more product sets the flag and the register wraps (model: same)."""
    f = get_float_format("fp8_e4m3")
    lanes = 8
    n = ((1 << (f.acc_bits - 1)) - 1) // (f.max_q * f.max_q)
    top = np.full(lanes, 0x7E)
    full, rest = divmod(n, lanes)
    head = [(top, top)] * full + [(np.array([0x7E] * rest + [0] * (lanes - rest)),
                                   np.array([0x7E] * rest + [0] * (lanes - rest)))]
    edge = [(np.array([0x7E, 0x7E] + [0] * (lanes - 2)), np.array([0x7E, 0xFE] + [0] * (lanes - 2)))]
    jobs = [head + edge, head + [(top, top)]]
    want = expected("fp8_e4m3", jobs, lanes)
    assert [w[1] for w in want] == [0, 1]
    check("fp8_e4m3", lanes, jobs, seed=2)
