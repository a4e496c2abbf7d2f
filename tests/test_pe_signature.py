"""hw.pe_signature: one port signature for every PE kind, read by the array."""

import re

import numpy as np
import pytest
from amaranth.hdl import signed
from amaranth.lib import data
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from hw.array import SystolicArray, input_layout
from hw.baselines.fp16_pe import Fp16MacPE
from hw.baselines.fp16_pipelined import Fp16PipelinedMacPE
from hw.baselines.int8_pe import Int8MacPE
from hw.pe import ProcessingElement
from hw.pe_signature import PESignature
from hw.product import ProductUnit
from hw.product_pipeline import PipelinedProduct
from hw.synth_compose import BlackBoxPE
from hw.verilog import generate
from model.config import PE_LATENCIES, DatapathConfig
from verif.kit.sim_stream import stream_get, stream_put


def _ports(verilog: str, top: str) -> dict[str, tuple[str, int]]:
    """``{name: (direction, width)}`` of the port declarations of module ``top``."""
    body = verilog[verilog.index(f"module {top}("):]
    body = body[:body.index("endmodule")]
    ports = {}
    for direction, msb, name in re.findall(r"^\s*(input|output)\s+(?:\[(\d+):0\]\s+)?(\w+);",
                                           body, re.M):
        ports[name] = (direction, int(msb or 0) + 1)
    return ports


@pytest.mark.parametrize("latency", PE_LATENCIES)
def test_radix4_pe_verilog_ports_are_the_flat_ones(latency):
    assert _ports(generate("pe", acc_width=24, pe_latency=latency), "radix4_pe") == {
        "clk": ("input", 1), "rst": ("input", 1),
        "a": ("input", 4), "a_fmt": ("input", 2), "b": ("input", 4), "b_fmt": ("input", 1),
        "valid": ("input", 1), "clear": ("input", 1),
        "acc": ("output", 24), "overflow": ("output", 1)}


def test_every_pe_kind_has_the_signature_latency_and_lanes():
    kinds = [ProcessingElement(20, 2), BlackBoxPE(20, 2), Int8MacPE(3), Fp16MacPE(),
             Fp16PipelinedMacPE()]
    for pe in kinds:
        sig = pe.signature
        assert isinstance(sig, PESignature), type(pe).__name__
        assert [n for n in sig.members][:2] == ["a", "a_fmt"] or "a_fmt" not in sig.members
        for name in ("a", "b", "valid", "clear"):
            assert sig.members[name].flow == In
        assert sig.members["acc"].flow == sig.members["overflow"].flow == Out
        assert sig.members["a"].shape == data.ArrayLayout(sig.lane_shape, sig.lanes)
        assert isinstance(pe.latency, int) and pe.lanes == sig.lanes == 1
    radix4, box, int8, fp16, fp16p = (pe.signature for pe in kinds)
    assert radix4 == box == PESignature.from_formats(20)
    assert (radix4.lane_shape.width, radix4.a_select_width, radix4.b_select_width) == (4, 2, 1)
    assert int8.lane_shape == signed(8) and "a_fmt" not in int8.members
    assert int8.acc_shape == signed(32) and fp16.acc_shape.width == 32
    assert fp16.lane_shape.width == 16 and "acc_valid" in fp16p.members


def test_product_units_take_the_operand_part_of_the_signature():
    pe = PESignature.from_formats(18).members
    for unit in (ProductUnit(), PipelinedProduct()):
        for name in ("a", "a_fmt", "b", "b_fmt"):
            assert unit.signature.members[name] == pe[name], (type(unit).__name__, name)


def test_the_array_takes_its_operand_layout_from_the_pe():
    """The INT8 baseline in the array: 8-bit lanes, no selects, and the same
    GEMM stream as the radix-4 array computes exact INT8 sums (the layout
    follows the PE's signature, not the format table)."""
    rows, cols, k = 2, 3, 5
    dut = SystolicArray(rows, cols, 32, pe_latency=2, pe_class=Int8MacPE)
    assert dut.pe_signature == Int8MacPE(2).signature
    assert input_layout(rows, cols, dut.pe_signature) == data.StructLayout(
        {"a": 16, "b": 24, "a_fmt": 0, "b_fmt": 0, "first": 1, "last": 1})
    assert input_layout(rows, cols)["a"].width == rows * 4        # the radix-4 PE's
    rng = np.random.default_rng(3)
    a = rng.integers(-128, 128, (rows, k))
    b = rng.integers(-128, 128, (k, cols))

    def lanes(values, width):
        return sum((int(v) & ((1 << width) - 1)) << (width * i) for i, v in enumerate(values))

    got = []

    async def bench(ctx):
        for t in range(k):
            await stream_put(ctx, dut.i, {"a": lanes(a[:, t], 8), "b": lanes(b[t], 8),
                                          "first": int(t == 0), "last": int(t == k - 1)})
        for _ in range(rows):
            row = await stream_get(ctx, dut.o, limit=100)
            got.append([(row.data >> (32 * c)) & 0xFFFFFFFF for c in range(cols)])

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    want = (a @ b) & 0xFFFFFFFF
    assert got == want.tolist()


def test_a_pe_of_other_lanes_is_refused():
    class TwoLanePE(ProcessingElement):
        def __init__(self, *, config):
            super().__init__(config=config)
            self.lanes = 2

    with pytest.raises(ValueError, match="declares lanes 2, the array was built for 1"):
        SystolicArray(config=DatapathConfig(rows=2, cols=2), pe_class=TwoLanePE)
