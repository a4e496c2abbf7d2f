"""Two training steps of a block recipe on the RTL against the golden model (issue 25).

``python -m scripts.rtl_train_check --task charlm --recipe nvfp4 --sim icarus``
trains one fresh model (``model.tasks.make_task(task, seed)``) for ``--steps``
minibatch steps (``model.train.Trainer.step``: forward, loss, backward, SGD
update; every GEMM of the recipe on the backend) on the golden backend and
on the simulated tile (``sim.factory.make_backend(..., pair=True)``: a tile of
the recipe's block PEs, and for 8-bit ends a radix-4 tile beside it), with
the same batches, and compares every GEMM's result (bytes, in order), the
losses (float equality) and every parameter after the steps (bytes): a GEMM
result one ulp off can leave the losses and weights unchanged (the
quantizers absorb it), so the results are compared themselves.  No test-set evaluation runs: it would
only repeat the forward GEMMs the steps already run, on many more rows.

It prints one line and (``--json``) writes one record: the GEMM counts of
each tile, the tile cycles, the wall times (simulator start including any
build, the steps), ``identical`` and ``all_gemms_on_rtl`` (the tiles ran as
many block and radix-4 GEMMs as the golden backend).  Exit status 1 when a
loss or a parameter differs or a GEMM did not run on the tiles.  ``make rtl-train-check`` runs every task x block recipe
x simulator (docs/formats.md, "Training steps on the RTL").
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

BLOCK_RECIPES = ("mxfp4", "nvfp4")
# The tile of the RTL checks: 8-lane PEs (the design's lane count) in a 4 x 4
# array, 64 beats a bank (tests/test_train_rtl_block.py).
TILE = dict(rows=4, cols=4, depth=64, lanes=8)
BATCH, STEPS = 8, 2


def batches_for(n_train: int, batch: int, steps: int, seed: int) -> list[np.ndarray]:
    """The minibatch indices of the check (the same for golden and RTL)."""
    rng = np.random.default_rng([seed, 25])
    return [rng.choice(n_train, batch, replace=False) for _ in range(steps)]


def run_check(task_name: str, recipe: str, sim: str, *, batch: int = BATCH, steps: int = STEPS,
              seed: int = 0, tile: dict | None = None, progress: bool = False) -> dict:
    """Golden and ``sim`` trainers over the same batches; the record (module doc).
    ``progress``: a line on stderr after each GEMM (name, tile cycles, wall time)."""
    from model.backend import GoldenBackend
    from model.tasks import make_task
    from model.train import Trainer
    from sim.factory import make_backend

    tile = dict(TILE if tile is None else tile)
    task = make_task(task_name, seed)
    golden_backend = GoldenBackend()
    golden = Trainer(task.model, recipe, backend=golden_backend, seed=seed, lr=task.lr)
    on_rtl = copy.deepcopy(golden)
    golden.backend = golden_log = _Recorder(golden_backend)
    chosen = batches_for(len(task.X_train), batch, steps, seed)
    t0 = time.perf_counter()
    golden_losses = [golden.step(task.X_train[i], task.y_train[i]) for i in chosen]
    golden_time = time.perf_counter() - t0
    t0 = time.perf_counter()
    with make_backend(sim, pe=recipe, pair=True, **tile) as hw:
        on_rtl.backend = hw
        # Start both tiles before timing the steps (build or cache hit, launch).
        hw.tile("block")
        if get_ends_on_radix4(recipe):
            hw.tile("radix4")
        start_time = time.perf_counter() - t0
        cpu0 = _children_cpu()        # a build's compilers, if one ran, are counted by now
        t1, self0 = time.perf_counter(), time.process_time()
        on_rtl.backend = rtl_log = _Recorder(hw, progress, golden_log.log)
        rtl_losses = [on_rtl.step(task.X_train[i], task.y_train[i]) for i in chosen]
        step_time, host_cpu = time.perf_counter() - t1, time.process_time() - self0
        tiles = {kind: dict(backend.total_stats) for kind, backend in hw._tiles.items()}
    # The simulators' CPU time, start-up included (they are this process's
    # children, reaped at close): a figure other jobs on a shared machine
    # do not inflate as they do the wall times.
    sim_cpu = _children_cpu() - cpu0
    first_gemm_diff = next((f"#{i} {g[0]}" for i, (g, r) in
                            enumerate(zip(golden_log.log, rtl_log.log)) if g != r),
                           None if len(golden_log.log) == len(rtl_log.log) else "count")
    sg, sr = golden.state(), on_rtl.state()
    differing = sorted(k for k in sg if k not in sr or sg[k].dtype != sr[k].dtype
                       or sg[k].tobytes() != sr[k].tobytes())
    rtl_gemms = {"block": tiles.get("block", {}).get("block_gemms", 0),
                 "radix4": tiles.get("radix4", {}).get("gemms", 0)}
    golden_gemms = {"block": golden_backend.total_stats.get("block_gemms", 0),
                    "radix4": golden_backend.total_stats.get("gemms", 0)}
    return {
        "task": task_name, "recipe": recipe, "sim": sim, "steps": steps, "batch": batch,
        "seed": seed, "tile": tile,
        "golden_losses": golden_losses, "rtl_losses": rtl_losses,
        "differing_params": differing, "gemm_results": len(rtl_log.log),
        "first_differing_gemm": first_gemm_diff,
        "identical": (golden_losses == rtl_losses and not differing and sg.keys() == sr.keys()
                      and first_gemm_diff is None),
        # Every GEMM the golden trainer ran, the simulated tiles ran.
        "block_gemms": rtl_gemms["block"], "radix4_gemms": rtl_gemms["radix4"],
        "golden_gemms": golden_gemms, "all_gemms_on_rtl": rtl_gemms == golden_gemms,
        "tile_cycles": {kind: s.get("cycles", 0) for kind, s in tiles.items()},
        "golden_s": round(golden_time, 2), "start_s": round(start_time, 1),
        "steps_s": round(step_time, 1), "sim_cpu_s": round(sim_cpu, 1),
        "host_cpu_s": round(host_cpu, 1),
    }


def _children_cpu() -> float:
    import resource
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class _Recorder:
    """A backend that records each GEMM's name and a digest of its result
    (the bytes of the float64 or int64 array) and, with ``progress``, logs a
    line to stderr after each (a long Icarus run's progress), saying whether it
    equals the ``expect`` log's entry (golden's) so far."""

    def __init__(self, backend, progress: bool = False, expect: list | None = None):
        self._backend, self._progress, self._expect = backend, progress, expect
        self._t0, self._cycles = time.perf_counter(), 0
        self.log: list[tuple[str, str]] = []

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def _recorded(self, method, name, *args, **kwargs):
        out = getattr(self._backend, method)(*args, name=name, **kwargs)
        arr = np.ascontiguousarray(out)
        self.log.append((name, f"{arr.dtype}{arr.shape}:"
                               + hashlib.sha256(arr.tobytes()).hexdigest()[:16]))
        if self._progress:
            self._cycles += self._backend.last_stats.get("cycles", 0)
            i = len(self.log) - 1
            same = ("" if self._expect is None else " = golden" if i < len(self._expect)
                    and self._expect[i] == self.log[-1] else " DIFFERS from golden")
            print(f"  {time.perf_counter() - self._t0:8.1f} s  GEMM #{i} {name:<16}{same}, "
                  f"tile cycles so far {self._cycles}", file=sys.stderr, flush=True)
        return out

    def gemm(self, a, b, a_format, b_format, *, name="gemm", **kwargs):
        return self._recorded("gemm", name, a, b, a_format, b_format, **kwargs)

    def block_gemm(self, a, b, *, name="gemm"):
        return self._recorded("block_gemm", name, a, b)


def get_ends_on_radix4(recipe: str) -> bool:
    """Whether the recipe's 8-bit end layers run on the radix-4 tile of the pair."""
    from model.recipes import get_recipe
    return get_recipe(recipe).ends_bits == 8


