"""On-chip stochastic rounding next to ``4bit-onchip`` and FP32: a section of docs/results.md.

    python -m scripts.results_onchip [--jobs 2] [--digits-seeds 0 1 2] [--charlm-seeds 0]
    python -m scripts.results_onchip --render-only

Trains ``fp32``, ``4bit-onchip`` and ``4bit-onchip-sr`` on digits-mlp and
charlm (the MLP tasks the on-chip recipes run, ``model.tasks.ONCHIP_TASKS``)
on the golden backend, which the tile with the unit matches bit for bit
(tests/test_onchip_train.py), with the task's own schedule as ``make
results`` does (``scripts.results.run_one``).  Each finished run is added to
build/results_onchip_raw.json at once (a run of the same task, recipe and
seed replaces it), and the table between the ``onchip-sr`` markers of
docs/results.md is rewritten from that file, atomically.  ``make results``
(scripts/results.py) renders the rest of that page and carries this section
over unchanged (scripts.doc_sections): the full grid runs
``4bit-onchip-sr`` on digits-mlp only (time budget), so its charlm figures
live here, next to a ``4bit-onchip`` and FP32 run of the same seeds.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from multiprocessing import Pool  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from scripts.errors import require_checkout  # noqa: E402
from scripts.doc_sections import ONCHIP_SR, splice  # noqa: E402
from scripts.results import DOCS, ROOT, run_one  # noqa: E402

RAW = ROOT / "build" / "results_onchip_raw.json"
BEGIN, END = ONCHIP_SR[0] + " (python -m scripts.results_onchip) -->", ONCHIP_SR[1]
DOC = DOCS / "results.md"
RECIPES = ("fp32", "4bit-onchip", "4bit-onchip-sr")
TASKS = ("digits-mlp", "charlm")


def _key(run):
    return run["task"], RECIPES.index(run["recipe"]), run["seed"]


def _cell(runs, metric):
    if not runs:
        return "–"
    vals = np.array([r["final"] for r in runs], dtype=float) * (100 if metric == "accuracy" else 1)
    seeds = ",".join(str(r["seed"]) for r in runs)
    digits = 2 if metric == "accuracy" else 3
    spread = f" ± {vals.std(ddof=1):.{digits}f}" if len(vals) > 1 else ""
    return f"{vals.mean():.{digits}f}{spread} (seed{'s' if len(runs) > 1 else ''} {seeds})"


def section(runs: list[dict]) -> str:
    """The markdown section for ``runs`` (the raw file's list), between the markers."""
    lines = [BEGIN, "", "## On-chip stochastic rounding (issue 24)", "",
             "`4bit-onchip-sr` is `4bit-onchip` with stochastic rounding of the FP4 "
             "gradients: every hidden-layer gradient is rounded by the quantization unit's "
             "own per-lane xorshift32 generators (docs/quantizer.md, \"Stochastic "
             "rounding\"), the loss gradient, which the host quantizes in every on-chip "
             "recipe, by the host's stochastic rule (SPEC 1.3), as `4bit-stochastic` does. "
             "Golden backend, each task's schedule of the table above; mean ± standard "
             "deviation over the seeds given (no spread for one seed). Written by `python -m "
             "scripts.results_onchip`; `make results` keeps this section as it is.", "",
             "| recipe | digits-mlp (acc %) | charlm (bpc) |", "|---|---|---|"]
    metric = {"digits-mlp": "accuracy", "charlm": "bpc"}
    for recipe in RECIPES:
        cells = [_cell([r for r in runs if r["task"] == t and r["recipe"] == recipe], metric[t])
                 for t in TASKS]
        lines.append(f"| `{recipe}` | " + " | ".join(cells) + " |")
    cpu = {}
    for r in runs:
        cpu.setdefault((r["task"], r["recipe"]), []).append(r["cpu_s"])
    lines += ["", "CPU seconds per run (mean): " + "; ".join(
        f"{t} `{rc}` {np.mean(cpu[(t, rc)]):.0f}" for t in TASKS for rc in RECIPES
        if (t, rc) in cpu) + f". Measured {datetime.date.today()}.", "", END]
    return "\n".join(lines) + "\n"


def write_section(text: str, doc=DOC) -> None:
    from model.fileio import atomic_write_text
    atomic_write_text(doc, splice(doc.read_text(), text, ONCHIP_SR))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.results_onchip",
                                description=__doc__.splitlines()[0])
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--digits-seeds", type=int, nargs="*", default=[0, 1, 2])
    p.add_argument("--charlm-seeds", type=int, nargs="*", default=[0])
    p.add_argument("--recipes", nargs="*", default=list(RECIPES), choices=RECIPES)
    p.add_argument("--render-only", action="store_true")
    p.add_argument("--raw", default=str(RAW), metavar="FILE.json",
                   help="the raw runs, read and extended (default: build/results_onchip_raw.json)")
    p.add_argument("--merge", nargs="*", default=[], metavar="FILE.json",
                   help="add the runs of these raw files (of runs made elsewhere) first")
    args = p.parse_args(argv)
    require_checkout("scripts.results_onchip", "scripts.results_onchip (it rewrites "
                     "docs/results.md)")
    from model.fileio import atomic_write_text
    raw = Path(args.raw)
    runs = json.loads(raw.read_text()) if raw.exists() else []
    for other in args.merge:
        for res in json.loads(Path(other).read_text()):
            runs = sorted([r for r in runs if _key(r) != _key(res)] + [res], key=_key)
    if args.merge:
        atomic_write_text(raw, json.dumps(runs, indent=1))
    if not args.render_only:
        work = [(t, r, s) for t, seeds in (("charlm", args.charlm_seeds),
                                           ("digits-mlp", args.digits_seeds))
                for s in seeds for r in args.recipes]
        from tqdm import tqdm
        raw.parent.mkdir(parents=True, exist_ok=True)
        with Pool(args.jobs) as pool:
            for res in tqdm(pool.imap_unordered(run_one, work), total=len(work),
                            file=sys.stderr, desc="onchip-sr", unit="run"):
                print(f"{res['task']} {res['recipe']} seed {res['seed']}: {res['final']:.4f} "
                      f"({res['cpu_s']:.0f} CPU s)", file=sys.stderr, flush=True)
                runs = sorted([r for r in runs if _key(r) != _key(res)] + [res], key=_key)
                atomic_write_text(raw, json.dumps(runs, indent=1))
                write_section(section(runs))
    write_section(section(runs))
    print(f"wrote the on-chip stochastic rounding section of {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
