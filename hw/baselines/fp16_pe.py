"""FP16 x FP16 -> FP32 multiply-accumulate PE: the floating-point baseline.

This is the "FP16 system" of the paper's comparison (mixed precision:
binary16 operands, binary32 accumulation, as in GPU tensor cores), built with
the same interface and timing as ``hw.pe.ProcessingElement``: one product per
``valid`` cycle into a registered accumulator, ``clear`` starts a new sum.
The multiply and the add are one combinational path (no pipelining), like
the radix-4 PE; the report measures Fmax for exactly this structure.

Arithmetic (bit-exact against NumPy, see tests/test_baselines.py)::

    acc <= float32(acc) + float32(a) * float32(b)        # valid
    acc <= -0.0         + float32(a) * float32(b)        # valid & clear
    acc <= +0.0                                          # clear alone (and reset)

* Inputs ``a``, ``b``: IEEE 754 binary16 bit patterns.  Subnormal inputs are
  fully supported (no flush to zero).
* Product: exact.  An 11x11-bit significand product has at most 22 bits and
  every binary16 product (2^-48 .. 65504^2 < 2^32) is a *normal* binary32
  number, so converting it loses nothing and needs no rounding.
* Accumulate: binary32 addition, round to nearest, ties to even, with full
  subnormal support for operands and results (no flush to zero; with products
  of binary16 operands an FP32 subnormal sum cannot actually arise, but the
  adder is a general binary32 adder and is tested as one).
* Signed zeros follow IEEE 754 for round-to-nearest: an exact zero sum of
  operands of opposite sign is +0, (-0) + (-0) = -0, x * (+-0) keeps the XOR
  of the signs.  ``clear & valid`` adds the product to -0, the additive
  identity, so the first sum is exactly the product (including -0).
* Overflow rounds to +-inf (RNE: anything at or above
  2^128 - 2^103 after rounding).
* Infinities propagate with their sign; inf - inf and inf * 0 give NaN.
* Every NaN result is the canonical quiet NaN ``0x7FC00000`` (sign +, payload
  0); input NaN payloads and signs are not propagated (IEEE allows this).
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal  # no __future__ annotations: Amaranth reads them
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..pe_signature import PESignature

__all__ = ["Fp16MacPE", "Fp16Multiplier", "Fp32Adder", "CANONICAL_NAN32", "NEG_ZERO32"]

CANONICAL_NAN32 = 0x7FC00000
INF32 = 0x7F800000
NEG_ZERO32 = 0x80000000
# One binary16 lane per operand, a binary32 accumulator pattern, no selects.
SIGNATURE = PESignature(lane_shape=16, a_select_width=0, b_select_width=0, acc_shape=32)


def leading_zeros(m: Module, value, name: str) -> Signal:
    """Number of leading zeros of ``value`` (``len(value)`` when it is zero).

    A priority chain: each set bit, scanned from the bottom, overrides the
    count of the bits below it, so the highest set bit wins.
    """
    width = len(value)
    count = Const(width, range(width + 1))
    for i in range(width):
        count = Mux(value[i], width - 1 - i, count)
    result = Signal(range(width + 1), name=name)
    m.d.comb += result.eq(count)
    return result


class Fp16Multiplier(wiring.Component):
    """binary16 x binary16 -> binary32, exact (combinational)."""

    a: In(16)
    b: In(16)
    product: Out(32)

    def elaborate(self, platform):
        m = Module()
        fields = {}
        for name, v in (("a", self.a), ("b", self.b)):
            exp, frac = v[10:15], v[0:10]
            fields[name] = dict(
                sign=v[15],
                nan=(exp == 31) & (frac != 0),
                inf=(exp == 31) & (frac == 0),
                zero=(exp == 0) & (frac == 0),
                # Subnormals: no hidden bit and the exponent of 1.
                significand=Cat(frac, exp != 0),
                exponent=Mux(exp == 0, 1, exp),
            )
        fa, fb = fields["a"], fields["b"]
        sign = fa["sign"] ^ fb["sign"]

        significand = Signal(22)
        m.d.comb += significand.eq(fa["significand"] * fb["significand"])
        lz = leading_zeros(m, significand, "product_lz")
        normalized = Signal(22)
        m.d.comb += normalized.eq(significand << lz)
        # value = significand * 2^(ea + eb - 50); its leading one sits at bit
        # 21 - lz, so the biased binary32 exponent is ea + eb - 50 + 21 - lz + 127.
        # It stays in 79..158: always a normal binary32 number.
        exponent = Signal(8)
        m.d.comb += exponent.eq(fa["exponent"] + fb["exponent"] + 98 - lz)
        finite = Cat(Const(0, 2), normalized[0:21], exponent, sign)

        nan = fa["nan"] | fb["nan"] | (fa["inf"] & fb["zero"]) | (fb["inf"] & fa["zero"])
        inf = fa["inf"] | fb["inf"]
        with m.If(nan):
            m.d.comb += self.product.eq(CANONICAL_NAN32)
        with m.Elif(inf):
            m.d.comb += self.product.eq(Cat(Const(INF32, 31), sign))
        with m.Elif(significand == 0):
            m.d.comb += self.product.eq(Cat(Const(0, 31), sign))
        with m.Else():
            m.d.comb += self.product.eq(finite)
        return m


class Fp32Adder(wiring.Component):
    """binary32 + binary32, round to nearest even, subnormals supported."""

    x: In(32)
    y: In(32)
    result: Out(32)

    # Alignment keeps 3 bits below the 24-bit significand: guard, round, sticky.
    _EXTRA = 3

    def elaborate(self, platform):
        m = Module()
        x, y = self.x, self.y
        E = self._EXTRA
        width = 24 + E  # aligned operand width

        # Order by magnitude so the result takes the sign of `big` and the
        # significand difference is never negative.
        swap = y[0:31] > x[0:31]
        big, small = Signal(32), Signal(32)
        m.d.comb += [big.eq(Mux(swap, y, x)), small.eq(Mux(swap, x, y))]

        def unpack(v):
            exp = v[23:31]
            return Cat(v[0:23], exp != 0), Mux(exp == 0, 1, exp)

        big_sig, big_exp = unpack(big)
        small_sig, small_exp = unpack(small)
        distance = Signal(8)
        m.d.comb += distance.eq(big_exp - small_exp)
        shift = Mux(distance > width, width, distance)

        # Shift the small operand right; the bits that fall off OR into sticky.
        shifted = Signal(2 * width)
        m.d.comb += shifted.eq(Cat(Const(0, width + E), small_sig) >> shift)
        small_aligned = Signal(width)
        m.d.comb += small_aligned.eq(shifted[width:] | (shifted[:width] != 0))
        big_aligned = Cat(Const(0, E), big_sig)

        subtract = big[31] ^ small[31]
        total = Signal(width + 1)
        m.d.comb += total.eq(Mux(subtract, big_aligned - small_aligned,
                                 big_aligned + small_aligned))

        # Normalize: a carry shifts right by one (keeping sticky); otherwise
        # shift left over the leading zeros, but never below exponent 1, which
        # leaves a subnormal with its leading bit clear.
        lz = leading_zeros(m, total[:width], "sum_lz")
        left = Signal(8)
        m.d.comb += left.eq(Mux(lz > big_exp - 1, big_exp - 1, lz))
        norm = Signal(width)
        norm_exp = Signal(9)
        with m.If(total[width]):
            m.d.comb += [norm.eq(Cat(total[0] | total[1], total[2:width + 1])),
                         norm_exp.eq(big_exp + 1)]
        with m.Else():
            m.d.comb += [norm.eq(total[:width] << left),
                         norm_exp.eq(big_exp - left)]

        # Round to nearest, ties to even: guard & (round | sticky | lsb).
        significand = norm[E:]
        round_up = norm[E - 1] & (norm[E - 2] | norm[E - 3] | norm[E])
        # ((exp - 1) << 23) + significand puts a normal number's hidden bit
        # into the exponent field and leaves a subnormal (hidden bit 0,
        # exponent 1) with field 0; the rounding carry then ripples into the
        # exponent, up to exactly infinity if it reaches 255.
        magnitude = Signal(31)
        m.d.comb += magnitude.eq(((norm_exp - 1) << 23) + significand + round_up)

        # An exact zero is +0 unless both operands are -0 (IEEE, RNE).
        sign = Mux(total == 0, big[31] & small[31], big[31])

        def special(v):
            exp_max = v[23:31] == 0xFF
            return exp_max & (v[0:23] != 0), exp_max & (v[0:23] == 0)

        x_nan, x_inf = special(x)
        y_nan, y_inf = special(y)
        with m.If(x_nan | y_nan | (x_inf & y_inf & (x[31] ^ y[31]))):
            m.d.comb += self.result.eq(CANONICAL_NAN32)
        with m.Elif(x_inf):
            m.d.comb += self.result.eq(x)
        with m.Elif(y_inf):
            m.d.comb += self.result.eq(y)
        with m.Elif(total == 0):  # exact cancellation: the normalizer left junk exponents
            m.d.comb += self.result.eq(Cat(Const(0, 31), sign))
        with m.Elif(norm_exp >= 255):
            m.d.comb += self.result.eq(Cat(Const(INF32, 31), sign))
        with m.Else():
            m.d.comb += self.result.eq(Cat(magnitude, sign))
        return m


class Fp16MacPE(wiring.Component):
    """binary16 x binary16 products accumulated in a binary32 register.

    Ports: ``hw.pe_signature.PESignature`` with one 16-bit lane (a binary16
    pattern), no format selects, ``acc`` a binary32 bit pattern and
    ``overflow`` constant 0 (IEEE saturates to infinity instead).
    """

    latency = 1
    lanes = 1

    def __init__(self):
        super().__init__(SIGNATURE)

    def elaborate(self, platform):
        m = Module()
        m.submodules.multiplier = mul = Fp16Multiplier()
        m.submodules.adder = add = Fp32Adder()
        m.d.comb += [
            mul.a.eq(self.a[0]), mul.b.eq(self.b[0]),
            # -0 is the additive identity: a cleared sum starts as the product.
            add.x.eq(Mux(self.clear, NEG_ZERO32, self.acc)),
            add.y.eq(mul.product),
        ]
        with m.If(self.valid):
            m.d.sync += self.acc.eq(add.result)
        with m.Elif(self.clear):
            m.d.sync += self.acc.eq(0)
        m.d.comb += self.overflow.eq(0)     # no such flag
        return m
