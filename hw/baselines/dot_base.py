"""What every k-lane dot-product baseline PE shares (issue 27 item 4).

A baseline PE is built like the radix-4 k-lane PE (``hw.dot_pe``): per lane
a few exact signed terms, the same exact pipelined adder tree
(``hw.adder_tree.reduce_terms``: per-lane sums first, ``keep`` on sums inside
a stage, widths from value intervals), one accumulator with a sticky
overflow flag judged on the running sum after each group, and for the FP
baselines a pipelined conversion of the fixed-point accumulator to FP32.
Only the lane front end differs (``front_stages`` register stages, then the
lanes' terms; ``hw.baselines.int8_dot``, ``hw.baselines.fp_dot``).

Pipeline, ``latency`` cycles from the operands to ``acc``::

    front (F stages) -> tree (T stages, 1..levels) -> scale (S stages;
        block-scaled PEs only) -> accumulator (1) -> conversion (C stages; FP only)

so ``latency = F + T + S + 1 + C``; ``latencies`` lists what a class can be
built with, ``default_latency`` is at most ``levels_per_stage`` adder levels
a tree stage (two, the radix-4 PE's rule; one for the FP16 PE's 81-bit adders).  Special-value flags (FP: NaN, +Inf, -Inf) travel
with the group and are sticky like the overflow flag.

The PE conforms to ``hw.pe_signature.PESignature`` (one format per side: no
selects) and declares ``latency`` and ``lanes``, so ``hw.array.SystolicArray
(pe_class=...)`` builds arrays of it (``from_config``).
"""

import math

from amaranth.hdl import Module, Signal, signed  # no __future__ annotations: Amaranth reads them
from amaranth.lib import wiring

from model.config import check_lanes

from ..adder_tree import even_cuts, reduce_by_weight, reduce_terms, tree_levels
from ..pe_signature import PESignature

__all__ = ["DotBaselinePE", "fits"]

LEVELS_PER_STAGE = 2


def fits(value, width: int):
    """Whether the signed ``value`` is representable in ``width`` signed bits."""
    if len(value) <= width:
        return 1
    top = value[width - 1:]
    return (top == 0) | (top == (1 << len(top)) - 1)


