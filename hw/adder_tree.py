"""Exact pipelined adder trees with carry-ins (the k-lane PEs' reductions).

``reduce_by_weight`` (the INT8 baseline's Booth rows, ``hw.baselines.int8_dot``)
sums rows that stand for ``value << shift`` and carries of a given weight,
lane by lane and then across lanes, each adder starting at the higher
operand's weight (the bits below it are the lower operand's, wired through)
and taking a carry of exactly that weight.  ``reduce_terms`` (the radix-4
PE's lane tree, ``hw.dot_pe``, and the FP baselines) sums a list of signed
terms and a list of 1-bit carries exactly.  Every adder is a
two-input carry-chain add (CCU2C on ECP5) whose carry-in takes one of the
carries, so conditional negations done as
``x ^ neg`` (= ``-x - 1`` when ``neg``) get their ``+1`` for free.

Terms come in groups (one per lane): each group is summed on its own
first, narrowest pair first (widths are derived from value intervals,
never guessed), so every lane's exact product exists as a signal -- the
point a proof or a probe compares with one-lane products -- and then the
lane products are summed.
A register stage follows each level named in ``cuts`` and the last one
(the group sum is registered); inside a stage
the intermediate sums carry the ``keep`` attribute: without it Yosys'
``alumacc`` merges a chain of adds into one multi-operand ``$macc``, which
it maps to LUT full adders instead of carry chains (measured: an 8-lane PE
at latency 5 grew from 1,021 to 1,567 LUT4).  Sums that go straight into a
register drop it again (fewer LUT4, and Yosys' abc9 then no longer fails
to reintegrate some of these netlists).
"""

from collections import Counter

from amaranth.hdl import Cat, Signal, signed  # no __future__ annotations: Amaranth reads them

__all__ = ["Term", "WTerm", "signed_width", "reduce_terms", "reduce_by_weight", "tree_levels",
           "even_cuts", "lane_first_cuts"]


def signed_width(lo: int, hi: int) -> int:
    """Bits of the narrowest signed type holding every integer in lo..hi."""
    width = 1
    while not -(1 << (width - 1)) <= lo <= hi <= (1 << (width - 1)) - 1:
        width += 1
    return width


class Term:
    """A signed value together with the interval its value lies in."""

    __slots__ = ("value", "lo", "hi")

    def __init__(self, value, lo: int, hi: int):
        self.value, self.lo, self.hi = value, lo, hi

    @property
    def width(self) -> int:
        return signed_width(self.lo, self.hi)


class WTerm(Term):
    """A ``Term`` standing for ``value << shift`` (``lo..hi`` bound ``value``)."""

    __slots__ = ("shift", "group")

    def __init__(self, value, lo: int, hi: int, shift: int = 0, group=None):
        super().__init__(value, lo, hi)
        self.shift, self.group = shift, group


def tree_levels(n_terms: int) -> int:
    """Adder levels needed to reduce ``n_terms`` terms to one."""
    levels = 0
    while n_terms > 1:
        n_terms = (n_terms + 1) // 2
        levels += 1
    return levels


def even_cuts(levels: int, stages: int) -> set:
    """Levels after which to register so that ``levels`` adder levels fall
    into ``stages`` register stages as evenly as possible (the last stage
    ends at the last level)."""
    return {round(levels * j / stages) for j in range(1, stages)}


def lane_first_cuts(lane_units: int, rest_units: int, stages: int) -> set:
    """Units after which a k-lane PE registers, ``stages`` register stages.

    With two stages or more a lane's own adders (``lane_units``: short
    chains) fill the first stage and the remaining units (the lane tree's
    levels, and what comes before them) share the others, the earlier
    stages taking the extra unit of an uneven split; with more stages than
    those units the split is ``even_cuts``'.  The radix-4 PE and the INT8
    baseline both place best with it at 8 lanes (docs/lanes.md)."""
    if stages <= 1:
        return set()
    n = stages - 1
    if rest_units < n:
        return even_cuts(lane_units + rest_units, stages)
    cuts, at = {lane_units}, lane_units
    for i in range(n - 1):
        at += rest_units // n + (1 if i < rest_units % n else 0)
        cuts.add(at)
    return cuts


