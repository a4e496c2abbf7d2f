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

from model.config import DatapathConfig

from .pe_signature import CONTROLS, OPERANDS, PESignature
from .product import ProductUnit
from .product_pipeline import PipelinedProduct

__all__ = ["ProcessingElement"]


class ProcessingElement(wiring.Component):
    """Multiply-accumulate cell with a sticky overflow flag.

    Ports: ``hw.pe_signature.PESignature.from_formats(acc_width)`` (Verilog
    names equal the member names, plus ``clk``/``rst``): ``a``, ``a_fmt``,
    ``b``, ``b_fmt``, ``valid``, ``clear`` in; ``acc`` (signed
    ``acc_width``, registered) and ``overflow`` out.  ``acc`` shows a
    product ``latency`` cycles after its operands.  One lane.

    Built from a ``model.config.DatapathConfig`` (``config=``, or its
    fields ``acc_width``, ``latency``, ``lanes`` one by one); the array
    builds its cells with ``ProcessingElement.from_config(config)``.
    """

    def __init__(self, acc_width: int | None = None, latency: int | None = None, *,
                 lanes: int | None = None, config: DatapathConfig | None = None):
        try:
            self.config = DatapathConfig.of(config, acc_width=acc_width, pe_latency=latency,
                                            lanes=lanes)
            if self.config.lanes != 1:
                raise ValueError(f"ProcessingElement is the one-lane PE; lanes="
                                 f"{self.config.lanes} needs hw.dot_pe.DotProductPE")
        except ValueError:
            self._MustUse__silence = True  # never built: no "unused elaboratable" warning
            raise
        self.acc_width = self.config.acc_width
        self.latency = self.config.pe_latency
        self.lanes = self.config.lanes
        super().__init__(PESignature.from_formats(self.acc_width, self.lanes))

    @classmethod
    def from_config(cls, config: DatapathConfig):
        """The cell the array builds for ``config``."""
        return cls(config=config)

    def elaborate(self, platform):
        m = Module()
        width = self.acc_width

        if self.latency == 3:
            m.submodules.product_pipeline = pp = PipelinedProduct()
            inputs = OPERANDS + CONTROLS          # control travels with the product
            product, valid, clear = pp.product, pp.valid_out, pp.clear_out
        else:
            m.submodules.product_unit = pp = pu = ProductUnit()
            inputs = OPERANDS
            product, valid, clear = pu.product, self.valid, self.clear
        # The product unit's inputs are members of the PE's own signature.
        m.d.comb += [getattr(pp, name).eq(getattr(self, name)) for name in inputs]
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
