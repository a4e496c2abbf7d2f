"""RTL-in-the-loop training: steps on the simulated chip equal the golden backend bit for bit."""

import copy
import subprocess
import sys

import numpy as np
import pytest

from model.backend import GoldenBackend
from model.tasks import make_task
from model.train import Trainer
from sim.backends import RtlBackend

# The same small tile as tests/test_rtl_backend.py, so the simulator build is shared.
SMALL = dict(rows=3, cols=4, depth=16)


def _trainer(recipe="4bit", seed=0):
    task = make_task("digits-mlp", seed)
    return task, Trainer(task.model, recipe, backend=GoldenBackend(), seed=seed, lr=task.lr)


# 4bit's 8-bit first and last layers add 8-bit operands on both sides, INT8
# gradients included, which the backend runs as four nibble GEMMs each;
# 4bit-all is FP4/INT4/UINT4 only.
@pytest.mark.parametrize("sim,batch,steps,recipe", [("verilator", 32, 2, "4bit-all"),
                                                    ("verilator", 16, 1, "4bit"),
                                                    pytest.param("icarus", 4, 1, "4bit",
                                                                 marks=pytest.mark.slow)])
def test_training_steps_on_rtl_equal_golden(sim, batch, steps, recipe):
    task, golden = _trainer(recipe)
    rtl_trainer = copy.deepcopy(golden)
    rng = np.random.default_rng(3)
    batches = [rng.choice(len(task.X_train), batch, replace=False) for _ in range(steps)]
    with RtlBackend(sim, **SMALL) as rtl:
        rtl_trainer.backend = rtl
        for idx in batches:
            loss_g = golden.step(task.X_train[idx], task.y_train[idx])
            loss_r = rtl_trainer.step(task.X_train[idx], task.y_train[idx])
            assert loss_g == loss_r
        assert rtl.total_stats["gemms"] == 8 * steps   # fwd x3, dX x2, dW x3 per step
    sg, sr = golden.state(), rtl_trainer.state()
    assert sg.keys() == sr.keys()
    for name in sg:
        assert np.array_equal(sg[name], sr[name]), name
    # And the step changed something: the comparison is not of untouched weights.
    _, fresh = _trainer(recipe)
    assert any(not np.array_equal(fresh.state()[k], sg[k]) for k in sg)


@pytest.mark.slow  # a whole CLI run with evaluation on the RTL (~20 s): make test-slow
def test_train_cli_on_verilator_prints_metric():
    r = subprocess.run([sys.executable, "-m", "scripts.cli", "train", "--backend", "verilator",
                        "--steps", "2", "--epochs", "1", "--rows", "3", "--cols", "4",
                        "--depth", "16", "--no-progress"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    last = r.stdout.strip().splitlines()[-1]
    assert last.startswith("test_accuracy=")
    assert 0.0 <= float(last.split("=")[1]) <= 1.0


@pytest.mark.slow  # a Verilator build and two transformer steps: `make test-slow`
def test_charlm_attn_steps_on_verilator_equal_golden():
    """The transformer task, attention GEMMs (Q.K^T, P.V and their four backward
    products) included, trains bit-identically on the RTL for 2 steps."""
    task = make_task("charlm-attn", 0)
    golden = Trainer(task.model, "4bit", backend=GoldenBackend(), seed=0, lr=task.lr,
                     metric=task.metric)
    rtl_trainer = copy.deepcopy(golden)
    batches = [np.arange(i * 4, (i + 1) * 4) for i in range(2)]
    with RtlBackend("verilator", **SMALL) as rtl:
        rtl_trainer.backend = rtl
        for idx in batches:
            assert golden.step(task.X_train[idx], task.y_train[idx]) == \
                rtl_trainer.step(task.X_train[idx], task.y_train[idx])
        # 8 forward and 15 backward GEMMs per step (the embedding computes no dX).
        assert rtl.total_stats["gemms"] == 23 * 2
    sg, sr = golden.state(), rtl_trainer.state()
    assert sg.keys() == sr.keys() and all(np.array_equal(sg[k], sr[k]) for k in sg)


def test_luq_is_refused_on_the_rtl_before_any_gemm():
    task = make_task("digits-mlp", 0)

    class Unused:
        name = "icarus"

        def gemm(self, *a, **k):
            raise AssertionError("no GEMM should reach the RTL")
    with pytest.raises(ValueError, match="fp4r2.*golden"):
        Trainer(task.model, "luq", backend=Unused(), seed=0)
