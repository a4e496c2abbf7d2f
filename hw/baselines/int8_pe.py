"""INT8 x INT8 multiply-accumulate PE: the integer baseline of the cost report.

Same interface and timing as ``hw.pe.ProcessingElement`` so the comparison is
like for like: operands in, one product per ``valid`` cycle added into a
registered accumulator, ``clear`` starts a new sum.

* ``a``, ``b``: signed 8-bit two's complement (-128..127).
* ``acc``: signed 32-bit register.  It **wraps** (two's complement, modulo
  2^32) and has no overflow flag: this is the usual INT8 MAC of inference
  accelerators.  2^17 worst-case products (128*128 = 2^14 each) fit exactly,
  so the wrap never matters for K <= 131072.  The radix-4 PE carries a sticky
  overflow flag on top; leaving it out here favours the baseline slightly.
* ``valid & clear``: ``acc <= a*b`` (the first product of a new sum, no bubble);
  ``valid`` alone: ``acc <= acc + a*b``; ``clear`` alone: ``acc <= 0``;
  neither: hold.  Reset clears ``acc``.
"""

from amaranth.hdl import Const, Module, Mux, Signal, signed  # no __future__ annotations: Amaranth reads them
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["Int8MacPE", "INT8_ACC_WIDTH"]

INT8_ACC_WIDTH = 32


class Int8MacPE(wiring.Component):
    """Signed INT8 x INT8 MAC with a wrapping 32-bit registered accumulator."""

    a: In(signed(8))
    b: In(signed(8))
    valid: In(1)
    clear: In(1)
    acc: Out(signed(INT8_ACC_WIDTH))

    def elaborate(self, platform):
        m = Module()
        product = Signal(signed(16))  # -128*-128 = 16384 fits 16 signed bits
        m.d.comb += product.eq(self.a * self.b)
        base = Mux(self.clear, Const(0, signed(INT8_ACC_WIDTH)), self.acc)
        with m.If(self.valid):
            # .eq truncates the 33-bit sum to 32 bits: the documented wrap.
            m.d.sync += self.acc.eq(base + product)
        with m.Elif(self.clear):
            m.d.sync += self.acc.eq(0)
        return m
