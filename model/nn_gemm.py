"""GEMM layers: ``Linear`` and ``Conv2d`` (im2col onto the GEMM contract).

In a quantized recipe each runs three exact integer GEMMs on the backend
(forward, dX, dW; see ``model.nn`` for the numerics), with INT4 SAWB weights,
UINT4 PACT (or fixed-scale) input codes and FP4 (or INT8) output gradients.
A layer with a block format (``block``, set by ``Sequential.configure``)
runs them in MXFP4 or NVFP4 instead (``model.block_layer``).
"""

from __future__ import annotations

import math

import numpy as np

from . import block_layer
from .nn_core import Layer, Param, QTensor
from .quant import check_step, int8_grad_quantize, sawb_quantize, ste_grad

__all__ = ["Linear", "Conv2d", "im2col", "col2im"]


def _int_quantize(x: np.ndarray, alpha: float, signed: bool, bits: int):
    """Fixed-scale quantizer of a layer input: codes, format, scale, STE mask."""
    if signed:
        qmax = (1 << (bits - 1)) - 1
        scale = alpha / qmax
        codes = np.clip(np.rint(x / scale), -qmax, qmax).astype(np.int8)
        mask = np.abs(x) <= alpha
        return codes, ("int4" if bits == 4 else "int8"), scale, mask
    qmax = (1 << bits) - 1
    scale = alpha / qmax
    codes = np.rint(np.clip(x, 0.0, alpha) / scale).astype(np.uint8)
    mask = (x >= 0) & (x <= alpha)
    return codes, ("uint4" if bits == 4 else "uint8"), scale, mask


class _GemmLayer(Layer):
    """Shared core of Linear and Conv2d: ``Y2 = A2 . W + b`` on 2-D operands.

    ``W`` is stored K x N (the GEMM's B operand as is).
    """

    def __init__(self, name, fan_in, fan_out, rng, bias=True):
        self.name = name
        std = math.sqrt(2.0 / fan_in)  # He init for ReLU networks
        self.W = Param(f"{name}.W", rng.standard_normal((fan_in, fan_out)) * std)
        self.b = Param(f"{name}.b", np.zeros(fan_out), decay=False) if bias else None
        self.weight_bits = 4
        self.act_bits = 4
        self.grad_bits = 4         # 4: FP4 (the recipe's format); 8: INT8 (SPEC 1.6)
        self.need_dx = True
        self.grad_rounding = None  # None: the recipe's rounding (set by configure)
        self.block = None          # block format (model.block_layer) or None: integer codes
        # Fixed quantizer for float inputs (the network input): set on first use.
        self.in_alpha = None
        self.in_signed = False
        # Or, for float inputs whose range moves during training (a layer norm's
        # output), a signed quantizer re-fitted every call: SAWB's clip at 4 bits,
        # max-abs at 8, as for weights.
        self.dynamic_input = False

    def params(self):
        return [self.W] + ([self.b] if self.b is not None else [])

    def buffers(self):
        if self.in_alpha is None:
            return {}
        return {f"{self.name}.in_alpha": np.array([self.in_alpha, float(self.in_signed)])}

    # -- input quantization (quantized recipes)
    def _quantize_input(self, x):
        """Codes of this layer's input: PACT's codes as is, or a fixed scale."""
        if isinstance(x, QTensor):
            return x.codes, x.fmt, x.scale, None
        x = np.asarray(x, dtype=np.float64)
        if not np.isfinite(x).all():
            raise ValueError(f"{self.name}: input contains NaN or inf")
        if self.dynamic_input:
            q = sawb_quantize(x, self.act_bits, name=f"{self.name}: input")
            qmax = (1 << (self.act_bits - 1)) - 1
            return q.codes, q.fmt, q.scale, np.abs(x) <= qmax * q.scale
        if self.in_alpha is None:
            # Calibrated once, on the first batch: max |x| covers it exactly.
            amax = float(np.max(np.abs(x))) if x.size else 0.0
            self.in_alpha = amax if amax > 0 else 1.0
            self.in_signed = bool(x.size and x.min() < 0)
            # A first batch too small for a normal step would quantize every
            # later batch with a zero or subnormal scale.
            qmax = (1 << (self.act_bits - (1 if self.in_signed else 0))) - 1
            check_step(self.in_alpha / qmax, f"{self.name}: input",
                       f"calibrating the input quantizer on max |x| = {amax:.6g}")
        return _int_quantize(x, self.in_alpha, self.in_signed, self.act_bits)

    # -- the three GEMMs
    def _gemm_forward(self, a, ctx, a_fmt=None, a_scale=None):
        """``a`` is float (fp32 recipe) or an integer code matrix (M x K)."""
        b = self.b.value.astype(np.float64) if self.b is not None else 0.0
        if not ctx.quantized:
            self._cache = (a, None)
            return a @ self.W.value.astype(np.float64) + b
        if self.block:
            return block_layer.forward(self, a, ctx)
        wq = sawb_quantize(self.W.value, bits=self.weight_bits, name=self.W.name)
        self._cache = (a, (a_fmt, a_scale, wq))
        c = ctx.gemm(a, wq.codes, a_fmt, wq.fmt, f"{self.name}.fwd")
        return c * (a_scale * wq.scale) + b

    def _gemm_backward(self, dy, ctx):
        """Accumulate dW, db from ``dy`` (M x N); return dA (float) or None."""
        if ctx.quantized and self.block:
            return block_layer.backward(self, dy, ctx)
        a, q = self._cache
        if self.b is not None:
            self.b.grad += dy.sum(axis=0)
        if not ctx.quantized:
            self.W.grad += a.T @ dy
            return dy @ self.W.value.astype(np.float64).T if self.need_dx else None
        a_fmt, a_scale, wq = q
        if self.grad_bits == 8:
            # One INT8 encoding feeds both GEMMs: TPR is a property of the FP4 grid.
            gq = int8_grad_quantize(dy, f"{self.name}.dY")
            gfmt, codes_dx, codes_dw, s_dx, s_dw = gq.fmt, gq.codes, gq.codes, gq.scale, gq.scale
        else:
            gfmt = ctx.recipe.grad_format
            codes_dx, codes_dw, s_dx, s_dw = ctx.encode_grad(dy, f"{self.name}.dY",
                                                              self.grad_rounding)
        da = None
        if self.need_dx:
            c = ctx.gemm(codes_dx, wq.codes.T, gfmt, wq.fmt, f"{self.name}.dX")
            da = c * (s_dx * wq.scale)
        c = ctx.gemm(a.T, codes_dw, a_fmt, gfmt, f"{self.name}.dW")
        self.W.grad += ste_grad(c * (a_scale * s_dw))
        return da


