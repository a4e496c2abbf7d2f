"""The k-lane dot-product PE (SPEC 2, ``--lanes K``; docs/hardware.md, "Dot-product PE").

Each valid cycle it takes ``lanes`` A codes and ``lanes`` B codes (lane 0 is
the lowest k of the group), forms the ``lanes`` exact products of SPEC 2 as
rows (``hw.dot_rows``), adds them in an exact adder tree and adds that
group sum to one accumulator.  Overflow follows
``model.gemm.overflow_mask(..., lanes=k)``:
the exact running sum after each group is judged, the register wraps, the
flag is sticky (docs/architecture.md, "Overflow with lanes").

Pipeline (``latency`` cycles from the operands to ``acc``):

1. decode: per lane the signed digit rows, the shift row's operand and
   controls (``hw.dot_rows``);
2. the shift rows and the adder tree (``hw.adder_tree.reduce_by_weight``):
   each lane's rows, then the lanes; an adder starts at the higher
   operand's weight, so none works on a narrower row's fill bits.  Its
   levels are spread over ``latency - 2`` register stages (``tree_cuts``:
   the first tree stage holds the shift multiplexers and one adder level),
   the group sum registered last (docs/lanes.md: 8 lanes, latency 5, 1,029
   LUT4 at 172.4 MHz, was 1,024 at 156.5);
3. the accumulator: ``acc + group`` exact in ``max(W, group) + 1`` bits,
   ``clear`` loads the group sum instead (the multiplexer after the adder,
   as in ``hw.pe``).

``levels`` is the tree depth (3 rows per lane today: 2 levels in a lane,
then ``ceil(log2 k)``: 2 for 1 lane, 5 for 8, 6 for 16).  The default
latency is ``2 + ceil(levels / 2)`` (at
most 2 adder levels a stage); any value from 3 (the whole tree in one
stage) to ``2 + levels`` (one level a stage) may be asked for.
"""

import math

from amaranth.hdl import Module, Signal, signed  # no __future__ annotations: Amaranth reads them
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from model.hw_vocab import product_width
from model.config import (DOT_LEVELS_PER_STAGE, DOT_ROW_LEVELS, DatapathConfig, check_acc_width,
                          check_lanes, dot_levels)

from .adder_tree import Term, even_cuts, reduce_by_weight, tree_levels
from .dot_rows import LaneDecode, LanePlan
from .pe_signature import PESignature

__all__ = ["DotProductPE", "DEFAULT_LANES", "dot_pe_latencies", "default_dot_pe_latency"]

# The measured choice (docs/lanes.md): see scripts/sweep_lanes.py.
DEFAULT_LANES = 8
DEFAULT_LEVELS_PER_STAGE = DOT_LEVELS_PER_STAGE


def _levels(lanes: int) -> int:
    """Adder levels: the lanes' rows of one weight, then the weights."""
    return tree_levels(LanePlan().rows) + tree_levels(lanes)


def tree_cuts(levels: int, stages: int) -> set:
    """Adder levels after which the tree registers (``stages`` register stages).

    The first stage also holds the shift row's last multiplexers, so it is
    given one adder level less than an even split (``levels + 1`` cut
    evenly, then moved down by one); when that leaves a cut at level 0
    (one level a stage) the split is the even one.  Measured at 8 lanes,
    latency 5 (docs/lanes.md): cuts {1, 3} 172.4 MHz; the even {2, 3} put
    the sign, two carry chains (and on the weight-first tree the shift
    multiplexers, 141 MHz) in one stage."""
    cuts = {c - 1 for c in even_cuts(levels + 1, stages)} - {0}
    return cuts if len(cuts) == stages - 1 else even_cuts(levels, stages)


# model.config states the latencies of an array's k-lane PE without importing hw.
assert tree_levels(LanePlan().rows) == DOT_ROW_LEVELS, "model.config.DOT_ROW_LEVELS is stale"


def dot_pe_latencies(lanes: int) -> range:
    """The latencies a ``lanes``-lane PE can be built with."""
    return range(3, 3 + _levels(check_lanes(lanes)))


def default_dot_pe_latency(lanes: int) -> int:
    levels = _levels(check_lanes(lanes))
    assert levels == dot_levels(lanes)
    return 2 + math.ceil(levels / DEFAULT_LEVELS_PER_STAGE)


