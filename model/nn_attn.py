"""A one-block transformer over characters whose every matmul is a backend GEMM.

Layers for the ``charlm-attn`` task (``model.tasks``):

- ``TokenOneHot``: token ids (N, T) -> one-hot rows (N*T, V), so the
  embedding is an ordinary ``Linear`` (the first GEMM layer);
- ``LayerNorm``: float on the host, learnable gain and offset;
- ``AttentionBlock``: learned positions, pre-norm single-head
  self-attention (Q, K, V from one ``Linear``, output projection), a ReLU
  MLP, float residuals and a final layer norm; it emits (N, T*d), which the
  head ``Linear`` (the last GEMM layer) maps to the logits.

The attention has no causal mask: every position of the window precedes the
predicted character, so nothing leaks, and all T x T scores are used.

Quantized recipes run all of it on the integer datapath except softmax, layer
norm, residual sums and bias additions:

- the four ``Linear`` layers inside the block quantize their (signed, float)
  inputs dynamically, per step, by SAWB's clip (``dynamic_input``): layer
  norm outputs are roughly Gaussian, which is what SAWB's fit assumes;
- Q, K, V are quantized the same way (INT4); the attention probabilities P
  are UINT4 on the fixed scale 1/15 (they lie in [0, 1]);
- forward ``S = Q.K^T`` (INT4 x INT4) and ``O = P.V`` (UINT4 x INT4);
- backward: dL/dO is encoded once by the recipe's gradient quantizer
  (GradScale, TPR, the recipe's format and rounding) and feeds
  ``dP = dO.V^T`` with phase 0 and ``dV = P^T.dO`` with phase 1; likewise
  the score gradient dL/dS feeds ``dQ = dS.K`` (phase 0) and ``dK = dS^T.Q``
  (phase 1).  As for a layer's dX and dW, the two products of one gradient
  tensor get the two TPR grids.

Block-format recipes (``Recipe.block``) run the four ``Linear`` layers in
that format and, with ``block_attention``, the attention products too
(``model.block_layer.attention_*``, per sample); without it (``nvfp4``, as
NVIDIA's recipe) the attention products stay float.

The attention products are per-sample (T x d by d x T and so on).  To keep
the number of backend calls small they are issued as one GEMM per group of
``GROUP`` samples: the A operand is block-diagonal (one sample per block),
the B operand the samples stacked, so block row n of the result is exactly
sample n's product.  The zero blocks cost MACs, not accuracy: a zero code
contributes 0 to every exact sum, on the golden model and the RTL alike.
"""

from __future__ import annotations

import math

import numpy as np

from . import block_layer
from .nn_core import Layer, Param, QTensor
from .nn_core import softmax as _softmax
from .nn_gemm import Linear
from .nn_layers import PACT, ReLU
from .quant import sawb_quantize

__all__ = ["TokenOneHot", "LayerNorm", "AttentionBlock", "batched_gemm", "GROUP"]

GROUP = 16                 # samples per block-diagonal attention GEMM
P_LEVELS = 15              # UINT4 attention probabilities: code = rint(15 * p)


class TokenOneHot(Layer):
    """Token ids (N, T) -> one-hot rows (N*T, V) for a per-token embedding ``Linear``."""

    def __init__(self, vocab: int, name="tokens"):
        self.name = name
        self.vocab = vocab

    def forward(self, x, ctx):
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.integer) or x.ndim != 2:
            raise ValueError(f"{self.name}: expects (N, T) integer token ids, got {x.dtype} {x.shape}")
        if x.size and (x.min() < 0 or x.max() >= self.vocab):
            raise ValueError(f"{self.name}: token id out of range [0, {self.vocab})")
        out = np.zeros((x.size, self.vocab), dtype=np.float64)
        out[np.arange(x.size), x.reshape(-1)] = 1.0
        return out

    def backward(self, g, ctx):
        return None


