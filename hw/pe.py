"""Processing element: one exact 4-bit x 4-bit multiply-accumulate (SPEC 2).

Everything format-specific is generated from ``model.formats.FORMATS`` when a
unit is built: the select-field widths (``select_width``), the operand lane
width (``lane_width``), the product width (``product_width``) and one decode
case per table row that the datapath takes on a side.  By kind:

* integer row: the code (the low ``bits`` of the lane) is sign-extended
  (signed formats) or zero-extended to a common signed width; all integer A
  rows share one multiplier with the B value (5x5 bits for int4/uint4).
* logarithmic row (A side only): ``{s, e}``; the product is the B value
  shifted left by ``shift_per_exp * (e - 1)``, negated when ``s``, zero for
  ``e == 0`` -- no multiplier.
* an unused select code contributes a zero product.

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


from amaranth.hdl import Module, Mux, Signal, signed  # no __future__ annotations: Amaranth reads them
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from model.formats import FORMATS, lane_width, product_width, select_width, side_formats
from model.gemm import ACC_WIDTH_MAX, ACC_WIDTH_MIN, check_acc_width as _check_model_width

__all__ = ["ProcessingElement", "ProductUnit", "PE_LATENCIES", "DEFAULT_PE_LATENCY",
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


def _signed_width(lo: int, hi: int) -> int:
    """Bits of the narrowest signed type holding lo..hi."""
    width = 1
    while not -(1 << (width - 1)) <= lo <= hi <= (1 << (width - 1)) - 1:
        width += 1
    return width


def _hardware_specs(side: str):
    return [FORMATS[name] for name in side_formats(side)]


def _int_decode(m, lane, fmt_select, specs, name, *, zero_others):
    """A signed signal holding the integer value of ``lane`` under whichever
    integer row of ``specs`` ``fmt_select`` names.  Other select codes give 0
    if ``zero_others``; otherwise they are don't-care and fall into the last
    row's case (cheaper: with int4/uint4 that is one sign-or-zero mux)."""
    lo = min([s.int_min for s in specs] + [0])
    hi = max([s.int_max for s in specs] + [0])
    value = Signal(signed(_signed_width(lo, hi)), name=name)

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


def _log_product(m, lane, b_value, spec, width):
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
        a_specs, b_specs = _hardware_specs("a"), _hardware_specs("b")
        lane = lane_width()
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
        super().__init__({
            "a": In(lane),
            "a_fmt": In(select_width("a")),
            "b": In(lane),
            "b_fmt": In(select_width("b")),
            "product": Out(signed(self.product_width)),
        })

    def elaborate(self, platform):
        m = Module()
        int_a = [s for s in self.a_specs if not s.is_log]
        log_a = [s for s in self.a_specs if s.is_log]

        # Unused B codes must give a zero product; for A the select switch
        # below already zeroes every code that is not an integer row.
        b_value = _int_decode(m, self.b, self.b_fmt, self.b_specs, "b_value", zero_others=True)
        a_value = _int_decode(m, self.a, self.a_fmt, int_a, "a_value", zero_others=False)
        # One multiplier serves every integer A row.
        int_product = a_value * b_value
        # Built outside the select switch, so each is its own complete case statement.
        log_products = {spec.hw_code: _log_product(m, self.a, b_value, spec, self.product_width)
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
            from .product_pipeline import PipelinedProduct
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
