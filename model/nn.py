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
paper, unless that layer runs a block format (MXFP4, NVFP4: it quantizes
floats itself, ``model.block_layer``).
"""

from __future__ import annotations

import numpy as np

# The framework is split by job; this module is its public face (every name
# below is importable from ``model.nn``) and holds what ties the layers into a
# network: ``Sequential``, the loss and the optimizer.
from .nn_core import MASTER_DTYPE, Context, Layer, Param, QTensor
from .nn_gemm import Conv2d, Linear, _GemmLayer, col2im, im2col
from .nn_layers import PACT, Flatten, OneHot, ReLU

__all__ = ["Param", "QTensor", "Context", "Layer", "Linear", "Conv2d", "ReLU", "PACT",
           "Flatten", "OneHot", "Sequential", "softmax_cross_entropy", "SGD",
           "im2col", "col2im", "MASTER_DTYPE"]


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
            layer.block = recipe.layer_block(i, len(gemms))
        for layer in self.layers:
            # Composite layers (model.nn_attn.AttentionBlock) set their own inner GEMMs.
            if hasattr(layer, "configure"):
                layer.configure(recipe)
        seen_params = False
        for i, layer in enumerate(self.layers):
            if isinstance(layer, _GemmLayer):
                layer.need_dx = seen_params
            if layer.params():
                seen_params = True
            if recipe.quantized and isinstance(layer, ReLU):
                nxt = next((m for m in self.layers[i + 1:] if not isinstance(m, Flatten)), None)
                if isinstance(nxt, _GemmLayer) and not nxt.block:   # a block layer takes floats
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
