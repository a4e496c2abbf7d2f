"""Issue 25: E2M1 elements, E8M0/UE4M3 scales and the MXFP4/NVFP4 quantizers.

The references here are written from the standards' definitions in plain
Python (fractions), not from the model's tables.
"""

from __future__ import annotations

from fractions import Fraction
from math import floor

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from model.block_formats import (BLOCK_FORMATS, e2m1_decode, e2m1_encode, scale_values,
                                 ue4m3_encode, ue4m3_values)
from model.block_quant import quantize, rht
from model.formats import get_format, int_value

# OCP FP4 E2M1, codes 0..7 (sign in bit 3).
E2M1 = [Fraction(0), Fraction(1, 2), Fraction(1), Fraction(3, 2), Fraction(2), Fraction(3),
        Fraction(4), Fraction(6)]


def ue4m3_ref():
    """Finite UE4M3 values by code, from the field definition (bias 7, no inf, 127 NaN)."""
    out = []
    for code in range(127):
        e, m = code >> 3, code & 7
        out.append(Fraction(m, 8) * Fraction(2) ** -6 if e == 0
                   else (1 + Fraction(m, 8)) * Fraction(2) ** (e - 7))
    return out


def round_ref(y: Fraction, grid) -> int:
    """Nearest grid index, ties to the even index, saturating at the top."""
    y = abs(y)
    if y >= grid[-1]:
        return len(grid) - 1
    best = min(range(len(grid)), key=lambda i: (abs(grid[i] - y), i % 2))
    return best


def fp32_ref(x: Fraction) -> Fraction:
    """Round a positive rational to the nearest FP32 number (ties to even), normal range."""
    e = floor_log2(x)
    q = x / Fraction(2) ** (e - 23)
    n = floor(q)
    rem = q - n
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and n % 2):
        n += 1
    return n * Fraction(2) ** (e - 23)


def floor_log2(x: Fraction) -> int:
    e = x.numerator.bit_length() - x.denominator.bit_length()
    while Fraction(2) ** e > x:
        e -= 1
    while Fraction(2) ** (e + 1) <= x:
        e += 1
    return e


# ---------------------------------------------------------------- codecs
def test_every_e2m1_code_decodes_to_the_ocp_value():
    spec = get_format("e2m1")
    assert spec.int_max == 12 and spec.int_min == -12
    for code in range(16):
        want = E2M1[code & 7] * (-1 if code & 8 else 1)
        assert Fraction(float(e2m1_decode(np.uint8(code)))) == want
        assert int_value(np.uint8(code), "e2m1") == want * 2


def test_every_e2m1_value_and_midpoint_encodes_as_the_reference():
    points = sorted({v for v in E2M1} | {(a + b) / 2 for a, b in zip(E2M1, E2M1[1:])}
                    | {Fraction(7), Fraction(100), Fraction(1, 8)})
    for p in points:
        for sign in (1, -1):
            got = int(e2m1_encode(float(sign * p)))
            idx = round_ref(p, E2M1)
            want = idx | (8 if sign < 0 and idx else 0)
            assert got == want, (sign * p, got, want)
    # Ties go to the even code: 0.25 -> 0, 0.75 -> 1, 1.25 -> 1, 2.5 -> 2, 5 -> 4.
    assert list(e2m1_encode([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0])) == [0, 2, 2, 4, 4, 6, 6]
    assert int(e2m1_encode(-0.0)) == 0 and int(e2m1_encode(-0.2)) == 0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_e2m1_refuses_nan_and_inf(bad):
    with pytest.raises(ValueError, match="act: contains NaN or inf"):
        e2m1_encode([1.0, bad], name="act")


def test_every_ue4m3_code_and_its_rounding():
    ref = ue4m3_ref()
    assert [Fraction(float(v)) for v in ue4m3_values()] == ref
    assert ref[-1] == 448 and ref[1] == Fraction(2) ** -9
    mids = [(a + b) / 2 for a, b in zip(ref, ref[1:])]
    for p in ref + mids + [Fraction(1000), Fraction(2) ** -11]:
        assert int(ue4m3_encode(float(p))) == round_ref(p, ref), p
    with pytest.raises(ValueError):
        ue4m3_encode(-1.0)
    with pytest.raises(ValueError):
        ue4m3_encode(np.nan)


def test_every_e8m0_code():
    codes = np.arange(255)
    assert [Fraction(float(v)) for v in scale_values(codes, "e8m0")] == \
        [Fraction(2) ** (c - 127) for c in range(255)]
    with pytest.raises(ValueError, match="255 is NaN"):
        scale_values([255], "e8m0")
    with pytest.raises(ValueError, match="127 is NaN"):
        scale_values([127], "ue4m3")


