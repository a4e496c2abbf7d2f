"""The golden model of the dot-product baselines (model/dot_baselines.py)
against independent NumPy / fractions references (issue 27 item 4).

Decoding is checked against NumPy's own float16 and a separately written
E4M3 table; products against float64 products (exact: at most 22 significand
bits); rounding against an oracle that picks the nearest of neighbouring
float32 values by exact rational comparison; dot products against exact
rational sums.
"""

from fractions import Fraction

import numpy as np
import pytest

from model.dot_baselines import (CANONICAL_NAN32, FLOAT_FORMATS, NEG_INF32, POS_INF32, decode,
                                 fp_dot, get_float_format, int8_dot,
                                 product, round_to_fp32)

E4M3 = get_float_format("fp8_e4m3")
FP16 = get_float_format("fp16")


def e4m3_table():
    """E4M3 values written out independently of the model (OCP spec table)."""
    vals = []
    for code in range(256):
        s, e, f = code >> 7, (code >> 3) & 15, code & 7
        if e == 15 and f == 7:
            vals.append(np.nan)
            continue
        v = (f / 8) * 2.0 ** -6 if e == 0 else (1 + f / 8) * 2.0 ** (e - 7)
        vals.append(-v if s else v)
    return np.array(vals)


def values(fmt):
    """Every code's value as float64, decoded by NumPy (FP16) or the table above."""
    if fmt.name == "fp8_e4m3":
        return e4m3_table()
    return np.arange(1 << 16, dtype=np.uint32).astype(np.uint16).view(np.float16) \
        .astype(np.float64)


def oracle_fp32(x: Fraction) -> int:
    """FP32 bits of the rational ``x`` rounded to nearest even, by comparing
    with the float32 neighbours of a first guess (normal range only)."""
    if x == 0:
        return 0
    guess = np.float32(float(x))
    cands = [guess, np.nextafter(guess, np.float32(np.inf)),
             np.nextafter(guess, np.float32(-np.inf))]
    best = min(cands, key=lambda c: (abs(Fraction(float(c)) - x),
                                     int(np.array(c).view(np.uint32)) & 1))
    return int(np.array(best, dtype=np.float32).view(np.uint32))


# ---- decoding ------------------------------------------------------------

def test_format_table_widths():
    assert (E4M3.product_lsb_exp, E4M3.product_bits, E4M3.acc_bits) == (-18, 36, 54)
    assert (FP16.product_lsb_exp, FP16.product_bits, FP16.acc_bits) == (-48, 80, 98)
    assert float(E4M3.max_q) * 2.0 ** E4M3.lsb_exp == 448.0
    assert float(FP16.max_q) * 2.0 ** FP16.lsb_exp == 65504.0


@pytest.mark.parametrize("name", list(FLOAT_FORMATS))
def test_decode_every_code(name):
    fmt = get_float_format(name)
    codes = np.arange(1 << fmt.bits)
    q, nan, inf = decode(codes, fmt)
    ref = values(fmt)
    assert np.array_equal(nan, np.isnan(ref))
    assert np.array_equal(inf, np.where(np.isinf(ref), np.sign(ref), 0))
    finite = np.isfinite(ref)
    assert np.array_equal(q[finite] * 2.0 ** fmt.lsb_exp, ref[finite])
    assert not q[~finite].any()


def test_decode_refuses_out_of_range_codes():
    with pytest.raises(ValueError):
        decode([256], E4M3)
    with pytest.raises(ValueError):
        decode([-1], FP16)


# ---- products ------------------------------------------------------------

def _check_products(a, b, fmt):
    p, nan, inf = product(a, b, fmt)
    ref = values(fmt)
    with np.errstate(invalid="ignore"):
        want = ref[a] * ref[b]           # exact in float64 (<= 22 significand bits)
    assert np.array_equal(nan, np.isnan(want))
    assert np.array_equal(inf, np.where(np.isinf(want), np.sign(want), 0))
    fin = np.isfinite(want)
    got = np.array([float(x) for x in p[fin]]) * 2.0 ** fmt.product_lsb_exp
    assert np.array_equal(got, want[fin])
    assert all(x == 0 for x in p[~fin])


