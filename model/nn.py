"""A small NumPy neural-network framework whose 4-bit GEMMs run on a backend.

Layers: ``Linear``, ``Conv2d`` (im2col onto the GEMM contract), ``ReLU``,
``PACT``, ``Flatten``, ``OneHot``; ``Sequential`` chains them.  Also
``softmax_cross_entropy`` and ``SGD`` (momentum, weight decay).

Numerics
- Master weights (and momentum buffers) are float32, the "FP32 master copy"
  of quantized training.  All other arithmetic (activations, gradients,
  scaling of GEMM results) is float64, so the only rounding a quantized step
  adds beyond the recipe's own is the float32 weight update.
- In a quantized recipe a GEMM layer never multiplies floats: the forward
  ``Y = X . W``, the activation gradient ``dX = dY . W^T`` and the weight
  gradient ``dW = X^T . dY`` are exact integer GEMMs of code matrices,
  computed by ``ctx.backend.gemm(...)`` (the golden model or the RTL), named
  ``"<layer>.fwd"``, ``"<layer>.dX"``, ``"<layer>.dW"``, and only their int64
  results are scaled to real values.  Bias additions and bias gradients
  (row sums of dY) stay in float64: they are not GEMMs.
- Operand formats: X codes are UINT4 from the PACT in front of the layer (or
  the layer's fixed input quantizer for the network input), W codes INT4 by
  SAWB; dY is FP4 (A side of dX; B side of dW, which the backend runs
  transposed).  8-bit layers use ``uint8``/``int8`` codes, which the backend
  runs as 4-bit parts (SPEC 1.6).
- The first GEMM layer computes no dX (nothing before it learns), so it runs
  two GEMMs per step, every other layer three.

Layers are configured for a recipe by ``Sequential.configure``: in a
quantized recipe every ``ReLU`` that feeds a GEMM layer becomes a ``PACT``
(a clipped ReLU with a learnable clip that emits UINT codes), as in the PACT
paper.
"""

from __future__ import annotations

import math

import numpy as np

from .formats import get_format, grad_scale_sigma, tpr_encode
from .quant import int8_grad_quantize, pact_grad, pact_quantize, sawb_quantize, ste_grad

__all__ = ["Param", "QTensor", "Context", "Layer", "Linear", "Conv2d", "ReLU", "PACT",
           "Flatten", "OneHot", "Sequential", "softmax_cross_entropy", "SGD",
           "im2col", "col2im"]

MASTER_DTYPE = np.float32


class Param:
    """A learnable tensor: float32 master value, float64 gradient, momentum."""

    def __init__(self, name: str, value, decay: bool = True):
        self.name = name
        self.value = np.array(value, dtype=MASTER_DTYPE)
        self.grad = np.zeros(self.value.shape, dtype=np.float64)
        self.velocity = np.zeros(self.value.shape, dtype=MASTER_DTYPE)
        self.decay = decay

    def __repr__(self):
        return f"Param({self.name!r}, shape={self.value.shape})"


class QTensor:
    """Activation codes travelling between layers: ``value = iv(codes) * scale``."""

    def __init__(self, codes: np.ndarray, fmt: str, scale: float):
        self.codes = codes
        self.fmt = fmt
        self.scale = float(scale)

    @property
    def shape(self):
        return self.codes.shape

    def reshape(self, *shape) -> "QTensor":
        return QTensor(self.codes.reshape(*shape), self.fmt, self.scale)

    def dequantize(self) -> np.ndarray:
        return self.codes.astype(np.float64) * self.scale


class Context:
    """What a layer needs to know during one forward/backward pass.

    ``sigma_state`` persists across steps (owned by the trainer): it holds the
    one fixed GradScale exponent of the no-GradScale ablation.
    """

    def __init__(self, recipe, backend=None, rng=None, sigma_state=None, training=True):
        self.recipe = recipe
        self.backend = backend
        self.rng = rng
        self.sigma_state = {} if sigma_state is None else sigma_state
        self.training = training
        if recipe.quantized and backend is None:
            raise ValueError(f"recipe {recipe.name!r} needs a GEMM backend")

    @property
    def quantized(self) -> bool:
        return self.recipe.quantized

    def gemm(self, a, b, a_format: str, b_format: str, name: str) -> np.ndarray:
        """Exact integer GEMM on the backend (contiguous operands, int64 result)."""
        a = np.ascontiguousarray(a)
        b = np.ascontiguousarray(b)
        c = np.asarray(self.backend.gemm(a, b, a_format, b_format, name=name))
        if c.shape != (a.shape[0], b.shape[1]):
            raise ValueError(f"backend {getattr(self.backend, 'name', '?')} returned shape "
                             f"{c.shape} for GEMM {name!r}, expected {(a.shape[0], b.shape[1])}")
        return c.astype(np.int64, copy=False)

    def encode_grad(self, g: np.ndarray, name: str, rounding: str | None = None):
        """FP4 codes of dL/dY for the dX GEMM and the dW GEMM, with their scales.

        GradScale (per layer, per step) unless the recipe turns it off; then a
        single sigma, measured once on the first gradient this run encodes (the
        output layer's, normally the largest) and frozen for every layer and
        step: it may saturate or underflow later, per SPEC 1.3.
        ``rounding`` overrides the recipe's rounding mode for this tensor
        (a recipe may round one layer's gradient differently).
        """
        r = self.recipe
        rounding = r.rounding if rounding is None else rounding
        if r.grad_scale:
            sigma = None
        else:
            if "fixed" not in self.sigma_state:
                self.sigma_state["fixed"] = grad_scale_sigma(g, name)
            sigma = self.sigma_state["fixed"]
        codes_dx, codes_dw, sigma = tpr_encode(
            g, sigma, tpr=r.tpr, rounding=rounding,
            rng=self.rng if rounding == "stochastic" else None,
            fmt=r.grad_format, name=name)
        offset = get_format(r.grad_format).scale_offset
        scale_dx = math.ldexp(1.0, sigma - offset)
        scale_dw = math.ldexp(1.0, sigma + (1 if r.tpr else 0) - offset)
        return codes_dx, codes_dw, scale_dx, scale_dw


