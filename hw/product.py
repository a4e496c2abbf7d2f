"""The exact product of one A lane and one B lane, built from the format table.

Everything format-specific is generated from ``model.formats.FORMATS`` when a
unit is built: the operand lane width (``model.hw_vocab.lane_width``), the
select-field widths (``select_width``), the product width
(``product_width``) and one decode case per table row that the datapath
takes on a side.  By kind:

* integer row: the code (the low ``bits`` of the lane) is sign-extended
  (signed formats) or zero-extended to a common signed width; all integer A
  rows share one multiplier with the B value (5x5 bits for int4/uint4).
* logarithmic row (A side only): ``{s, e}``; the product is the B value
  shifted left by ``shift_per_exp * (e - 1)``, negated when ``s``, zero for
  ``e == 0`` -- no multiplier.
* an unused select code contributes a zero product.

``ProductUnit`` computes it in one combinational step (the PE at latency 1
and 2); ``hw.product_pipeline.PipelinedProduct`` cuts the same product over
two register stages (latency 3).  Both use the decode helpers here.
"""

from amaranth.hdl import Module, Mux, Signal, signed  # no __future__ annotations: Amaranth reads them
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

from model.formats import FORMATS
from model.hw_vocab import product_width, side_formats

from .pe_signature import format_operand_members

__all__ = ["ProductUnit", "hardware_specs", "int_decode", "log_product", "signed_width"]


def signed_width(lo: int, hi: int) -> int:
    """Bits of the narrowest signed type holding lo..hi."""
    width = 1
    while not -(1 << (width - 1)) <= lo <= hi <= (1 << (width - 1)) - 1:
        width += 1
    return width


def hardware_specs(side: str):
    return [FORMATS[name] for name in side_formats(side)]


def int_decode(m, lane, fmt_select, specs, name, *, zero_others):
    """A signed signal holding the integer value of ``lane`` under whichever
    integer row of ``specs`` ``fmt_select`` names.  Other select codes give 0
    if ``zero_others``; otherwise they are don't-care and fall into the last
    row's case (cheaper: with int4/uint4 that is one sign-or-zero mux)."""
    lo = min([s.int_min for s in specs] + [0])
    hi = max([s.int_max for s in specs] + [0])
    value = Signal(signed(signed_width(lo, hi)), name=name)

    def decode(spec):
        # Signed rows sign-extend their code, unsigned rows zero-extend.
        code = lane[:spec.bits]
        return value.eq(code.as_signed() if spec.code_min < 0 else code)

    explicit = specs if zero_others else specs[:-1]
    with m.Switch(fmt_select):
        for spec in explicit:
            with m.Case(spec.hw_code):
                m.d.comb += decode(spec)
        with m.Default():  # explicit, so every case statement is complete (lint)
            m.d.comb += decode(specs[-1]) if specs and not zero_others else value.eq(0)
    return value


def log_product(m, lane, b_value, spec, width):
    """``(-1)^s * radix^(e-1) * b_value`` as shifts; 0 for ``e == 0``."""
    exponent = lane[:spec.exp_bits]
    sign = lane[spec.exp_bits]
    shifted = Signal(signed(width), name=f"{spec.name}_shifted")
    with m.Switch(exponent):
        for e in range(1, spec.e_max + 1):
            with m.Case(e):
                m.d.comb += shifted.eq(b_value << (spec.shift_per_exp * (e - 1)))
        with m.Default():  # e == 0: zero
            m.d.comb += shifted.eq(0)
    return Mux(sign, -shifted, shifted)


class ProductUnit(wiring.Component):
    """Combinational exact product of one A lane and one B lane.

    Built from the format table as it is when the unit is constructed.
    """

    def __init__(self):
        a_specs, b_specs = hardware_specs("a"), hardware_specs("b")
        for spec in b_specs:
            if spec.is_log:
                raise ValueError(f"{spec.name}: the PE takes logarithmic formats on A only")
        for spec in a_specs:
            if spec.is_log and (spec.bits != spec.exp_bits + 1
                                or spec.radix != 1 << spec.shift_per_exp):
                raise ValueError(f"{spec.name}: a log format must be {{sign, exponent}} "
                                 "with a power-of-two radix")
        self.a_specs, self.b_specs = a_specs, b_specs
        self.product_width = product_width()
        # One lane of the PE's operands (hw.pe_signature), and the product.
        super().__init__({**format_operand_members(lanes=1),
                          "product": Out(signed(self.product_width))})

    def elaborate(self, platform):
        m = Module()
        int_a = [s for s in self.a_specs if not s.is_log]
        log_a = [s for s in self.a_specs if s.is_log]

        # Unused B codes must give a zero product; for A the select switch
        # below already zeroes every code that is not an integer row.
        a_lane, b_lane = self.a[0], self.b[0]
        b_value = int_decode(m, b_lane, self.b_fmt, self.b_specs, "b_value", zero_others=True)
        a_value = int_decode(m, a_lane, self.a_fmt, int_a, "a_value", zero_others=False)
        # One multiplier serves every integer A row.
        int_product = a_value * b_value
        # Built outside the select switch, so each is its own complete case statement.
        log_products = {spec.hw_code: log_product(m, a_lane, b_value, spec, self.product_width)
                        for spec in log_a}

        with m.Switch(self.a_fmt):
            if int_a:
                with m.Case(*[s.hw_code for s in int_a]):
                    m.d.comb += self.product.eq(int_product)
            for code, value in log_products.items():
                with m.Case(code):
                    m.d.comb += self.product.eq(value)
            with m.Default():  # select codes no format uses
                m.d.comb += self.product.eq(0)
        return m