def test_fp8_products_exhaustive():
    a, b = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    _check_products(a.ravel(), b.ravel(), E4M3)


def test_fp16_products_random_and_edges():
    rng = np.random.default_rng(27)
    edges = np.array([0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x7BFF, 0xFBFF,
                      0x3C00, 0xBC00, 0x7C00, 0xFC00, 0x7C01, 0x7E00, 0xFE00, 0x3555])
    a, b = np.meshgrid(edges, edges, indexing="ij")
    _check_products(a.ravel(), b.ravel(), FP16)
    _check_products(rng.integers(0, 1 << 16, 200_000), rng.integers(0, 1 << 16, 200_000), FP16)


# ---- rounding to FP32 ----------------------------------------------------

def test_round_to_fp32_against_oracle_random():
    rng = np.random.default_rng(5)
    for _ in range(3000):
        bits = int(rng.integers(1, 98))
        v = int(rng.integers(0, 1 << 62)) << max(0, bits - 62) | int(rng.integers(0, 1 << 30))
        v &= (1 << bits) - 1
        v = -v if rng.integers(2) else v
        lsb = int(rng.integers(-48, -17))
        assert round_to_fp32(v, lsb) == oracle_fp32(Fraction(v) * Fraction(2) ** lsb), (v, lsb)


@pytest.mark.parametrize("value,lsb,bits", [
    (0, -18, 0x00000000),                          # exact zero is +0
    (1, -18, 0x36800000),                          # 2^-18
    ((1 << 24) - 1, 0, 0x4B7FFFFF),                # 24 bits: exact
    ((1 << 25) - 1, 0, 0x4C000000),                # rounds up into the next binade
    ((1 << 24) + 1, 0, 0x4B800000),                # tie, even (down)
    ((1 << 24) + 3, 0, 0x4B800002),                # tie, even (up)
    (-((1 << 24) + 3), 0, 0xCB800002),
    ((1 << 24) + 1 + (1 << 40), -20, None),        # sticky bit far below
])
def test_round_to_fp32_directed(value, lsb, bits):
    want = oracle_fp32(Fraction(value) * Fraction(2) ** lsb)
    assert round_to_fp32(value, lsb) == want
    if bits is not None:
        assert want == bits


# ---- dot products --------------------------------------------------------

def oracle_dot(a, b, fmt, lanes):
    """Exact rational sum of float64 products; specials by NumPy's rules."""
    ref = values(fmt)
    with np.errstate(invalid="ignore"):
        prods = ref[a] * ref[b]
    if np.isnan(prods).any() or (np.isposinf(prods).any() and np.isneginf(prods).any()):
        return CANONICAL_NAN32
    if np.isposinf(prods).any():
        return POS_INF32
    if np.isneginf(prods).any():
        return NEG_INF32
    return oracle_fp32(sum((Fraction(float(x)) for x in prods), Fraction(0)))


@pytest.mark.parametrize("name", list(FLOAT_FORMATS))
@pytest.mark.parametrize("lanes", [1, 8])
def test_fp_dot_random(name, lanes):
    fmt = get_float_format(name)
    rng = np.random.default_rng(lanes)
    for trial in range(300):
        k = int(rng.integers(0, 40))
        a, b = rng.integers(0, 1 << fmt.bits, (2, k))
        if trial % 3:   # mostly finite operands: clear the top exponent bit
            a &= ~(1 << (fmt.bits - 2))
            b &= ~(1 << (fmt.bits - 2))
        got, ovf = fp_dot(a, b, fmt, lanes)
        assert not ovf
        assert got == oracle_dot(a, b, fmt, lanes), (a, b)


def test_fp_dot_cancellation_and_zero_sign():
    # 448*448 - 448*448 + tiny: the exact sum keeps the tiny term (an FP32
    # accumulator would too here; a rounded running sum of larger terms would not).
    a = np.array([0x7E, 0x7E, 0x01])
    b = np.array([0x7E, 0xFE, 0x01])
    assert fp_dot(a, b, E4M3, 8)[0] == round_to_fp32(1, -18)
    # -0 * +0 sums to +0 (an exact zero); IEEE addition would give -0 here.
    assert fp_dot([0x80], [0x00], E4M3, 1) == (0, False)


