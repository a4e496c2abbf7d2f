"""Layers of model.nn: gradients vs finite differences, and quantized GEMMs on the backend."""

from __future__ import annotations

import numpy as np
import pytest

from model.backend import Backend, BackendWrapper, GoldenBackend
from model.config import DatapathConfig
from model.formats import check_codes, fp4_decode, grad_scale_sigma, int_value, log_decode
from model.nn import (PACT, Context, Conv2d, Flatten, Linear, OneHot, QTensor, ReLU,
                      Sequential, col2im, im2col, softmax_cross_entropy)
from model.quant import pact_quantize, sawb_quantize
from model.recipes import RECIPES, get_recipe

FP32 = get_recipe("fp32")


def _f64(layer_or_model):
    """Run a layer's parameters in float64 so finite differences are precise."""
    for p in layer_or_model.params():
        p.value = p.value.astype(np.float64)
    return layer_or_model


def _loss(model, x, y, ctx):
    return softmax_cross_entropy(model.forward(x, ctx), y)[0]


def _check_grads(model, x, y, n_checks=12, eps=1e-6, rng=None):
    rng = rng or np.random.default_rng(0)
    ctx = Context(FP32)
    for p in model.params():
        p.grad[...] = 0
    logits = model.forward(x, ctx)
    _, g = softmax_cross_entropy(logits, y)
    model.backward(g, ctx)
    for p in model.params():
        for _ in range(n_checks):
            idx = tuple(int(rng.integers(0, s)) for s in p.value.shape)
            old = p.value[idx]
            p.value[idx] = old + eps
            up = _loss(model, x, y, ctx)
            p.value[idx] = old - eps
            down = _loss(model, x, y, ctx)
            p.value[idx] = old
            numeric = (up - down) / (2 * eps)
            assert p.grad[idx] == pytest.approx(numeric, rel=1e-5, abs=1e-8), (p.name, idx)


def test_softmax_cross_entropy_matches_definition():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((5, 7)) * 3
    y = rng.integers(0, 7, 5)
    loss, grad = softmax_cross_entropy(logits, y)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(5), y])))
    onehot = np.eye(7)[y]
    np.testing.assert_allclose(grad, (p - onehot) / 5, rtol=1e-12, atol=1e-15)


def test_mlp_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    model = _f64(Sequential([Linear("fc1", 6, 9, rng), ReLU("a1"), Linear("fc2", 9, 4, rng)]))
    model.configure(FP32)
    model.layers[0].need_dx = True  # also check the input gradient path
    x = rng.standard_normal((7, 6))
    y = rng.integers(0, 4, 7)
    _check_grads(model, x, y)


