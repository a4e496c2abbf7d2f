"""The demo's provenance table (scripts/demo_provenance.py, issue 24): every
operand of every GEMM of an on-chip step, weights included, with where its
codes were made; and the check fails on a table that leaves the weights out
(the table before issue 24) or gets a producer wrong."""

import numpy as np
import pytest

from model.onchip import check_network
from model.onchip_tile import GoldenQuantTile
from model.tasks import make_task
from model.train import Trainer
from scripts import demo_provenance as dp


def _step(recipe, *, register=True, recorder=dp.Provenance):
    """Two steps of ``recipe`` on the golden tile; the second one recorded."""
    task = make_task("digits-mlp", 0)
    tr = Trainer(task.model, recipe, backend=GoldenQuantTile(3, 4), seed=0, lr=task.lr)
    rng = np.random.default_rng(1)
    b0, b1 = (rng.choice(len(task.X_train), 16, replace=False) for _ in range(2))
    tr.step(task.X_train[b0], task.y_train[b0])          # PACT clips calibrated
    _, linears, _ = check_network(tr.model)
    prov = recorder(tr.backend, last_layer=linears[-1].name)
    if register:
        dp.register_host_codes(prov, tr.model, task.X_train[b1])
    tr.backend = prov
    tr.step(task.X_train[b1], task.y_train[b1])
    return prov.gemms, [x.name for x in linears]


@pytest.mark.parametrize("recipe", ["4bit-onchip", "4bit-onchip-sr", "4bit-onchip-delayed"])
def test_every_operand_is_listed_with_its_producer(recipe):
    gemms, layers = _step(recipe)
    assert dp.check(gemms, layers) == []
    table = {(name, op): kind for name, ops in gemms for op, kind, _ in ops}
    # written out for the 3-layer MLP fc1-fc2-fc3, independently of dp.expected
    assert table == {
        ("fc1.fwd", "X"): "input", ("fc1.fwd", "W"): "sawb",
        ("fc2.fwd", "X"): "unit", ("fc2.fwd", "W"): "sawb",
        ("fc3.fwd", "X"): "unit", ("fc3.fwd", "W"): "sawb",
        ("fc3.dW", "X^T"): "unit", ("fc3.dW", "dY phase 1"): "loss",
        ("fc3.dX", "dY phase 0"): "loss", ("fc3.dX", "W^T"): "sawb",
        ("fc2.dW", "X^T"): "unit", ("fc2.dW", "dY phase 1"): "unit",
        ("fc2.dX", "dY phase 0"): "unit", ("fc2.dX", "W^T"): "sawb",
        ("fc1.dW", "X^T"): "input", ("fc1.dW", "dY phase 1"): "unit"}
    lines = dp.rows(gemms)
    assert len(lines) == 1 + 2 * len(gemms)
    assert any("fc2.fwd" in x and "W " in x and "host SAWB" in x for x in lines)


class _OldTable(dp.Provenance):
    """The table before issue 24: activation and gradient operands only."""

    def _record(self, name, a, b):
        super()._record(name, a, b)
        name, ops = self.gemms.pop()
        self.gemms.append((name, [o for o in ops if not o[0].startswith("W")]))


def test_check_fails_when_the_weights_are_left_out():
    gemms, layers = _step("4bit-onchip", recorder=_OldTable)
    problems = dp.check(gemms, layers)
    assert "fc1.fwd: operand W not listed" in problems
    assert "fc2.dX: operand W^T not listed" in problems
    assert len(problems) == 5            # W of 3 forward GEMMs, W^T of 2 dX GEMMs


def test_check_fails_on_an_operand_from_the_wrong_place():
    gemms, layers = _step("4bit-onchip", register=False)   # SAWB and input codes unknown
    problems = dp.check(gemms, layers)
    assert any(p.startswith("fc2.fwd W: made by UNKNOWN, expected host SAWB") for p in problems)
    assert any(p.startswith("fc1.fwd X: made by UNKNOWN") for p in problems)
    # a dropped GEMM is caught too
    short = [g for g in _step("4bit-onchip")[0] if g[0] != "fc2.dX"]
    assert dp.check(short, layers) == ["fc2.dX: not in the table"]