class Layer:
    """Base layer: ``forward(x, ctx)``, ``backward(g, ctx)``, ``params()``."""

    name = "layer"

    def params(self) -> list[Param]:
        return []

    def buffers(self) -> dict[str, np.ndarray]:
        """Non-learned state worth comparing between runs (e.g. calibrations)."""
        return {}

    def forward(self, x, ctx):
        raise NotImplementedError

    def backward(self, g, ctx):
        raise NotImplementedError


# --------------------------------------------------------------------------
# GEMM layers


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
        # Fixed quantizer for float inputs (the network input): set on first use.
        self.in_alpha = None
        self.in_signed = False

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
        if self.in_alpha is None:
            # Calibrated once, on the first batch: max |x| covers it exactly.
            amax = float(np.max(np.abs(x))) if x.size else 0.0
            self.in_alpha = amax if amax > 0 else 1.0
            self.in_signed = bool(x.size and x.min() < 0)
        return _int_quantize(x, self.in_alpha, self.in_signed, self.act_bits)

    # -- the three GEMMs
    def _gemm_forward(self, a, ctx, a_fmt=None, a_scale=None):
        """``a`` is float (fp32 recipe) or an integer code matrix (M x K)."""
        b = self.b.value.astype(np.float64) if self.b is not None else 0.0
        if not ctx.quantized:
            self._cache = (a, None)
            return a @ self.W.value.astype(np.float64) + b
        wq = sawb_quantize(self.W.value, bits=self.weight_bits)
        self._cache = (a, (a_fmt, a_scale, wq))
        c = ctx.gemm(a, wq.codes, a_fmt, wq.fmt, f"{self.name}.fwd")
        return c * (a_scale * wq.scale) + b

    def _gemm_backward(self, dy, ctx):
        """Accumulate dW, db from ``dy`` (M x N); return dA (float) or None."""
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
        if not ctx.quantized:
            if isinstance(x, QTensor):
                x = x.dequantize()
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
        if ctx.quantized:
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


# --------------------------------------------------------------------------
# Element-wise and shape layers


class ReLU(Layer):
    def __init__(self, name="relu"):
        self.name = name

    def forward(self, x, ctx):
        if isinstance(x, QTensor):
            x = x.dequantize()
        self._mask = x > 0
        return x * self._mask

    def backward(self, g, ctx):
        return g * self._mask


class PACT(Layer):
    """Clipped ReLU with a learnable clip ``alpha`` that emits UINT codes (SPEC 1.6).

    ``alpha`` is initialized on the first batch it sees to the 99th percentile
    of its positive inputs (so the 15 levels cover the bulk of the
    distribution), then learned by SGD with the straight-through gradient
    ``sum(dL/dy * [x >= alpha])`` and weight decay (PACT's L2 on alpha).

    That gradient sums over every element of the batch, so it is much larger
    than a weight's; left as is it drove alpha to zero within a few hundred
    steps on the language model.  It is therefore multiplied by
    ``1/sqrt(F * (2^bits - 1))`` (F: features per sample), the step-size
    gradient scale of LSQ (Esser et al., ICLR 2020).
    """

    MIN_ALPHA = 1e-3

    def __init__(self, name="pact", bits=4, alpha=None):
        self.name = name
        self.bits = bits
        self.alpha = Param(f"{name}.alpha", [alpha if alpha is not None else 1.0])
        self.initialized = alpha is not None

    def params(self):
        return [self.alpha]

    def forward(self, x, ctx):
        if isinstance(x, QTensor):
            x = x.dequantize()
        x = np.asarray(x, dtype=np.float64)
        if not self.initialized:
            pos = x[x > 0]
            init = float(np.percentile(pos, 99)) if pos.size else 1.0
            self.alpha.value[...] = max(init, self.MIN_ALPHA)
            self.initialized = True
        alpha = float(self.alpha.value[0])
        self._x, self._alpha = x, alpha
        q = pact_quantize(x, alpha, self.bits)
        return QTensor(q.codes, q.fmt, q.scale)

    def backward(self, g, ctx):
        dx, dalpha = pact_grad(self._x, self._alpha, g)
        features = self._x.size // max(1, self._x.shape[0])
        self.alpha.grad += dalpha / math.sqrt(features * ((1 << self.bits) - 1))
        return dx