class LayerNorm(Layer):
    """Layer norm over the last axis, in float64 on the host."""

    EPS = 1e-5

    def __init__(self, name, dim):
        self.name = name
        self.gain = Param(f"{name}.gain", np.ones(dim), decay=False)
        self.bias = Param(f"{name}.bias", np.zeros(dim), decay=False)

    def params(self):
        return [self.gain, self.bias]

    def forward(self, x, ctx):
        x = np.asarray(x, dtype=np.float64)
        mu = x.mean(axis=-1, keepdims=True)
        self._inv = 1.0 / np.sqrt(x.var(axis=-1, keepdims=True) + self.EPS)
        self._xhat = (x - mu) * self._inv
        return self._xhat * self.gain.value + self.bias.value

    def backward(self, g, ctx):
        g = np.asarray(g, dtype=np.float64)
        xh = self._xhat
        self.gain.grad += (g * xh).reshape(-1, xh.shape[-1]).sum(axis=0)
        self.bias.grad += g.reshape(-1, xh.shape[-1]).sum(axis=0)
        d = g * self.gain.value
        return self._inv * (d - d.mean(axis=-1, keepdims=True)
                            - xh * (d * xh).mean(axis=-1, keepdims=True))


def batched_gemm(ctx, a, b, a_fmt: str, b_fmt: str, name: str) -> np.ndarray:
    """Per-sample exact products ``a[n] @ b[n]`` (int64, (N, m, n)) on the backend.

    One backend GEMM per ``GROUP`` samples: block-diagonal A, stacked B (see
    the module docstring).  Code 0 is the value 0 in every format, so the
    padding is exact.
    """
    a = np.asarray(a)
    b = np.asarray(b)
    count, m, k = a.shape
    n = b.shape[2]
    out = np.empty((count, m, n), dtype=np.int64)
    for g0 in range(0, count, GROUP):
        g = min(GROUP, count - g0)
        blocks = np.zeros((g, m, g, k), dtype=a.dtype)
        idx = np.arange(g)
        blocks[idx, :, idx, :] = a[g0:g0 + g]
        c = ctx.gemm(blocks.reshape(g * m, g * k), b[g0:g0 + g].reshape(g * k, n),
                     a_fmt, b_fmt, name)
        out[g0:g0 + g] = c.reshape(g, m, n)
    return out


def _signed_codes(x, name):
    """INT4 SAWB codes of an activation tensor, their scale and the clip's STE mask."""
    q = sawb_quantize(x, 4, name=name)
    return q.codes, q.scale, np.abs(x) <= 7 * q.scale


