"""The designs the hardware-cost report compares, and the PnR input wrapper."""

from __future__ import annotations

from dataclasses import dataclass

from amaranth.back import verilog
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In

__all__ = ["InputRegistered", "Design", "DESIGNS", "QUANT_SECTION"]


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
    kind: str           # "pe", "array" or "quant" (the quantization unit, no MACs)
    rows: int = 1
    cols: int = 1
    acc_width: int = 32
    latency: int | None = None   # PE pipeline latency; None: the class's default
    lanes: int | None = None     # quant: the unit's datapath lanes (docs/quantizer.md)

    @property
    def macs_per_cycle(self) -> int:
        return 0 if self.kind == "quant" else self.rows * self.cols

    def component(self) -> wiring.Component:
        kwargs = {} if self.latency is None else {"latency": self.latency}
        if self.key == "radix4_pe":
            from .pe import ProcessingElement
            return ProcessingElement(self.acc_width, **kwargs)
        if self.key in ("int8_pe", "int8_pe_pipelined"):
            from .baselines.int8_pe import Int8MacPE
            return Int8MacPE(**kwargs)
        if self.key == "fp16_pe":
            from .baselines.fp16_pe import Fp16MacPE
            return Fp16MacPE()
        if self.key == "fp16_pe_pipelined":
            from .baselines.fp16_pipelined import Fp16PipelinedMacPE
            return Fp16PipelinedMacPE()
        if self.kind == "array":
            from .array import SystolicArray
            return SystolicArray(self.rows, self.cols, self.acc_width)
        if self.kind == "quant":
            from .quant_unit import QuantUnit
            return QuantUnit(self.cols, self.acc_width, self.lanes)
        raise ValueError(f"unknown design {self.key!r}")

    def pnr_component(self) -> wiring.Component:
        c = self.component()
        return InputRegistered(c) if self.kind == "pe" else c

    def verilog(self, for_pnr: bool = False) -> str:
        comp = self.pnr_component() if for_pnr else self.component()
        return verilog.convert(comp, name=self.key, emit_src=False)


DESIGNS = [
    Design("radix4_pe", "radix-4 PE (ours)", "pe"),
    Design("int8_pe", "INT8 PE (baseline)", "pe", latency=1),
    Design("fp16_pe", "FP16 PE, FP32 acc (baseline)", "pe"),
    # The baselines pipelined like the radix-4 PE (docs/hardware.md,
    # "Pipelined baselines"): one MAC per cycle at a comparable clock.
    Design("int8_pe_pipelined", "INT8 PE, pipelined (baseline)", "pe"),
    Design("fp16_pe_pipelined", "FP16 PE, FP32 acc, pipelined (baseline)", "pe"),
    Design("radix4_array_4x4", "radix-4 array 4x4", "array", 4, 4),
    Design("radix4_array_8x8", "radix-4 array 8x8", "array", 8, 8),
    Design("radix4_array_16x16", "radix-4 array 16x16", "array", 16, 16),
    # The on-chip quantization unit for the 8x8 tile's 8 columns (hw/quant_unit.py):
    # one lane, and two time-shared lanes (the tile's default, hw.tile_quant).
    Design("quant_unit_1lane", "quantization unit, 8 columns, 1 lane", "quant", cols=8, lanes=1),
    Design("quant_unit_2lanes", "quantization unit, 8 columns, 2 lanes", "quant", cols=8,
           lanes=2),
]
QUANT_SECTION = ("radix4_array_8x8", "quant_unit_1lane", "quant_unit_2lanes")
"""The designs of the report's quantization-unit section (``radix4 synth --quant-section``)."""
