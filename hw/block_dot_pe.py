"""Block-scaled k-lane dot-product PEs: MXFP4 and NVFP4 (issue 25 item 3).

Arithmetic: ``model.block_hw`` (its docstring is the contract).  Built by the
baselines' generator (``hw.baselines.dot_base``: the same exact pipelined
adder tree, sticky overflow judged per beat) with a scale stage between the
tree and the accumulator::

    front (1): per lane the exact E2M1 product iv_a * iv_b (-144..144);
               the beat's scale: F = Ma * Mb (NVFP4: a 4 x 4-bit multiply)
               and the shift 2R - da - db
    tree (T):  S = the lanes' sum (|S| <= 144 k)
    scale:     NVFP4: S * F (1 stage), then << shift (1 stage);
               MXFP4: S << shift (1 stage)
    acc (1):   signed 64-bit, wraps, sticky overflow per beat

Ports (``hw.pe_signature.PESignature``): ``a``, ``b`` (``lanes`` x 4-bit
E2M1 codes, lane 0 in the low bits), ``a_scale``, ``b_scale`` (the scale
field of this beat's block: ``d`` low, ``m`` above it; widths from
``model.block_hw.hw_format``), ``valid``, ``clear`` in; ``acc`` (signed
64, the raw accumulator: the host converts, ``model.block_hw.convert``) and
``overflow`` out.
"""

from amaranth.hdl import Mux, Signal, signed, unsigned  # no __future__ annotations: Amaranth reads them

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
            cls.scale_stages = 2 if hwf.m_bits else 1

    def _magnitude(self, m, code, name):
        """The E2M1 code's integer magnitude (the format table's) and sign."""
        mag = Signal(range(max(_MAGNITUDES) + 1), name=f"{name}_mag")
        with m.Switch(code[:_CODE_BITS - 1]):
            for c, v in enumerate(_MAGNITUDES):
                with m.Case(c):
                    m.d.comb += mag.eq(v)
        return mag, code[_CODE_BITS - 1]

    def front(self, m):
        groups = []
        for lane in range(self.lanes):
            mag_a, sign_a = self._magnitude(m, self.a[lane], f"a{lane}")
            mag_b, sign_b = self._magnitude(m, self.b[lane], f"b{lane}")
            product = Signal(unsigned(8), name=f"mag_{lane}")
            m.d.comb += product.eq(mag_a * mag_b)
            pp = Signal(signed(signed_width(-LANE_PRODUCT_MAX, LANE_PRODUCT_MAX)),
                        name=f"pp_{lane}")
            m.d.sync += pp.eq(Mux(sign_a ^ sign_b, -product, product))
            groups.append(([Term(pp, -LANE_PRODUCT_MAX, LANE_PRODUCT_MAX)], []))
        return groups, {}

    def _fields(self, field):
        hwf = self.hw
        d = field[:hwf.d_bits]
        mm = field[hwf.d_bits:hwf.d_bits + hwf.m_bits] if hwf.m_bits else None
        return mm, d

    def front_side(self, m):
        hwf = self.hw
        ma, da = self._fields(self.a_scale)
        mb, db = self._fields(self.b_scale)
        shift = Signal(range(2 * hwf.window + 1), name="shift_f")
        m.d.sync += shift.eq(2 * hwf.window - da - db)
        if not hwf.m_bits:
            return [shift]
        factor = Signal(range(hwf.f_max + 1), name="factor_f")
        m.d.sync += factor.eq(ma * mb)
        return [shift, factor]

    def scale(self, m, group, side):
        hwf = self.hw
        shift = side[0]
        if hwf.m_bits:
            factor = side[1]
            lo, hi = group.lo * hwf.f_max, group.hi * hwf.f_max
            scaled = Signal(signed(signed_width(lo, hi)), name="scaled")
            m.d.sync += scaled.eq(group.value * factor)
            shift_1 = Signal.like(shift, name="shift_s0")
            m.d.sync += shift_1.eq(shift)
            group, shift = Term(scaled, lo, hi), shift_1
        lo, hi = group.lo << (2 * hwf.window), group.hi << (2 * hwf.window)
        shifted = Signal(signed(signed_width(lo, hi)), name="shifted")
        m.d.sync += shifted.eq(group.value << shift)
        return Term(shifted, lo, hi)


class Mxfp4DotPE(BlockDotPE):
    """MXFP4 (E8M0 scales): ``S << (2R - da - db)`` per beat, R = 17."""

    fmt = "mxfp4"


class Nvfp4DotPE(BlockDotPE):
    """NVFP4 (UE4M3 scales): ``S * Ma * Mb << (2R - da - db)`` per beat, R = 14."""

    fmt = "nvfp4"
