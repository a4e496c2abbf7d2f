"""The k-lane dot-product PE (SPEC 2, ``--lanes K``; docs/hardware.md, "Dot-product PE").

Each valid cycle it takes ``lanes`` A codes and ``lanes`` B codes (lane 0 is
the lowest k of the group), forms the ``lanes`` exact products of SPEC 2
(``hw.dot_rows``: narrow radix-4 rows, their sum, one post shift), adds
them in an exact adder tree and adds that group sum to one accumulator.
Overflow follows ``model.gemm.overflow_mask(..., lanes=k)``:
the exact running sum after each group is judged, the register wraps, the
flag is sticky (docs/architecture.md, "Overflow with lanes").

Pipeline (``latency`` cycles from the operands to ``acc``):

1. decode: per lane the signed digit rows, the top row, their carries and
   the post-shift index (``hw.dot_rows.LaneDecode``);
2. per lane the adder chain of its rows and the post multiplexer
   (``hw.dot_rows.LaneSum``), then the lane tree (``hw.adder_tree.
   reduce_terms``).  These "units" (the lane's adders, the multiplexer, the
   tree's levels) are spread evenly over ``latency - 2`` register stages
   (``tree_cuts``), the group sum registered last (docs/lanes.md: 8 lanes,
   latency 5: the lane's two adders | multiplexer + one tree level | two
   tree levels; 778 LUT4 at 173.9 MHz, was 1,029 at 172.4 with a shift
   row per lane);
3. the accumulator: ``acc + group`` exact in ``max(W, group) + 1`` bits,
   ``clear`` loads the group sum instead (the multiplexer after the adder,
   as in ``hw.pe``).

``levels`` is the adder depth (a lane's rows: 2 levels today, then
``ceil(log2 k)``: 2 for 1 lane, 5 for 8, 6 for 16).  The default latency
is ``2 + ceil(levels / 2)``; any value from 3 (everything in one stage) to
``2 + levels`` may be asked for.
"""

import math

from amaranth.hdl import Module, Signal, signed  # no __future__ annotations: Amaranth reads them
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from model.hw_vocab import product_width
from model.config import (DESIGN_LANES, DOT_LEVELS_PER_STAGE, DOT_ROW_LEVELS, DatapathConfig,
                          check_acc_width, check_lanes, dot_levels)

from .adder_tree import Term, lane_first_cuts, reduce_terms, tree_levels
from .dot_rows import LaneDecode, LanePlan, LaneSum
from .pe_signature import PESignature

__all__ = ["DotProductPE", "DEFAULT_LANES", "dot_pe_latencies", "default_dot_pe_latency"]

# The measured choice (docs/lanes.md, scripts/sweep_lanes.py), said in model.config.
DEFAULT_LANES = DESIGN_LANES
DEFAULT_LEVELS_PER_STAGE = DOT_LEVELS_PER_STAGE


def _levels(lanes: int) -> int:
    """Adder levels: a lane's row chain, then the lane tree."""
    return LanePlan().adders + tree_levels(lanes)


def tree_cuts(lanes: int, stages: int) -> set:
    """Units after which the PE registers (``stages`` register stages after decode).

    The units are a lane's adders (``LanePlan.adders``: two short chains,
    9 and 8 bits), its post multiplexer, then the lane tree's levels, cut
    by ``hw.adder_tree.lane_first_cuts`` (the lane's adders fill the first
    stage, the rest share the others, earlier stages larger).  Measured at 8 lanes
    (docs/lanes.md): latency 5, cuts {2, 4} 778 LUT4 at 173.9 MHz ({3, 5}:
    154.1); latency 6, {2, 4, 5} 191.6 MHz (even {2, 3, 4}: 177.7);
    latency 7, {2, 3, 4, 5} 193.7 MHz (even {1, 2, 4, 5}: 190.2)."""
    return lane_first_cuts(LanePlan().adders, 1 + tree_levels(lanes), stages)