class DotProductPE(wiring.Component):
    """``lanes`` exact products per valid cycle into one accumulator.

    Ports (Verilog names equal the member names, plus ``clk``/``rst``):
    ``a``, ``b`` (``lanes`` x ``lane_width()`` bits, lane 0 in the low bits),
    ``a_fmt``, ``b_fmt`` (one select per beat, for every lane), ``valid``,
    ``clear`` in; ``acc`` (signed ``acc_width``, registered) and sticky
    ``overflow`` out.  ``acc`` shows a group's sum ``latency`` cycles after
    its operands.
    """

    def __init__(self, acc_width: int = 32, latency: int | None = None,
                 lanes: int = DEFAULT_LANES, *, probe: bool = False):
        try:
            self.acc_width = check_acc_width(acc_width)
            self.lanes = check_lanes(lanes)
            self.plan = LanePlan()
            self.levels = _levels(self.lanes)
            if latency is None:
                latency = default_dot_pe_latency(self.lanes)
            allowed = dot_pe_latencies(self.lanes)
            if isinstance(latency, bool) or latency not in allowed:
                raise ValueError(f"a {self.lanes}-lane PE takes latency {allowed.start}.."
                                 f"{allowed.stop - 1}, got {latency!r}")
            self.latency = int(latency)
        except ValueError:
            self._MustUse__silence = True  # never built: no "unused elaboratable" warning
            raise
        self.cuts = tree_cuts(self.levels, self.latency - 2)
        # Cycles from the operands to the lane products (the probe port).
        self.probe_latency = 1 + sum(c < tree_levels(self.plan.rows) for c in self.cuts)
        # Cycles from the operands to each tree register stage after the
        # lanes' products exist (the group-sum register last; the probe port
        # ``stage_sum``: the exact sum each holds).
        self.stage_sum_latencies = list(range(self.probe_latency + 1, self.latency))
        probe_port = {
            "lane_product": Out(data.ArrayLayout(signed(product_width()), self.lanes)),
            "stage_sum": Out(data.ArrayLayout(signed(product_width() + self.lanes.bit_length()),
                                              len(self.stage_sum_latencies)))}
        # The ports of every PE (hw.pe_signature), with the probe as an extra.
        base = PESignature.from_formats(self.acc_width, self.lanes)
        super().__init__(PESignature(
            lane_shape=base.lane_shape, lanes=self.lanes, a_select_width=base.a_select_width,
            b_select_width=base.b_select_width, acc_shape=base.acc_shape,
            extra=probe_port if probe else None))

    @classmethod
    def from_config(cls, config: DatapathConfig) -> "DotProductPE":
        """The array's cell (``hw.grid``): ``config.lanes`` lanes at ``config.pe_latency``."""
        return cls(config.acc_width, latency=config.pe_latency, lanes=config.lanes)

    def elaborate(self, platform):
        m = Module()
        width = self.acc_width

        # Stage 1: decode every lane; valid/clear travel with the data.  A
        # tree of n rows has n - 1 adders for n carries: lane 0's row 0 is
        # negated exactly and brings none.
        lanes = [LaneDecode(self.plan, f"lane{i}", exact_row0=i == 0)
                 for i in range(self.lanes)]
        for i, lane in enumerate(lanes):
            lane.elaborate_into(m, self.a[i], self.a_fmt, self.b[i], self.b_fmt)
        valid_1, clear_1 = Signal(name="valid_1"), Signal(name="clear_1")
        m.d.sync += [valid_1.eq(self.valid), clear_1.eq(self.clear)]

        # Stage 2: rows, then the adder tree by weight (ends in the group-sum register).
        terms, carries = [], []
        for i, lane in enumerate(lanes):
            rows, row_carries = lane.rows(m)
            for t in rows:
                t.group = i
            # A lane has two adders for its three rows (shift 2 and 4): its
            # weight-1 carry (row 0's) rides on an adder across lanes.
            carries += [(c, w, i) for c, w in row_carries]
            terms += rows
        inflight = []
        group, stages, (valid, clear), (products, at) = reduce_by_weight(
            m, terms, carries, cuts=self.cuts, name="tree", travel=(valid_1, clear_1),
            inflight=inflight)
        assert 2 + stages == self.latency and 1 + at == self.probe_latency
        assert [1 + s for s, _ in inflight] == self.stage_sum_latencies
        if hasattr(self, "lane_product"):
            # For the proof only: each lane's exact product (its sum in the
            # tree and its carry still to come), ``probe_latency`` cycles
            # after its operands (not built unless asked for).
            for i, p in enumerate(products):
                m.d.comb += self.lane_product[i].eq(p)
            # And what each later tree register stage holds, summed exactly:
            # invariants that let the proof go one adder stage at a time.
            for j, (_, value) in enumerate(inflight):
                m.d.comb += self.stage_sum[j].eq(value)

        # Stage 3: the accumulator.  The exact sum needs max(W, group) + 1 bits.
        total = Signal(signed(max(width, group.width) + 1), name="total")
        m.d.comb += total.eq(self.acc + group.value)
        with m.If(valid & clear):
            # A group narrower than acc is sign-extended, a wider one wraps.
            load = group.value if group.width <= width else group.value[:width]
            m.d.sync += [self.acc.eq(load),
                         self.overflow.eq(~_fits(group, width))]
        with m.Elif(valid):
            m.d.sync += [self.acc.eq(total[:width]),
                         self.overflow.eq(self.overflow | ~_fits(Term(total, 0, 0), width))]
        with m.Elif(clear):
            m.d.sync += [self.acc.eq(0), self.overflow.eq(0)]
        return m


def _fits(term: Term, width: int):
    """Whether the signed ``term`` is representable in ``width`` signed bits:
    its bits from ``width - 1`` up all agree (constant 1 when it is narrower)."""
    value = term.value
    if len(value) <= width:
        return 1
    top = value[width - 1:]
    return (top == 0) | (top == (1 << len(top)) - 1)
