"""Processing element: one exact 4-bit x 4-bit multiply-accumulate (SPEC 2).

The product comes from ``hw.product`` (generated from the format table:
select widths, lane width, one decode case per table row).

The accumulator adds one product per valid cycle.  Its sticky overflow flag
follows ``model.gemm.overflow_mask``: it is set as soon as a running sum leaves
the signed ``acc_width`` range, the register then wraps, and only ``clear``
(or reset) lowers the flag again.

``latency`` is the number of cycles from the operands (with their
``valid``/``clear``) to ``acc`` showing the sum.  Latency 1 adds the
combinational product in the same cycle; latency 2 registers the product
(and the valid/clear that go with it) first, which takes the product logic
out of the accumulator's path; latency 3 (the default) also cuts the product
itself in two (``hw.product_pipeline``).  Users (the array) read
``pe.latency``.

A ``clear`` beat loads its product instead of adding it to a zeroed
accumulator: the multiplexer then sits after the adder, off the carry
chain's input (faster on ECP5), with the same result.
"""


from amaranth.hdl import Module, Signal, signed  # no __future__ annotations: Amaranth reads them
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from model.hw_vocab import lane_width, product_width, select_width
from model.gemm import ACC_WIDTH_MAX, ACC_WIDTH_MIN, check_acc_width as _check_model_width

from .product import ProductUnit
from .product_pipeline import PipelinedProduct

__all__ = ["ProcessingElement", "PE_LATENCIES", "DEFAULT_PE_LATENCY",
           "ACC_WIDTH_MIN", "ACC_WIDTH_MAX", "check_acc_width", "check_latency"]

PE_LATENCIES = (1, 2, 3)
# The pipelined PE is the default everywhere (array, tile, Verilog, driver):
# latency 3 places at ~190 MHz on ECP5 against ~87 MHz for latency 1, and
# is smaller (docs/hardware-cost.md).  Every user reads this one constant.
DEFAULT_PE_LATENCY = 3


def check_acc_width(acc_width) -> int:
    """Validate an accumulator width: the golden model's range (SPEC 2), and
    wide enough for one product of the formats in the table."""
    acc_width = _check_model_width(acc_width)
    if acc_width < product_width():
        raise ValueError(f"acc_width {acc_width} is narrower than a product "
                         f"({product_width()} bits) of the formats in the table")
    return acc_width


def check_latency(latency) -> int:
    if isinstance(latency, bool) or latency not in PE_LATENCIES:
        raise ValueError(f"PE latency must be one of {PE_LATENCIES}, got {latency!r}")
    return latency


class ProcessingElement(wiring.Component):
    """Multiply-accumulate cell with a sticky overflow flag.

    Ports (Verilog names equal the member names, plus ``clk``/``rst``):
    ``a``, ``a_fmt``, ``b``, ``b_fmt``, ``valid``, ``clear`` in;
    ``acc`` (signed ``acc_width``, registered) and ``overflow`` out.
    ``acc`` shows a product ``latency`` cycles after its operands.
    """

    def __init__(self, acc_width: int = 32, latency: int = DEFAULT_PE_LATENCY):
        try:
            self.acc_width = check_acc_width(acc_width)
            self.latency = check_latency(latency)
        except ValueError:
            self._MustUse__silence = True  # never built: no "unused elaboratable" warning
            raise
        lane = lane_width()
        super().__init__({
            "a": In(lane),
            "a_fmt": In(select_width("a")),
            "b": In(lane),
            "b_fmt": In(select_width("b")),
            "valid": In(1),
            "clear": In(1),
            "acc": Out(signed(acc_width)),
            "overflow": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        width = self.acc_width

        if self.latency == 3:
            m.submodules.product_pipeline = pp = PipelinedProduct()
            m.d.comb += [pp.a.eq(self.a), pp.a_fmt.eq(self.a_fmt), pp.b.eq(self.b),
                         pp.b_fmt.eq(self.b_fmt), pp.valid.eq(self.valid), pp.clear.eq(self.clear)]
            product, valid, clear = pp.product, pp.valid_out, pp.clear_out
        else:
            m.submodules.product_unit = pu = ProductUnit()
            m.d.comb += [
                pu.a.eq(self.a), pu.a_fmt.eq(self.a_fmt),
                pu.b.eq(self.b), pu.b_fmt.eq(self.b_fmt),
            ]
            product, valid, clear = pu.product, self.valid, self.clear
        if self.latency == 2:
            # The product stage: valid/clear travel with their product.
            product = Signal.like(pu.product, name="product_q")
            valid, clear = Signal(name="valid_q"), Signal(name="clear_q")
            m.d.sync += [product.eq(pu.product), valid.eq(self.valid), clear.eq(self.clear)]

        # One extra bit shows whether the add left the range: a sum of two
        # width-bit signed values fits width+1 bits, and it is representable in
        # width bits iff its top two bits agree.
        total = Signal(signed(width + 1))
        m.d.comb += total.eq(self.acc + product)
        leaves_range = total[width] ^ total[width - 1]

        with m.If(valid & clear):
            # A new sum is one product, which always fits (and clears the flag).
            m.d.sync += [self.acc.eq(product), self.overflow.eq(0)]
        with m.Elif(valid):
            m.d.sync += [self.acc.eq(total[:width]), self.overflow.eq(self.overflow | leaves_range)]
        with m.Elif(clear):
            m.d.sync += [self.acc.eq(0), self.overflow.eq(0)]
        return m
