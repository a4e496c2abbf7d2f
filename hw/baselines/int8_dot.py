"""INT8 x INT8 k-lane dot-product PE into an INT32 accumulator (issue 27 item 4).

The integer baseline built like the radix-4 k-lane PE (``hw.baselines.dot_base``):
per lane, B is cut into four 2-bit slices (the top one signed) and the four
slice products ``a * b[2i:2i+2]`` are registered (front stage); the tree
sums each lane's four shifted slice products (two levels, as the radix-4
lane's three rows take two) and then the lanes; one signed 32-bit
accumulator that wraps, with the radix-4 PE's sticky overflow flag (judged
on the exact running sum after each group).  Golden model:
``model.dot_baselines.int8_dot``.
"""

from amaranth.hdl import Signal, signed  # no __future__ annotations: Amaranth reads them

from model.dot_baselines import INT8_ACC_WIDTH

from ..adder_tree import Term
from .dot_base import DotBaselinePE

__all__ = ["Int8DotPE"]

_SLICE = 2


class Int8DotPE(DotBaselinePE):
    """``lanes`` signed INT8 products per valid cycle into a wrapping INT32."""

    lane_shape = signed(8)
    acc_bits = INT8_ACC_WIDTH
    acc_shape = signed(INT8_ACC_WIDTH)
    front_stages = 1
    rows = 8 // _SLICE

    def front(self, m):
        groups = []
        for lane in range(self.lanes):
            a, b = self.a[lane], self.b[lane]
            terms = []
            for i in range(0, 8, _SLICE):
                top = i + _SLICE == 8
                piece = b[i:i + _SLICE].as_signed() if top else b[i:i + _SLICE]
                lo_p, hi_p = (-(1 << (_SLICE - 1)), (1 << (_SLICE - 1)) - 1) if top \
                    else (0, (1 << _SLICE) - 1)
                bounds = [x * y for x in (-128, 127) for y in (lo_p, hi_p)]
                pp = Signal(signed(11), name=f"pp_{lane}_{i}")
                m.d.sync += pp.eq(a * piece)
                terms.append(Term(pp << i, min(bounds) << i, max(bounds) << i))
            groups.append((terms, []))
        return groups, {}
