"""The on-chip part of ``radix4 demo``: one ``4bit-onchip`` step on golden and RTL.

From the demo's trained network, one training step of the on-chip recipe
runs on the golden model (``model.onchip_tile``) and on the tile with the
quantization unit (``sim.quant_backend``).  Every GEMM operand that is an
activation or a gradient is traced to where it was made: the unit (a
forward job, a measuring + requant pair, or a one-pass job), or the host's
two allowed exceptions (the network input's fixed quantizer and the loss
gradient).  Prints that table, whether the weights after the step are
bit-identical, and the host traffic against shipping every GEMM's INT32
results (what the plain tile does).
"""

from __future__ import annotations

import copy
import hashlib

import numpy as np

from model.backend import BackendWrapper

__all__ = ["onchip_demo_step"]


def _key(x) -> str:
    x = np.ascontiguousarray(x)
    return hashlib.sha1(x.tobytes() + str(x.shape).encode()).hexdigest()


class _Provenance(BackendWrapper):
    """Wraps a quant backend; records who produced each code tensor and what each GEMM took."""

    def __init__(self, inner):
        super().__init__(inner)
        self.made = {}        # key -> producer label
        self.gemms = []       # (gemm name, [(operand label, producer)])

    def _note(self, arr, label):
        if arr is not None:
            self.made[_key(arr)] = label
            self.made[_key(np.asarray(arr).T)] = label

    def _source(self, arr):
        return self.made.get(_key(arr), "host")

    def _record(self, name, a, b, fa, fb):
        ops = []
        if name.endswith(".fwd"):
            ops.append(("X", self._source(a)))
        elif name.endswith(".dX"):
            ops.append(("dY phase 0", self._source(a)))
        elif name.endswith(".dW"):
            ops += [("X^T", self._source(a)), ("dY phase 1", self._source(b))]
        self.gemms.append((name, ops))

    def gemm(self, a, b, fa, fb, *, name="gemm", **kw):
        self._record(name, a, b, fa, fb)
        return self.inner.gemm(a, b, fa, fb, name=name, **kw)

    def forward_quant(self, a, b, fa, fb, **kw):
        self._record(kw["name"], a, b, fa, fb)
        codes, mask = self.inner.forward_quant(a, b, fa, fb, **kw)
        self._note(codes, f"unit ({kw['name']} forward job)")
        return codes, mask

    def backward_quant(self, a, b, fa, fb, **kw):
        self._record(kw["name"], a, b, fa, fb)
        out = self.inner.backward_quant(a, b, fa, fb, **kw)
        self._note(out.code0, f"unit ({kw['name']}, one pass)")
        self._note(out.code1, f"unit ({kw['name']}, one pass)")
        return out

    def requant(self, acc, **kw):
        out = self.inner.requant(acc, **kw)
        self._note(out.code0, f"unit ({kw['name']})")
        self._note(out.code1, f"unit ({kw['name']})")
        return out