def test_input_gradient_of_linear_matches_finite_differences():
    rng = np.random.default_rng(3)
    layer = _f64(Linear("fc", 5, 3, rng))
    ctx = Context(FP32)
    x = rng.standard_normal((4, 5))
    g = rng.standard_normal((4, 3))
    layer.forward(x, ctx)
    dx = layer.backward(g, ctx)
    eps = 1e-6
    for i in range(4):
        for j in range(5):
            xp, xm = x.copy(), x.copy()
            xp[i, j] += eps
            xm[i, j] -= eps
            num = (np.sum(layer.forward(xp, ctx) * g) - np.sum(layer.forward(xm, ctx) * g)) / (2 * eps)
            assert dx[i, j] == pytest.approx(num, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("stride,pad", [(1, 1), (2, 1), (1, 0)])
def test_cnn_gradients_match_finite_differences(stride, pad):
    rng = np.random.default_rng(4 + stride)
    conv1 = Conv2d("c1", 2, 3, 3, rng, stride=1, pad=1)
    conv2 = Conv2d("c2", 3, 4, 3, rng, stride=stride, pad=pad)
    h = (6 + 2 * pad - 3) // stride + 1
    model = _f64(Sequential([conv1, ReLU("a1"), conv2, ReLU("a2"), Flatten("f"),
                             Linear("fc", 4 * h * h, 3, rng)]))
    model.configure(FP32)
    x = rng.standard_normal((3, 2, 6, 6))
    y = rng.integers(0, 3, 3)
    _check_grads(model, x, y, n_checks=8)


def test_conv_forward_matches_direct_convolution():
    rng = np.random.default_rng(5)
    conv = _f64(Conv2d("c", 2, 3, 3, rng, stride=2, pad=1))
    conv.b.value = rng.standard_normal(3)
    x = rng.standard_normal((2, 2, 7, 7))
    y = conv.forward(x, Context(FP32))
    w = conv.W.value.reshape(2, 3, 3, 3)  # (C, kh, kw, O): im2col's column order
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ho = (7 + 2 - 3) // 2 + 1
    ref = np.zeros((2, 3, ho, ho))
    for n in range(2):
        for o in range(3):
            for i in range(ho):
                for j in range(ho):
                    patch = xp[n, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3]
                    ref[n, o, i, j] = np.sum(patch * w[:, :, :, o]) + conv.b.value[o]
    np.testing.assert_allclose(y, ref, rtol=1e-12, atol=1e-12)


def test_col2im_is_the_adjoint_of_im2col():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 5, 6))
    cols = im2col(x, 3, 3, 2, 1)
    c = rng.standard_normal(cols.shape)
    lhs = np.sum(cols * c)
    rhs = np.sum(x * col2im(c, x.shape, 3, 3, 2, 1))
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_pact_forward_and_straight_through_gradient():
    rng = np.random.default_rng(7)
    pact = PACT("p", bits=4, alpha=1.5)
    x = rng.standard_normal((4, 10)) * 2
    q = pact.forward(x, Context(FP32))
    expect = np.rint(np.clip(x, 0, 1.5) / 1.5 * 15)
    np.testing.assert_array_equal(q.codes, expect)
    assert q.fmt == "uint4" and q.scale == pytest.approx(0.1)
    g = rng.standard_normal(x.shape)
    dx = pact.backward(g, Context(FP32))
    np.testing.assert_array_equal(dx, g * ((x >= 0) & (x < 1.5)))
    scale = 1 / np.sqrt(10 * 15)  # LSQ-style gradient scale (documented in PACT)
    assert pact.alpha.grad[0] == pytest.approx(np.sum(g * (x >= 1.5)) * scale)