class DotBaselinePE(wiring.Component):
    """Base class: subclasses set the class attributes and ``front``.

    Class attributes: ``lane_shape`` (an operand lane), ``acc_bits`` (the
    accumulator register), ``acc_shape`` (the ``acc`` port), ``front_stages``
    (F), ``convert_stages`` (C), ``rows`` (terms per lane, for the tree's
    depth), ``flags`` (names of the special-value flags, may be empty),
    ``scale_stages`` (S) and ``a_scale_width``/``b_scale_width`` (side
    operands of the signature, ``hw.pe_signature``; 0: none).
    """

    lane_shape = None
    acc_bits = 32
    acc_shape = signed(32)
    front_stages = 1
    convert_stages = 0
    rows = 1
    flags = ()
    scale_stages = 0
    a_scale_width = b_scale_width = 0
    levels_per_stage = LEVELS_PER_STAGE   # adder levels per tree stage by default
    weighted = False     # front returns weighted rows for reduce_by_weight (INT8)

    @classmethod
    def levels(cls, lanes: int) -> int:
        return tree_levels(cls.rows) + tree_levels(lanes)

    @classmethod
    def latencies(cls, lanes: int) -> range:
        fixed = cls.front_stages + cls.scale_stages + 1 + cls.convert_stages
        return range(fixed + 1, fixed + 1 + max(1, cls.levels(check_lanes(lanes))))

    @classmethod
    def default_latency(cls, lanes: int) -> int:
        tree = max(1, math.ceil(cls.levels(check_lanes(lanes)) / cls.levels_per_stage))
        return cls.front_stages + tree + cls.scale_stages + 1 + cls.convert_stages

    def __init__(self, lanes: int = 8, latency: int | None = None):
        try:
            self.lanes = check_lanes(lanes)
            if latency is None:
                latency = self.default_latency(self.lanes)
            allowed = self.latencies(self.lanes)
            if isinstance(latency, bool) or latency not in allowed:
                raise ValueError(f"a {self.lanes}-lane {type(self).__name__} takes latency "
                                 f"{allowed.start}..{allowed.stop - 1}, got {latency!r}")
        except ValueError:
            self._MustUse__silence = True  # never built: no "unused elaboratable" warning
            raise
        self.latency = int(latency)
        self.tree_stages = (self.latency - self.front_stages - self.scale_stages - 1
                            - self.convert_stages)
        levels = self.levels(self.lanes)
        self.cuts = even_cuts(levels, self.tree_stages) if levels else set()
        super().__init__(PESignature(lane_shape=self.lane_shape, lanes=self.lanes,
                                     a_select_width=0, b_select_width=0,
                                     acc_shape=self.acc_shape,
                                     a_scale_width=self.a_scale_width,
                                     b_scale_width=self.b_scale_width))

    @classmethod
    def from_config(cls, config):
        """The array's cell (``hw.grid``): ``config.lanes`` lanes at
        ``config.pe_latency``; the accumulator is the class's own."""
        if config.acc_width != cls.acc_shape.width:
            raise ValueError(f"{cls.__name__} has a {cls.acc_shape.width}-bit acc port, "
                             f"the array was built for acc_width {config.acc_width}")
        return cls(lanes=config.lanes, latency=config.pe_latency)

    # ---- subclass hooks --------------------------------------------------
    def front(self, m):
        """Build the front end (``front_stages`` registers from ``a``/``b``).

        Returns ``(groups, flags)``: one ``([Term, ...], [])`` per lane (or,
        with ``weighted``, ``(WTerms, carries)`` for ``reduce_by_weight``), and a
        dict of this beat's special-value flags (1-bit, ORed over the lanes,
        registered like the terms), keys ``self.flags``."""
        raise NotImplementedError

    def front_side(self, m) -> list:
        """Block-scaled PEs: registered values of this beat (built in the front
        stages) that travel with the group through the tree to ``scale``."""
        return []

    def scale(self, m, group, side):
        """Block-scaled PEs: ``scale_stages`` registered stages from the group
        sum (a ``Term``) and the travelled ``side`` values to the accumulator's
        addend (a ``Term``)."""
        raise NotImplementedError

    def convert(self, m, acc, flags, overflow):
        """FP only: ``convert_stages`` registered stages from the accumulator
        register, its flags and overflow to ``(acc_port_value, overflow)``."""
        raise NotImplementedError

    # ---- the shared datapath ----------------------------------------------
    def elaborate(self, platform):
        m = Module()
        valid, clear = self.valid, self.clear
        for i in range(self.front_stages):
            v, c = Signal(name=f"valid_f{i}"), Signal(name=f"clear_f{i}")
            m.d.sync += [v.eq(valid), c.eq(clear)]
            valid, clear = v, c
        groups, flags = self.front(m)
        side = self.front_side(m)
        names = list(self.flags)
        reduce = reduce_terms
        if self.weighted:   # ``groups`` is (WTerms, weighted carries)
            reduce = lambda m, g, **kw: reduce_by_weight(m, *g, **kw)  # noqa: E731
        group, stages, travel, _ = reduce(
            m, groups, cuts=self.cuts, name="tree",
            travel=[valid, clear] + [flags[n] for n in names] + side)
        assert stages == self.tree_stages, (stages, self.tree_stages)
        valid, clear = travel[0], travel[1]
        gflags = dict(zip(names, travel[2:2 + len(names)]))
        if self.scale_stages:
            group = self.scale(m, group, travel[2 + len(names):])
            for i in range(self.scale_stages):     # the controls keep pace
                v, c = Signal(name=f"valid_s{i}"), Signal(name=f"clear_s{i}")
                m.d.sync += [v.eq(valid), c.eq(clear)]
                valid, clear = v, c
                for n in names:
                    f = Signal(name=f"{n}_s{i}")
                    m.d.sync += f.eq(gflags[n])
                    gflags[n] = f

        # The accumulator: exact sum in max(W, group) + 1 bits, judged per group.
        W = self.acc_bits
        acc = Signal(signed(W), name="acc_reg")
        ovf = Signal(name="ovf_reg")
        sticky = {n: Signal(name=f"{n}_reg") for n in names}
        total = Signal(signed(max(W, group.width) + 1), name="total")
        m.d.comb += total.eq(acc + group.value)
        with m.If(valid & clear):
            load = group.value if group.width <= W else group.value[:W]
            m.d.sync += [acc.eq(load), ovf.eq(~fits(group.value, W))]
            m.d.sync += [sticky[n].eq(gflags[n]) for n in names]
        with m.Elif(valid):
            m.d.sync += [acc.eq(total[:W]), ovf.eq(ovf | ~fits(total, W))]
            m.d.sync += [sticky[n].eq(sticky[n] | gflags[n]) for n in names]
        with m.Elif(clear):
            m.d.sync += [acc.eq(0), ovf.eq(0)]
            m.d.sync += [sticky[n].eq(0) for n in names]

        if self.convert_stages:
            value, flag = self.convert(m, acc, sticky, ovf)
            m.d.comb += [self.acc.eq(value), self.overflow.eq(flag)]
        else:
            m.d.comb += [self.acc.eq(acc), self.overflow.eq(ovf)]
        return m