def passed(rec: dict) -> bool:
    """Bit-identical losses and parameters, every GEMM on the simulated tiles."""
    return rec["identical"] and rec.get("all_gemms_on_rtl", False)


def summary(rec: dict) -> str:
    cycles = ", ".join(f"{k} {v}" for k, v in rec["tile_cycles"].items())
    return (f"{rec['task']} {rec['recipe']} {rec['sim']}: {rec['steps']} steps at batch "
            f"{rec['batch']}, {rec['block_gemms']} block + {rec['radix4_gemms']} radix-4 GEMMs, "
            f"tile cycles {cycles}; start {rec['start_s']} s, steps {rec['steps_s']} s "
            f"(golden {rec['golden_s']} s), CPU simulator {rec['sim_cpu_s']} s, "
            f"host {rec['host_cpu_s']} s; identical={'yes' if rec['identical'] else 'NO'}, "
            f"all GEMMs on the RTL={'yes' if rec['all_gemms_on_rtl'] else 'NO'}"
            + ("" if rec["identical"] else f" first differing GEMM {rec['first_differing_gemm']}, "
               f"differing={rec['differing_params']} "
               f"golden={rec['golden_losses']} rtl={rec['rtl_losses']}"))


def table(records: list[dict]) -> str:
    """The Markdown table of docs/formats.md ("Training steps on the RTL")."""
    lines = ["| task | recipe | simulator | steps x batch | GEMMs block + radix-4 | tile cycles "
             "| steps wall | simulator CPU | bit-identical |", "|---|---|---|---:|---:|---:|---:|---:|---|"]
    order = {name: i for i, name in enumerate(_task_names())}
    for r in sorted(records, key=lambda r: (order.get(r["task"], 99), r["recipe"], r["sim"])):
        lines.append(f"| {r['task']} | {r['recipe']} | {r['sim']} | {r['steps']} x {r['batch']} "
                     f"| {r['block_gemms']} + {r['radix4_gemms']} "
                     f"| {sum(r['tile_cycles'].values()):,} | {r['steps_s']:.1f} s "
                     f"| {_seconds(r.get('sim_cpu_s'))} | {'yes' if passed(r) else '**no**'} |")
    return "\n".join(lines)


