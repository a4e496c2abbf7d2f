"""The k-lane dot-product PE (SPEC 2, ``--lanes K``; docs/hardware.md, "Dot-product PE").

Each valid cycle it takes ``lanes`` A codes and ``lanes`` B codes (lane 0 is
the lowest k of the group), forms the ``lanes`` exact products of SPEC 2,
adds them in an exact adder tree and adds that group sum to one
accumulator.  Overflow follows ``model.gemm.overflow_mask(..., lanes=k)``:
the exact running sum after each group is judged, the register wraps, the
flag is sticky (docs/architecture.md, "Overflow with lanes").

Pipeline (``latency`` cycles from the operands to ``acc``):

1. decode: per lane the B value and the row controls (``hw.dot_rows``);
2. the rows and the adder tree (``hw.adder_tree``), its levels spread
   evenly over ``latency - 2`` register stages, the group sum registered last;
3. the accumulator: ``acc + group`` exact in ``max(W, group) + 1`` bits,
   ``clear`` loads the group sum instead (the multiplexer after the adder,
   as in ``hw.pe``).

``levels`` is the tree depth (3 rows per lane today: 2 levels for 1 lane,
5 for 8, 6 for 16).  The default latency is ``2 + ceil(levels / 2)`` (at
most 2 adder levels a stage); any value from 3 (the whole tree in one
stage) to ``2 + levels`` (one level a stage) may be asked for.
"""

import math

from amaranth.hdl import Module, Signal, signed  # no __future__ annotations: Amaranth reads them
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from model.hw_vocab import lane_width, product_width, select_width
from model.config import check_acc_width, check_lanes

from .adder_tree import Term, even_cuts, reduce_terms, tree_levels
from .dot_rows import LaneDecode, LanePlan

__all__ = ["DotProductPE", "DEFAULT_LANES", "dot_pe_latencies", "default_dot_pe_latency",
           "dot_pe_verilog"]

# The measured choice (docs/lanes.md): see scripts/sweep_lanes.py.
DEFAULT_LANES = 8
DEFAULT_LEVELS_PER_STAGE = 2


def _levels(lanes: int) -> int:
    """Adder levels: a lane's rows, then the lane products."""
    return tree_levels(LanePlan().rows) + tree_levels(lanes)


def dot_pe_latencies(lanes: int) -> range:
    """The latencies a ``lanes``-lane PE can be built with."""
    return range(3, 3 + _levels(check_lanes(lanes)))


def default_dot_pe_latency(lanes: int) -> int:
    return 2 + math.ceil(_levels(check_lanes(lanes)) / DEFAULT_LEVELS_PER_STAGE)


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
        self.cuts = even_cuts(self.levels, self.latency - 2)
        # Cycles from the operands to the lane products (the probe port).
        self.probe_latency = 1 + sum(c < tree_levels(self.plan.rows) for c in self.cuts)
        lane = lane_width()
        probe_port = {"lane_product": Out(data.ArrayLayout(signed(product_width()), self.lanes))}
        super().__init__({
            "a": In(data.ArrayLayout(lane, self.lanes)),
            "a_fmt": In(select_width("a")),
            "b": In(data.ArrayLayout(lane, self.lanes)),
            "b_fmt": In(select_width("b")),
            "valid": In(1),
            "clear": In(1),
            "acc": Out(signed(acc_width)),
            "overflow": Out(1),
            **(probe_port if probe else {}),
        })

    def elaborate(self, platform):
        m = Module()
        width = self.acc_width

        # Stage 1: decode every lane; valid/clear travel with the data.
        lanes = [LaneDecode(self.plan, f"lane{i}") for i in range(self.lanes)]
        for i, lane in enumerate(lanes):
            lane.elaborate_into(m, self.a[i], self.a_fmt, self.b[i], self.b_fmt)
        valid_1, clear_1 = Signal(name="valid_1"), Signal(name="clear_1")
        m.d.sync += [valid_1.eq(self.valid), clear_1.eq(self.clear)]

        # Stage 2: rows, then the adder tree (ends in the group-sum register).
        group, stages, (valid, clear), (products, at) = reduce_terms(
            m, [lane.rows(m) for lane in lanes], cuts=self.cuts, name="tree",
            travel=(valid_1, clear_1))
        assert 2 + stages == self.latency and 1 + at == self.probe_latency
        if hasattr(self, "lane_product"):
            # For the proof only: each lane's exact product, ``probe_latency``
            # cycles after its operands (not built unless asked for).
            for i, p in enumerate(products):
                m.d.comb += self.lane_product[i].eq(p.value)

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


def dot_pe_verilog(acc_width: int = 32, lanes: int = DEFAULT_LANES,
                   latency: int | None = None) -> str:
    """Verilog of the PE as module ``radix4_dot_pe``, with the header and the
    Icarus time-0 kick of ``hw.verilog.generate`` (the coordinator wires the
    PE into ``radix4 verilog`` with the array)."""
    from amaranth.back import verilog

    from .verilog import TIMESCALE, _kick_comb_blocks
    pe = DotProductPE(acc_width, latency=latency, lanes=lanes)
    body = _kick_comb_blocks(verilog.convert(pe, name="radix4_dot_pe", emit_src=False))
    return (f"// radix4_dot_pe: k-lane dot-product PE (acc_width={acc_width} lanes={pe.lanes} "
            f"latency={pe.latency})\n// Generated by hw.dot_pe.dot_pe_verilog from hw/ "
            f"(Amaranth); do not edit.\n{TIMESCALE}\n" + body)
