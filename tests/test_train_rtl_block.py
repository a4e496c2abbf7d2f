"""The block recipes train on the simulated chip bit-identically (issue 25).

Two `digits-mlp` steps of `mxfp4` (every GEMM on a tile of MXFP4 PEs) and
`nvfp4` (NVFP4 PEs, and the 8-bit first and last layers on a radix-4 tile
beside them: ``sim.tile_pair``) on Icarus and on Verilator give the golden
backend's losses and weights bit for bit.  A 4 x 4 tile of 8-lane PEs
(the design's lane count) keeps the simulations short; `make test-slow`.
"""

import copy

import numpy as np
import pytest

from model.backend import GoldenBackend
from model.tasks import make_task
from model.train import Trainer
from sim.factory import make_backend

TILE = dict(rows=4, cols=4, depth=64, lanes=8)
BATCH, STEPS = 8, 2


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["mxfp4", "nvfp4"])
def test_block_recipe_steps_on_icarus_and_verilator_equal_golden(recipe):
    task = make_task("digits-mlp", 0)
    golden = Trainer(task.model, recipe, backend=GoldenBackend(), seed=0, lr=task.lr)
    fresh = copy.deepcopy(golden)
    on_rtl = {sim: copy.deepcopy(golden) for sim in ("icarus", "verilator")}
    rng = np.random.default_rng(4)
    batches = [rng.choice(len(task.X_train), BATCH, replace=False) for _ in range(STEPS)]
    losses = [golden.step(task.X_train[i], task.y_train[i]) for i in batches]
    for sim, trainer in on_rtl.items():
        with make_backend(sim, pe=recipe, pair=True, **TILE) as hw:
            trainer.backend = hw
            assert [trainer.step(task.X_train[i], task.y_train[i]) for i in batches] == losses
            stats = hw.total_stats
        # 3 forward, 2 dX and 3 dW GEMMs a step: nvfp4's first and last layers
        # (fc1: fwd, dW; fc3: fwd, dX, dW) are 8-bit on the radix-4 tile.
        assert stats["block_gemms"] == (8 if recipe == "mxfp4" else 3) * STEPS, stats
        assert stats.get("gemms", 0) == (0 if recipe == "mxfp4" else 5) * STEPS, stats
        sg, sr = golden.state(), trainer.state()
        assert sg.keys() == sr.keys()
        for name in sg:
            assert np.array_equal(sg[name], sr[name]), (sim, name)
    assert any(not np.array_equal(fresh.state()[k], golden.state()[k]) for k in fresh.state())
