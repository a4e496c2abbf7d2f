"""``radix4 regress``: the cocotb benches over many seeds, as Dask tasks.

The benches are the ``cocotb``-marked pytest tests under ``verif/`` (each
parametrised by simulator and size; ``verif/kit/seed.py`` takes the seed
from ``RADIX4_SEED``).  They are collected once, in a subprocess, then one
task per (test file, simulator, chunk of seeds) runs

    RADIX4_SEEDS=<s1,s2,...> RADIX4_REGRESS=1 python -m pytest -p verif.kit.batch <node ids...>

in a subprocess on some worker.  The ``verif.kit.batch`` plugin runs each
node once per seed of the chunk but simulates each bench only once for the
whole chunk (seed after seed in one simulator run), and writes one outcome
per (node, seed) plus the chunk's merged coverage per node to a JSON-lines
file that the task reads back.  Each seed's outcome is reported on its own
with its replay command -- the one-seed run of that node, which reproduces
the seed's stimulus exactly:

    RADIX4_REGRESS=1 RADIX4_SEED=<seed> .venv/bin/python -m pytest <node id>

``RADIX4_REGRESS=1`` selects the regress profile (fewer transactions per
seed; ``full_depth=True`` runs the default pytest depth instead).  Coverage
closure is judged over the merged coverage of all seeds of each node.
Builds come from the shared build cache (``verif.toolchain``), so each
machine builds each model once.

Every running pytest belongs to the worker's ``RegressPlugin``; its
teardown (cluster closed, Ctrl-C on the client) kills the process tree, and
``PR_SET_PDEATHSIG`` kills pytest if its worker process dies outright.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from model.paths import SOURCE_ROOT

__all__ = ["Bench", "RunResult", "collect", "plan_runs", "chunk_size", "run_regression",
           "replay_command", "SIMS"]

SIMS = ("icarus", "verilator")
REPO = SOURCE_ROOT     # a checkout: radix4 regress requires one (model.paths)
DEFAULT_TESTS = ("verif",)
MAX_CHUNK = 50          # seeds per task at most (bounds a task's length and a lost task's cost)


@dataclass(frozen=True)
class Bench:
    path: str        # test file as the replay command names it (relative to REPO if inside)
    test: str        # "test_array[icarus-2x3w18]"
    sim: str         # "icarus" or "verilator" (from the parameter id)

    @property
    def nodeid(self) -> str:
        return f"{self.path}::{self.test}"


@dataclass
class RunResult:
    seed: int
    bench: Bench
    passed: bool
    message: str = ""
    seconds: float = 0.0
    worker: str = ""
    regress: bool = True       # ran in the regress profile (RADIX4_REGRESS=1)

    @property
    def replay(self) -> str:
        return replay_command(self.seed, self.bench, regress=self.regress)


def _python_for_display() -> str:
    exe = Path(sys.executable)          # the venv's path, not its symlink target
    try:
        return str(exe.relative_to(REPO))
    except ValueError:
        return str(exe)


def replay_command(seed: int, bench: Bench, *, regress: bool = True) -> str:
    """The shell command (run from the repo root) that reruns one bench with one seed
    (``regress``: in the regress profile, as ``radix4 regress`` ran it)."""
    return (f"{'RADIX4_REGRESS=1 ' if regress else ''}RADIX4_SEED={seed} "
            f"{_python_for_display()} -m pytest {shlex.quote(bench.nodeid)}")


# ---------------------------------------------------------------- collection
class _Collector:
    def __init__(self):
        self.items = []

    def pytest_collection_finish(self, session):
        for item in session.items:
            self.items.append((str(item.path), item.nodeid.split("::", 1)[1],
                               item.get_closest_marker("cocotb") is not None))


def _collect_main():   # runs in a subprocess: python -c "...; _collect_main()" ARGS
    import pytest
    plugin = _Collector()
    code = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *sys.argv[1:]],
                       plugins=[plugin])
    sys.stdout.write("\n@@RADIX4@@" + json.dumps({"code": int(code), "items": plugin.items}))


def _display_path(path: str) -> str:
    p = Path(path).resolve()
    try:
        return str(p.relative_to(REPO))
    except ValueError:
        return str(p)


def collect(tests=DEFAULT_TESTS, sims=SIMS) -> list[Bench]:
    """The cocotb benches (or, for explicit ``tests``, every test) they name, for ``sims``."""
    explicit = tuple(tests) != DEFAULT_TESTS
    for t in tests:
        if not (REPO / t.split("::", 1)[0]).exists() and not Path(t.split("::", 1)[0]).exists():
            raise ValueError(f"--tests: no such file or directory: {t}")
    proc = subprocess.run([sys.executable, "-c", "from sim.regress import _collect_main; "
                           "_collect_main()", *tests], cwd=REPO, capture_output=True, text=True)
    marker = proc.stdout.rfind("@@RADIX4@@")
    if marker < 0:
        raise RuntimeError(f"collecting {' '.join(tests)} failed: "
                           f"{(proc.stderr or proc.stdout).strip()[-500:]}")
    found = json.loads(proc.stdout[marker + len("@@RADIX4@@"):])
    if found["code"] not in (0, 5):
        tail = proc.stdout[:marker].strip().splitlines()[-3:]
        raise ValueError(f"--tests: pytest could not collect {' '.join(tests)}: {' / '.join(tail)}")
    benches = []
    for path, test, cocotb in found["items"]:
        if not explicit and not cocotb:
            continue
        sim = "verilator" if "verilator" in test else "icarus"
        if sim in sims:
            benches.append(Bench(_display_path(path), test, sim))
    return benches


def chunk_size(seeds: int, groups: int, workers: int) -> int:
    """Seeds per task: at least 3 tasks per worker, at most ``MAX_CHUNK`` seeds."""
    per_task = seeds * groups / max(1, 3 * workers)
    return max(1, min(MAX_CHUNK, seeds, math.floor(per_task)))


def plan_runs(benches: list[Bench], seeds: list[int],
              chunk: int = 1) -> list[tuple[list[int], list[Bench]]]:
    """One task per (chunk of ``chunk`` seeds, test file, simulator), chunk-major."""
    tasks = []
    for i in range(0, len(seeds), chunk):
        groups: dict = {}
        for b in benches:
            groups.setdefault((b.path, b.sim), []).append(b)
        tasks += [(seeds[i:i + chunk], group) for group in groups.values()]
    return tasks


# ---------------------------------------------------------------- worker side
try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:
    WorkerPlugin = object


class RegressPlugin(WorkerPlugin):
    """Tracks the pytest processes of one regression on one worker."""

    def setup(self, worker):
        self.procs = set()
        self.lock = threading.Lock()

    def teardown(self, worker):
        with self.lock:
            procs = list(self.procs)
        for p in procs:
            _kill_tree(p.pid)


def _kill_tree(pid: int):
    import psutil
    try:
        root = psutil.Process(pid)
        tree = root.children(recursive=True) + [root]
    except psutil.NoSuchProcess:
        return
    for p in tree:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(tree, timeout=10)


def _die_with_parent():
    try:
        import ctypes
        import signal
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def run_group(plugin_name: str, seeds: list[int], benches: list[Bench], cwd: str,
              timeout: float, regress: bool = True) -> tuple[list[RunResult], list[dict]]:
    """Run one group of benches (one test file, one simulator) for a chunk of seeds in
    one pytest subprocess on a worker; ``timeout`` is for the whole chunk.  Returns one
    ``RunResult`` per (seed, bench) and the coverage records (``verif.kit.batch``)."""
    from distributed import get_worker
    worker = get_worker()
    plugin = worker.plugins[plugin_name]
    with tempfile.TemporaryDirectory(prefix="radix4-regress-") as tmp:
        report = Path(tmp) / "seeds.jsonl"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "-p", "verif.kit.batch", *[b.nodeid for b in benches]]
        env = {**os.environ, "RADIX4_SEEDS": ",".join(map(str, seeds)),
               "RADIX4_SEED_REPORT": str(report), "RADIX4_SEED": str(seeds[0])}
        env.pop("RADIX4_REGRESS", None)
        if regress:
            env["RADIX4_REGRESS"] = "1"
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        with plugin.lock:
            plugin.procs.add(proc)
        try:
            out, _ = proc.communicate(timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            _kill_tree(proc.pid)
            out, _ = proc.communicate()
            timed_out = True
        finally:
            with plugin.lock:
                plugin.procs.discard(proc)
        seconds = time.monotonic() - t0
        lines = report.read_text().splitlines() if report.is_file() else []
    entries = [json.loads(line) for line in lines if line.strip()]
    outcomes = {(e["nodeid"].split("::", 1)[-1], e["seed"]): e for e in entries if "seed" in e}
    by_test = {b.test: b for b in benches}          # one file: test names are unique
    coverage = [{**e, "bench": by_test[e["nodeid"].split("::", 1)[-1]].nodeid}
                for e in entries if "coverage" in e and e.get("nodeid")
                and e["nodeid"].split("::", 1)[-1] in by_test]
    tail = (out.decode(errors="replace").strip().splitlines() or ["no output"])[-1]
    results = []
    share = seconds / max(1, len(seeds) * len(benches))
    for seed in seeds:
        for b in benches:
            e = outcomes.get((b.test, seed))
            if e is not None:
                ok, msg = e["passed"], e["message"]
            elif timed_out:
                ok, msg = False, (f"timed out after {timeout:g} s (chunk of seeds "
                                  f"{seeds[0]}..{seeds[-1]})")
            else:
                ok, msg = False, f"no result from pytest (exit {proc.returncode}): {tail}"
            results.append(RunResult(seed, b, ok, msg, share, str(worker.name), regress))
    return results, coverage


# ---------------------------------------------------------------- client side
@dataclass
class Regression:
    results: list = field(default_factory=list)
    seconds: float = 0.0
    chunk: int = 1
    tasks: int = 0
    coverage: dict = field(default_factory=dict)   # bench nodeid -> merged coverage

    @property
    def failures(self) -> list[RunResult]:
        return [r for r in self.results if not r.passed]

    def coverage_gaps(self) -> list[tuple[str, int, list[str]]]:
        """``(bench nodeid, seeds merged, bins no seed hit)`` for each bench with a gap."""
        gaps = []
        for nodeid, cov in sorted(self.coverage.items()):
            missing = [f"{g}:{b}" for groups in cov["groups"].values()
                       for g, bins in groups.items() for b, n in bins.items() if n == 0]
            if missing:
                gaps.append((nodeid, len(cov["seeds"]), missing))
        return gaps

    def merge_coverage(self, nodeid: str, record: dict):
        cov = self.coverage.setdefault(nodeid, {"groups": {}, "seeds": set()})
        cov["seeds"].update(record["seeds"])
        data = record["coverage"]
        mine = cov["groups"].setdefault(data["name"], {})
        for group, bins in data["groups"].items():
            g = mine.setdefault(group, {})
            for b, n in bins.items():
                g[b] = g.get(b, 0) + n


def run_regression(client, benches: list[Bench], seeds: list[int], *, timeout: float = 600,
                   progress: bool = True, on_result=None, chunk: int | None = None,
                   regress: bool = True) -> Regression:
    """Run every bench for every seed on ``client``'s workers; never raises on a failing
    bench.  ``timeout``: seconds per seed of a task (a task gets ``timeout`` times its
    seeds); ``chunk``: seeds per task (default ``chunk_size``); ``regress``: the
    regress profile (else the default pytest depth)."""
    from distributed import as_completed
    from tqdm import tqdm

    name = f"radix4-regress-{uuid.uuid4().hex[:12]}"
    client.register_plugin(RegressPlugin(), name=name)
    groups = len({(b.path, b.sim) for b in benches})
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    chunk = chunk or chunk_size(len(seeds), groups, workers)
    reg = Regression(chunk=chunk)
    t0 = time.monotonic()
    futures = []
    try:
        plan = plan_runs(benches, seeds, chunk)
        reg.tasks = len(plan)
        for n, (chunk_seeds, group) in enumerate(plan):
            # earlier chunks first; within a chunk the bigger groups first
            futures.append(client.submit(run_group, name, chunk_seeds, group, str(REPO),
                                         timeout * len(chunk_seeds) + 120, regress,
                                         pure=False, retries=1,
                                         priority=-(n // groups) * 1000 + len(group)))
        bar = tqdm(total=len(seeds), unit="seed", desc="regress", file=sys.stderr,
                   disable=None if progress else True,
                   bar_format="{l_bar}{bar}| {n:.0f}/{total} seeds [{elapsed}<{remaining}]")
        try:
            for fut in as_completed(futures):
                results, coverage = fut.result()
                for r in results:
                    reg.results.append(r)
                    if on_result:
                        on_result(r)
                for rec in coverage:
                    reg.merge_coverage(rec["bench"], rec)
                bar.update(len(results) / len(benches))
        finally:
            bar.close()
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)
        try:
            client.unregister_worker_plugin(name)
        except Exception:
            pass
    reg.seconds = time.monotonic() - t0
    reg.results.sort(key=lambda r: (r.seed, r.bench.nodeid))
    return reg
