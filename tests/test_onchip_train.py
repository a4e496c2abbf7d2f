"""On-chip recipes: training steps on the tile with the quantization unit
(Verilator, Icarus) leave weights bit-identical to the golden model."""

import copy

import numpy as np
import pytest

from model.onchip_tile import GoldenQuantTile
from model.tasks import make_task
from model.train import Trainer

SMALL = dict(rows=3, cols=4, depth=16)   # the build tests/test_quant_tile.py uses


def _trainer(recipe, seed=0):
    task = make_task("digits-mlp", seed)
    return task, Trainer(task.model, recipe, backend=GoldenQuantTile(3, 4), seed=seed,
                         lr=task.lr)


def _batches(task, n, size, seed=3):
    rng = np.random.default_rng(seed)
    return [rng.choice(len(task.X_train), size, replace=False) for _ in range(n)]


class _Spy(GoldenQuantTile):
    """Records the unit jobs a step asks for."""

    def __init__(self):
        super().__init__(3, 4)
        self.calls = []

    def backward_quant(self, *a, **kw):
        out = super().backward_quant(*a, **kw)
        self.calls.append(("pass1" if kw.get("measure_only") else "one-pass", kw["name"],
                           kw.get("sigma"), out.amax, kw["mantissa"], kw["shift"]))
        return out

    def requant(self, acc, **kw):
        self.calls.append(("requant", kw["name"], kw["sigma"]))
        return super().requant(acc, **kw)


def test_exact_runs_two_passes_delayed_one_with_the_previous_sigma():
    from model import requant as rq
    task, ex = _trainer("4bit-onchip")
    _, de = _trainer("4bit-onchip-delayed")
    ex.backend, de.backend = _Spy(), _Spy()
    batches = _batches(task, 3, 32)
    # first step: the delayed variant has no previous amax, so it measures like exact
    for t in (ex, de):
        t.step(task.X_train[batches[0]], task.y_train[batches[0]])
    for k, v in ex.state().items():
        assert np.array_equal(v, de.state()[k]), k
    for t in (ex, de):
        t.backend.calls.clear()
        t.step(task.X_train[batches[1]], task.y_train[batches[1]])
    kinds = [c[0] for c in ex.backend.calls]
    assert kinds == ["pass1", "requant"] * 2                 # fc3.dX, fc2.dX
    assert [c[0] for c in de.backend.calls] == ["one-pass"] * 2
    # delayed sigma of step 3 = ceil(log2(amax * M)) measured in step 2
    prev = {c[1]: rq.sigma_from_amax(c[3], c[4], c[5]) for c in de.backend.calls}
    de.backend.calls.clear()
    de.step(task.X_train[batches[2]], task.y_train[batches[2]])
    assert {c[1]: c[2] for c in de.backend.calls} == prev


def test_onchip_refuses_a_plain_rtl_backend_and_non_mlps():
    from model.onchip import quant_backend
    with pytest.raises(ValueError, match="no quantization unit"):
        quant_backend(object())
    task = make_task("digits-cnn", 0)
    tr = Trainer(task.model, "4bit-onchip", seed=0, lr=task.lr)
    with pytest.raises(ValueError, match="MLPs"):
        tr.step(task.X_train[:4], task.y_train[:4])


class _RoundingSpy(GoldenQuantTile):
    """Records the rounding and seed of every FP4 job of the unit."""

    def __init__(self):
        super().__init__(3, 4)
        self.jobs = []

    def backward_quant(self, *a, **kw):
        self.jobs.append((kw["name"], kw["rounding"], kw["seed"]))
        return super().backward_quant(*a, **kw)

    def requant(self, acc, **kw):
        self.jobs.append((kw["name"], kw["rounding"], kw["seed"]))
        return super().requant(acc, **kw)


def test_onchip_sr_rounds_the_hidden_gradients_on_the_unit_stochastically():
    task, sr = _trainer("4bit-onchip-sr")
    _, nearest = _trainer("4bit-onchip")
    sr.backend, nearest.backend = _RoundingSpy(), _RoundingSpy()
    batches = _batches(task, 2, 32)
    for t in (sr, nearest):
        for idx in batches:
            t.step(task.X_train[idx], task.y_train[idx])
    # fc3.dX and fc2.dX: a measuring pass and a requant job each, per step
    assert len(sr.backend.jobs) == len(nearest.backend.jobs) == 8
    assert {r for _, r, _ in sr.backend.jobs} == {"stochastic"}
    assert {r for _, r, _ in nearest.backend.jobs} == {"nearest"}
    # the generators are seeded afresh per layer and step
    assert len({s for _, _, s in sr.backend.jobs}) == 4
    assert any(not np.array_equal(sr.state()[k], nearest.state()[k]) for k in sr.state())


def test_onchip_sr_trains_digits():
    task, tr = _trainer("4bit-onchip-sr")
    hist = tr.fit(task.X_train, task.y_train, epochs=2, batch_size=task.batch_size,
                  eval_data=(task.X_test, task.y_test))
    assert all(np.isfinite(hist["train_loss"]))
    assert hist["train_loss"][-1] < 0.5 * hist["train_loss"][0]
    assert hist["metric"][-1] > 0.85          # chance is 0.10


@pytest.mark.slow  # RTL training runs with two tile builds: `make test-slow`
@pytest.mark.parametrize("sim,recipe,steps", [("verilator", "4bit-onchip", 1),
                                              ("verilator", "4bit-onchip-delayed", 2),
                                              ("verilator", "4bit-onchip-sr", 2),
                                              ("icarus", "4bit-onchip", 1),
                                              ("icarus", "4bit-onchip-delayed", 2)])
def test_onchip_steps_on_rtl_equal_golden(sim, recipe, steps):
    from sim.quant_backend import QuantRtlBackend
    task, golden = _trainer(recipe)
    rtl_trainer = copy.deepcopy(golden)
    batches = _batches(task, steps, 16)
    with QuantRtlBackend(sim, **SMALL, gap_permille=100, stall_permille=200, seed=3) as rtl:
        rtl_trainer.backend = rtl
        for idx in batches:
            assert golden.step(task.X_train[idx], task.y_train[idx]) == \
                rtl_trainer.step(task.X_train[idx], task.y_train[idx])
        # unit output rows came back, and no INT32 of a forward activation did
        assert rtl.total_traffic["code_rows"] > 0
    sg, sr = golden.state(), rtl_trainer.state()
    assert sg.keys() == sr.keys()
    for name in sg:
        assert np.array_equal(sg[name], sr[name]), name
    _, fresh = _trainer(recipe)
    assert any(not np.array_equal(fresh.state()[k], sg[k]) for k in sg)
