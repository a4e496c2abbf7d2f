"""Processing element: one exact 4-bit x 4-bit multiply-accumulate (SPEC 2).

A is int4, uint4 or radix-4 FP4; B is int4 or uint4.  Integer x integer uses a
5x5-bit signed multiplier (uint4 needs the fifth bit).  FP4 x integer needs no
multiplier: the product is B shifted left by ``2*(e-1)`` and negated when the
sign bit is set, zero for ``e == 0``.  Every product fits 18 signed bits
(largest magnitude 4096 * 15 = 61440), so the accumulator may be as narrow as
18 bits.

The accumulator adds one product per valid cycle.  Its sticky overflow flag
follows ``model.gemm.overflow_mask``: it is set as soon as a running sum leaves
the signed ``acc_width`` range, the register then wraps, and only ``clear``
(or reset) lowers the flag again.
"""


from amaranth.hdl import Const, Module, Mux, Signal, signed  # no __future__ annotations: Amaranth reads them
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from model.formats import FORMATS

__all__ = ["ProcessingElement", "ProductUnit", "PRODUCT_WIDTH",
           "A_INT4", "A_UINT4", "A_FP4", "B_INT4", "B_UINT4",
           "ACC_WIDTH_MIN", "ACC_WIDTH_MAX", "check_acc_width"]

# Format-select codes come from the one format table of the golden model.
A_INT4 = FORMATS["int4"].hw_code
A_UINT4 = FORMATS["uint4"].hw_code
A_FP4 = FORMATS["fp4"].hw_code
B_INT4 = FORMATS["int4"].hw_code
B_UINT4 = FORMATS["uint4"].hw_code

# Largest |product| is 4^6 * 15 = 61440 < 2^16 * ... -> 18 signed bits.
PRODUCT_WIDTH = 18
ACC_WIDTH_MIN = PRODUCT_WIDTH
ACC_WIDTH_MAX = 64

_FP4_SPEC = FORMATS["fp4"]
_FP4_EXP_BITS = _FP4_SPEC.exp_bits
_FP4_SHIFT = _FP4_SPEC.shift_per_exp


def check_acc_width(acc_width) -> int:
    """Validate an accumulator width; ``ValueError`` outside 18..64."""
    if isinstance(acc_width, bool) or not isinstance(acc_width, int) \
            or not ACC_WIDTH_MIN <= acc_width <= ACC_WIDTH_MAX:
        raise ValueError(f"acc_width must be an integer in [{ACC_WIDTH_MIN}, "
                         f"{ACC_WIDTH_MAX}], got {acc_width!r}")
    return acc_width


class ProductUnit(wiring.Component):
    """Combinational exact product of one A nibble and one B nibble."""

    a: In(4)
    a_fmt: In(2)
    b: In(4)
    b_fmt: In(1)
    product: Out(signed(PRODUCT_WIDTH))

    def elaborate(self, platform):
        m = Module()

        # B as a 5-bit signed value: sign-extended for int4, zero-extended for uint4.
        b_value = Signal(signed(5))
        m.d.comb += b_value.eq(Mux(self.b_fmt == B_INT4, self.b.as_signed(), self.b))

        # Integer A the same way; the 5x5 multiplier covers every int/uint pair.
        a_value = Signal(signed(5))
        m.d.comb += a_value.eq(Mux(self.a_fmt == A_INT4, self.a.as_signed(), self.a))

        # FP4: {s, e[2:0]}.  b << 2*(e-1), negated when s; e == 0 is zero.
        exponent = self.a[:_FP4_EXP_BITS]
        sign = self.a[_FP4_EXP_BITS]
        shifted = Signal(signed(PRODUCT_WIDTH))
        with m.Switch(exponent):
            with m.Case(0):
                m.d.comb += shifted.eq(0)
            for e in range(1, 1 << _FP4_EXP_BITS):
                with m.Case(e):
                    m.d.comb += shifted.eq(b_value << (_FP4_SHIFT * (e - 1)))
        fp4_product = Mux(sign, -shifted, shifted)

        with m.Switch(self.a_fmt):
            with m.Case(A_INT4, A_UINT4):
                m.d.comb += self.product.eq(a_value * b_value)
            with m.Case(A_FP4):
                m.d.comb += self.product.eq(fp4_product)
            with m.Default():  # reserved format: contributes nothing
                m.d.comb += self.product.eq(0)
        return m


class ProcessingElement(wiring.Component):
    """Multiply-accumulate cell with a sticky overflow flag.

    Ports (Verilog names equal the member names, plus ``clk``/``rst``):
    ``a``, ``a_fmt``, ``b``, ``b_fmt``, ``valid``, ``clear`` in;
    ``acc`` (signed ``acc_width``, registered) and ``overflow`` out.
    """

    def __init__(self, acc_width: int = 32):
        try:
            self.acc_width = check_acc_width(acc_width)
        except ValueError:
            self._MustUse__silence = True  # never built: no "unused elaboratable" warning
            raise
        super().__init__({
            "a": In(4),
            "a_fmt": In(2),
            "b": In(4),
            "b_fmt": In(1),
            "valid": In(1),
            "clear": In(1),
            "acc": Out(signed(acc_width)),
            "overflow": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        width = self.acc_width

        m.submodules.product_unit = pu = ProductUnit()
        m.d.comb += [
            pu.a.eq(self.a), pu.a_fmt.eq(self.a_fmt),
            pu.b.eq(self.b), pu.b_fmt.eq(self.b_fmt),
        ]

        # One extra bit shows whether the add left the range: a sum of two
        # width-bit signed values fits width+1 bits, and it is representable in
        # width bits iff its top two bits agree.
        base = Mux(self.clear, Const(0, signed(width)), self.acc)
        total = Signal(signed(width + 1))
        m.d.comb += total.eq(base + pu.product)
        leaves_range = total[width] ^ total[width - 1]

        with m.If(self.valid):
            m.d.sync += self.acc.eq(total[:width])
            # After a clear the sum is one product, which always fits.
            m.d.sync += self.overflow.eq((self.overflow & ~self.clear) | leaves_range)
        with m.Elif(self.clear):
            m.d.sync += [self.acc.eq(0), self.overflow.eq(0)]
        return m
