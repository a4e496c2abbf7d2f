"""Training with on-chip quantization (recipes ``4bit-onchip``, ``4bit-onchip-delayed``).

The recipes are ``4bit`` with every activation and gradient that enters a
GEMM produced by the quantization unit (``model.requant`` arithmetic, SPEC
1.7) instead of SPEC 1.3-1.6's float quantizers on the host.  Exceptions, as
issue 12 allows: the network input (its fixed quantizer) and the loss
gradient (host GradScale + TPR, ``Context.encode_grad``).

For an MLP ``Linear -> PACT -> ... -> Linear`` (optionally after a
``OneHot``) one step is:

forward, hidden layer l:
    forward_quant(X_l, W_l): the unit adds ``rint(b / s)`` and applies PACT
    with ``M = s * 15 / alpha`` (s = s_x * s_w): X_{l+1} codes + STE mask.
    No INT32 leaves the tile.  (On the very first batch alpha is calibrated
    from one raw GEMM, as PACT does on the host.)
output layer: raw GEMM, logits on the host.

backward, dX of layer l+1 (flowing into PACT l):
    ``M = s_dy * s_w``; the unit masks with PACT l's STE mask and encodes
    FP4 in both TPR phases.  GradScale sigma:
    - exact (``4bit-onchip``): pass 1 runs the GEMM with its rows to the
      host *and* the unit (amax only); the host computes
      ``sigma = sigma_from_amax`` and streams the stored INT32 back through
      a requant job (pass 2);
    - delayed (``4bit-onchip-delayed``): one pass with the sigma of the same
      layer's previous step (its first step measures, as exact does).
    The INT32 rows still go to the host in both: PACT's alpha gradient
    ``sum(g * [x >= alpha])`` and the bias gradient are sums the unit does
    not compute (see docs/quantizer.md, "Left").
dW GEMMs return INT32 (the weight update needs it).
"""

from __future__ import annotations

import math

import numpy as np

from . import requant as rq
from .nn_gemm import Linear
from .nn_layers import PACT, OneHot
from .quant import sawb_quantize, ste_grad

__all__ = ["onchip_forward", "onchip_backward", "quant_backend", "check_network"]


def quant_backend(backend):
    """The backend as one that runs unit jobs (a plain golden backend is upgraded)."""
    if hasattr(backend, "forward_quant"):
        return backend
    from .backend import GoldenBackend
    from .onchip_tile import GoldenQuantTile
    if isinstance(backend, GoldenBackend):
        return GoldenQuantTile(config=backend.config)
    raise ValueError(f"backend {getattr(backend, 'name', backend)!r} has no quantization "
                     f"unit; on-chip recipes need the golden model or sim.quant_backend")


def check_network(model):
    """[pre layers], then Linear (PACT Linear)* ; returns (pre, linears, pacts)."""
    layers = list(model.layers)
    pre = []
    while layers and isinstance(layers[0], OneHot):
        pre.append(layers.pop(0))
    linears, pacts = layers[0::2], layers[1::2]
    if (not linears or not all(isinstance(x, Linear) for x in linears)
            or not all(isinstance(p, PACT) and p.bits == 4 for p in pacts)
            or len(linears) != len(pacts) + 1):
        raise ValueError("on-chip recipes run MLPs of Linear layers joined by 4-bit PACTs "
                         f"(got {[type(x).__name__ for x in model.layers]})")
    return pre, linears, pacts


def _bias_codes(layer, s, name):
    if layer.b is None:
        return None
    b = np.rint(layer.b.value.astype(np.float64) / s)
    if np.abs(b).max(initial=0) >= 2 ** 31:
        raise ValueError(f"{name}: bias / scale does not fit the unit's int32 bias")
    return b.astype(np.int64)


def onchip_forward(model, x, ctx, backend, cache=None):
    """Logits (float64).  ``cache`` (a list) receives per-layer state for backward."""
    pre, linears, pacts = check_network(model)
    for layer in pre:
        x = layer.forward(x, ctx)
    codes, fmt, scale, in_mask = linears[0]._quantize_input(x)
    for i, layer in enumerate(linears):
        wq = sawb_quantize(layer.W.value, bits=4, name=layer.W.name)
        s = scale * wq.scale
        entry = {"a": codes, "fmt": fmt, "scale": scale, "wq": wq, "in_mask": in_mask}
        if cache is not None:
            cache.append(entry)
        if i == len(pacts):         # output layer: logits on the host
            c = ctx.gemm(codes, wq.codes, fmt, wq.fmt, f"{layer.name}.fwd")
            b = layer.b.value.astype(np.float64) if layer.b is not None else 0.0
            return c * s + b
        pact = pacts[i]
        if not pact.initialized:
            # first batch only: PACT's alpha calibration needs the real outputs once
            c = ctx.gemm(codes, wq.codes, fmt, wq.fmt, f"{layer.name}.fwd")
            b = layer.b.value.astype(np.float64) if layer.b is not None else 0.0
            pact.forward(c * s + b, ctx)
        alpha = float(pact.alpha.value[0])
        mant, shift = rq.quantize_multiplier(s * 15 / alpha)
        out, mask = backend.forward_quant(codes, wq.codes, fmt, wq.fmt, mantissa=mant,
                                          shift=shift, bias=_bias_codes(layer, s, layer.name),
                                          mode="uint4", name=f"{layer.name}.fwd")
        entry["pact_mask"] = mask
        entry["pact_hi"] = ~mask & (out == 15)      # x >= alpha (vM >= 15)
        codes, fmt, scale, in_mask = out, "uint4", alpha / 15, None


