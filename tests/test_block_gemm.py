"""Issue 25: the exact block dot product (model.block_gemm) against a Fraction reference."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from model.backend import GoldenBackend
from model.block_formats import BLOCK_FORMATS, scale_values
from model.block_gemm import block_gemm, block_terms
from model.block_quant import quantize

E2M1 = [0, Fraction(1, 2), 1, Fraction(3, 2), 2, 3, 4, 6]


def exact_values(t):
    """Every element's exact value as a Fraction (unpadded), from codes and scales."""
    scale = BLOCK_FORMATS[t.fmt].scale
    s = scale_values(t.scales, scale)
    br, bc = t.block
    rows, cols = t.shape
    return [[Fraction(E2M1[int(t.codes[i, j]) & 7]) * (-1 if t.codes[i, j] & 8 else 1)
             * Fraction(float(s[i // br, j // bc])) * Fraction(t.tensor_scale)
             for j in range(cols)] for i in range(rows)]


def reference(a, b):
    av, bv = exact_values(a), exact_values(b)
    k = len(bv)
    return np.array([[float(sum((av[i][t] * bv[t][j] for t in range(k)), Fraction(0)))
                      for j in range(len(bv[0]))] for i in range(len(av))])


def operands(fmt, rng, m, k, n, spread, tile=False):
    """Random operands whose blocks span ``spread`` binades."""
    x = rng.standard_normal((m, k)) * np.exp2(rng.integers(-spread, spread + 1, (m, k)))
    w = rng.standard_normal((k, n)) * np.exp2(rng.integers(-spread, spread + 1, (k, n)))
    x[rng.random((m, k)) < 0.1] = 0.0
    return (quantize(x, fmt, axis=-1),
            quantize(w, fmt, tile=True) if tile else quantize(w, fmt, axis=-2))


@pytest.mark.parametrize("fmt", list(BLOCK_FORMATS))
@given(st.integers(1, 5), st.integers(1, 70), st.integers(1, 5), st.integers(0, 20),
       st.integers(0, 2 ** 32 - 1))
def test_block_gemm_equals_the_exact_sum_rounded_once(fmt, m, k, n, spread, seed):
    rng = np.random.default_rng(seed)
    a, b = operands(fmt, rng, m, k, n, spread, tile=fmt == "nvfp4" and seed % 2 == 0)
    got = block_gemm(a, b)
    assert got.shape == (m, n)
    assert np.array_equal(got, reference(a, b))


def test_outputs_beyond_the_fast_path_are_exact_too():
    """Two blocks of 2^100 that cancel and one of 2^-100: float summation loses
    the small block when it comes first (in some order or other); the exact
    sum is the small block alone."""
    rng = np.random.default_rng(1)
    big, small = rng.standard_normal((3, 32)), rng.standard_normal((3, 32))
    w = rng.standard_normal((32, 2))
    alone = block_gemm(quantize(small * 2.0 ** -100, "mxfp4"), quantize(w, "mxfp4", axis=-2))
    assert np.abs(alone).min() > 0
    for order in ((0, 1, 2), (2, 0, 1), (0, 2, 1)):
        parts = [big * 2.0 ** 100, -big * 2.0 ** 100, small * 2.0 ** -100]
        x = np.hstack([parts[i] for i in order])
        a, b = quantize(x, "mxfp4"), quantize(np.vstack([w, w, w]), "mxfp4", axis=-2)
        got = block_gemm(a, b)
        assert np.array_equal(got, reference(a, b))
        assert np.array_equal(got, alone)


def test_block_terms_are_the_per_block_exact_products():
    rng = np.random.default_rng(2)
    a, b = operands("nvfp4", rng, 3, 40, 4, 6)
    p, f, e = block_terms(a, b)
    assert p.shape == (3, 3, 4) and p.dtype == np.int64
    assert np.abs(p).max() <= 144 * 16 and f.max() <= 15 * 15
    total = [[sum(Fraction(int(p[kb, i, j] * f[kb, i, j])) * Fraction(2) ** int(e[kb, i, j])
                  for kb in range(3)) * Fraction(a.tensor_scale) * Fraction(b.tensor_scale)
              for j in range(4)] for i in range(3)]
    assert np.array_equal(np.array([[float(v) for v in r] for r in total]), block_gemm(a, b))


def test_stacked_products_equal_each_sample():
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((4, 6, 40)), rng.standard_normal((4, 40, 6))
    a, b = quantize(x, "mxfp4", axis=-1), quantize(w, "mxfp4", axis=-2)
    got = block_gemm(a, b)
    for i in range(4):
        one = block_gemm(quantize(x[i], "mxfp4"), quantize(w[i], "mxfp4", axis=-2))
        assert np.array_equal(got[i], one)


def test_operand_checks():
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 32)), rng.standard_normal((32, 3))
    with pytest.raises(ValueError, match="'g': block formats differ"):
        block_gemm(quantize(x, "mxfp4"), quantize(w, "nvfp4", axis=-2), "g")
    with pytest.raises(ValueError, match="blocks along K differ"):
        block_gemm(quantize(x, "mxfp4"), quantize(w, "mxfp4", axis=-1))
    with pytest.raises(ValueError, match="shape mismatch"):
        block_gemm(quantize(x, "mxfp4"), quantize(w[:20], "mxfp4", axis=-2))


def test_golden_backend_runs_block_gemms_and_rtl_base_refuses():
    rng = np.random.default_rng(5)
    a, b = operands("mxfp4", rng, 2, 32, 2, 3)
    g = GoldenBackend()
    assert np.array_equal(g.block_gemm(a, b, name="x"), block_gemm(a, b))
    assert g.total_stats["block_gemms"] == 1

    from model.backend import Backend

    class Rtl(Backend):
        name = "verilator"

        def run_part(self, part):
            raise AssertionError

    with pytest.raises(ValueError, match="'fc1.fwd': the verilator backend has no block-scaled"):
        Rtl(g.config).block_gemm(a, b, name="fc1.fwd")