def onchip_demo_step(trainer, xb, yb, sim, config, say) -> bool:
    """Run the step on golden and ``sim``; print the tables; True iff all checks hold."""
    from model.onchip import check_network
    from model.onchip_tile import GoldenQuantTile
    from model.recipes import get_recipe
    from sim.quant_backend import QuantRtlBackend

    recipe = get_recipe("4bit-onchip")
    base = _onchip_trainer(trainer, recipe)
    golden = copy.deepcopy(base)
    golden.backend = GoldenQuantTile(config=config)
    golden.step(xb, yb)
    rows, cols = config.rows, config.cols
    with QuantRtlBackend(sim, config) as rtl:
        hw = copy.deepcopy(base)
        hw.backend = _Provenance(rtl)
        hw.step(xb, yb)
        traffic, stats = dict(rtl.total_traffic), dict(rtl.total_stats)
    _, linears, _ = check_network(hw.model)
    first, last = linears[0].name, linears[-1].name
    say(f"      {'GEMM':<10} {'operand':<12} produced by")
    ok = True
    for name, ops in hw.backend.gemms:
        for op, src in ops:
            if src == "host":
                allowed = (op in ("X", "X^T") and name.startswith(first + ".")) or \
                          (op.startswith("dY") and name.startswith(last + "."))
                src = ("host: network input (allowed)" if op.startswith("X") else
                       "host: loss gradient (allowed)") if allowed else "host: NOT the unit"
                ok &= allowed
            say(f"      {name:<10} {op:<12} {src}")
    w_g, w_h = golden.state(), hw.state()
    same = w_g.keys() == w_h.keys() and all(np.array_equal(w_g[k], w_h[k]) for k in w_g)
    say(f"      weights after the on-chip step identical on golden and RTL: "
        f"{'yes' if same else 'NO'}")
    # Host traffic in bits: rows of C lanes as the host memories hold them.
    W = rtl.acc_width
    int32_row, code_row, mask_row = cols * W, cols * (4 + 4 + 1) + 1 + W + 1, cols
    plain_rows = _plain_int32_rows(hw, xb, rows, cols)   # every GEMM shipping INT32
    sent = traffic["int32_rows"] * int32_row
    avoided = plain_rows * int32_row - sent
    say(f"      INT32 host traffic: {plain_rows * int32_row / 8192:.1f} KiB on the plain "
        f"tile, {sent / 8192:.1f} KiB here (every INT32 row to or from the host: dW, logits, dX for PACT and bias sums, requant)")
    say(f"      INT32 host traffic avoided: {avoided / 8192:.1f} KiB "
        f"({100 * avoided / (plain_rows * int32_row):.0f} %); added: codes "
        f"{traffic['code_rows'] * code_row / 8192:.1f} KiB, masks "
        f"{traffic['mask_rows'] * mask_row / 8192:.1f} KiB, {traffic['qcfgs']} unit configs; "
        f"{stats['cycles']:,} cycles")
    say("      (forward INT32 stays on chip; the dX INT32 still goes out for PACT's clip and the "
        "bias gradients, and exact GradScale sends it back for its second pass, which "
        "4bit-onchip-delayed does not; see docs/quantizer.md)")
    return ok and same


def _onchip_trainer(trainer, recipe):
    """A trainer for ``recipe`` holding ``trainer``'s learned state.

    The demo trains with ``4bit``, whose first and last layers are 8-bit; the
    unit emits 4-bit codes, so the on-chip step needs the network configured
    for its own recipe.  A fresh copy of the same task is configured for it
    and given the trained weights, biases, PACT clips and input calibration.
    """
    from model.tasks import make_task
    from model.train import Trainer
    task = make_task("digits-mlp", trainer.seed)
    fresh = Trainer(task.model, recipe, seed=trainer.seed, lr=trainer.base_lr,
                    metric=trainer.metric)
    learned = {p.name: p for p in trainer.model.params()}
    for p in fresh.model.params():
        p.value[...] = learned[p.name].value
    for old, new in zip(trainer.model.gemm_layers(), fresh.model.gemm_layers()):
        new.in_alpha, new.in_signed = old.in_alpha, old.in_signed
    for old, new in zip(trainer.model.layers, fresh.model.layers):
        if hasattr(old, "initialized"):     # PACT clips were calibrated by the training
            new.initialized = old.initialized
    if fresh.state().keys() != trainer.state().keys():
        raise RuntimeError("on-chip demo: the fresh network's state does not match the trained one")
    return fresh


def _plain_int32_rows(trainer, xb, rows, cols) -> int:
    """Result rows the plain tile returns for the same step: every GEMM's
    output tiles, R rows each (``4bit`` runs 8 GEMMs on the digits MLP)."""
    from model.onchip import check_network
    _, linears, _ = check_network(trainer.model)
    m = len(xb)
    total = 0
    for i, layer in enumerate(linears):
        k, n = layer.W.value.shape
        shapes = [(m, n), (k, n)] + ([(m, k)] if i > 0 else [])   # fwd, dW, dX
        for mm, nn in shapes:
            total += -(-mm // rows) * -(-nn // cols) * rows
    return total
