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

``latency`` (1 to 4; default 4) is the number of cycles from the operands
(with their ``valid``/``clear``) to ``acc`` showing the sum, with the
structure of ``hw.pe.ProcessingElement`` (valid/clear travel with the data):

* 1: the combinational product is added in the same cycle (the original,
  unpipelined baseline).
* 2: the product (and the valid/clear that go with it) is registered first.
* 3: B is cut into four 2-bit slices (the top one signed); stage 1 registers
  the four slice products ``a * b[2i:2i+2]`` (one short add each), stage 2
  registers their shifted sum, the product; then the accumulator adds it.
* 4: as 3 with the slice products summed in pairs in a stage of their own,
  so that every stage is one carry chain (ECP5 without DSPs: ~215 MHz with
  registered inputs, vs ~160 MHz at 3 and ~126 MHz at 2; the radix-4 PE at
  its default latency 3 places at ~193 MHz).

At latency >= 2 a ``clear`` beat loads its product instead of adding it to a
zeroed accumulator (the multiplexer after the adder, off the carry chain's
input), with the same result.  The arithmetic is identical at every latency;
only the delay differs.
"""

from amaranth.hdl import Const, Module, Mux, Signal, signed  # no __future__ annotations: Amaranth reads them
from amaranth.lib import wiring

from ..pe_signature import PESignature

__all__ = ["Int8MacPE", "INT8_ACC_WIDTH", "INT8_LATENCIES", "INT8_DEFAULT_LATENCY"]

INT8_ACC_WIDTH = 32
INT8_LATENCIES = (1, 2, 3, 4)
INT8_DEFAULT_LATENCY = 4
SIGNATURE = PESignature(lane_shape=signed(8), a_select_width=0, b_select_width=0,
                        acc_shape=signed(INT8_ACC_WIDTH))


class Int8MacPE(wiring.Component):
    """Signed INT8 x INT8 MAC with a wrapping 32-bit registered accumulator.

    Ports: ``hw.pe_signature.PESignature`` with one signed 8-bit lane, no
    format selects (one format), a signed 32-bit ``acc`` and ``overflow``
    constant 0 (the accumulator wraps).  ``acc`` shows a product ``latency``
    cycles after its operands.
    """

    lanes = 1

    def __init__(self, latency: int = INT8_DEFAULT_LATENCY):
        if isinstance(latency, bool) or latency not in INT8_LATENCIES:
            self._MustUse__silence = True
            raise ValueError(f"INT8 PE latency must be one of {INT8_LATENCIES}, got {latency!r}")
        self.latency = latency
        super().__init__(SIGNATURE)

    @classmethod
    def from_config(cls, config):
        """The cell an array of ``config`` builds (``hw.grid``): its PE latency;
        the accumulator is always 32 bits and there is one lane."""
        if config.acc_width != INT8_ACC_WIDTH or config.lanes != 1:
            raise ValueError(f"the INT8 PE has one lane and a {INT8_ACC_WIDTH}-bit accumulator, "
                             f"got lanes {config.lanes}, acc_width {config.acc_width}")
        return cls(latency=config.pe_latency)

    def elaborate(self, platform):
        m = Module()
        a, b = self.a[0], self.b[0]
        m.d.comb += self.overflow.eq(0)     # no flag: the documented wrap
        if self.latency == 1:
            product = Signal(signed(16))  # -128*-128 = 16384 fits 16 signed bits
            m.d.comb += product.eq(a * b)
            base = Mux(self.clear, Const(0, signed(INT8_ACC_WIDTH)), self.acc)
            with m.If(self.valid):
                # .eq truncates the 33-bit sum to 32 bits: the documented wrap.
                m.d.sync += self.acc.eq(base + product)
            with m.Elif(self.clear):
                m.d.sync += self.acc.eq(0)
            return m

        product = Signal(signed(16), name="product_q")
        valid, clear = Signal(name="valid_q"), Signal(name="clear_q")
        if self.latency == 2:
            m.d.sync += [product.eq(a * b), valid.eq(self.valid), clear.eq(self.clear)]
        else:
            # B cut into 2-bit slices: a * b == sum_i (a * b[2i:2i+2]) << 2i exactly,
            # the top slice signed.  Each slice product is one short add.
            slices = []
            for i in range(0, 8, 2):
                piece = b[i:i + 2].as_signed() if i == 6 else b[i:i + 2]
                pp = Signal(signed(11), name=f"pp_{i}")
                m.d.sync += pp.eq(a * piece)
                slices.append(pp)
            terms = [pp << i for pp, i in zip(slices, range(0, 8, 2))]
            ctl = [(self.valid, self.clear)]
            if self.latency == 4:
                # One more stage: the slices summed in pairs first.
                pairs = [Signal(signed(17), name=f"pair_{i}") for i in range(2)]
                m.d.sync += [pairs[0].eq(terms[0] + terms[1]), pairs[1].eq(terms[2] + terms[3])]
                terms = pairs
                ctl.append((Signal(name="valid_2"), Signal(name="clear_2")))
            ctl.append((Signal(name="valid_1"), Signal(name="clear_1")))
            ctl.append((valid, clear))
            for (v_in, c_in), (v_out, c_out) in zip(ctl, ctl[1:]):
                m.d.sync += [v_out.eq(v_in), c_out.eq(c_in)]
            m.d.sync += product.eq(sum(terms))
        with m.If(valid & clear):
            m.d.sync += self.acc.eq(product)
        with m.Elif(valid):
            m.d.sync += self.acc.eq(self.acc + product)   # truncated to 32 bits: the wrap
        with m.Elif(clear):
            m.d.sync += self.acc.eq(0)
        return m