def test_relu_and_onehot():
    ctx = Context(FP32)
    relu = ReLU()
    x = np.array([[-1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(relu.forward(x, ctx), [[0, 0, 2]])
    np.testing.assert_array_equal(relu.backward(np.ones((1, 3)), ctx), [[0, 0, 1]])
    oh = OneHot(4).forward(np.array([[1, 3], [0, 0]]), ctx)
    np.testing.assert_array_equal(oh, [[0, 1, 0, 0, 0, 0, 0, 1], [1, 0, 0, 0, 1, 0, 0, 0]])
    with pytest.raises(ValueError):
        OneHot(4).forward(np.array([[4]]), ctx)


# --------------------------------------------------------------------------
# Quantized layers


class RecordingBackend(BackendWrapper):
    """Wraps the golden backend; records every GEMM and checks its operands."""

    name = "recording"

    def __init__(self):
        super().__init__(GoldenBackend())
        self.calls = []

    def gemm(self, a, b, a_format, b_format, *, name="gemm"):
        for arr, fmt, side in ((a, a_format, "A"), (b, b_format, "B")):
            if fmt in ("int8", "uint8"):
                lo, hi = (-128, 127) if fmt == "int8" else (0, 255)
                assert np.issubdtype(arr.dtype, np.integer) and arr.min() >= lo and arr.max() <= hi
            else:
                check_codes(arr, fmt, f"{name}.{side}")  # raises if out of range
        c = self.inner.gemm(a, b, a_format, b_format, name=name)
        self.calls.append((name, a_format, b_format, a.copy(), b.copy(), c))
        return c


def test_quantized_linear_equals_dequantized_code_math():
    rng = np.random.default_rng(8)
    recipe = get_recipe("4bit-all")
    layer = Linear("fc", 12, 5, rng)
    layer.b.value[...] = rng.standard_normal(5)
    layer.need_dx = True
    backend = RecordingBackend()
    ctx = Context(recipe, backend)
    x = np.abs(rng.standard_normal((6, 12)))
    xq = pact_quantize(x, 1.2, 4)
    y = layer.forward(QTensor(xq.codes, xq.fmt, xq.scale), ctx)
    wq = sawb_quantize(layer.W.value, 4)
    ref = (int_value(xq.codes, "uint4") * xq.scale) @ (int_value(wq.codes, "int4") * wq.scale)
    np.testing.assert_allclose(y, ref + layer.b.value, rtol=1e-12, atol=1e-12)

    g = rng.standard_normal((6, 5)) * 1e-3
    dx = layer.backward(g, ctx)
    sigma = grad_scale_sigma(g)
    g0 = fp4_decode(np.asarray(backend.calls[1][3]), sigma, 0)       # dX's A operand
    g1 = fp4_decode(np.asarray(backend.calls[2][4]), sigma, 1)       # dW's B operand (TPR phase 1)
    np.testing.assert_allclose(dx, g0 @ (int_value(wq.codes, "int4") * wq.scale).T,
                               rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(layer.W.grad, (int_value(xq.codes, "uint4") * xq.scale).T @ g1,
                               rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(layer.b.grad, g.sum(axis=0), rtol=1e-12)
    assert [c[0] for c in backend.calls] == ["fc.fwd", "fc.dX", "fc.dW"]


class ZeroBackend(Backend):
    """A backend whose every 4-bit part GEMM answers 0."""

    name = "zero"

    def __init__(self):
        super().__init__(DatapathConfig())

    def run_part(self, part):
        m, _, n = part.shape
        return np.zeros((m, n), np.int64), np.zeros((m, n), bool)


def test_quantized_results_come_only_from_the_backend():
    """A backend that answers 0 must zero every GEMM product: no float shortcut."""
    rng = np.random.default_rng(9)
    model = Sequential([Linear("fc1", 8, 6, rng), ReLU("a1"), Linear("fc2", 6, 3, rng)])
    model.configure(get_recipe("4bit"))
    model.layers[2].b.value[...] = [0.5, -1.0, 2.0]
    ctx = Context(get_recipe("4bit"), ZeroBackend())
    x = rng.random((4, 8))
    logits = model.forward(x, ctx)
    np.testing.assert_array_equal(logits, np.tile([0.5, -1.0, 2.0], (4, 1)))
    _, g = softmax_cross_entropy(logits, np.array([0, 1, 2, 0]))
    model.backward(g, ctx)
    assert not model.layers[0].W.grad.any() and not model.layers[2].W.grad.any()
    assert model.layers[2].b.grad.any()  # bias gradients are float row sums, not GEMMs


def _one_step_calls(task_layers, recipe_name, x, y):
    from model.train import Trainer
    backend = RecordingBackend()
    trainer = Trainer(Sequential(task_layers), recipe_name, backend=backend, seed=0)
    trainer.step(x, y)
    return backend.calls


def _mlp(rng):
    return [Linear("fc1", 16, 12, rng), ReLU("act1"), Linear("fc2", 12, 12, rng), ReLU("act2"),
            Linear("fc3", 12, 5, rng)]


# The on-chip recipes run their GEMMs through the quantization tile's own
# interface (tests/test_onchip_train.py), not a plain backend; the block-format
# recipes are checked in tests/test_block_recipes.py.
@pytest.mark.parametrize("recipe", [r for r in RECIPES if r != "fp32" and not RECIPES[r].onchip
                                    and not RECIPES[r].block])
def test_every_gemm_of_a_4bit_step_goes_through_the_backend(recipe):
    rng = np.random.default_rng(10)
    x = rng.random((9, 16))
    y = rng.integers(0, 5, 9)
    calls = _one_step_calls(_mlp(rng), recipe, x, y)
    g = RECIPES[recipe].grad_format
    wide = RECIPES[recipe].ends_bits == 8
    a1, w1 = ("uint8", "int8") if wide else ("uint4", "int4")
    a3, w3 = ("uint8", "int8") if wide else ("uint4", "int4")
    g_end = "int8" if wide else g  # an 8-bit end layer's output gradient is INT8
    expected = [
        ("fc1.fwd", a1, w1), ("fc2.fwd", "uint4", "int4"), ("fc3.fwd", a3, w3),
        ("fc3.dX", g_end, w3), ("fc3.dW", a3, g_end),
        ("fc2.dX", g, "int4"), ("fc2.dW", "uint4", g),
        ("fc1.dW", a1, g_end),  # the first layer needs no dX
    ]
    assert [(c[0], c[1], c[2]) for c in calls] == expected
    # Shapes follow the GEMM contract: fwd M x K . K x N, dX M x N . N x K, dW K x M . M x N.
    shapes = {c[0]: (c[3].shape, c[4].shape) for c in calls}
    assert shapes["fc2.fwd"] == ((9, 12), (12, 12))
    assert shapes["fc3.dX"] == ((9, 5), (5, 12))
    assert shapes["fc3.dW"] == ((12, 9), (9, 5))
    assert shapes["fc1.dW"] == ((16, 9), (9, 12))


def test_tpr_phases_and_fixed_sigma_in_the_backward_gemms():
    """dX gets phase 0, dW phase 1 of the same gradient; without TPR both phase 0."""
    rng = np.random.default_rng(11)
    x = rng.random((9, 16))
    y = rng.integers(0, 5, 9)
    for recipe, dw_phase in (("4bit", 1), ("4bit-notpr", 0), ("4bit-all", 1)):
        calls = {c[0]: c for c in _one_step_calls(_mlp(np.random.default_rng(12)), recipe, x, y)}
        # fc2: the middle layer, FP4 in every recipe (4bit's ends take INT8 gradients).
        dx_codes = calls["fc2.dX"][3]
        dw_codes = calls["fc2.dW"][4]
        # The same real gradient on two grids: with TPR the levels are 2x apart
        # (odd powers of 2 between them), without it the same grid.
        sigma = 0
        v0 = log_decode(dx_codes, sigma, 0)
        v1 = log_decode(dw_codes, sigma, dw_phase)
        nz = (v0 != 0) & (v1 != 0)
        assert np.all(np.sign(v0[nz]) == np.sign(v1[nz]))
        ratio = np.abs(v1[nz] / v0[nz])
        allowed = {0.125, 0.5, 2.0, 8.0} if dw_phase else {0.25, 1.0, 4.0}
        assert set(np.unique(ratio)).issubset(allowed)


def test_fixed_sigma_without_gradscale_is_measured_once_and_reused():
    from model.formats import fp4_encode
    rng = np.random.default_rng(14)
    big = rng.standard_normal((4, 6)) * 0.3
    small = rng.standard_normal((4, 6)) * 1e-3
    ctx = Context(get_recipe("4bit-nogradscale"), GoldenBackend())
    ctx.encode_grad(big, "fc3.dY")
    codes_dx, codes_dw, s_dx, s_dw = ctx.encode_grad(small, "fc2.dY")
    sigma = grad_scale_sigma(big)
    np.testing.assert_array_equal(codes_dx, fp4_encode(small, sigma, 0))
    np.testing.assert_array_equal(codes_dw, fp4_encode(small, sigma, 1))
    assert (s_dx, s_dw) == (2.0 ** (sigma - 12), 2.0 ** (sigma - 11))
    ctx = Context(get_recipe("4bit"), GoldenBackend())
    ctx.encode_grad(big, "fc3.dY")
    codes_dx, _, s_dx, _ = ctx.encode_grad(small, "fc2.dY")
    np.testing.assert_array_equal(codes_dx, fp4_encode(small, grad_scale_sigma(small), 0))
    assert s_dx == 2.0 ** (grad_scale_sigma(small) - 12)


def test_sr_last_rounds_only_the_output_layer_gradient_stochastically():
    """4bit-all-sr-last: the last GEMM layer's dL/dY is stochastically rounded (one
    RNG stream, phase 0 then phase 1), every other layer's is nearest."""
    from model.formats import fp4_encode, tpr_encode
    rng = np.random.default_rng(15)
    model = Sequential([Linear("fc1", 5, 7, rng), ReLU("act1"), Linear("fc2", 7, 6, rng),
                        ReLU("act2"), Linear("fc3", 6, 4, rng)])
    model.configure(get_recipe("4bit-all-sr-last"))
    assert [m.grad_rounding for m in model.gemm_layers()] == ["nearest", "nearest", "stochastic"]
    seen = {}

    class Spy(Context):
        def encode_grad(self, g, name, rounding=None):
            out = super().encode_grad(g, name, rounding)
            seen[name] = (g.copy(), out)
            return out

    ctx = Spy(get_recipe("4bit-all-sr-last"), GoldenBackend(), rng=np.random.default_rng(3))
    x = rng.random((9, 5))
    y = rng.integers(0, 4, 9)
    model.backward(softmax_cross_entropy(model.forward(x, ctx), y)[1], ctx)
    assert set(seen) == {"fc3.dY", "fc2.dY", "fc1.dY"}
    # fc3 is encoded first in the backward pass, so it draws the stream's first numbers.
    g3, (dx3, dw3, _, _) = seen["fc3.dY"]
    ref_dx, ref_dw, _ = tpr_encode(g3, rounding="stochastic", rng=np.random.default_rng(3))
    np.testing.assert_array_equal(dx3, ref_dx)
    np.testing.assert_array_equal(dw3, ref_dw)
    assert not np.array_equal(dx3, fp4_encode(g3, grad_scale_sigma(g3), 0))
    for name in ("fc2.dY", "fc1.dY"):
        g, (dx, dw, _, _) = seen[name]
        sigma = grad_scale_sigma(g)
        np.testing.assert_array_equal(dx, fp4_encode(g, sigma, 0))
        np.testing.assert_array_equal(dw, fp4_encode(g, sigma, 1))


def test_cnn_step_gemms_and_im2col_on_codes():
    rng = np.random.default_rng(13)
    layers = [Conv2d("conv1", 1, 4, 3, rng, stride=1, pad=1), ReLU("act1"),
              Conv2d("conv2", 4, 6, 3, rng, stride=2, pad=1), ReLU("act2"), Flatten("flat"),
              Linear("fc", 6 * 4 * 4, 3, rng)]
    x = rng.random((5, 1, 8, 8))
    y = rng.integers(0, 3, 5)
    calls = _one_step_calls(layers, "4bit-all", x, y)
    assert [c[0] for c in calls] == ["conv1.fwd", "conv2.fwd", "fc.fwd", "fc.dX", "fc.dW",
                                     "conv2.dX", "conv2.dW", "conv1.dW"]
    by = {c[0]: c for c in calls}
    assert by["conv1.fwd"][3].shape == (5 * 64, 9)
    assert by["conv2.fwd"][3].shape == (5 * 16, 36)
    assert by["conv2.dW"][3].shape == (36, 5 * 16)
    # conv1's input codes are im2col of the fixed-scale UINT4 codes of x (max-abs calibrated).
    codes = np.rint(x / x.max() * 15).astype(np.uint8)
    np.testing.assert_array_equal(by["conv1.fwd"][3], im2col(codes, 3, 3, 1, 1))


@pytest.mark.parametrize("fa,fb", [("uint8", "int8"), ("int8", "int4"), ("fp4", "int8"),
                                   ("uint4", "uint8"), ("int8", "fp4")])
def test_golden_wide_gemm_shortcut_equals_the_nibble_gemms(fa, fb):
    """GoldenBackend runs an 8-bit GEMM as one matmul when no part can overflow."""
    from model.quant import nibble_gemm
    rng = np.random.default_rng(21)
    lims = {"uint8": (0, 256, np.uint8), "int8": (-128, 128, np.int8), "int4": (-8, 8, np.int8),
            "uint4": (0, 16, np.uint8), "fp4": (0, 16, np.uint8)}

    def codes(fmt, shape):
        lo, hi, dt = lims[fmt]
        return rng.integers(lo, hi, shape).astype(dt)
    a, b = codes(fa, (7, 33)), codes(fb, (33, 5))
    np.testing.assert_array_equal(GoldenBackend().gemm(a, b, fa, fb), nibble_gemm(a, b, fa, fb))


def test_golden_wide_gemm_still_reports_part_overflow():
    from model.backend import GemmOverflowError
    a = np.full((2, 3000), 127, np.int8)
    with pytest.raises(GemmOverflowError):
        GoldenBackend(acc_width=18).gemm(a, a.T.copy(), "int8", "int8", name="wide")


def test_luq_gradients_are_radix2_unbiased_with_stochastic_underflow():
    """luq: radix-2 FP4 scaled to max|g|, stochastic between powers of two and
    below the smallest level (so tiny gradients survive on average), no TPR."""
    from model.formats import log_decode
    g = np.array([1.0, -0.3, 0.05, 2.0 ** -7, -(2.0 ** -9), 3e-3])   # bottom level: 2^-6
    ctx = Context(get_recipe("luq"), GoldenBackend(), rng=np.random.default_rng(4))
    draws = []
    for _ in range(4000):
        dx, dw, s_dx, s_dw = ctx.encode_grad(g, "fc.dY")
        assert s_dx == s_dw == 2.0 ** -6      # no TPR: both GEMMs on the phase-0 grid
        draws.append(log_decode(dx, 0, 0, fmt="fp4r2"))
    draws = np.array(draws)
    assert set(np.unique(np.abs(draws))) <= {0.0} | {2.0 ** -j for j in range(7)}
    np.testing.assert_allclose(draws.mean(axis=0), g, rtol=0.1, atol=2e-4)
    assert np.mean(draws[:, 3] == 0) > 0.5 and np.mean(draws[:, 3] != 0) > 0.2   # below the bottom


@pytest.mark.parametrize("recipe", ["4bit-all", "luq", "4bit-nogradscale"])
def test_a_gradient_below_the_sigma_range_is_encoded_not_refused(recipe):
    """charlm-attn under 4bit-all stopped with 'sigma -1016 is outside the legal
    range' in block.dS: a nearly saturated softmax leaves a score gradient
    near 2^-1016.  GradScale now stops at the lowest legal sigma."""
    from model.formats import get_format, log_decode, sigma_range
    from model.nn import Context
    r = get_recipe(recipe)
    lo = sigma_range(r.grad_format)[0]
    offset = get_format(r.grad_format).scale_offset
    g = np.array([[2.0 ** (lo - 6), -(2.0 ** (lo - 9)), 0.0]])
    ctx = Context(r, GoldenBackend(), np.random.default_rng(0))
    dx, dw, s_dx, s_dw = ctx.encode_grad(g, "block.dS")
    assert s_dx == 2.0 ** (lo - offset)
    got = log_decode(dx, lo, 0, fmt=r.grad_format)
    assert got[0, 0] == g[0, 0] and got[0, 2] == 0
    # One step above the range is untouched: GradScale's own sigma.
    g2 = np.array([[2.0 ** (lo + 3)]])
    _, _, s2, _ = Context(r, GoldenBackend(), np.random.default_rng(0)).encode_grad(g2, "x")
    assert s2 == 2.0 ** (lo + 3 - offset)
