"""Mutation gate (``make mutate`` / ``python -m verif.mutate``).

For every mutant of ``verif.mutants.CATALOGUE``: copy the project's sources
into a temporary directory under ``build/mutate/``, apply the one text
replacement there (the work tree is never touched), and run each test
selection the mutant must be killed by, as a separate pytest process from the
copy's root (so ``hw`` imports the mutated copy: the copy's root is
``sys.path[0]``, ahead of the editable install).  A mutant is

* KILLED if every required selection fails (pytest exit status 1),
* SURVIVED if one passes (exit 0): a hole in that layer,
* ERROR if a run neither passes nor fails (collection error, timeout),
* STALE if its text no longer occurs exactly once in the source.

First the selections run once on an unmutated copy (the baseline): a
selection that fails without a mutant would "kill" everything.  Every run
gets the same ``RADIX4_SEED`` (``--seed``, default the environment's or 1),
so the cocotb benches' random stimulus is the same for the baseline and every
mutant, and a result can be replayed.  Runs go
``--jobs`` at a time (default 2, the machine's cores).  Exit status 0 iff
every mutant is killed or argued equivalent (``verif.mutants.EQUIVALENT``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from model.paths import SOURCE_ROOT, CheckoutRequired, require_checkout

from .mutants import CATALOGUE, EQUIVALENT, SELECTIONS, Mutant

ROOT = SOURCE_ROOT     # the checkout: main() requires one
COPIED = ("hw", "model", "sim", "verif", "tests", "scripts", "pyproject.toml")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis")


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


def _copy_tree(dest: Path) -> None:
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=IGNORE)
        elif src.exists():
            shutil.copy2(src, dest / name)


def apply(mutant: Mutant, root: Path) -> None:
    """Apply ``mutant`` to the copy at ``root`` (ValueError if stale)."""
    path = root / mutant.path
    text = path.read_text()
    count = text.count(mutant.old)
    if count != 1:
        raise ValueError(f"{mutant.name}: text found {count} times in {mutant.path}, "
                         "expected exactly once; update verif/mutants.py")
    path.write_text(text.replace(mutant.old, mutant.new))


def stale(mutant: Mutant) -> bool:
    return (ROOT / mutant.path).read_text().count(mutant.old) != 1


def run_selection(root: Path, selection: str, timeout: float) -> tuple[str, float, str]:
    """Run one selection in the copy at ``root``: (outcome, seconds, tail of output)."""
    env = dict(os.environ)
    # Simulator builds are keyed on the Verilog text, so mutants share one cache.
    env["RADIX4_SIM_BUILD"] = str(ROOT / "build" / "mutate" / "sim")
    env["PYTHONPATH"] = str(root)
    env.pop("PYTEST_XDIST_WORKER", None)
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
           *SELECTIONS[selection]]
    start = time.monotonic()
    # Own session, so a timeout ends the whole tree: a mutant that makes a
    # bench wait forever leaves a simulator (vvp) under pytest otherwise.
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return "timeout", time.monotonic() - start, ""
    seconds = time.monotonic() - start
    tail = "\n".join(out.strip().splitlines()[-3:])
    outcome = {0: "passed", 1: "failed"}.get(proc.returncode, f"exit {proc.returncode}")
    return outcome, seconds, tail


def run_mutant(mutant: Mutant, workroot: Path, timeout: float) -> dict:
    with tempfile.TemporaryDirectory(dir=workroot, prefix=f"{mutant.name}-") as tmp:
        root = Path(tmp)
        _copy_tree(root)
        try:
            apply(mutant, root)
        except ValueError as exc:
            return {"name": mutant.name, "status": "STALE", "detail": str(exc), "seconds": 0.0}
        runs = {}
        for selection in mutant.kill_layers:
            runs[selection] = run_selection(root, selection, timeout)
    outcomes = {sel: r[0] for sel, r in runs.items()}
    seconds = sum(r[1] for r in runs.values())
    if all(o == "failed" for o in outcomes.values()):
        status = "KILLED"
    elif any(o == "passed" for o in outcomes.values()):
        status = "SURVIVED"
    else:
        status = "ERROR"
    detail = ", ".join(f"{sel} {o}" for sel, o in outcomes.items())
    if status == "ERROR":
        detail += " | " + " | ".join(r[2] for r in runs.values() if r[0] not in ("failed",))
    return {"name": mutant.name, "status": status, "detail": detail, "seconds": seconds}


def baseline(selections, workroot: Path, timeout: float, jobs: int) -> list[str]:
    """Selections that do not pass on the unmutated sources."""
    with tempfile.TemporaryDirectory(dir=workroot, prefix="baseline-") as tmp:
        root = Path(tmp)
        _copy_tree(root)
        with ThreadPoolExecutor(jobs) as pool:
            results = dict(zip(selections, pool.map(
                lambda s: run_selection(root, s, timeout), selections)))
    return [f"{s}: {r[0]}\n{r[2]}" for s, r in results.items() if r[0] != "passed"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m verif.mutate",
                                 description="Run the RTL mutation gate.")
    ap.add_argument("names", nargs="*", help="mutant names (default: the whole catalogue)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=300.0,
                    help="seconds per pytest run (a selection takes 5-60 s unmutated; a run "
                         "that hangs on a mutant is reported, not counted as a kill)")
    ap.add_argument("--seed", type=int,
                    default=int(os.environ.get("RADIX4_SEED", "").strip() or 1),
                    help="RADIX4_SEED of every run (default: the environment's, else 1)")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--list", action="store_true", help="list the catalogue and exit")
    args = ap.parse_args(argv)
    by_name = {m.name: m for m in CATALOGUE}
    unknown = [n for n in args.names if n not in by_name]
    if unknown:
        print(f"verif.mutate: unknown mutant {unknown[0]!r}", file=sys.stderr)
        return 2
    mutants = [by_name[n] for n in args.names] if args.names else list(CATALOGUE)
    if args.list:
        for m in mutants:
            print(f"{m.name:34s} {m.path:20s} {'+'.join(m.kill_layers):24s} {m.why}")
        return 0
    try:    # it copies and runs tests/ of the checkout
        require_checkout("python -m verif.mutate")
    except CheckoutRequired as exc:
        print(f"verif.mutate: {exc}", file=sys.stderr)
        return 2
    workroot = ROOT / "build" / "mutate"
    workroot.mkdir(parents=True, exist_ok=True)
    os.environ["RADIX4_SEED"] = str(args.seed)     # inherited by every pytest run
    print(f"verif.mutate: {len(mutants)} mutants, --jobs {args.jobs}, RADIX4_SEED={args.seed}, "
          f"load {_load()}", flush=True)
    start = time.monotonic()
    selections = sorted({s for m in mutants for s in m.kill_layers})
    if not args.no_baseline:
        bad = baseline(selections, workroot, args.timeout, args.jobs)
        if bad:
            print("verif.mutate: baseline fails without a mutant:\n" + "\n".join(bad))
            return 1
        print(f"baseline: {len(selections)} selections pass unmutated", flush=True)
    results = []
    with ThreadPoolExecutor(args.jobs) as pool:
        for r in pool.map(lambda m: run_mutant(m, workroot, args.timeout), mutants):
            print(f"{r['status']:8s} {r['name']:34s} {r['seconds']:6.1f} s  {r['detail']}",
                  flush=True)
            results.append(r)
    elapsed = time.monotonic() - start
    killed = sum(r["status"] == "KILLED" for r in results)
    survivors = [r["name"] for r in results if r["status"] != "KILLED"]
    unargued = [n for n in survivors if n not in EQUIVALENT]
    print(f"mutation gate: {len(results)} mutants, {killed} killed "
          f"({100.0 * killed / max(1, len(results)):.1f} %), {len(survivors)} not killed"
          f"{' (' + ', '.join(survivors) + ')' if survivors else ''}, "
          f"{len(survivors) - len(unargued)} argued equivalent; {elapsed:.0f} s, "
          f"{args.jobs} jobs, load {_load()}")
    return 1 if unargued else 0


if __name__ == "__main__":
    sys.exit(main())