def test_fp16_specials():
    inf, ninf, nan, one, zero = 0x7C00, 0xFC00, 0x7E00, 0x3C00, 0x0000
    assert fp_dot([inf, one], [one, one], FP16, 2)[0] == POS_INF32
    assert fp_dot([inf, one], [0xBC00, one], FP16, 2)[0] == NEG_INF32
    assert fp_dot([inf, ninf], [one, one], FP16, 2)[0] == CANONICAL_NAN32
    assert fp_dot([inf], [zero], FP16, 1)[0] == CANONICAL_NAN32
    assert fp_dot([nan, one], [zero, one], FP16, 1)[0] == CANONICAL_NAN32
    assert fp_dot([0x7F], [0x00], E4M3, 1)[0] == CANONICAL_NAN32   # E4M3 NaN x 0


@pytest.mark.parametrize("name", list(FLOAT_FORMATS))
def test_fp_overflow_judged_per_group(name):
    fmt = get_float_format(name)
    big = fmt.max_q * fmt.max_q
    hi = (1 << (fmt.acc_bits - 1)) - 1
    n = hi // big                      # n largest products fit, n + 1 do not
    top = (1 << (fmt.bits - 1)) - 1 - (0 if fmt.has_inf else 1)
    if fmt.has_inf:
        top = top - (1 << fmt.man_bits)  # largest finite: exponent field max - 1, mantissa all ones
        top |= (1 << fmt.man_bits) - 1
    assert decode([top], fmt)[0][0] == fmt.max_q
    neg_top = top | (1 << (fmt.bits - 1))
    # n products, then +big -big in one group of 2: the exact sum leaves the
    # range inside the group only.
    a = np.full(n + 2, top)
    b = np.concatenate([np.full(n + 1, top), [neg_top]])
    if n % 2:   # align the pair to a group boundary with a zero product
        a, b = np.concatenate([[0], a]), np.concatenate([[0], b])
    assert fp_dot(a, b, fmt, 2)[1] is False
    assert fp_dot(a, b, fmt, 1)[1] is True
    # One more product overflows for good; the register wraps.
    a2, b2 = np.full(n + 1, top), np.full(n + 1, top)
    got, ovf = fp_dot(a2, b2, fmt, 8)
    wrapped = (n + 1) * big - (1 << fmt.acc_bits)
    assert ovf and got == oracle_fp32(Fraction(wrapped) * Fraction(2) ** fmt.product_lsb_exp)


# ---- INT8 ----------------------------------------------------------------

@pytest.mark.parametrize("lanes", [1, 4, 8])
def test_int8_dot_random(lanes):
    rng = np.random.default_rng(lanes)
    for _ in range(200):
        k = int(rng.integers(0, 70))
        a, b = rng.integers(-128, 128, (2, k))
        assert int8_dot(a, b, lanes) == (int(np.dot(a, b)), False)


def test_int8_dot_overflow_per_group_and_wrap():
    hi = (1 << 31) - 1
    n = hi // (128 * 128)                       # 131071 products of -128*-128 fit
    a = np.full(n + 2, -128)
    b = np.concatenate([np.full(n + 1, -128), [127]])
    # ... then +16384 and -16256 in one group: over the top inside the group only.
    pad = (n % 2)
    a, b = np.concatenate([[0] * pad, a]), np.concatenate([[0] * pad, b])
    total = n * 16384 + 16384 - 16256
    assert int8_dot(a, b, 2) == (total, False)
    assert int8_dot(a, b, 1) == (total, True)
    acc, ovf = int8_dot(np.full(n + 1, -128), np.full(n + 1, -128), 8)
    assert ovf and acc == (n + 1) * 16384 - (1 << 32)
    with pytest.raises(ValueError):
        int8_dot([128], [1])
