"""``radix4 regress``: the cocotb benches over many seeds, as Dask tasks.

The benches are the ``cocotb``-marked pytest tests under ``verif/`` (each
parametrised by simulator and size; ``verif/kit/seed.py`` takes the seed
from ``RADIX4_SEED``).  They are collected once, in a subprocess, then one
task per (seed, test file, simulator) runs

    RADIX4_SEED=<seed> python -m pytest -p no:cacheprovider <node ids...>

in a subprocess on some worker, and reports each node's outcome from
pytest's JUnit XML.  A failure's replay command is exactly the command that
ran it, narrowed to the failing node.  Builds come from the shared build
cache (``verif.toolchain``), so each machine builds each model once.

Every running pytest belongs to the worker's ``RegressPlugin``; its
teardown (cluster closed, Ctrl-C on the client) kills the process tree, and
``PR_SET_PDEATHSIG`` kills pytest if its worker process dies outright.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Bench", "RunResult", "collect", "plan_runs", "run_regression", "replay_command",
           "SIMS"]

SIMS = ("icarus", "verilator")
REPO = Path(__file__).resolve().parents[1]
DEFAULT_TESTS = ("verif",)


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

    @property
    def replay(self) -> str:
        return replay_command(self.seed, self.bench)


def _python_for_display() -> str:
    exe = Path(sys.executable)          # the venv's path, not its symlink target
    try:
        return str(exe.relative_to(REPO))
    except ValueError:
        return str(exe)


def replay_command(seed: int, bench: Bench) -> str:
    """The shell command (run from the repo root) that reruns one bench with one seed."""
    return (f"RADIX4_SEED={seed} {_python_for_display()} -m pytest "
            f"{shlex.quote(bench.nodeid)}")


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


def plan_runs(benches: list[Bench], seeds: list[int]) -> list[tuple[int, list[Bench]]]:
    """One task per (seed, file, simulator): fewer pytest start-ups, still fine-grained."""
    groups: dict = {}
    for seed in seeds:
        for b in benches:
            groups.setdefault((seed, b.path, b.sim), []).append(b)
    return [(seed, group) for (seed, _, _), group in groups.items()]


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


def run_group(plugin_name: str, seed: int, benches: list[Bench], cwd: str,
              timeout: float) -> list[RunResult]:
    """Run one group of benches with one seed in a pytest subprocess (on a worker)."""
    from distributed import get_worker
    worker = get_worker()
    plugin = worker.plugins[plugin_name]
    with tempfile.TemporaryDirectory(prefix="radix4-regress-") as tmp:
        junit = Path(tmp) / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               f"--junitxml={junit}", *[b.nodeid for b in benches]]
        env = {**os.environ, "RADIX4_SEED": str(seed)}
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
        outcomes = _junit_outcomes(junit) if junit.is_file() else {}
    text = out.decode(errors="replace")
    results = []
    for b in benches:
        if timed_out:
            ok, msg = False, f"timed out after {timeout:g} s"
        elif b.test in outcomes:
            ok, msg = outcomes[b.test]
        else:
            tail = text.strip().splitlines()[-1:] or ["no output"]
            ok, msg = False, f"no result from pytest (exit {proc.returncode}): {tail[0]}"
        results.append(RunResult(seed, b, ok, msg, seconds / len(benches), str(worker.name)))
    return results


def _junit_outcomes(path: Path) -> dict:
    """``{test name with params: (passed, first line of the failure)}``."""
    out = {}
    for case in ET.parse(path).iter("testcase"):
        bad = next((e for tag in ("failure", "error") for e in case.iter(tag)), None)
        skipped = next(case.iter("skipped"), None)
        if bad is not None:
            msg = (bad.get("message") or bad.text or "").strip().splitlines()
            out[case.get("name")] = (False, msg[0][:300] if msg else bad.tag)
        elif skipped is not None:
            out[case.get("name")] = (False, "skipped: " + (skipped.get("message") or "")[:200])
        else:
            out[case.get("name")] = (True, "")
    return out


# ---------------------------------------------------------------- client side
@dataclass
class Regression:
    results: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failures(self) -> list[RunResult]:
        return [r for r in self.results if not r.passed]


def run_regression(client, benches: list[Bench], seeds: list[int], *, timeout: float = 1800,
                   progress: bool = True, on_result=None) -> Regression:
    """Run every bench for every seed on ``client``'s workers; never raises on a failing bench."""
    from distributed import as_completed
    from tqdm import tqdm

    name = f"radix4-regress-{uuid.uuid4().hex[:12]}"
    client.register_plugin(RegressPlugin(), name=name)
    reg = Regression()
    t0 = time.monotonic()
    futures = []
    try:
        for seed, group in plan_runs(benches, seeds):
            futures.append(client.submit(run_group, name, seed, group, str(REPO), timeout,
                                         pure=False, priority=-seed, retries=1))
        bar = tqdm(total=len(benches) * len(seeds), unit="run", desc="regress",
                   file=sys.stderr, disable=None if progress else True)
        try:
            for fut in as_completed(futures):
                for r in fut.result():
                    reg.results.append(r)
                    bar.update()
                    if on_result:
                        on_result(r)
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
