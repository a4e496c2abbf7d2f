"""Measure the on-chip quantizer's integer arithmetic (model.requant) against
SPEC 1.3-1.6's real-number quantizers on real digits-MLP tensors.

    .venv/bin/python -m scripts.measure_requant [--seed S] [--steps N]

Trains the digits MLP for a few steps with the host-side ``4bit-all`` recipe,
then takes one batch and compares, layer by layer:

- forward: PACT codes of fc2's output from the float result (SPEC 1.6)
  against the unit's codes from fc2's INT32 accumulators (16-bit multiplier,
  int32 bias, round half up) -- and the straight-through masks;
- backward: GradScale sigma and both TPR phases of FP4 codes (nearest) of the
  masked activation gradients dX3 and dX2, SPEC 1.3-1.5 on the float
  gradient against the unit from the accumulators (exact GradScale from the
  unit's amax), and the delayed variant (sigma from the previous batch).
"""

from __future__ import annotations

import argparse

import numpy as np

from model import requant as rq
from model.formats import tpr_encode
from model.gemm import gemm_exact
from model.quant import pact_quantize, sawb_quantize
from model.tasks import make_task
from model.train import Trainer


def _mismatch(a, b):
    return float(np.mean(np.asarray(a) != np.asarray(b)))


def measure(seed: int = 0, steps: int = 60, batch: int = 256) -> dict:
    task = make_task("digits-mlp", seed)
    trainer = Trainer(task.model, "4bit-all", seed=seed, lr=task.lr)
    trainer.fit(task.X_train, task.y_train, epochs=1, batch_size=task.batch_size, steps=steps)
    fc1, act1, fc2, act2, fc3 = task.model.layers
    rng = np.random.default_rng(seed)
    out = {}
    prev_amax = {}
    for b_index in range(2):                 # batch 0 measures, batch 1 also runs "delayed"
        idx = rng.choice(len(task.X_train), batch, replace=False)
        x, y = task.X_train[idx], task.y_train[idx]
        a1 = float(act1.alpha.value[0])
        a2 = float(act2.alpha.value[0])
        y1 = x @ fc1.W.value.astype(np.float64) + fc1.b.value
        q1 = pact_quantize(y1, a1)
        w2 = sawb_quantize(fc2.W.value.astype(np.float64))
        acc2 = gemm_exact(q1.codes, w2.codes, "uint4", "int4")
        s2 = q1.scale * w2.scale
        y2 = acc2 * s2 + fc2.b.value                        # SPEC: the real GEMM result
        spec_codes = pact_quantize(y2, a2).codes
        spec_mask = (y2 >= 0) & (y2 < a2)
        mant, shift = rq.quantize_multiplier(s2 * 15 / a2)
        bias = np.rint(fc2.b.value / s2).astype(np.int64)
        unit_codes, unit_mask = rq.forward_codes(acc2, mant, shift, bias=bias)
        if b_index == 0:
            out["fwd fc2->act2: elements"] = acc2.size
            out["fwd code mismatch"] = _mismatch(unit_codes, spec_codes)
            out["fwd codes off by more than 1"] = float(np.mean(
                np.abs(unit_codes.astype(int) - spec_codes.astype(int)) > 1))
            out["fwd mask mismatch"] = _mismatch(unit_mask, spec_mask)
            out["fwd multiplier rel. error"] = abs(mant / 2 ** shift / (s2 * 15 / a2) - 1)
            out["fwd M (code steps per acc LSB)"] = s2 * 15 / a2
            # the same without the bias: isolates the multiplier and the rounding rule
            nb_codes, nb_mask = rq.forward_codes(acc2, mant, shift)
            out["fwd code mismatch, no bias"] = _mismatch(nb_codes, pact_quantize(acc2 * s2, a2).codes)

        # backward: dY3 from the loss (host-side FP4, as in the recipes)
        x2 = q1.dequantize() @ fc2.W.value.astype(np.float64) + fc2.b.value
        h2 = pact_quantize(x2, a2).dequantize()
        logits = h2 @ fc3.W.value.astype(np.float64) + fc3.b.value
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        p[np.arange(batch), y] -= 1
        dy3 = p / batch
        c0, _, sig3 = tpr_encode(dy3)
        grads = [("dX3 (act2)", c0, sig3, fc3, spec_mask)]
        i = 0
        while i < len(grads):
            name, dy_codes, sig, layer, mask = grads[i]
            i += 1
            wq = sawb_quantize(layer.W.value.astype(np.float64))
            acc = gemm_exact(dy_codes, wq.codes.T, "fp4", "int4")
            scale = 2.0 ** (sig - 12) * wq.scale
            g = np.where(mask, acc * scale, 0.0)
            s0, s1, sigma_spec = tpr_encode(g)
            m, sh = rq.quantize_multiplier(scale)
            amx = rq.amax(acc, mask)
            sigma_unit = rq.sigma_from_amax(amx, m, sh)
            u0, u1 = rq.backward_codes(acc, m, sh, sigma_unit, mask=mask)
            key = f"bwd {name}"
            if b_index == 0:
                out[f"{key}: elements"] = acc.size
                out[f"{key}: sigma spec/unit"] = (sigma_spec, sigma_unit)
                out[f"{key}: phase0 code mismatch"] = _mismatch(u0, s0)
                out[f"{key}: phase1 code mismatch"] = _mismatch(u1, s1)
            elif name in prev_amax:
                sd = rq.sigma_from_amax(prev_amax[name], m, sh)   # delayed: previous amax
                d0, d1 = rq.backward_codes(acc, m, sh, sd, mask=mask)
                # saturated: |g| > 2^sd, i.e. |acc| * m > 2^(sd + sh), in exact integers
                top = np.abs(acc).astype(object) * m > (1 << (sd + sh))
                out[f"{key} delayed: sigma exact/delayed"] = (sigma_unit, sd)
                out[f"{key} delayed: phase0 codes differing from exact"] = _mismatch(d0, u0)
                out[f"{key} delayed: saturated elements"] = float(np.mean(top))
            prev_amax[name] = amx
            if name.startswith("dX3"):
                # next layer down: dY2 = unit's phase-0 codes of dX3 (on-chip flow)
                grads.append(("dX2 (act1)", u0, sigma_unit, fc2, (y1 >= 0) & (y1 < a1)))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args(argv)
    for k, v in measure(args.seed, args.steps).items():
        print(f"{k}: {v:.3e}" if isinstance(v, float) else f"{k}: {v}")


if __name__ == "__main__":
    main()