class Linear(_GemmLayer):
    """``y = x . W + b`` with ``W`` of shape (in, out)."""

    def __init__(self, name, in_features, out_features, rng, bias=True):
        super().__init__(name, in_features, out_features, rng, bias)

    def forward(self, x, ctx):
        if not ctx.quantized or self.block:
            if isinstance(x, QTensor):
                x = x.dequantize()
            self._mask = None
            return self._gemm_forward(np.asarray(x, dtype=np.float64), ctx)
        codes, fmt, scale, self._mask = self._quantize_input(x)
        return self._gemm_forward(codes, ctx, fmt, scale)

    def backward(self, g, ctx):
        dx = self._gemm_backward(np.asarray(g, dtype=np.float64), ctx)
        if dx is not None and ctx.quantized and self._mask is not None:
            dx = dx * self._mask  # straight-through the fixed input quantizer
        return dx


def im2col(x: np.ndarray, kh: int, kw: int, stride: int, pad: int) -> np.ndarray:
    """(N, C, H, W) -> (N*Ho*Wo, C*kh*kw), rows in (n, ho, wo) order.

    Works on codes as well as floats: padding is 0, the code of value 0 in
    every integer format.
    """
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    win = win[:, :, ::stride, ::stride]                    # N, C, Ho, Wo, kh, kw
    ho, wo = win.shape[2], win.shape[3]
    return win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)


def col2im(cols: np.ndarray, shape, kh: int, kw: int, stride: int, pad: int) -> np.ndarray:
    """Adjoint of ``im2col``: scatter-add columns back to (N, C, H, W)."""
    n, c, h, w = shape
    ho = (h + 2 * pad - kh) // stride + 1
    wo = (w + 2 * pad - kw) // stride + 1
    cols = cols.reshape(n, ho, wo, c, kh, kw)
    out = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=np.float64)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i:i + stride * ho:stride, j:j + stride * wo:stride] += \
                cols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return out[:, :, pad:pad + h, pad:pad + w]


class Conv2d(_GemmLayer):
    """2-D convolution (NCHW) as one GEMM: ``im2col(x) . W``, W of (C*kh*kw, O)."""

    def __init__(self, name, in_channels, out_channels, kernel, rng, stride=1, pad=0,
                 bias=True):
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel, self.stride, self.pad = kernel, stride, pad
        super().__init__(name, in_channels * kernel * kernel, out_channels, rng, bias)

    def forward(self, x, ctx):
        k, s, p = self.kernel, self.stride, self.pad
        self._mask = None
        if ctx.quantized and not self.block:
            codes, fmt, scale, self._mask = self._quantize_input(x)
            self._in_shape = codes.shape
            y2 = self._gemm_forward(im2col(codes, k, k, s, p), ctx, fmt, scale)
        else:
            if isinstance(x, QTensor):
                x = x.dequantize()
            x = np.asarray(x, dtype=np.float64)
            self._in_shape = x.shape
            y2 = self._gemm_forward(im2col(x, k, k, s, p), ctx)
        n, _, h, w = self._in_shape
        ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
        return y2.reshape(n, ho, wo, self.out_channels).transpose(0, 3, 1, 2)

    def backward(self, g, ctx):
        dy2 = np.asarray(g, dtype=np.float64).transpose(0, 2, 3, 1).reshape(-1, self.out_channels)
        dcols = self._gemm_backward(dy2, ctx)
        if dcols is None:
            return None
        k = self.kernel
        dx = col2im(dcols, self._in_shape, k, k, self.stride, self.pad)
        if ctx.quantized and self._mask is not None:
            dx = dx * self._mask
        return dx
