"""Where ``radix4 train --bus axi``'s time goes: the test-set evaluation's
forward pass on the first N test digits through each path (direct host
testbench vs the AXI shell), wall time split into build/start and run, and
the tile's cycle counters.  ``python -m scripts.profile_bus --sim icarus
--recipe 4bit-onchip --samples 16``.  ``sim_cpu_s``: CPU seconds of the
simulator process (its start, the run, its exit; a Verilator build is a
separate process and not in it), which a loaded machine inflates less than
wall time."""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np


def run(sim: str, recipe_name: str, bus: str, samples: int, rows: int, cols: int,
        depth: int) -> dict:
    from model.recipes import get_recipe
    from model.tasks import make_task
    from model.train import Trainer
    from sim.factory import make_backend
    recipe = get_recipe(recipe_name)
    task = make_task("digits-mlp", 0)
    t0 = time.perf_counter()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    backend = make_backend(sim, rows=rows, cols=cols, depth=depth,
                           quant=recipe.onchip is not None, bus=bus)
    t1 = time.perf_counter()
    try:
        tr = Trainer(task.model, recipe, backend=backend, seed=0, lr=task.lr)
        logits = tr.predict_logits(task.X_test[:samples])
        t2 = time.perf_counter()
        stats = dict(backend.total_stats)
    finally:
        backend.close()
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the simulator, reaped by close()
    sim_cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    gold = Trainer(make_task("digits-mlp", 0).model, recipe,
                   backend=make_backend("golden", rows=rows, cols=cols,
                                        quant=recipe.onchip is not None), seed=0, lr=task.lr)
    same = np.array_equal(gold.predict_logits(task.X_test[:samples]), logits)
    return {"start_s": t1 - t0, "run_s": t2 - t1, "sim_cpu_s": sim_cpu, "bit_exact": same,
            **stats}


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--sim", default="icarus")
    p.add_argument("--recipe", default="4bit-onchip")
    p.add_argument("--bus", default="direct,axi")
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--rows", type=int, default=4)
    p.add_argument("--cols", type=int, default=4)
    p.add_argument("--depth", type=int, default=64)
    a = p.parse_args(argv)
    for bus in a.bus.split(","):
        r = run(a.sim, a.recipe, bus, a.samples, a.rows, a.cols, a.depth)
        print(f"{a.sim} {a.recipe} {bus} samples={a.samples} " +
              " ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
                       for k, v in r.items()), flush=True)


if __name__ == "__main__":
    main()