def reduce_terms(m, groups, *, cuts=(), name: str = "tree", travel=(), inflight=None):
    """Sum every group's terms and carries, then the group sums.

    ``groups`` is a list of ``(terms, carries)`` (``Term``s and 1-bit values),
    one per lane: each group is reduced on its own first (its carries go into
    its own adders), so each group's exact sum exists as a signal (the lane
    product), then the group sums are reduced together.  Carries left over
    when a group runs out of adders become terms of their own.

    Returns ``(total, stages, travelled, group_sums)``: the registered total
    (a ``Term``), the register stages inserted (one per cut below the last
    level, plus the last), ``travel`` (e.g. valid/clear) delayed as much,
    and ``(sums, stage)``: the group sums (``Term``s) and the number of
    register stages in front of them.

    ``inflight`` (a list, for a proof's probes): after every register stage
    that follows the group sums, ``(stage, value)`` is appended, ``value``
    the exact sum of everything that stage holds (terms and carries): what
    must equal the sum of the group sums.  No hardware unless it is used.
    """
    groups = [(list(t), list(c)) for t, c in groups]
    for terms, carries in groups:
        while len(carries) > max(0, len(terms) - 1):
            terms.append(Term(carries.pop(), 0, 1))
    travel = list(travel)
    level = stages = 0
    group_sums = None

    def merged(groups):
        """Once every lane's product is complete, record it and merge the lanes."""
        nonlocal group_sums
        if group_sums is None and all(len(t) == 1 for t, _ in groups):
            group_sums = ([t[0] for t, _ in groups], stages)
            return [([t[0] for t, _ in groups], [])]
        return groups

    groups = merged(groups)
    while not (len(groups) == 1 and len(groups[0][0]) == 1):
        groups = merged([(_add_level(m, t, c, f"{name}_l{level}_g{g}"), c)
                         for g, (t, c) in enumerate(groups)])
        level += 1
        if level in cuts or (len(groups) == 1 and len(groups[0][0]) == 1):
            # A sum that goes straight into a register needs no ``keep`` (and
            # with it, Yosys' abc9 sometimes fails to reintegrate the netlist).
            for terms, _ in groups:
                for t in terms:
                    if isinstance(t.value, Signal):
                        t.value.attrs.pop("keep", None)
            groups, travel = _register(m, groups, travel, f"{name}_s{stages}")
            stages += 1
            if inflight is not None and group_sums is not None:
                inflight.append((stages, _held_sum(groups)))
    if stages == 0:   # a single term and nothing to add: still one register stage
        groups, travel = _register(m, groups, travel, f"{name}_s0")
        stages = 1
        if inflight is not None:
            inflight.append((stages, _held_sum(groups)))
    return groups[0][0][0], stages, travel, group_sums


def _held_sum(groups):
    """The exact sum of every term and carry of ``groups`` (an expression),
    added in neighbouring pairs (as the tree pairs them: the proof's easiest)."""
    values = [t.value for terms, carries in groups for t in terms] + \
        [c for _, carries in groups for c in carries]
    while len(values) > 1:
        values = [x + y for x, y in zip(values[::2], values[1::2])] + values[len(values) & ~1:]
    return values[0]


def _add_level(m, terms, carries, name):
    """One adder level over ``terms`` (narrowest pairs first); consumes carries."""
    if len(terms) == 1:
        return terms
    terms = sorted(terms, key=lambda t: t.width)
    out = []
    for i in range(0, len(terms) - 1, 2):
        x, y = terms[i], terms[i + 1]
        c = carries.pop(0) if carries else None
        lo, hi = x.lo + y.lo, x.hi + y.hi + (c is not None)
        s = Signal(signed(signed_width(lo, hi)), name=f"{name}_{i // 2}", attrs={"keep": 1})
        m.d.comb += s.eq(x.value + y.value + (c if c is not None else 0))
        out.append(Term(s, lo, hi))
    if len(terms) % 2:
        out.append(terms[-1])
    return out


def _register(m, groups, travel, name):
    """One pipeline register over everything in flight."""
    out = []
    for g, (terms, carries) in enumerate(groups):
        regs = []
        for i, t in enumerate(terms):
            q = Signal(signed(t.width), name=f"{name}_g{g}_t{i}")
            m.d.sync += q.eq(t.value)
            regs.append(Term(q, t.lo, t.hi))
        cregs = []
        for i, c in enumerate(carries):
            q = Signal(name=f"{name}_g{g}_c{i}")
            m.d.sync += q.eq(c)
            cregs.append(q)
        out.append((regs, cregs))
    out_travel = []
    for i, v in enumerate(travel):
        q = Signal.like(v, name=f"{name}_v{i}")
        m.d.sync += q.eq(v)
        out_travel.append(q)
    return out, out_travel


