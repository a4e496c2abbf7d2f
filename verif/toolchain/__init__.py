"""The project's toolchain, shared by ``verif`` (cocotb benches) and ``sim``
(host testbench, C++ reference): simulator discovery (``discovery``), one
build cache with its lock and marker (``cache``), cached cocotb builds of the
designs (``builds``), and cocotb's runner behind one version-checked adapter
(``cocotb_adapter``, used by ``run``).

Usage::

    from verif import toolchain as tc

    b = tc.build("array", {"rows": 4, "cols": 4, "acc_width": 32}, "verilator")
    result = tc.test("verif.benches.array_tb", b, extra_env={"RADIX4_SEED": "1"})
    proc, results_xml = tc.launch("sim.host_server", b, extra_env={...})

Environment: ``WAVES=1`` builds with tracing and dumps waves of every run;
``RADIX4_SIM_BUILD`` moves the cache root (default ``build/sim`` of a checkout,
``<user cache>/sim`` when installed: ``model.paths``).
"""

from .builds import (TOPS, VERILATOR_BUILD_ARGS, Build, build, generate_verilog, tool_key,
                     toplevel_name, waves_enabled)
from .cache import (MARKER, REPO_ROOT, cache_root, cached_build, key_digest, locked,
                    sha256_text, write_atomic)
from .cocotb_adapter import (TIMESCALE, CocotbVersionError, check_cocotb, cocotb_build,
                             test_process, verilator_harness)
from .discovery import (MIN_ICARUS, MIN_VERILATOR, SIMULATORS, Simulator, SimulatorNotFound,
                        compiler_version, find_simulator, sim_environment, tool_env,
                        yowasp_command)
from .run import CocotbFailure, RunResult, launch, read_results, test

__all__ = [
    "SIMULATORS", "MIN_VERILATOR", "MIN_ICARUS", "SimulatorNotFound", "Simulator",
    "find_simulator", "tool_env", "sim_environment", "yowasp_command", "compiler_version",
    "REPO_ROOT", "MARKER", "cache_root", "cached_build", "key_digest", "locked", "sha256_text",
    "write_atomic", "TIMESCALE", "CocotbVersionError", "check_cocotb", "cocotb_build",
    "test_process", "verilator_harness", "TOPS", "VERILATOR_BUILD_ARGS", "Build", "build",
    "generate_verilog", "tool_key", "toplevel_name", "waves_enabled", "CocotbFailure",
    "RunResult", "launch", "read_results", "test",
]
