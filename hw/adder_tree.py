"""Exact pipelined adder tree with carry-ins (the k-lane PE's reduction).

``reduce_terms`` sums a list of signed terms and a list of 1-bit carries
exactly.  Every adder is a two-input carry-chain add (CCU2C on ECP5) whose
carry-in takes one of the carries, so conditional negations done as
``x ^ neg`` (= ``-x - 1`` when ``neg``) get their ``+1`` for free.

Each level pairs the two narrowest terms first (widths are derived from
value intervals, never guessed), so narrow integer rows meet narrow rows.
A register stage follows each level named in ``cuts`` and the last one
(the group sum is registered); inside a stage
the intermediate sums carry the ``keep`` attribute: without it Yosys'
``alumacc`` merges a chain of adds into one multi-operand ``$macc``, which
it maps to LUT full adders instead of carry chains (measured: an 8-lane
tree grew from ~380 to ~780 LUT4).
"""

from amaranth.hdl import Signal, signed  # no __future__ annotations: Amaranth reads them

__all__ = ["Term", "signed_width", "reduce_terms", "tree_levels", "even_cuts"]


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


def reduce_terms(m, terms, carries, *, cuts=(), name: str = "tree",
                 travel=()):
    """Sum ``terms`` (list of ``Term``) and ``carries`` (1-bit values).

    Returns ``(Term, stages, travelled)``: the registered sum, the register
    stages inserted (one per cut below the last level, plus the last),
    and ``travel`` (signals that go along, e.g. valid/clear) delayed by the
    same number of stages.  Carries left over when the
    adders run out become terms of their own.
    """
    terms, carries, travel = list(terms), list(carries), list(travel)
    while len(carries) > max(0, len(terms) - 1):
        c = carries.pop()
        terms.append(Term(c, 0, 1))
    level = stages = 0
    if len(terms) == 1:   # nothing to add: still one register stage
        terms, carries, travel = _register(m, terms, carries, travel, f"{name}_s0")
        return terms[0], 1, travel
    while len(terms) > 1:
        terms.sort(key=lambda t: t.width)
        nxt = []
        for i in range(0, len(terms) - 1, 2):
            x, y = terms[i], terms[i + 1]
            c = carries.pop(0) if carries else None
            lo, hi = x.lo + y.lo, x.hi + y.hi + (c is not None)
            s = Signal(signed(signed_width(lo, hi)), name=f"{name}_l{level}_{i // 2}",
                       attrs={"keep": 1})
            m.d.comb += s.eq(x.value + y.value + (c if c is not None else 0))
            nxt.append(Term(s, lo, hi))
        if len(terms) % 2:
            nxt.append(terms[-1])
        terms, level = nxt, level + 1
        if level in cuts or len(terms) == 1:
            terms, carries, travel = _register(m, terms, carries, travel, f"{name}_s{stages}")
            stages += 1
    assert not carries
    return terms[0], stages, travel


def _register(m, terms, carries, travel, name):
    """One pipeline register over everything in flight."""
    out_terms = []
    for i, t in enumerate(terms):
        q = Signal(signed(t.width), name=f"{name}_t{i}")
        m.d.sync += q.eq(t.value)
        out_terms.append(Term(q, t.lo, t.hi))
    out_carries = []
    for i, c in enumerate(carries):
        q = Signal(name=f"{name}_c{i}")
        m.d.sync += q.eq(c)
        out_carries.append(q)
    out_travel = []
    for i, v in enumerate(travel):
        q = Signal.like(v, name=f"{name}_v{i}")
        m.d.sync += q.eq(v)
        out_travel.append(q)
    return out_terms, out_carries, out_travel
