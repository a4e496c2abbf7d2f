"""Everything that touches cocotb's runner (``cocotb_tools.runner``), in one place.

The project starts long-lived simulations that a driver feeds while they
run, which cocotb's public ``Runner.test`` cannot do (it blocks).  So
``test_process`` borrows the runner's *private* environment and command
builders (``_set_env_test``, ``_test_command``); those are only promised
for the cocotb versions checked in ``check_cocotb``.  A newer major version
fails loudly here rather than starting a simulator with a wrong
environment.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from .discovery import Simulator, sim_environment

__all__ = ["COCOTB_SUPPORTED", "CocotbVersionError", "check_cocotb", "cocotb_version",
           "cocotb_build", "verilator_harness", "test_process", "TIMESCALE"]

# Major versions whose private runner API matches what test_process uses.
COCOTB_SUPPORTED = (2,)
TIMESCALE = ("1ns", "1ps")
_PRIVATE = ("_set_env_test", "_test_command")


class CocotbVersionError(RuntimeError):
    """The installed cocotb is not one whose runner internals this adapter knows."""


@functools.lru_cache(maxsize=None)
def cocotb_version() -> str:
    import cocotb
    return cocotb.__version__


@functools.lru_cache(maxsize=None)
def check_cocotb() -> str:
    """The cocotb version, after checking the runner internals we rely on exist."""
    version = cocotb_version()
    major = int(re.match(r"\d+", version).group())
    if major not in COCOTB_SUPPORTED:
        raise CocotbVersionError(f"cocotb {version} is not supported (need 2.x; "
                                 "pyproject.toml pins cocotb>=2.0,<3)")
    from cocotb_tools.runner import Runner
    missing = [name for name in _PRIVATE if not hasattr(Runner, name)]
    if missing:
        raise CocotbVersionError(f"cocotb {version}: runner lacks {', '.join(missing)}; "
                                 "update verif/toolchain/cocotb_adapter.py")
    return version


def _runner(sim: Simulator):
    check_cocotb()
    from cocotb_tools.runner import get_runner
    return get_runner(sim.name)


def cocotb_build(sim: Simulator, sources: list[Path], toplevel: str, build_dir: Path, *,
                 build_args: list[str], waves: bool, log: Path) -> None:
    """cocotb's own build of ``sources`` (public ``Runner.build``) in ``sim``'s environment."""
    with sim_environment(sim):
        _runner(sim).build(sources=sources, hdl_toplevel=toplevel, build_dir=build_dir,
                           build_args=build_args, timescale=TIMESCALE, waves=waves,
                           always=True, log_file=log)


def verilator_harness() -> dict:
    """What a hand-made Verilator build needs to be a cocotb executable:
    ``cpp`` (cocotb's Verilator main loop) and ``ldflags``."""
    check_cocotb()
    import cocotb_tools.config as cfg
    libs = cfg.libs_dir
    return {"cpp": cfg.share_dir / "lib" / "verilator" / "verilator.cpp",
            "ldflags": f"-Wl,-rpath,{libs} -L{libs} -lcocotbvpi_verilator",
            "libs_dir": str(libs)}


def test_process(sim: Simulator, build_dir: Path, toplevel: str, module: str, test_dir: Path,
                 results_xml: Path, *, extra_env: dict, plusargs: list, waves: bool,
                 testcase=None) -> tuple[list[str], dict]:
    """``(argv, env)`` that start cocotb module ``module`` on a build exactly as
    ``Runner.test`` would, without running it."""
    runner = _runner(sim)
    runner.build_dir = build_dir
    runner.test_dir = test_dir
    runner.test_module = module
    runner.sim_hdl_toplevel = toplevel
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
    runner.waves = waves
    runner.gui = False
    runner.timescale = TIMESCALE
    runner.verbose = False
    runner.log_file = None
    with sim_environment(sim):
        runner._set_env_test()
        runner.env["COCOTB_RESULTS_FILE"] = str(results_xml)
        cmds = runner._test_command()
    if len(cmds) != 1:
        raise CocotbVersionError(f"cocotb {cocotb_version()}: expected one {sim.name} "
                                 f"command, got {cmds!r}")
    return list(cmds[0]), dict(runner.env)
