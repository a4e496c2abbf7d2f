"""The product split over two register stages (the PE at latency 3).

``hw.product.ProductUnit`` computes a product in one combinational step: decode,
a 5x5 multiplier or a shifter, a select.  On ECP5 without DSPs that path is
about 7.5 ns (registered inputs to registered product, nextpnr), which caps
a PE at ~130 MHz however the accumulator is built.  Here the same exact
product is cut in two, each half about as long as the 33-bit accumulator add:

* stage 1 (registered): the integer product's two partial products
  ``a * b[:k]`` and ``a * b[k:]`` (the B value split at ``k``), each zero
  unless an integer A row is selected; per logarithmic A row, the B value
  with that row's sign applied and the exponent (zero unless that row is
  selected).
* stage 2 (registered ``product``): ``pp_lo + (pp_hi << k)``, OR-ed with
  each log row's ``(+-b) << shift_per_exp * (e - 1)`` (zero for ``e == 0``).
  At most one of the OR-ed terms is non-zero, so the OR is the sum.

Everything format-specific comes from ``model.formats.FORMATS`` through the
same decode helpers as ``ProductUnit``; the result equals ``ProductUnit``'s
product two cycles later (tests/test_pe.py, exhaustively, and the formal PE
proof at latency 3).
"""

from amaranth.hdl import Module, Mux, Signal, signed  # no __future__ annotations: Amaranth reads them
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from model.hw_vocab import product_width

from .pe_signature import format_operand_members
from .product import hardware_specs, int_decode

__all__ = ["PipelinedProduct", "STAGES"]

STAGES = 2


class PipelinedProduct(wiring.Component):
    """``product`` (signed ``product_width()``) of the operands two cycles ago.

    ``valid``/``clear`` go in with the operands and come out with their
    product (``valid_out``/``clear_out``), so control travels with the data.
    """

    def __init__(self):
        self.a_specs, self.b_specs = hardware_specs("a"), hardware_specs("b")
        self.product_width = product_width()
        # One lane of the PE's operands (hw.pe_signature) and its control in;
        # the product and the control that goes with it out.
        super().__init__({
            **format_operand_members(lanes=1), "valid": In(1), "clear": In(1),
            "product": Out(signed(self.product_width)),
            "valid_out": Out(1), "clear_out": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        pw = self.product_width
        int_a = [s for s in self.a_specs if not s.is_log]
        log_a = [s for s in self.a_specs if s.is_log]
        a_lane, b_lane = self.a[0], self.b[0]
        b_value = int_decode(m, b_lane, self.b_fmt, self.b_specs, "b_value", zero_others=True)
        stage2 = []   # signed terms OR-ed into the product in stage 2

        if int_a:
            a_value = int_decode(m, a_lane, self.a_fmt, int_a, "a_value", zero_others=False)
            is_int = Signal(name="a_is_int")
            m.d.comb += is_int.eq(self.a_fmt.matches(*[s.hw_code for s in int_a]))
            # B split at k: the low k bits unsigned, the rest signed, so
            # a * b == a * b[:k] + (a * b[k:]) << k exactly.
            k = (len(b_value) + 1) // 2
            lo, hi = a_value * b_value[:k], a_value * b_value[k:].as_signed()
            pp_lo = Signal(signed(len(lo)), name="pp_lo")
            pp_hi = Signal(signed(len(hi)), name="pp_hi")
            m.d.sync += [pp_lo.eq(Mux(is_int, lo, 0)), pp_hi.eq(Mux(is_int, hi, 0))]
            int_sum = Signal(signed(pw), name="int_product")
            m.d.comb += int_sum.eq(pp_lo + (pp_hi << k))
            stage2.append(int_sum)

        for spec in log_a:
            # Stage 1: the signed B value and the exponent (0 = zero product,
            # also when another row is selected).
            sign = a_lane[spec.exp_bits]
            signed_b = Signal(signed(len(b_value) + 1), name=f"{spec.name}_signed_b")
            exponent = Signal(spec.exp_bits, name=f"{spec.name}_exponent")
            m.d.sync += [signed_b.eq(Mux(sign, -b_value, b_value)),
                         exponent.eq(Mux(self.a_fmt == spec.hw_code, a_lane[:spec.exp_bits], 0))]
            shifted = Signal(signed(pw), name=f"{spec.name}_shifted")
            with m.Switch(exponent):
                for e in range(1, spec.e_max + 1):
                    with m.Case(e):
                        m.d.comb += shifted.eq(signed_b << (spec.shift_per_exp * (e - 1)))
                with m.Default():  # e == 0 or another row: zero
                    m.d.comb += shifted.eq(0)
            stage2.append(shifted)

        combined = Signal(signed(pw), name="product_or")
        value = 0
        for term in stage2:
            value = value | term
        m.d.comb += combined.eq(value)

        valid_1, clear_1 = Signal(name="valid_1"), Signal(name="clear_1")
        m.d.sync += [valid_1.eq(self.valid), clear_1.eq(self.clear),
                     self.valid_out.eq(valid_1), self.clear_out.eq(clear_1),
                     self.product.eq(combined)]
        return m
