"""The FP16 multiplier and the FP32 adder of ``fp16_pe`` cut into pipeline steps.

Each step is a combinational function from a *bundle* (a dict of named
values) to the next bundle; ``register`` puts a register on every value of a
bundle (one pipeline stage; values no later step reads are removed by
synthesis).  The arithmetic is exactly that of ``fp16_pe.Fp16Multiplier``
(binary16 x binary16 -> binary32, exact) and ``fp16_pe.Fp32Adder``
(binary32 + binary32, round to nearest even, subnormals, canonical NaN
``0x7FC00000``); only the order of the logic differs, so that each step is
about one carry chain or one shifter deep:

* multiplier: ``mul_partial`` (unpack, two partial products of the
  significands, the leading zeros of subnormal significands), ``mul_sum``
  (the 22-bit significand product), ``mul_pack`` (normalize by the known
  leading-zero count, pack, specials).
* adder: ``add_order`` (order by magnitude, alignment shift, specials),
  ``add_align`` (shift the small operand right, sticky bit),
  ``add_sum`` (add or subtract the aligned significands), ``add_count``
  (leading zeros, clamped at the subnormal exponent), ``add_shift``
  (normalize), ``add_round`` (round to nearest even, pack, specials).
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, Value  # no __future__ annotations: Amaranth reads them
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .fp16_pe import CANONICAL_NAN32, INF32

__all__ = ["register", "leading_zeros_tree", "MUL_STEPS", "ADD_STEPS",
           "StagedMultiplier", "StagedAdder",
           "mul_partial", "mul_sum", "mul_pack",
           "add_order", "add_align", "add_sum", "add_count", "add_shift", "add_round"]

_E = 3                # guard, round, sticky below the 24-bit significand
_W = 24 + _E          # aligned significand width
_B_CUT = 6            # the multiplier's B significand is cut at this bit


def register(m, bundle: dict, stage: str, enable=None) -> dict:
    """One pipeline stage: a register on every value of ``bundle``."""
    out = {}
    for name, value in bundle.items():
        value = Value.cast(value)
        reg = Signal(value.shape(), name=f"{stage}_{name}")
        if enable is None:
            m.d.sync += reg.eq(value)
        else:
            with m.If(enable):
                m.d.sync += reg.eq(value)
        out[name] = reg
    return out


def leading_zeros_tree(value) -> Value:
    """Leading zeros of ``value`` (``len(value)`` when zero), as a log-depth tree.

    The value is padded with ones below to a power of two; each level merges
    pairs (hi, lo) of (all_zero, count) halves.
    """
    width = len(value)
    size = 1
    while size < width:
        size *= 2
    padded = Cat(Const((1 << (size - width)) - 1, size - width), value) if size > width else value
    # Level 0: one bit each -> (zero, count of 0 bits wide).
    nodes = [(~padded[i], Const(0, 0)) for i in range(size)]  # index 0 = least significant
    bits = 0
    while len(nodes) > 1:
        merged = []
        for i in range(0, len(nodes), 2):
            lo, hi = nodes[i], nodes[i + 1]
            zero = hi[0] & lo[0]
            count = Mux(hi[0], Cat(lo[1], Const(1, 1)), Cat(hi[1], Const(0, 1)))
            merged.append((zero, count))
        nodes = merged
        bits += 1
    zero, count = nodes[0]
    # An all-zero padded word cannot happen when padded with ones; for an
    # exact power of two the count of an all-zero value must read ``width``.
    return Mux(zero, width, count)


# --------------------------------------------------------------------------
# FP16 x FP16 -> FP32, exact

def _unpack16(v):
    exp, frac = v[10:15], v[0:10]
    significand = Cat(frac, exp != 0)  # subnormals: no hidden bit, exponent 1
    return dict(sign=v[15], nan=(exp == 31) & (frac != 0), inf=(exp == 31) & (frac == 0),
                zero=(exp == 0) & (frac == 0), significand=significand,
                exponent=Mux(exp == 0, 1, exp),
                # Leading zeros of the 11-bit significand: 0 for normal numbers.
                lz=leading_zeros_tree(significand))


def mul_partial(m, d):
    """a, b -> partial products of the significands and the exponent sums."""
    fa, fb = _unpack16(d["a"]), _unpack16(d["b"])
    sa, sb = fa["significand"], fb["significand"]
    return dict(
        pp_lo=sa * sb[:_B_CUT], pp_hi=sa * sb[_B_CUT:],
        exp_sum=fa["exponent"] + fb["exponent"],
        shift=fa["lz"] + fb["lz"],
        sign=fa["sign"] ^ fb["sign"],
        nan=fa["nan"] | fb["nan"] | (fa["inf"] & fb["zero"]) | (fb["inf"] & fa["zero"]),
        inf=fa["inf"] | fb["inf"],
        zero=fa["zero"] | fb["zero"],
    )


def mul_sum(m, d):
    out = {k: v for k, v in d.items() if k not in ("pp_lo", "pp_hi")}
    significand = Signal(22, name="mul_significand")
    m.d.comb += significand.eq(d["pp_lo"] + (d["pp_hi"] << _B_CUT))
    out["significand"] = significand
    # The exponent for either position of the leading one, ready for
    # ``mul_pack``: value = significand * 2^(ea + eb - 50), leading one at
    # 21 - lz, so the biased binary32 exponent is ea + eb + 98 - lz with
    # lz = shift (one at bit 21 after the shift) or shift + 1 (at bit 20).
    exp_top, exp_next = Signal(8, name="mul_exp_top"), Signal(8, name="mul_exp_next")
    m.d.comb += [exp_top.eq(d["exp_sum"] + 98 - d["shift"]),
                 exp_next.eq(d["exp_sum"] + 97 - d["shift"])]
    out.update(exp_top=exp_top, exp_next=exp_next)
    del out["exp_sum"]
    return out


def mul_pack(m, d):
    """Normalize: the significands' leading zeros ``shift`` put the product's
    leading one at bit 21 or 20; one more step of 1 if at 20."""
    shifted = Signal(22, name="mul_shifted")
    m.d.comb += shifted.eq(d["significand"] << d["shift"])
    top = shifted[21]
    normalized = Mux(top, shifted, shifted << 1)
    exponent = Mux(top, d["exp_top"], d["exp_next"])
    finite = Cat(Const(0, 2), normalized[0:21], exponent, d["sign"])
    product = Signal(32, name="mul_product")
    with m.If(d["nan"]):
        m.d.comb += product.eq(CANONICAL_NAN32)
    with m.Elif(d["inf"]):
        m.d.comb += product.eq(Cat(Const(INF32, 31), d["sign"]))
    with m.Elif(d["zero"]):
        m.d.comb += product.eq(Cat(Const(0, 31), d["sign"]))
    with m.Else():
        m.d.comb += product.eq(finite)
    return dict(product=product)


MUL_STEPS = (mul_partial, mul_sum, mul_pack)


# --------------------------------------------------------------------------
# FP32 + FP32, round to nearest even

def add_order(m, d):
    """x, y -> big, small (by magnitude), the alignment shift, specials."""
    x, y = d["x"], d["y"]
    swap = Signal(name="add_swap")
    m.d.comb += swap.eq(y[0:31] > x[0:31])
    ex = Mux(x[23:31] == 0, 1, x[23:31])
    ey = Mux(y[23:31] == 0, 1, y[23:31])
    dxy, dyx = Signal(8, name="add_dxy"), Signal(8, name="add_dyx")
    m.d.comb += [dxy.eq(ex - ey), dyx.eq(ey - ex)]

    def special(v):
        exp_max = v[23:31] == 0xFF
        return exp_max & (v[0:23] != 0), exp_max & (v[0:23] == 0)

    x_nan, x_inf = special(x)
    y_nan, y_inf = special(y)

    def clamp(distance):
        # min(distance, W) by bits (W = 27): >= 28 iff a bit above 4 is set
        # or bits 2..4 are all set.  Both in parallel with the comparison.
        return Mux(distance[5:].any() | (distance[2:5] == 7), _W, distance[:5])

    return dict(
        big=Mux(swap, y, x), small=Mux(swap, x, y), shift=Mux(swap, clamp(dyx), clamp(dxy)),
        nan=x_nan | y_nan | (x_inf & y_inf & (x[31] ^ y[31])),
        inf=x_inf | y_inf, inf_sign=Mux(x_inf, x[31], y[31]),
    )


def add_align(m, d):
    big, small = d["big"], d["small"]
    big_sig = Cat(big[0:23], big[23:31] != 0)
    small_sig = Cat(small[0:23], small[23:31] != 0)
    shift = d["shift"]
    aligned = Signal(_W, name="add_small_shifted")
    m.d.comb += aligned.eq(Cat(Const(0, _E), small_sig) >> shift)
    # Sticky: any significand bit shifted out below the aligned word, i.e.
    # bit i (at position i + E) with i + E < shift.
    # ``kept`` bit k is 1 iff k >= shift (a thermometer code, no comparator).
    kept = Signal(_W, name="add_kept")
    m.d.comb += kept.eq(Const((1 << _W) - 1, _W) << shift)
    sticky = (small_sig & ~kept[_E:]).any()
    big_exp = Mux(big[23:31] == 0, 1, big[23:31])
    # A one at bit W - big_exp (when big_exp <= W): OR-ed under the sum
    # before counting its leading zeros, it caps the count at big_exp - 1,
    # the normalization shift that reaches exponent 1 (no comparator).
    # A decoder of the exponent field (0 and 1 both mean exponent 1).
    field = big[23:31]
    floor = Signal(_W, name="add_floor")
    m.d.comb += floor.eq(Cat(*[(field == _W - k) | ((k == _W - 1) & (field == 0))
                               for k in range(_W)]))
    return dict(
        big_aligned=Cat(Const(0, _E), big_sig), small_aligned=aligned | sticky,
        big_exp=big_exp, floor=floor,
        subtract=big[31] ^ small[31], big_sign=big[31], small_sign=small[31],
        nan=d["nan"], inf=d["inf"], inf_sign=d["inf_sign"],
    )


def add_sum(m, d):
    """One carry chain: big + (small or ~small) + subtract, via a carry bit
    in front (Cat(1, big) + Cat(subtract, small') carries subtract in)."""
    sub = d["subtract"]
    small = d["small_aligned"] ^ sub.replicate(_W)
    wide = Signal(_W + 2, name="add_wide")
    m.d.comb += wide.eq(Cat(Const(1, 1), d["big_aligned"]) + Cat(sub, small))
    # Subtracting, the carry out is 1 (big >= small) and not part of the sum.
    total = Cat(wide[1:_W + 1], wide[_W + 1] & ~sub)
    out = {k: v for k, v in d.items() if k not in ("big_aligned", "small_aligned", "subtract")}
    out["total"] = total
    return out


def add_count(m, d):
    total = d["total"]
    # Never shift below exponent 1 (that leaves a subnormal): the floor bit
    # makes the count min(leading zeros, big_exp - 1).
    left = Signal(range(_W + 1), name="add_left")
    m.d.comb += left.eq(leading_zeros_tree(total[:_W] | d["floor"]))
    out = {k: v for k, v in d.items() if k != "floor"}
    out["left"] = left
    out["zero"] = total == 0
    return out


def add_shift(m, d):
    """Normalize; ``field`` is the exponent field before rounding
    (``norm_exp - 1``, the hidden bit then adds 1 for a normal number)."""
    total, big_exp, left = d["total"], d["big_exp"], d["left"]
    carry = total[_W]
    norm = Signal(_W, name="add_norm")
    norm_exp = Signal(9, name="add_norm_exp")
    with m.If(carry):
        m.d.comb += [norm.eq(Cat(total[0] | total[1], total[2:_W + 1])),
                     norm_exp.eq(big_exp + 1)]
    with m.Else():
        m.d.comb += [norm.eq(total[:_W] << left), norm_exp.eq(big_exp - left)]
    # An exact zero is +0 unless both operands are -0 (IEEE, RNE).
    sign = Mux(d["zero"], d["big_sign"] & d["small_sign"], d["big_sign"])
    return dict(norm=norm, field=(norm_exp - 1)[:8], overflow=norm_exp >= 255,
                sign=sign, zero=d["zero"], nan=d["nan"], inf=d["inf"], inf_sign=d["inf_sign"])


def add_round(m, d):
    norm = d["norm"]
    significand = norm[_E:]
    round_up = norm[_E - 1] & (norm[_E - 2] | norm[_E - 3] | norm[_E])
    # (field << 23) + significand puts a normal number's hidden bit into the
    # exponent field; the rounding carry ripples up to exactly infinity.
    magnitude = Signal(31, name="add_magnitude")
    m.d.comb += magnitude.eq((d["field"] << 23) + significand + round_up)
    result = Signal(32, name="add_result")
    with m.If(d["nan"]):
        m.d.comb += result.eq(CANONICAL_NAN32)
    with m.Elif(d["inf"]):
        m.d.comb += result.eq(Cat(Const(INF32, 31), d["inf_sign"]))
    with m.Elif(d["zero"]):   # exact cancellation
        m.d.comb += result.eq(Cat(Const(0, 31), d["sign"]))
    with m.Elif(d["overflow"]):
        m.d.comb += result.eq(Cat(Const(INF32, 31), d["sign"]))
    with m.Else():
        m.d.comb += result.eq(Cat(magnitude, d["sign"]))
    return dict(result=result)


ADD_STEPS = (add_order, add_align, add_sum, add_count, add_shift, add_round)


# --------------------------------------------------------------------------
# The step pipelines on their own (tests drive them one vector per cycle)

class _StepPipeline(wiring.Component):
    """``STEPS`` with a register after each: ``OUTPUT`` ``latency`` cycles after ``INPUTS``."""

    STEPS: tuple = ()
    INPUTS: tuple = ()
    OUTPUT: str = ""

    def elaborate(self, platform):
        m = Module()
        bundle = {name: getattr(self, name) for name in self.INPUTS}
        for i, step in enumerate(self.STEPS):
            bundle = register(m, step(m, bundle), f"{self.OUTPUT[0]}{i}")
        m.d.comb += getattr(self, self.OUTPUT).eq(bundle[self.OUTPUT])
        return m


class StagedMultiplier(_StepPipeline):
    """``MUL_STEPS`` with a register after each: ``product`` ``latency`` cycles later."""

    a: In(16)
    b: In(16)
    product: Out(32)
    STEPS, INPUTS, OUTPUT = MUL_STEPS, ("a", "b"), "product"
    latency = len(MUL_STEPS)


class StagedAdder(_StepPipeline):
    """``ADD_STEPS`` with a register after each: ``result`` ``latency`` cycles later."""

    x: In(32)
    y: In(32)
    result: Out(32)
    STEPS, INPUTS, OUTPUT = ADD_STEPS, ("x", "y"), "result"
    latency = len(ADD_STEPS)
