"""Block-scaled k-lane dot-product PEs: MXFP4 and NVFP4 (issue 25 item 3).

Arithmetic: ``model.block_hw`` (its docstring is the contract).  Built by the
baselines' generator (``hw.baselines.dot_base``: the same exact pipelined
adder tree, sticky overflow judged per beat) with a scale stage between the
tree and the accumulator::

    front (1): per lane the exact E2M1 product iv_a * iv_b (-144..144);
               the beat's shift 2R - da - db (and NVFP4's Ma, Mb) registered
    tree (T):  S = the lanes' sum (|S| <= 144 k)
    scale:     NVFP4: S * Ma, then * Mb (a 4-bit multiplier a stage),
               then << shift (3 stages); MXFP4: S << shift (1 stage)
    acc (1):   signed 64-bit, wraps, sticky overflow per beat

Ports (``hw.pe_signature.PESignature``): ``a``, ``b`` (``lanes`` x 4-bit
E2M1 codes, lane 0 in the low bits), ``a_scale``, ``b_scale`` (the scale
field of this beat's block: ``d`` low, ``m`` above it; widths from
``model.block_hw.hw_format``), ``valid``, ``clear`` in; ``acc`` (signed
64, the raw accumulator: the host converts, ``model.block_hw.convert``) and
``overflow`` out.
"""

from amaranth.hdl import Cat, Const, Mux, Signal, signed, unsigned  # no __future__ annotations: Amaranth reads them

from model.block_formats import ELEMENT
from model.block_hw import BLOCK_ACC_WIDTH, LANE_PRODUCT_MAX, hw_format
from model.formats import get_format, int_value_table

from .adder_tree import Term, signed_width
from .baselines.dot_base import DotBaselinePE

__all__ = ["BlockDotPE", "Mxfp4DotPE", "Nvfp4DotPE"]

_CODE_BITS = get_format(ELEMENT).bits
_MAGNITUDES = [int(v) for v in int_value_table(ELEMENT)[: 1 << (_CODE_BITS - 1)]]


class BlockDotPE(DotBaselinePE):
    """Base of the block-scaled PEs; a subclass names its ``fmt``."""

    fmt = None
    lane_shape = unsigned(_CODE_BITS)
    acc_bits = BLOCK_ACC_WIDTH
    acc_shape = signed(BLOCK_ACC_WIDTH)
    front_stages = 1
    rows = 1

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.fmt is not None:
            hwf = hw_format(cls.fmt)
            cls.hw = hwf
            cls.a_scale_width = cls.b_scale_width = hwf.scale_width
            cls.scale_stages = 1 + (2 if hwf.m_bits else 0)   # (Ma, Mb,) shift

    def front(self, m):
        """Per lane: the product's magnitude from a table of the two codes'
        magnitude bits (a 6-input function per bit: a multiplier's carry
        chains here were the PE's critical path), negated when the signs differ."""
        groups = []
        for lane in range(self.lanes):
            a, b = self.a[lane], self.b[lane]
            field = _CODE_BITS - 1
            product = Signal(range(LANE_PRODUCT_MAX + 1), name=f"mag_{lane}")
            with m.Switch(Cat(a[:field], b[:field])):
                for ca, va in enumerate(_MAGNITUDES):
                    for cb, vb in enumerate(_MAGNITUDES):
                        with m.Case(ca | cb << field):
                            m.d.comb += product.eq(va * vb)
            pp = Signal(signed(signed_width(-LANE_PRODUCT_MAX, LANE_PRODUCT_MAX)),
                        name=f"pp_{lane}")
            m.d.sync += pp.eq(Mux(a[field] ^ b[field], -product, product))
            groups.append(([Term(pp, -LANE_PRODUCT_MAX, LANE_PRODUCT_MAX)], []))
        return groups, {}

    def _fields(self, field):
        hwf = self.hw
        d = field[:hwf.d_bits]
        mm = field[hwf.d_bits:hwf.d_bits + hwf.m_bits] if hwf.m_bits else None
        return mm, d

    def front_side(self, m):
        """The shift ``2R - da - db`` and (NVFP4) the two scale significands."""
        hwf = self.hw
        ma, da = self._fields(self.a_scale)
        mb, db = self._fields(self.b_scale)
        shift = Signal(range(2 * hwf.window + 1), name="shift_f")
        m.d.sync += shift.eq(2 * hwf.window - da - db)
        if not hwf.m_bits:
            return [shift]
        regs = []
        for name, value in (("ma", ma), ("mb", mb)):
            reg = Signal(hwf.m_bits, name=f"{name}_f")
            m.d.sync += reg.eq(value)
            regs.append(reg)
        return [shift, *regs]

    def scale(self, m, group, side):
        """NVFP4: ``S * Ma`` then ``* Mb`` (one 4-bit multiplier a stage: ``S * F``
        with the 8-bit ``F`` in one stage limited the PE to 116 MHz), then
        the shift; MXFP4: the shift."""
        hwf = self.hw
        shift, pending = side[0], list(side[1:])        # Ma, Mb: one a stage
        m_max = (1 << hwf.m_bits) - 1
        stage = 0
        while pending:
            factor, pending = pending[0], pending[1:]
            lo, hi = group.lo * m_max, group.hi * m_max
            scaled = Signal(signed(signed_width(lo, hi)), name=f"scaled_{stage}")
            m.d.sync += scaled.eq(group.value * factor)
            group = Term(scaled, lo, hi)
            delayed = []
            for value in (shift, *pending):             # the rest keeps pace
                reg = Signal.like(value, name=f"{value.name}_s{stage}")
                m.d.sync += reg.eq(value)
                delayed.append(reg)
            shift, pending = delayed[0], delayed[1:]
            stage += 1
        lo, hi = group.lo << (2 * hwf.window), group.hi << (2 * hwf.window)
        shifted = Signal(signed(signed_width(lo, hi)), name="shifted")
        m.d.sync += shifted.eq(_shift_left(m, group.value, shift, len(shifted)))
        return Term(shifted, lo, hi)


def _shift_left(m, value, amount, width: int):
    """``value << amount`` in ``width`` signed bits, one 2:1 multiplexer level
    per bit of ``amount`` (what Yosys builds for a variable ``<<`` too; this
    way every level has one width, and the Verilog lints clean)."""
    cur = Signal(signed(width), name="shift_in")
    m.d.comb += cur.eq(value)
    for j in range(len(amount)):
        step = 1 << j
        nxt = Signal(signed(width), name=f"shift_l{j}")
        moved = Cat(Const(0, step), cur[:width - step]).as_signed() if step < width \
            else Const(0, signed(width))
        m.d.comb += nxt.eq(Mux(amount[j], moved, cur))
        cur = nxt
    return cur


class Mxfp4DotPE(BlockDotPE):
    """MXFP4 (E8M0 scales): ``S << (2R - da - db)`` per beat, R = 17."""

    fmt = "mxfp4"


class Nvfp4DotPE(BlockDotPE):
    """NVFP4 (UE4M3 scales): ``S * Ma * Mb << (2R - da - db)`` per beat, R = 14."""

    fmt = "nvfp4"
