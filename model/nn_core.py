"""Core of the network framework: parameters, activation codes, the per-pass
context and the layer interface.

``Context`` is where a quantized layer meets the recipe and the backend: it
runs a layer's exact integer GEMMs on ``ctx.backend`` and encodes a layer's
output gradient to FP4 (GradScale + two-phase rounding) for its two backward
GEMMs.  The layers themselves live in ``model.nn_gemm`` (GEMM layers) and
``model.nn_layers`` (element-wise and shape layers); ``model.nn`` is the
public entry point.
"""

from __future__ import annotations

import math

import numpy as np

from .formats import get_format, grad_scale_sigma, sigma_range, tpr_encode

__all__ = ["MASTER_DTYPE", "Param", "QTensor", "Context", "Layer", "softmax"]

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

    def block_gemm(self, a, b, name: str) -> np.ndarray:
        """Block-format GEMM (``BlockTensor`` operands) on the backend: float64."""
        c = np.asarray(self.backend.block_gemm(a, b, name=name), dtype=np.float64)
        want = a.shape[:-1] + b.shape[-1:]
        if c.shape != want:
            raise ValueError(f"backend {getattr(self.backend, 'name', '?')} returned shape "
                             f"{c.shape} for GEMM {name!r}, expected {want}")
        return c

    def encode_grad(self, g: np.ndarray, name: str, rounding: str | None = None):
        """FP4 codes of dL/dY for the dX GEMM and the dW GEMM, with their scales.

        GradScale (per layer, per step) unless the recipe turns it off; then a
        single sigma, measured once on the first gradient this run encodes (the
        output layer's, normally the largest) and frozen for every layer and
        step: it may saturate or underflow later, per SPEC 1.3.
        ``rounding`` overrides the recipe's rounding mode for this tensor
        (a recipe may round one layer's gradient differently).

        A gradient so small that GradScale's sigma lies below the format's
        legal range (``sigma_range``: max |g| <= 2^-1011 for radix 4, e.g.
        the score gradient of a saturated softmax) is encoded at the lowest
        legal sigma instead, by SPEC 1.3's rounding at that scale: the
        encoder refuses such a sigma, and training must not stop on a
        gradient that is zero for every practical purpose.
        """
        r = self.recipe
        rounding = r.rounding if rounding is None else rounding
        lowest = sigma_range(r.grad_format)[0]
        if r.grad_scale:
            sigma = max(grad_scale_sigma(g, name), lowest)
        else:
            if "fixed" not in self.sigma_state:
                self.sigma_state["fixed"] = max(grad_scale_sigma(g, name), lowest)
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


def softmax(s):
    """Softmax over the last axis (float64)."""
    z = s - s.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
