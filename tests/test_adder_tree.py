"""``hw.adder_tree.reduce_by_weight``: exact sums of weighted rows and carries.

Random rows (signed values in their declared intervals, shifts 0..4, lanes
as groups) and weighted carries are summed by the tree and compared with the
plain Python sum ``sum(v << shift) + sum(c << weight)``, at several register
cuts; the intervals' edges are mixed in.  A carry whose weight no adder has
is refused when the tree is built.
"""

import random

import pytest
from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator

from hw.adder_tree import WTerm, reduce_by_weight, signed_width

# (lo, hi, shift) of one lane's rows: the radix-4 lane's shapes and a few odd ones.
LANE = [(-31, 30, 0), (-31, 30, 2), (-4096, 4095, 4)]
ODD = [(-3, 2, 1), (0, 7, 3), (-100, 5, 0)]


def build(lanes, shapes, cuts, exact_first):
    m = Module()
    ins, terms, carries = [], [], []
    low = min(s for *_, s in shapes)
    for lane in range(lanes):
        for r, (lo, hi, shift) in enumerate(shapes):
            v = Signal(signed(signed_width(lo, hi)), name=f"v{lane}_{r}")
            ins.append((v, lo, hi, shift))
            terms.append(WTerm(v, lo, hi, shift, lane))
            if lane == 0 and shift == low and exact_first:
                continue     # as the PE: one lowest-weight row brings no carry
            c = Signal(name=f"c{lane}_{r}")
            ins.append((c, 0, 1, shift))
            # The lowest weight's carries go across groups, as in the PE.
            carries.append((c, shift, None if shift == low else lane))
    total, stages, _, _ = reduce_by_weight(m, terms, carries, cuts=cuts)
    return m, ins, total, stages


@pytest.mark.parametrize("lanes,shapes,cuts", [
    (1, LANE, ()), (2, LANE, {1}), (3, LANE, {2}), (8, LANE, {1, 3}), (4, ODD, {1, 2}),
])
def test_random_sums(lanes, shapes, cuts):
    rng = random.Random(lanes * 7 + len(cuts))
    m, ins, total, stages = build(lanes, shapes, cuts, exact_first=True)
    vectors = []
    for n in range(60):
        vec = []
        for sig, lo, hi, shift in ins:
            pick = rng.random()
            vec.append(lo if pick < 0.2 else hi if pick < 0.4 else rng.randint(lo, hi))
        vectors.append(vec)

    def want(vec):
        return sum(x << shift for x, (_, _, _, shift) in zip(vec, ins))

    got = []

    async def bench(ctx):
        for n in range(len(vectors) + stages):
            if n < len(vectors):
                for (sig, *_), x in zip(ins, vectors[n]):
                    ctx.set(sig, x)
            await ctx.tick()
            if n + 1 >= stages:
                got.append(ctx.get(total.value))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got[:len(vectors)] == [want(v) for v in vectors]
    assert total.lo <= min(got) and max(got) <= total.hi


def test_carry_without_adder_of_its_weight():
    m = Module()
    a, b, c = Signal(signed(4)), Signal(signed(4)), Signal()
    with pytest.raises(ValueError, match="found no adder"):
        reduce_by_weight(m, [WTerm(a, -8, 7, 0), WTerm(b, -8, 7, 2)], [(c, 0, None)])
