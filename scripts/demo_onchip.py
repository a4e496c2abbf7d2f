"""The on-chip part of ``radix4 demo``: one ``4bit-onchip`` step on golden and RTL.

From the demo's trained network, one training step of the on-chip recipe
runs on the golden model (``model.onchip_tile``) and on the tile with the
quantization unit (``sim.quant_backend``).  Every operand of every GEMM,
weights included, is traced to where its codes were made
(``scripts.demo_provenance``): the unit (hidden activations and gradients),
the host's SAWB (the INT4 weights, every step), the host's input quantizer
(the network input) or the host's loss-gradient quantizer.  Prints that
table, whether each operand came from where the recipe says, whether the
weights after the step are bit-identical, and the host traffic against
shipping every GEMM's INT32 results (what the plain tile does).
"""

from __future__ import annotations

import copy

import numpy as np

__all__ = ["onchip_demo_step"]


def onchip_demo_step(trainer, xb, yb, sim, config, say) -> bool:
    """Run the step on golden and ``sim``; print the tables; True iff all checks hold."""
    from model.onchip import check_network
    from model.onchip_tile import GoldenQuantTile
    from model.recipes import get_recipe
    from scripts.demo_provenance import Provenance, check, register_host_codes
    from scripts.demo_provenance import rows as provenance_rows
    from sim.quant_backend import QuantRtlBackend

    recipe = get_recipe("4bit-onchip")
    base = _onchip_trainer(trainer, recipe)
    golden = copy.deepcopy(base)
    golden.backend = GoldenQuantTile(config=config)
    golden.step(xb, yb)
    rows, cols = config.rows, config.cols
    _, linears, _ = check_network(base.model)
    with QuantRtlBackend(sim, config) as rtl:
        hw = copy.deepcopy(base)
        prov = Provenance(rtl, last_layer=linears[-1].name)
        register_host_codes(prov, hw.model, xb)
        hw.backend = prov
        hw.step(xb, yb)
        traffic, stats = dict(rtl.total_traffic), dict(rtl.total_stats)
    for line in provenance_rows(prov.gemms):
        say("      " + line)
    problems = check(prov.gemms, [layer.name for layer in linears])
    for p in problems:
        say(f"      PROVENANCE WRONG: {p}")
    ok = not problems
    say(f"      every operand made where the recipe says: {'yes' if ok else 'NO'}")
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