# model.config states the latencies of an array's k-lane PE without importing hw.
assert LanePlan().adders == DOT_ROW_LEVELS, "model.config.DOT_ROW_LEVELS is stale"


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
        self.cuts = tree_cuts(self.lanes, self.latency - 2)
        # Cycles from the operands to the lane products (the probe port):
        # the multiplexer's output, after the cuts inside the lane's chain.
        self.probe_latency = 1 + sum(c <= self.plan.adders for c in self.cuts)
        # Cycles from the operands to each register stage of the tree over
        # the lane products (the group-sum register last; the probe port
        # ``stage_sum``: the exact sum each holds).
        front = sum(c <= self.plan.adders + 1 for c in self.cuts)
        self.stage_sum_latencies = list(range(2 + front, self.latency))
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

        # Stage 1: decode every lane; valid/clear travel with the data.
        decodes = [LaneDecode(self.plan, f"lane{i}") for i in range(self.lanes)]
        for i, lane in enumerate(decodes):
            lane.elaborate_into(m, self.a[i], self.a_fmt, self.b[i], self.b_fmt)
        valid, clear = Signal(name="valid_1"), Signal(name="clear_1")
        m.d.sync += [valid.eq(self.valid), clear.eq(self.clear)]

        # Stage 2: each lane's adder chain (the units before the multiplexer),
        # registered where ``self.cuts`` says, then the post shift.
        sums = [LaneSum(d) for d in decodes]
        unit = stage = 0
        while not sums[0].done:
            unit += 1
            for lane in sums:
                lane.step(m, unit)
            if unit in self.cuts:
                stage += 1
                for lane in sums:
                    # A sum that goes straight into a register needs no ``keep``
                    # (hw.adder_tree.reduce_terms: abc9 then reintegrates reliably).
                    lane.last_adder.attrs.pop("keep", None)
                    lane.replace(_register(m, lane.pieces(), f"{lane.name}_s{stage}"))
                valid, clear = _register(m, [valid, clear], f"ctl_s{stage}")
        products = probes = [lane.product(m) for lane in sums]
        unit += 1
        if unit in self.cuts:          # the lane products themselves are registered
            stage += 1
            regs = _register(m, [p.value for p in products], f"product_s{stage}")
            products = [Term(q, p.lo, p.hi) for q, p in zip(regs, products)]
            valid, clear = _register(m, [valid, clear], f"ctl_s{stage}")
        tree_cuts_rel = {c - unit for c in self.cuts if c > unit}
        inflight = []
        group, stages, (valid, clear), _ = reduce_terms(
            m, [([p], []) for p in products], cuts=tree_cuts_rel, name="tree",
            travel=(valid, clear), inflight=inflight)
        assert 2 + stage + stages == self.latency, (stage, stages, self.latency)
        assert [1 + stage + s for s, _ in inflight] == self.stage_sum_latencies
        if hasattr(self, "lane_product"):
            # For the proof only: each lane's exact product (the post
            # multiplexer's output), ``probe_latency`` cycles after its
            # operands (not built unless asked for).
            for i, p in enumerate(probes):
                m.d.comb += self.lane_product[i].eq(p.value)
            # And what each tree register stage holds, summed exactly:
            # invariants that let the proof go one register stage at a time.
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


def _register(m, values, name):
    """One pipeline register over ``values`` (signals or values, shapes kept)."""
    out = []
    for i, v in enumerate(values):
        q = Signal(v.shape(), name=f"{name}_{i}")
        m.d.sync += q.eq(v)
        out.append(q)
    return out


def _fits(term: Term, width: int):
    """Whether the signed ``term`` is representable in ``width`` signed bits:
    its bits from ``width - 1`` up all agree (constant 1 when it is narrower)."""
    value = term.value
    if len(value) <= width:
        return 1
    top = value[width - 1:]
    return (top == 0) | (top == (1 << len(top)) - 1)