def reduce_by_weight(m, terms, carries, *, cuts=(), name: str = "tree", travel=()):
    """Sum ``WTerm``s and carries exactly (the radix-4 PE's tree).

    ``carries`` are ``(bit, shift, group)``: a ``+1`` of weight ``2^shift``.
    Terms and carries of one ``group`` (a lane) are summed on their own
    first, each level sorting by (shift, width) and adding neighbours, so
    every group's exact sum exists as a signal (what the PE's proof leans
    on); then the group sums and the carries of group ``None`` are summed,
    narrowest pairs first.  An adder of ``x`` (the lower shift) and ``y``
    computes only ``(x >> d) + y + carry`` with ``d = y.shift - x.shift``
    and wires ``x``'s low ``d`` bits through, so no adder works on a
    narrower row's fill bits; its carry-in takes a carry of weight
    ``y.shift`` (of ``x``'s group while groups are summed, any after).  Every carry must find such an
    adder (the caller arranges it; checked).  Registers follow the levels in
    ``cuts`` and the last, as in ``reduce_terms`` (``keep`` inside a stage
    only).

    Returns ``(total, stages, travelled, groups)``: the registered sum (a
    ``WTerm`` of shift 0), the register stages, ``travel`` delayed as much,
    and ``(sums, stage)``: each group's exact sum (its reduced term plus its
    carries not yet added, a value) and the register stages in front of them.
    """
    terms, carries, travel = list(terms), list(carries), list(travel)
    level = stages = 0
    groups = None

    def record():
        nonlocal groups
        if groups is None and all(n == 1 for n in Counter(t.group for t in terms).values()):
            sums = {t.group: t.value << t.shift for t in terms}
            for c, w, g in carries:
                if g in sums:
                    sums[g] = sums[g] + (c << w)
            groups = ([sums[g] for g in sorted(sums, key=lambda g: (g is None, g))], stages)

    record()
    while len(terms) > 1 or stages == 0:
        if len(terms) > 1:
            terms = _weight_level(m, terms, carries, f"{name}_l{level}")
            level += 1
            record()
        if level in cuts or len(terms) == 1:
            for t in terms:
                if isinstance(t.value, Signal):
                    t.value.attrs.pop("keep", None)   # registered sums: see reduce_terms
            terms, carries, travel = _register_weighted(m, terms, carries, travel,
                                                        f"{name}_s{stages}")
            stages += 1
    (total,) = terms
    if total.shift or carries:
        raise ValueError(f"{name}: carries of weight {[c[1] for c in carries]} found no adder "
                         f"(sum at shift {total.shift})")
    return total, stages, travel, groups


def _weight_level(m, terms, carries, name):
    """One level of ``reduce_by_weight``; consumes carries of matching weight."""
    if all(n == 1 for n in Counter(t.group for t in terms if t.group is not None).values()):
        # Every group is summed: from here on one tree over the group sums.
        for t in terms:
            t.group = None
    grouped = any(t.group is not None for t in terms)
    terms = sorted(terms, key=lambda t: (-1 if t.group is None else t.group, t.shift, t.width))
    out, pairs, i = [], [], 0
    while i < len(terms):
        x = terms[i]
        if i + 1 < len(terms) and (not grouped or x.group == terms[i + 1].group is not None):
            pairs.append((x, terms[i + 1]))
            i += 2
        else:
            out.append(x)
            i += 1
    for n, (x, y) in enumerate(pairs):
        d = y.shift - x.shift
        j = next((j for j, (_, w, g) in enumerate(carries)
                  if w == y.shift and (x.group is None or g == x.group)), None)
        c = carries.pop(j)[0] if j is not None else None
        extra = int(c is not None)
        up_lo, up_hi = (x.lo >> d) + y.lo, (x.hi >> d) + y.hi + extra
        up = Signal(signed(signed_width(up_lo, up_hi)), name=f"{name}_{n}", attrs={"keep": 1})
        m.d.comb += up.eq((x.value >> d) + y.value + (c if c is not None else 0))
        lo, hi = x.lo + (y.lo << d), x.hi + ((y.hi + extra) << d)
        if d:
            low = Signal(d, name=f"{name}_{n}_low")
            value = Signal(signed(d + len(up)), name=f"{name}_{n}_sum")
            m.d.comb += [low.eq(x.value), value.eq(Cat(low, up))]
        else:
            value = up
        out.append(WTerm(value, lo, hi, x.shift, x.group))
    return out


def _register_weighted(m, terms, carries, travel, name):
    """One pipeline register over the terms, carries and ``travel`` in flight."""
    regs = []
    for i, t in enumerate(terms):
        q = Signal(signed(t.width), name=f"{name}_t{i}")
        m.d.sync += q.eq(t.value)
        regs.append(WTerm(q, t.lo, t.hi, t.shift, t.group))
    cregs = []
    for i, (c, w, g) in enumerate(carries):
        q = Signal(name=f"{name}_c{i}")
        m.d.sync += q.eq(c)
        cregs.append((q, w, g))
    out_travel = []
    for i, v in enumerate(travel):
        q = Signal.like(v, name=f"{name}_v{i}")
        m.d.sync += q.eq(v)
        out_travel.append(q)
    return regs, cregs, out_travel
