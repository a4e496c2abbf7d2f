"""Running cocotb modules on a ``Build``: blocking (``test``) or not (``launch``).

Each run gets its own ``runs/<name>-<pid>-<n>/`` directory under the build,
so concurrent runs of one build do not collide.  ``WAVES=1`` dumps waves of
every run there (Icarus: ``<top>.fst``; Verilator: ``dump.vcd``).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from .builds import Build
from .cocotb_adapter import test_process

__all__ = ["CocotbFailure", "RunResult", "launch", "test", "read_results"]


class CocotbFailure(AssertionError):
    """A cocotb run failed; the message lists the failing tests and how to replay."""


@dataclass
class RunResult:
    tests: int
    failed: int
    failures: list            # [(test name, message)]
    results_xml: Path
    test_dir: Path


_run_counter = itertools.count()


def _run_dir(b: Build, module: str, name: str | None) -> Path:
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", name or module.rsplit(".", 1)[-1])[:80]
    d = b.build_dir / "runs" / f"{label}-{os.getpid()}-{next(_run_counter)}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return d


def _plusargs(b: Build, test_dir: Path) -> list:
    if b.waves and b.sim.name == "icarus":
        return [f"+dumpfile_path={test_dir / (b.toplevel + '.fst')}"]
    return []


def launch(module: str, b: Build, *, extra_env: dict | None = None, name: str | None = None,
           testcase=None, stdout=None, stderr=None):
    """Start the simulation of ``b`` running cocotb module ``module``; don't wait.

    Returns ``(popen, results_xml_path)``.  ``extra_env`` reaches the cocotb
    module's ``os.environ``.  The caller must ``wait()`` (or kill) the process.
    """
    test_dir = _run_dir(b, module, name)
    results_xml = test_dir / "results.xml"
    argv, env = test_process(b.sim, b.build_dir, b.toplevel, module, test_dir, results_xml,
                             extra_env=extra_env or {}, plusargs=_plusargs(b, test_dir),
                             waves=b.waves, testcase=testcase)
    proc = subprocess.Popen(argv, cwd=test_dir, env=env, stdout=stdout, stderr=stderr)
    return proc, results_xml


def read_results(results_xml: Path) -> tuple[int, list]:
    """``(number of tests, [(failed test, message), ...])`` from a cocotb results file."""
    if not Path(results_xml).is_file():
        raise CocotbFailure(f"no cocotb results at {results_xml}: the simulator died "
                            "before cocotb finished (see the log above)")
    tree = ET.parse(results_xml)
    tests, failures = 0, []
    for case in tree.iter("testcase"):
        tests += 1
        for bad in itertools.chain(case.iter("failure"), case.iter("error")):
            msg = bad.get("message") or (bad.text or "").strip()
            failures.append((case.get("name"), msg[:2000]))
            break
    return tests, failures


def test(module: str, b: Build, *, extra_env: dict | None = None, name: str | None = None,
         testcase=None, timeout: float | None = 600, check: bool = True) -> RunResult:
    """Run cocotb module ``module`` on build ``b``; wait; parse its results.

    Raises ``CocotbFailure`` (an ``AssertionError``) when a cocotb test fails
    or the simulator dies, unless ``check`` is False.  Output goes to this
    process's stdout, so pytest shows it for failing tests.
    """
    extra_env = dict(extra_env or {})
    proc, results_xml = launch(module, b, extra_env=extra_env, name=name, testcase=testcase,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        sys.stdout.write(out.decode(errors="replace"))
        raise CocotbFailure(f"{module} on {b.sim.name} timed out after {timeout} s")
    # Re-emit the simulator's log through this process so pytest captures it.
    sys.stdout.write(out.decode(errors="replace"))
    sys.stdout.flush()
    try:
        tests, failures = read_results(results_xml)
    except CocotbFailure:
        if not check:
            return RunResult(0, 1, [("<simulator>", "no results")], results_xml,
                             results_xml.parent)
        raise
    if proc.returncode != 0 and not failures:
        failures = [("<simulator>", f"exit status {proc.returncode}")]
    result = RunResult(tests, len(failures), failures, results_xml, results_xml.parent)
    if check and (failures or tests == 0):
        replay = " ".join(f"{k}={v}" for k, v in extra_env.items() if k in ("RADIX4_SEED",))
        lines = [f"{module} on {b.sim.name} {b.toplevel} {b.params}: "
                 f"{len(failures)} of {tests} cocotb tests failed"
                 + (f" (replay with {replay}; WAVES=1 to dump waves)" if replay else "")]
        lines += [f"  {n}: {m}" for n, m in failures]
        if tests == 0:
            lines.append("  no cocotb test ran")
        raise CocotbFailure("\n".join(lines))
    return result