# ---------------------------------------------------------------- quantizer references
def mx_ref(block):
    """(scale code, element codes) of one MX block, OCP v1.0 6.3."""
    xs = [Fraction(float(v)) for v in block]
    amax = max(abs(x) for x in xs)
    if amax == 0:
        return 0, [0] * len(xs)
    x = max(floor_log2(amax) - 2, -127)
    codes = []
    for v in xs:
        idx = round_ref(v / Fraction(2) ** x, E2M1)
        codes.append(idx | (8 if v < 0 and idx else 0))
    return x + 127, codes


def nv_ref(tensor, blocks):
    """(d, [(scale code, element codes)]) of NVFP4 blocks, the stated rule."""
    ref = ue4m3_ref()
    tmax = max(abs(Fraction(float(v))) for b in blocks for v in b)
    d = Fraction(1) if tmax == 0 else fp32_ref(tmax / (6 * 448))
    out = []
    for b in blocks:
        xs = [Fraction(float(v)) for v in b]
        amax = max(abs(x) for x in xs)
        sc = round_ref(Fraction(float(amax / (6 * d))), ref)     # RN64, then UE4M3
        s = ref[sc]
        codes = []
        for v in xs:
            idx = 0 if s == 0 else round_ref(Fraction(float(v / (s * d))), E2M1)
            codes.append(idx | (8 if v < 0 and idx else 0))
        out.append((sc, codes))
    return d, out


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False, width=32)


@given(st.lists(finite, min_size=1, max_size=70), st.integers(-60, 60))
def test_mxfp4_quantizer_matches_the_reference(values, shift):
    x = np.ldexp(np.array(values, dtype=np.float64), shift)[None, :]
    q = quantize(x, "mxfp4", axis=-1)
    for kb in range(q.scales.shape[1]):
        blk = x[0, kb * 32:(kb + 1) * 32]
        sc, codes = mx_ref(blk)
        assert int(q.scales[0, kb]) == sc
        assert list(q.codes[0, kb * 32:kb * 32 + len(blk)]) == codes
    assert not q.codes[0, x.shape[1]:].any()      # padding


@given(st.lists(finite, min_size=1, max_size=50), st.integers(-30, 30))
def test_nvfp4_quantizer_matches_the_reference(values, shift):
    x = np.ldexp(np.array(values, dtype=np.float64), shift)[:, None]   # one column, axis -2
    tmax = float(np.abs(x).max())
    if tmax and float(np.float32(tmax / 2688)) < np.finfo(np.float32).tiny:
        with pytest.raises(ValueError, match="not a normal FP32 number"):
            quantize(x, "nvfp4", axis=-2)
        return
    q = quantize(x, "nvfp4", axis=-2)
    blocks = [x[i:i + 16, 0] for i in range(0, len(x), 16)]
    d, ref = nv_ref(x, blocks)
    assert Fraction(q.tensor_scale) == d
    for kb, (sc, codes) in enumerate(ref):
        assert int(q.scales[kb, 0]) == sc
        assert list(q.codes[kb * 16:kb * 16 + len(blocks[kb]), 0]) == codes


# ---------------------------------------------------------------- scale edges
@pytest.mark.parametrize("fmt", list(BLOCK_FORMATS))
def test_all_zero_block_and_tensor(fmt):
    q = quantize(np.zeros((2, 40)), fmt)
    assert not q.codes.any() and not q.dequantize().any()
    x = np.zeros((1, 64))
    x[0, 40] = 3.0                                     # block 0 (and 1 for nvfp4) all zero
    q = quantize(x, fmt)
    assert not q.codes[0, :32].any()
    # NVFP4's top element is 6 * 448 * d, d the FP32-rounded amax / 2688.
    assert q.dequantize()[0, 40] == (3.0 if fmt == "mxfp4" else 2688 * q.tensor_scale)
    if fmt == "mxfp4":
        assert q.scales[0, 0] == 0                     # X = -127 for the empty block


