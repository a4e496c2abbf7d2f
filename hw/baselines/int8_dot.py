"""INT8 x INT8 k-lane dot-product PE into an INT32 accumulator (issue 27 item 4).

The integer baseline built like the radix-4 k-lane PE (``hw.baselines.dot_base``)
and with the same care (docs/lanes.md, "INT8 with the same care"): per lane,
B is radix-4 (Booth) recoded into four digits ``d_i`` in ``{-2..2}`` and the
four rows ``(|d_i| a) ^ neg_i`` are registered (front stage), a zero digit
clearing its row through the register's synchronous reset, as the radix-4
PE's digit rows do; each row's ``+1`` is a carry of its own weight
``4^i`` taken by an adder of ``hw.adder_tree.reduce_by_weight`` (each
lane's rows by weight, then the lanes), lane 0's row 0 negated exactly (a
tree of n rows has n - 1 adders).  One signed 32-bit accumulator that
wraps, with the radix-4 PE's sticky overflow flag (judged on the exact
running sum after each group).  Golden model: ``model.dot_baselines.int8_dot``.

Measured (8 lanes, latency 5, docs/lanes.md): 832 LUT4 at 178.9 MHz against
1,333 at 176.0 for the structure before (``a * b[2i:2i+2]`` slice products
and ``reduce_terms``).
"""

from amaranth.hdl import Const, Mux, Signal, signed  # no __future__ annotations: Amaranth reads them

from model.dot_baselines import INT8_ACC_WIDTH

from ..adder_tree import WTerm, lane_first_cuts, tree_levels
from .dot_base import DotBaselinePE

__all__ = ["Int8DotPE"]

_DIGITS = 4          # radix-4 digits of an 8-bit B


class Int8DotPE(DotBaselinePE):
    """``lanes`` signed INT8 products per valid cycle into a wrapping INT32."""

    lane_shape = signed(8)
    acc_bits = INT8_ACC_WIDTH
    acc_shape = signed(INT8_ACC_WIDTH)
    front_stages = 1
    rows = _DIGITS
    weighted = True

    def __init__(self, lanes: int = 8, latency: int | None = None):
        super().__init__(lanes, latency)
        # The radix-4 PE's rule (hw.adder_tree.lane_first_cuts): a lane's two
        # adder levels fill the first tree stage.  Measured best at 8 lanes
        # and every latency 5..7 (docs/lanes.md).
        self.cuts = lane_first_cuts(tree_levels(self.rows), tree_levels(self.lanes),
                                    self.tree_stages)

    def front(self, m):
        terms, carries = [], []
        for lane in range(self.lanes):
            a, b = self.a[lane], self.b[lane]
            bit = lambda j: Const(0, 1) if j < 0 else b[min(j, 7)]  # noqa: E731
            for i in range(_DIGITS):
                x2, x1, x0 = bit(2 * i + 1), bit(2 * i), bit(2 * i - 1)
                one, two, neg = (Signal(name=f"l{lane}_{n}{i}") for n in ("one", "two", "neg"))
                m.d.comb += [one.eq(x1 ^ x0), two.eq((x2 & ~x1 & ~x0) | (~x2 & x1 & x0)),
                             neg.eq(x2 & ~(x1 & x0))]
                value = (Mux(two, a << 1, a).as_unsigned() ^ neg.replicate(9)).as_signed()
                exact = lane == 0 and i == 0
                if exact:
                    value = value + neg
                row = Signal(signed(10 if exact else 9), name=f"l{lane}_row{i}")
                # A zero digit clears the register (its reset): no AND per bit.
                m.d.sync += row.eq(Mux(one | two, value, 0))
                if exact:
                    terms.append(WTerm(row, -256, 256, 0, lane))
                    continue
                negq = Signal(name=f"l{lane}_neg{i}_q")
                m.d.sync += negq.eq(neg)
                terms.append(WTerm(row, -256, 255, 2 * i, lane))   # (|d| a) ^ neg, |d| <= 2
                carries.append((negq, 2 * i, lane))
        return (terms, carries), {}