def _seconds(value) -> str:
    return "–" if value is None else f"{value:.1f} s"


def _task_names() -> tuple:
    from model.tasks import TASKS
    return tuple(TASKS)


def main(argv=None) -> int:
    from model.recipes import RTL_BACKENDS
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", nargs="+", choices=_task_names(), default=list(_task_names()))
    p.add_argument("--recipe", nargs="+", choices=BLOCK_RECIPES, default=list(BLOCK_RECIPES))
    p.add_argument("--sim", nargs="+", choices=RTL_BACKENDS, default=list(RTL_BACKENDS))
    p.add_argument("--steps", type=int, default=STEPS)
    p.add_argument("--batch", type=int, default=BATCH)
    p.add_argument("--seed", type=int, default=0)
    for name, value in TILE.items():
        p.add_argument(f"--{name}", type=int, default=value)
    p.add_argument("--out", type=Path, help="write one JSON record per run into this directory")
    p.add_argument("--progress", action="store_true", help="a line on stderr after each GEMM")
    p.add_argument("--json", type=Path, help="write the record of a single run here")
    p.add_argument("--table", type=Path, metavar="DIR",
                   help="only print the Markdown table of the records in DIR")
    args = p.parse_args(argv)
    if args.table:
        records = [json.loads(f.read_text()) for f in sorted(args.table.glob("*.json"))]
        print(table(records))
        return 0 if all(map(passed, records)) else 1
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    ok = True
    for task in args.task:
        for recipe in args.recipe:
            for sim in args.sim:
                rec = run_check(task, recipe, sim, batch=args.batch, steps=args.steps,
                                seed=args.seed, tile={k: getattr(args, k) for k in TILE},
                                progress=args.progress)
                print(summary(rec), flush=True)
                ok &= passed(rec)
                for path in filter(None, (args.json, args.out and
                                          args.out / f"{task}-{recipe}-{sim}.json")):
                    from model.fileio import atomic_write_text
                    atomic_write_text(path, json.dumps(rec, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