def test_mx_amax_at_the_top_and_saturation():
    # amax = 6 * 2^k: X = k, the element is exactly 6 (code 7).
    for k in (-100, 0, 37):
        x = np.ldexp(np.array([[6.0, -1.5, 0.5]]), k)
        q = quantize(x, "mxfp4")
        assert int(q.scales[0, 0]) == k + 127 and list(q.codes[0, :3]) == [7, 8 | 3, 1]
    # amax / 2^X in (6, 8): saturates at 6 (OCP's clamp), e.g. 7.9 -> 6.
    q = quantize(np.array([[7.9, 1.0]]), "mxfp4")
    assert q.dequantize()[0, 0] == 6.0
    # The largest E8M0 exponent: amax 1.5 * 2^127 needs X = 125; 2^130 needs 128: refused.
    assert quantize(np.array([[1.5 * 2.0 ** 127]]), "mxfp4").scales[0, 0] == 125 + 127
    with pytest.raises(ValueError, match="w: max \\|x\\| .* above E8M0's 127"):
        quantize(np.array([[2.0 ** 130]]), "mxfp4", name="w")


def test_mx_subnormal_amax():
    # 2^-128 is E8M0's floor times E2M1's smallest (0.5): representable exactly.
    q = quantize(np.array([[2.0 ** -128, 0.0]]), "mxfp4")
    assert q.scales[0, 0] == 0 and q.codes[0, 0] == 1 and q.dequantize()[0, 0] == 2.0 ** -128
    # A float64 subnormal block flushes to zero (X clamped to -127).
    q = quantize(np.array([[5e-324, -1e-310]]), "mxfp4")
    assert q.scales[0, 0] == 0 and not q.codes.any()


def test_nv_amax_at_the_top_subnormal_and_tiny_scales():
    x = np.array([[3.0, -0.5] + [0.0] * 14 + [1e-7] + [0.0] * 15])
    q = quantize(x, "nvfp4")
    assert q.tensor_scale == float(np.float32(3.0 / 2688))
    assert q.scales[0, 0] == 126 and q.codes[0, 0] == 7   # tensor amax: scale 448, element 6
    assert q.scales[0, 1] == 0 and not q.codes[0, 16:].any()   # 1e-7 below UE4M3's range
    with pytest.raises(ValueError, match="g: max \\|x\\| = .* not a normal FP32"):
        quantize(np.array([[1e-300, 0.0]]), "nvfp4", name="g")


@pytest.mark.parametrize("fmt", list(BLOCK_FORMATS))
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_inf_raise_naming_the_tensor(fmt, bad):
    with pytest.raises(ValueError, match="fc2.dY: contains NaN or inf"):
        quantize(np.array([[1.0, bad]]), fmt, name="fc2.dY")


# ---------------------------------------------------------------- rounding, tiles, RHT
@pytest.mark.parametrize("fmt", list(BLOCK_FORMATS))
def test_stochastic_rounding_is_unbiased_and_picks_neighbours(fmt):
    rng = np.random.default_rng(3)
    x = np.tile(np.array([[5.0, 1.3, -0.37, 2.2, 0.01]]), (4000, 1))
    x[:, 0] = 5.0                                   # fixes every row's scale
    q = quantize(x, fmt, rounding="stochastic", rng=rng)
    v = q.dequantize()
    s = q.scale_array()[0, 0] * q.tensor_scale
    for j in range(1, 5):
        y = Fraction(abs(float(x[0, j]))) / Fraction(float(s))
        near = {max(g for g in E2M1 if g <= y), min(g for g in E2M1 if g >= y)}
        assert {Fraction(float(t)) for t in np.unique(np.abs(v[:, j]))} <= \
            {float(g) * s for g in near} | {0.0} and len(np.unique(v[:, j])) == len(near)
        assert abs(v[:, j].mean() - x[0, j]) < 4 * s * 0.5 / np.sqrt(len(x))
    with pytest.raises(ValueError, match="needs rng"):
        quantize(x, fmt, rounding="stochastic")


def test_nvfp4_tiles_serve_a_matrix_and_its_transpose():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((40, 24)) * np.linspace(0.1, 10, 24)
    q = quantize(w, "nvfp4", tile=True)
    assert q.scales.shape == (3, 2) and q.block == (16, 16)
    assert np.array_equal(q.T.dequantize(), q.dequantize().T)
    assert np.array_equal(q.T.T.codes, q.codes)


def test_rht_is_orthonormal_and_preserves_the_weight_gradient():
    rng = np.random.default_rng(5)
    x, g = rng.standard_normal((37, 5)), rng.standard_normal((37, 3))
    assert np.allclose(rht(x).T @ rht(g), x.T @ g, rtol=0, atol=1e-12)
    assert rht(x).shape == (48, 5)
    assert np.allclose(np.linalg.norm(rht(x), axis=0), np.linalg.norm(x, axis=0))
    assert not np.allclose(np.abs(rht(x)[:16]), np.abs(x[:16]))   # it does mix rows
