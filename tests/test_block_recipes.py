"""Issue 25: the mxfp4 and nvfp4 recipes through the training harness."""

from __future__ import annotations

import numpy as np
import pytest

from model.backend import BackendWrapper, GoldenBackend
from model.block_quant import BlockTensor
from model.nn import Linear, ReLU, Sequential
from model.recipes import RECIPES, check_hardware, get_recipe
from model.tasks import TASKS, make_task
from model.train import Trainer
from scripts.cli import main as cli_main

BLOCK_RECIPES = [r for r in RECIPES if RECIPES[r].block]


class Recorder(BackendWrapper):
    """Golden backend that records which GEMMs run as integer or block GEMMs."""

    def __init__(self):
        super().__init__(GoldenBackend())
        self.calls = []

    def gemm(self, a, b, a_format, b_format, *, name="gemm"):
        self.calls.append((name, a_format, b_format))
        return self.inner.gemm(a, b, a_format, b_format, name=name)

    def block_gemm(self, a, b, *, name="gemm"):
        assert isinstance(a, BlockTensor) and isinstance(b, BlockTensor)
        self.calls.append((name, a.fmt, a.block, b.block))
        return self.inner.block_gemm(a, b, name=name)


def _mlp(rng):
    return [Linear("fc1", 16, 12, rng), ReLU("act1"), Linear("fc2", 12, 12, rng), ReLU("act2"),
            Linear("fc3", 12, 5, rng)]


def _step(recipe):
    rng = np.random.default_rng(10)
    x, y = rng.random((9, 16)), rng.integers(0, 5, 9)
    rec = Recorder()
    trainer = Trainer(Sequential(_mlp(np.random.default_rng(11))), recipe, backend=rec, seed=0)
    trainer.step(x, y)
    return trainer, rec.calls


def test_mxfp4_runs_every_gemm_in_blocks_along_the_reduction_axis():
    trainer, calls = _step("mxfp4")
    a, b = (1, 32), (32, 1)
    assert calls == [("fc1.fwd", "mxfp4", a, b), ("fc2.fwd", "mxfp4", a, b),
                     ("fc3.fwd", "mxfp4", a, b), ("fc3.dX", "mxfp4", a, b),
                     ("fc3.dW", "mxfp4", a, b), ("fc2.dX", "mxfp4", a, b),
                     ("fc2.dW", "mxfp4", a, b), ("fc1.dW", "mxfp4", a, b)]
    # No PACT: the ReLUs stay ReLUs in front of block layers.
    assert [type(m).__name__ for m in trainer.model.layers].count("ReLU") == 2


def test_nvfp4_keeps_8bit_ends_and_tiles_its_weights():
    trainer, calls = _step("nvfp4")
    t, a, b = (16, 16), (1, 16), (16, 1)
    assert calls == [("fc1.fwd", "uint8", "int8"), ("fc2.fwd", "nvfp4", a, t),
                     ("fc3.fwd", "uint8", "int8"), ("fc3.dX", "int8", "int8"),
                     ("fc3.dW", "uint8", "int8"), ("fc2.dX", "nvfp4", a, t),
                     ("fc2.dW", "nvfp4", a, b), ("fc1.dW", "uint8", "int8")]
    # The ReLU in front of the 8-bit last layer became an 8-bit PACT; the other stays.
    names = [type(m).__name__ for m in trainer.model.layers]
    assert names == ["Linear", "ReLU", "Linear", "PACT", "Linear"]


@pytest.mark.parametrize("recipe", BLOCK_RECIPES)
def test_block_layer_gradients_approximate_float_gradients(recipe):
    """Straight-through: one step's weight gradient of the block layer is close
    to the float one (both from the same weights and batch)."""
    rng = np.random.default_rng(12)
    x, y = rng.random((64, 16)), rng.integers(0, 5, 64)
    grads = {}
    for r in ("fp32", recipe):
        tr = Trainer(Sequential(_mlp(np.random.default_rng(11))), r, seed=0)
        tr.optimizer.step = lambda: None                # keep the gradients
        tr.step(x, y)
        grads[r] = tr.model.layers[2].W.grad.copy()
    g, q = grads["fp32"], grads[recipe]
    assert np.linalg.norm(q - g) < 0.5 * np.linalg.norm(g)
    assert not np.array_equal(q, g)


@pytest.mark.parametrize("recipe", BLOCK_RECIPES)
@pytest.mark.parametrize("task", list(TASKS))
def test_two_steps_on_every_task_are_seeded_and_finite(recipe, task):
    def run():
        t = make_task(task, 0)
        tr = Trainer(t.model, recipe, seed=0, lr=t.lr, metric=t.metric)
        n = 16
        losses = [tr.step(t.X_train[i * n:(i + 1) * n], t.y_train[i * n:(i + 1) * n])
                  for i in range(2)]
        return losses, tr.state()
    l1, s1 = run()
    l2, s2 = run()
    assert all(np.isfinite(l1)) and l1 == l2
    assert all(np.array_equal(s1[k], s2[k]) for k in s1)


@pytest.mark.parametrize("recipe", BLOCK_RECIPES)
def test_block_recipes_run_on_the_rtl_in_one_simulator_only(recipe, capsys):
    """The block recipes pass the RTL check (a tile of their PEs, a radix-4
    tile for 8-bit ends: sim.tile_pair); the Dask backends refuse them in one
    line before anything is built."""
    for sim in ("verilator", "icarus"):
        check_hardware(recipe, sim)
    assert cli_main(["train", "--recipe", recipe, "--backend", "verilator", "--steps", "1",
                     "--workers", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "runs in one simulator" in err


def test_recipe_rows():
    mx, nv = get_recipe("mxfp4"), get_recipe("nvfp4")
    assert (mx.block, mx.ends_bits, mx.rounding, mx.block_rht, mx.block_2d_weights) == \
        ("mxfp4", None, "stochastic", False, False)
    assert (nv.block, nv.ends_bits, nv.rounding, nv.block_rht, nv.block_2d_weights) == \
        ("nvfp4", 8, "stochastic", True, True)
    assert nv.layer_block(0, 3) is None and nv.layer_block(1, 3) == "nvfp4"
    assert nv.layer_block(2, 3) is None and mx.layer_block(0, 3) == "mxfp4"
    # The other choice of end layers, otherwise the same recipe.
    from dataclasses import replace
    assert get_recipe("mxfp4-ends") == replace(mx, name="mxfp4-ends", ends_bits=8,
                                               description=get_recipe("mxfp4-ends").description)
    assert get_recipe("nvfp4-all") == replace(nv, name="nvfp4-all", ends_bits=None,
                                              description=get_recipe("nvfp4-all").description)


@pytest.mark.slow
@pytest.mark.parametrize("recipe", BLOCK_RECIPES)
def test_block_recipes_learn_digits(recipe):
    t = make_task("digits-mlp", 0)
    tr = Trainer(t.model, recipe, seed=0, lr=t.lr, metric=t.metric)
    hist = tr.fit(t.X_train, t.y_train, epochs=6, batch_size=t.batch_size,
                  eval_data=(t.X_test, t.y_test))
    assert hist["metric"][-1] > 0.9