class AttentionBlock(Layer):
    """Positions + pre-norm single-head attention + ReLU MLP + final norm; (N*T, d) -> (N, T*d)."""

    def __init__(self, name, context, dim, hidden, rng):
        self.name = name
        self.context, self.dim = context, dim
        self.pos = Param(f"{name}.pos", rng.standard_normal((context, dim)) * 0.1, decay=False)
        self.ln1 = LayerNorm(f"{name}.ln1", dim)
        self.qkv = Linear(f"{name}.qkv", dim, 3 * dim, rng)
        self.proj = Linear(f"{name}.proj", dim, dim, rng)
        self.ln2 = LayerNorm(f"{name}.ln2", dim)
        self.ff1 = Linear(f"{name}.ff1", dim, hidden, rng)
        self.act = ReLU(f"{name}.act")
        self.ff2 = Linear(f"{name}.ff2", hidden, dim, rng)
        self.ln3 = LayerNorm(f"{name}.ln3", dim)
        for lin in self._linears():
            lin.dynamic_input = True

    def _linears(self):
        return [self.qkv, self.proj, self.ff1, self.ff2]

    def configure(self, recipe):
        """Inner GEMMs are 4-bit in every quantized recipe (only the network's ends may be 8)."""
        for lin in self._linears():
            lin.weight_bits, lin.act_bits = recipe.weight_bits, recipe.act_bits
            lin.grad_bits = 4
            lin.grad_rounding = recipe.rounding
            lin.block = recipe.block
        if recipe.quantized and not recipe.block and isinstance(self.act, ReLU):
            self.act = PACT(self.act.name, bits=recipe.act_bits)

    def params(self):
        out = [self.pos]
        for m in (self.ln1, self.qkv, self.proj, self.ln2, self.ff1, self.act, self.ff2, self.ln3):
            out += m.params()
        return out

    def buffers(self):
        out = {}
        for lin in self._linears():
            out.update(lin.buffers())
        return out

    # ------------------------------------------------------------------
    def forward(self, x, ctx):
        t, d = self.context, self.dim
        x = np.asarray(x, dtype=np.float64)
        n = x.shape[0] // t
        x = x + np.tile(self.pos.value.astype(np.float64), (n, 1))
        qkv = self.qkv.forward(self.ln1.forward(x, ctx), ctx).reshape(n, t, 3 * d)
        q, k, v = qkv[..., :d], qkv[..., d:2 * d], qkv[..., 2 * d:]
        o = self._attend(q, k, v, ctx)
        x2 = x + self.proj.forward(o.reshape(n * t, d), ctx)
        f = self.ff2.forward(self.act.forward(self.ff1.forward(self.ln2.forward(x2, ctx), ctx), ctx), ctx)
        return self.ln3.forward(x2 + f, ctx).reshape(n, t * d)

    def _float_attention(self, ctx) -> bool:
        r = ctx.recipe
        return not r.quantized or (r.block is not None and not r.block_attention)

    def _attend(self, q, k, v, ctx):
        inv_sqrt_d = 1.0 / math.sqrt(self.dim)
        if ctx.quantized and ctx.recipe.block and ctx.recipe.block_attention:
            return block_layer.attention_forward(self, q, k, v, ctx, inv_sqrt_d)
        if self._float_attention(ctx):
            s = np.matmul(q, k.transpose(0, 2, 1)) * inv_sqrt_d
            p = _softmax(s)
            self._cache = (q, k, v, p)
            return np.matmul(p, v)
        qc, sq, mq = _signed_codes(q, f"{self.name}.Q")
        kc, sk, mk = _signed_codes(k, f"{self.name}.K")
        vc, sv, mv = _signed_codes(v, f"{self.name}.V")
        s = batched_gemm(ctx, qc, kc.transpose(0, 2, 1), "int4", "int4",
                         f"{self.name}.qk.fwd") * (sq * sk * inv_sqrt_d)
        p = _softmax(s)
        pc = np.rint(p * P_LEVELS).astype(np.uint8)
        self._cache = (qc, kc, vc, sq, sk, sv, mq, mk, mv, p, pc)
        return batched_gemm(ctx, pc, vc, "uint4", "int4", f"{self.name}.pv.fwd") * (sv / P_LEVELS)

    # ------------------------------------------------------------------
    def backward(self, g, ctx):
        t, d = self.context, self.dim
        g = np.asarray(g, dtype=np.float64).reshape(-1, d)
        n = g.shape[0] // t
        dx2 = self.ln3.backward(g, ctx)
        dh2 = self.ff1.backward(self.act.backward(self.ff2.backward(dx2, ctx), ctx), ctx)
        dx2 = dx2 + self.ln2.backward(dh2, ctx)
        do = self.proj.backward(dx2, ctx).reshape(n, t, d)
        dq, dk, dv = self._attend_backward(do, ctx)
        dqkv = np.concatenate([dq, dk, dv], axis=-1).reshape(n * t, 3 * d)
        dx = dx2 + self.ln1.backward(self.qkv.backward(dqkv, ctx), ctx)
        self.pos.grad += dx.reshape(n, t, d).sum(axis=0)
        return dx

    def _attend_backward(self, do, ctx):
        inv_sqrt_d = 1.0 / math.sqrt(self.dim)
        if ctx.quantized and ctx.recipe.block and ctx.recipe.block_attention:
            return block_layer.attention_backward(self, do, ctx, inv_sqrt_d)
        if self._float_attention(ctx):
            q, k, v, p = self._cache
            dp = np.matmul(do, v.transpose(0, 2, 1))
            dv = np.matmul(p.transpose(0, 2, 1), do)
            ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True)) * inv_sqrt_d
            return np.matmul(ds, k), np.matmul(ds.transpose(0, 2, 1), q), dv
        qc, kc, vc, sq, sk, sv, mq, mk, mv, p, pc = self._cache
        fmt = ctx.recipe.grad_format
        do0, do1, s0, s1 = ctx.encode_grad(do, f"{self.name}.dO")
        dp = batched_gemm(ctx, do0, vc.transpose(0, 2, 1), fmt, "int4",
                          f"{self.name}.pv.dP") * (s0 * sv)
        dv = batched_gemm(ctx, pc.transpose(0, 2, 1), do1, "uint4", fmt,
                          f"{self.name}.pv.dV") * (s1 / P_LEVELS)
        # Softmax's Jacobian on the float probabilities; P's quantizer is straight-through.
        ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True)) * inv_sqrt_d
        ds0, ds1, t0, t1 = ctx.encode_grad(ds, f"{self.name}.dS")
        dq = batched_gemm(ctx, ds0, kc, fmt, "int4", f"{self.name}.qk.dQ") * (t0 * sk)
        dk = batched_gemm(ctx, ds1.transpose(0, 2, 1), qc, fmt, "int4",
                          f"{self.name}.qk.dK") * (t1 * sq)
        return dq * mq, dk * mk, dv * mv
