"""GEMM layers in a block-scaled format (MXFP4, NVFP4; issue 25).

A ``_GemmLayer`` whose ``block`` is set (``Recipe.layer_block``) runs its
three GEMMs here, on ``ctx.block_gemm`` (the backend's ``block_gemm``).
Every operand is quantized from float along that GEMM's reduction axis:

- forward ``Y = X . W``: X in blocks along K (rows), W along K (columns);
- ``dX = dY . W^T``: dY along N, W^T along N (a second quantization of W,
  or, with ``block_2d_weights``, the same 16x16 tiles transposed);
- ``dW = X^T . dY``: both along the batch axis M; with ``block_rht`` both
  inputs first go through the random Hadamard transform along M
  (``model.block_quant.rht``), which leaves the exact product unchanged.

Gradients (dY) are rounded with the recipe's ``rounding`` (stochastic for
both block recipes), weights and activations to nearest even.  Quantizers are
straight-through: dX is returned as computed and dW added to ``W.grad``.
``attention_*`` do the same for the attention products of ``model.nn_attn``.
"""

from __future__ import annotations

import numpy as np

from .block_quant import quantize, rht
from .nn_core import softmax

__all__ = ["forward", "backward", "attention_forward", "attention_backward"]


def _grad_rng(ctx, rounding):
    return ctx.rng if rounding == "stochastic" else None


def _weight(layer, ctx, axis):
    """W quantized with blocks along ``axis`` (-2: K, for the forward; -1: N, for dX)."""
    r = ctx.recipe
    w = layer.W.value.astype(np.float64)
    if r.block_2d_weights:
        if getattr(layer, "_wq", None) is None:        # one quantization serves both GEMMs
            layer._wq = quantize(w, layer.block, tile=True, name=layer.W.name)
        return layer._wq
    return quantize(w, layer.block, axis=axis, name=layer.W.name)


def forward(layer, a, ctx) -> np.ndarray:
    """``a . W + b`` with ``a`` float (M x K)."""
    a = np.asarray(a, dtype=np.float64)
    layer._wq = None
    xq = quantize(a, layer.block, axis=-1, name=f"{layer.name}: input")
    wq = _weight(layer, ctx, -2)
    layer._cache = (a, None)
    bias = layer.b.value.astype(np.float64) if layer.b is not None else 0.0
    return ctx.block_gemm(xq, wq, f"{layer.name}.fwd") + bias


def backward(layer, dy, ctx):
    """Accumulate dW, db from ``dy`` (M x N); return dX (float) or None."""
    a, _ = layer._cache
    r = ctx.recipe
    rounding = layer.grad_rounding or r.rounding
    rng = _grad_rng(ctx, rounding)
    if layer.b is not None:
        layer.b.grad += dy.sum(axis=0)
    dx = None
    if layer.need_dx:
        gq = quantize(dy, layer.block, axis=-1, rounding=rounding, rng=rng,
                      name=f"{layer.name}.dY")
        wt = _weight(layer, ctx, -1).T
        dx = ctx.block_gemm(gq, wt, f"{layer.name}.dX")
    x_in, g_in = (rht(a), rht(dy)) if r.block_rht else (a, dy)
    xt = quantize(x_in, layer.block, axis=-2, name=f"{layer.name}: input").T
    gq = quantize(g_in, layer.block, axis=-2, rounding=rounding, rng=rng, name=f"{layer.name}.dY")
    layer.W.grad += ctx.block_gemm(xt, gq, f"{layer.name}.dW")
    layer._wq = None
    return dx


# --------------------------------------------------------------------------
# Attention products (per sample, stacked: (n, T, d))


def attention_forward(block, q, k, v, ctx, inv_sqrt_d):
    """Scores, softmax and ``P . V`` with Q.K^T and P.V in the recipe's block format."""
    fmt = ctx.recipe.block
    qk = ctx.block_gemm(quantize(q, fmt, axis=-1, name=f"{block.name}.Q"),
                        quantize(k, fmt, axis=-1, name=f"{block.name}.K").T,
                        f"{block.name}.qk.fwd")
    p = softmax(qk * inv_sqrt_d)
    block._cache = (q, k, v, p)
    return ctx.block_gemm(quantize(p, fmt, axis=-1, name=f"{block.name}.P"),
                          quantize(v, fmt, axis=-2, name=f"{block.name}.V"),
                          f"{block.name}.pv.fwd")


def attention_backward(block, do, ctx, inv_sqrt_d):
    """``(dQ, dK, dV)`` with the four backward products in the block format."""
    q, k, v, p = block._cache
    r = ctx.recipe
    fmt, rng = r.block, _grad_rng(ctx, r.rounding)

    def grad(g, axis, what):
        return quantize(g, fmt, axis=axis, rounding=r.rounding, rng=rng,
                        name=f"{block.name}.{what}")

    dp = ctx.block_gemm(grad(do, -1, "dO"), quantize(v, fmt, axis=-1, name=f"{block.name}.V").T,
                        f"{block.name}.pv.dP")
    dv = ctx.block_gemm(quantize(p, fmt, axis=-2, name=f"{block.name}.P").T, grad(do, -2, "dO"),
                        f"{block.name}.pv.dV")
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True)) * inv_sqrt_d
    dq = ctx.block_gemm(grad(ds, -1, "dS"), quantize(k, fmt, axis=-2, name=f"{block.name}.K"),
                        f"{block.name}.qk.dQ")
    dk = ctx.block_gemm(grad(ds, -2, "dS").T, quantize(q, fmt, axis=-2, name=f"{block.name}.Q"),
                        f"{block.name}.qk.dK")
    return dq, dk, dv