class Flatten(Layer):
    def __init__(self, name="flatten"):
        self.name = name

    def forward(self, x, ctx):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, g, ctx):
        return g.reshape(self._shape)


class OneHot(Layer):
    """Integer tokens (N, T) -> concatenated one-hot vectors (N, T*V), float."""

    def __init__(self, vocab: int, name="onehot"):
        self.name = name
        self.vocab = vocab

    def forward(self, x, ctx):
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.integer):
            raise ValueError(f"{self.name}: expects integer token ids, got {x.dtype}")
        if x.size and (x.min() < 0 or x.max() >= self.vocab):
            raise ValueError(f"{self.name}: token id out of range [0, {self.vocab})")
        n, t = x.shape
        out = np.zeros((n, t * self.vocab), dtype=np.float64)
        out[np.arange(n)[:, None], np.arange(t) * self.vocab + x] = 1.0
        return out

    def backward(self, g, ctx):
        return None


# --------------------------------------------------------------------------


class Sequential(Layer):
    """A chain of layers; ``configure(recipe)`` sets every layer's precision."""

    def __init__(self, layers):
        self.layers = list(layers)
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ValueError(f"layer names must be unique, got {names}")
        self.recipe = None

    def gemm_layers(self) -> list[_GemmLayer]:
        return [layer for layer in self.layers if isinstance(layer, _GemmLayer)]

    def configure(self, recipe) -> None:
        """Set precisions for ``recipe``; ReLUs feeding GEMM layers become PACTs."""
        if self.recipe is not None and self.recipe != recipe:
            raise ValueError("model already configured for another recipe; build a fresh one")
        self.recipe = recipe
        gemms = self.gemm_layers()
        for i, layer in enumerate(gemms):
            layer.weight_bits, layer.act_bits = recipe.layer_bits(i, len(gemms))
            layer.grad_bits = recipe.layer_grad_bits(i, len(gemms))
            layer.grad_rounding = recipe.grad_rounding(i, len(gemms))
        seen_params = False
        for i, layer in enumerate(self.layers):
            if isinstance(layer, _GemmLayer):
                layer.need_dx = seen_params
            if layer.params():
                seen_params = True
            if recipe.quantized and isinstance(layer, ReLU):
                nxt = next((m for m in self.layers[i + 1:] if not isinstance(m, Flatten)), None)
                if isinstance(nxt, _GemmLayer):
                    self.layers[i] = PACT(layer.name, bits=nxt.act_bits)

    def params(self):
        return [p for layer in self.layers for p in layer.params()]

    def buffers(self):
        out = {}
        for layer in self.layers:
            out.update(layer.buffers())
        return out

    def forward(self, x, ctx):
        for layer in self.layers:
            x = layer.forward(x, ctx)
        return x

    def backward(self, g, ctx):
        first = next((i for i, m in enumerate(self.layers) if m.params()), len(self.layers))
        for layer in reversed(self.layers[first:]):
            g = layer.backward(g, ctx)
        return g


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray):
    """Mean cross-entropy (nats) over the batch and its gradient w.r.t. logits."""
    logits = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y)
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = logits.shape[0]
    loss = -float(logp[np.arange(n), y].mean())
    grad = np.exp(logp)
    grad[np.arange(n), y] -= 1.0
    return loss, grad / n


class SGD:
    """SGD with momentum and (decoupled-from-bias) L2 weight decay.

    ``v = mu*v + (g + wd*w)``; ``w -= lr*v``; computed in float64, stored back
    into the float32 masters.  PACT clips are kept above ``PACT.MIN_ALPHA``.
    """

    def __init__(self, params, lr=0.05, momentum=0.9, weight_decay=1e-4):
        self.params = list(params)
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay

    def zero_grad(self):
        for p in self.params:
            p.grad[...] = 0.0

    def step(self):
        for p in self.params:
            w = p.value.astype(np.float64)
            g = p.grad + (self.weight_decay * w if p.decay else 0.0)
            v = self.momentum * p.velocity.astype(np.float64) + g
            p.velocity[...] = v
            w = w - self.lr * v
            if p.name.endswith(".alpha"):
                w = np.maximum(w, PACT.MIN_ALPHA)
            p.value[...] = w