def _grad_codes(backend, codes_dy, s_dy, wq, mask, layer_name, variant, state, rounding,
                seed):
    """dX of a layer through the unit: (code0, code1, sigma, int32 dX)."""
    mant, shift = rq.quantize_multiplier(s_dy * wq.scale)
    args = (codes_dy, np.ascontiguousarray(wq.codes.T), "fp4", wq.fmt)
    name = f"{layer_name}.dX"
    kw = dict(mantissa=mant, shift=shift, mask=mask, rounding=rounding, seed=seed, name=name)
    key = f"onchip_sigma:{layer_name}"
    if variant == "delayed" and key in state:
        sigma = state[key]
        out = backend.backward_quant(*args, sigma=sigma, keep_int32=True, **kw)
        code0, code1, acc = out.code0, out.code1, out.acc
    else:
        first = backend.backward_quant(*args, measure_only=True, keep_int32=True, **kw)
        sigma = rq.sigma_from_amax(first.amax, mant, shift)
        acc = first.acc
        out = backend.requant(acc, sigma=sigma, **{k: v for k, v in kw.items()
                                                  if k != "name"}, name=f"{name}.requant")
        code0, code1 = out.code0, out.code1
    # the next step's sigma (delayed): this step's exact one
    state[key] = rq.sigma_from_amax(out.amax, mant, shift)
    return code0, code1, sigma, acc, mant * 2.0 ** -shift


def onchip_backward(model, ctx, xb, yb, *, variant: str, seed: int, step: int) -> float:
    """Forward and backward of one on-chip step; returns the loss.

    ``ctx.backend`` runs the unit's jobs (``quant_backend``).  The gradients
    are added to the parameters' ``grad``; the caller (``Trainer.step``)
    zeroes them before and applies the update after, as for every recipe.
    ``seed`` and ``step`` seed the unit's stochastic rounding."""
    from .nn import softmax_cross_entropy

    backend = ctx.backend
    cache = []
    _, linears, pacts = check_network(model)
    logits = onchip_forward(model, xb, ctx, backend, cache)
    loss, g = softmax_cross_entropy(logits, np.asarray(yb))
    if not math.isfinite(loss):
        raise ArithmeticError(f"training diverged at step {step}: loss {loss}")
    rounding = ctx.recipe.rounding
    # loss gradient: quantized on the host (the exception issue 12 allows)
    out = linears[-1]
    if out.b is not None:
        out.b.grad += g.sum(axis=0)
    codes_dx, codes_dw, s_dx, s_dw = ctx.encode_grad(g, f"{out.name}.dY", out.grad_rounding)
    for i in range(len(linears) - 1, -1, -1):
        layer, e = linears[i], cache[i]
        c = ctx.gemm(e["a"].T, codes_dw, e["fmt"], ctx.recipe.grad_format,
                     f"{layer.name}.dW")
        layer.W.grad += ste_grad(c * (e["scale"] * s_dw))
        if i == 0:
            break
        below = cache[i - 1]
        unit_seed = (seed * 1_000_003 + step * 101 + i) & 0xFFFFFFFF
        code0, code1, sigma, acc, m_real = _grad_codes(
            backend, codes_dx, s_dx, e["wq"], below["pact_mask"], layer.name, variant,
            ctx.sigma_state, rounding, unit_seed)
        g_real = acc * m_real                         # dL/d(PACT output), real
        pact = pacts[i - 1]
        dalpha = float(np.sum(g_real[below["pact_hi"]]))
        features = g_real.size // max(1, g_real.shape[0])
        pact.alpha.grad += dalpha / math.sqrt(features * 15)
        prev = linears[i - 1]
        if prev.b is not None:
            prev.b.grad += np.where(below["pact_mask"], g_real, 0.0).sum(axis=0)
        codes_dx, codes_dw = code0, code1
        s_dx, s_dw = math.ldexp(1.0, sigma - 12), math.ldexp(1.0, sigma + 1 - 12)
    return loss
