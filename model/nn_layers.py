"""Element-wise and shape layers: ``ReLU``, ``PACT``, ``Flatten``, ``OneHot``."""

from __future__ import annotations

import math

import numpy as np

from .nn_core import Layer, Param, QTensor
from .quant import pact_grad, pact_quantize

__all__ = ["ReLU", "PACT", "Flatten", "OneHot"]


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
        q = pact_quantize(x, alpha, self.bits, name=self.name)
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
