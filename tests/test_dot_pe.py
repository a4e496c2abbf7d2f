"""hw.dot_pe.DotProductPE against the golden model (Amaranth simulator).

Expected values come from ``model.gemm``: group sums from ``gemm_exact``,
flags from ``overflow_mask(..., lanes=k)`` over the whole clear-started sum
(formats are constant within a sum here; the per-beat format switch has its
own test).  Lanes 1 and 2: every code of one lane in every select pair
(reserved A codes multiply by 0) with random other lanes; up to 16 lanes:
random valid/clear/hold sequences biased to the extremes; the overflow
boundary (a group that leaves and re-enters the range, group ends exactly
at both edges, a group sum wider than W at W = 18); and lanes = 1 against
today's ``ProcessingElement`` cycle by cycle.
"""

import itertools
import random

import numpy as np
import pytest
from amaranth.hdl import Value
from amaranth.sim import Simulator

from hw.dot_pe import DEFAULT_LANES, DotProductPE, default_dot_pe_latency, dot_pe_latencies
from hw.pe import ProcessingElement
from model.formats import FORMATS, from_nibbles, to_nibbles
from model.hw_vocab import extreme_codes, lane_width, side_formats
from model.gemm import gemm_exact, overflow_mask

A_CODES = {FORMATS[n].hw_code: n for n in side_formats("a")}
B_CODES = {FORMATS[n].hw_code: n for n in side_formats("b")}
PAIRS = list(itertools.product(A_CODES, B_CODES))
TOP_A, TOP_B = 0x7, 15        # fp4 +4096 x uint4 15: the largest product
NEG_A = 0xF                   # fp4 -4096


def wrap(value, width):
    value = int(value) & ((1 << width) - 1)
    return value - (1 << width) if value >> (width - 1) else value


def group_value(a, b, af, bf):
    """The exact sum of one beat's products (model), 0 for a reserved A code."""
    if af not in A_CODES:
        return 0
    fa, fb = A_CODES[af], B_CODES[bf]
    x = from_nibbles(np.asarray(a, np.uint8)[None, :], fa)
    y = from_nibbles(np.asarray(b, np.uint8)[:, None], fb)
    return int(gemm_exact(x, y, fa, fb)[0, 0])


def segment_state(beats, lanes, width):
    """(acc, overflow) after the valid beats of one clear-started sum, all in
    one format pair: the beats' lanes laid out along K."""
    af, bf = beats[0]["a_fmt"], beats[0]["b_fmt"]
    if af not in A_CODES:
        return 0, False
    fa, fb = A_CODES[af], B_CODES[bf]
    a = from_nibbles(np.array([[x for bt in beats for x in bt["a"]]], np.uint8), fa)
    b = from_nibbles(np.array([[x] for bt in beats for x in bt["b"]], np.uint8), fb)
    exact = int(gemm_exact(a, b, fa, fb)[0, 0])
    flag = bool(overflow_mask(a, b, fa, fb, min(width, 63), lanes=lanes)[0, 0])
    return wrap(exact, width), flag


def model_states(cycles, lanes, width):
    """The model's (acc, overflow) after each cycle (dicts: a, b, a_fmt, b_fmt, valid, clear)."""
    seg, state, out = [], (0, False), []
    for c in cycles:
        if c["clear"]:
            seg, state = [], (0, False)
        if c["valid"]:
            seg.append(c)
            assert c["a_fmt"] == seg[0]["a_fmt"] and c["b_fmt"] == seg[0]["b_fmt"]
            state = segment_state(seg, lanes, width)
        out.append(state)
    return out


def pack(values):
    return sum(int(v) << (lane_width() * i) for i, v in enumerate(values))


def simulate(dut, cycles):
    """Drive one cycle dict per clock; return (acc, overflow) ``dut.latency``
    cycles after each (the state that cycle produced)."""
    seen = []

    async def tb(ctx):
        idle = {"valid": 0, "clear": 0}
        for c in list(cycles) + [idle] * (dut.latency - 1):
            for name in ("valid", "clear"):
                ctx.set(getattr(dut, name), c[name])
            if "a" in c:
                ctx.set(Value.cast(dut.a), pack(c["a"]))
                ctx.set(Value.cast(dut.b), pack(c["b"]))
                ctx.set(dut.a_fmt, c["a_fmt"])
                ctx.set(dut.b_fmt, c["b_fmt"])
            await ctx.tick()
            seen.append((ctx.get(dut.acc), bool(ctx.get(dut.overflow))))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    return seen[dut.latency - 1:]


def check(dut, cycles):
    got = simulate(dut, cycles)
    want = model_states(cycles, dut.lanes, dut.acc_width)
    for t, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"cycle {t}: {cycles[t]}: got {g}, model {w}"


def beat(a, b, af, bf, valid=1, clear=0):
    return dict(a=list(a), b=list(b), a_fmt=af, b_fmt=bf, valid=valid, clear=clear)


# --------------------------------------------------------------------------


@pytest.mark.parametrize("lanes", [1, 2])
def test_every_code_of_a_lane(lanes):
    """Every (A select incl. reserved, B select, a nibble, b nibble) in each
    lane, loaded by clear+valid, with random other lanes; then the same beats
    accumulated."""
    rng = random.Random(lanes)
    dut = DotProductPE(32, lanes=lanes)
    cycles = []
    for lane in range(lanes):
        for af, bf in itertools.product(range(1 << len(dut.a_fmt)), range(1 << len(dut.b_fmt))):
            for x, y in itertools.product(range(16), range(16)):
                a = [rng.randrange(16) for _ in range(lanes)]
                b = [rng.randrange(16) for _ in range(lanes)]
                a[lane], b[lane] = x, y
                cycles.append(beat(a, b, af, bf, clear=1))
    got = simulate(dut, cycles)
    for c, g in zip(cycles, got):
        assert g == (group_value(c["a"], c["b"], c["a_fmt"], c["b_fmt"]), False), (c, g)


def random_cycles(rng, lanes, n_sums, p_extreme=0.4, max_beats=12):
    """Clear-started sums in random format pairs with holds, clears without a
    beat and operands of idle cycles that must not count."""
    cycles = []
    for _ in range(n_sums):
        af, bf = rng.choice(PAIRS + [(3, 0)])
        fa, fb = A_CODES.get(af, "int4"), B_CODES[bf]
        ext_a = list(to_nibbles(np.array(extreme_codes(fa)), fa))
        ext_b = list(to_nibbles(np.array(extreme_codes(fb)), fb))
        pick = lambda ext: int(rng.choice(ext)) if rng.random() < p_extreme else rng.randrange(16)  # noqa: E731
        first = True
        for _ in range(rng.randint(1, max_beats)):
            while not first and rng.random() < 0.25:     # hold: junk operands, valid low
                cycles.append(beat([rng.randrange(16)] * lanes, [rng.randrange(16)] * lanes,
                                   rng.randrange(4), rng.randrange(2), valid=0))
            cycles.append(beat([pick(ext_a) for _ in range(lanes)],
                               [pick(ext_b) for _ in range(lanes)], af, bf, clear=int(first)))
            first = False
        if rng.random() < 0.2:
            cycles.append(beat([0] * lanes, [0] * lanes, rng.randrange(4), rng.randrange(2),
                               valid=0, clear=1))
    return cycles


@pytest.mark.parametrize("width", [18, 32])
@pytest.mark.parametrize("lanes", [1, 2, 3, 4, 8, 16])
def test_random_sequences(lanes, width):
    rng = random.Random(lanes * 100 + width)
    n = 60 if lanes <= 4 else 25
    check(DotProductPE(width, lanes=lanes), random_cycles(rng, lanes, n))


@pytest.mark.parametrize("lanes", [2, 8])
def test_every_latency(lanes):
    rng = random.Random(lanes)
    cycles = random_cycles(rng, lanes, 15)
    for latency in dot_pe_latencies(lanes):
        check(DotProductPE(18, latency=latency, lanes=lanes), cycles)


def sum_of(lanes, products):
    """Beats of one sum whose products (fp4 x uint4, lane by lane, K ascending)
    are +-T or 0 (T = 4096 * 15), padded with zero products."""
    products = products + [0] * (-len(products) % lanes)
    a = [{1: TOP_A, -1: NEG_A, 0: 0}[p] for p in products]
    b = [TOP_B if p else 0 for p in products]
    af, bf = FORMATS["fp4"].hw_code, FORMATS["uint4"].hw_code
    return [beat(a[i:i + lanes], b[i:i + lanes], af, bf, clear=int(i == 0))
            for i in range(0, len(products), lanes)]


@pytest.mark.parametrize("lanes", [2, 4, 8, 16])
def test_group_leaves_and_reenters_the_range(lanes):
    """W = 18: +T +T +T -T inside one group (4 lanes and more) is out of
    range only inside the group: no flag; with 2 lanes the group ends at
    2T, 2T: no flag either; three T in a group end: flag."""
    dut = DotProductPE(18, lanes=lanes)
    cycles = sum_of(lanes, [1, 1, 1, -1])
    cycles += sum_of(lanes, [-1, -1, -1, 1])
    cycles += sum_of(lanes, [1, 1, 1] + [0] * (lanes - 3 if lanes > 3 else 3 - lanes + 1))
    cycles += [beat([0] * lanes, [0] * lanes, 0, 0, valid=0)] * 2
    states = model_states(cycles, lanes, 18)
    assert not any(ovf for _, ovf in states[:len(sum_of(lanes, [1] * 4)) * 2])
    assert states[-1][1]
    check(dut, cycles)


@pytest.mark.parametrize("lanes", [1, 4, 16])
@pytest.mark.parametrize("width", [18, 20])
def test_group_ends_exactly_at_the_edges(lanes, width):
    """Sums that end a group exactly at 2^(W-1) - 1 and -2^(W-1): no flag;
    one more (in the next group): flag, sticky over a hold, cleared by clear."""
    dut = DotProductPE(width, lanes=lanes)
    hi, lo = (1 << (width - 1)) - 1, -(1 << (width - 1))
    af, bf = FORMATS["fp4"].hw_code, FORMATS["uint4"].hw_code
    table = {int(v) * y: (x, y) for x, v in enumerate(
        [0 if e == 0 else (-1) ** s * 4 ** (e - 1) for s in (0, 1) for e in range(8)])
        for y in range(16)}
    cycles = []
    for edge, step in ((hi, 1), (lo, -1)):
        parts, rest = [], abs(edge)
        while rest:
            p = max(v for v in table if 0 < v <= rest)
            parts.append(table[p if edge > 0 else -p])
            rest -= p
        parts += [(0, 0)] * (-len(parts) % lanes)
        parts += [table[step]] + [(0, 0)] * (lanes - 1)
        for i in range(0, len(parts), lanes):
            group = parts[i:i + lanes]
            cycles.append(beat([x for x, _ in group], [y for _, y in group], af, bf,
                               clear=int(i == 0)))
        cycles.append(beat([0] * lanes, [0] * lanes, af, bf, valid=0))
        cycles.append(beat([0] * lanes, [0] * lanes, af, bf, valid=0, clear=1))
    states = model_states(cycles, lanes, width)
    assert (hi, False) in states and (lo, False) in states
    assert (wrap(hi + 1, width), True) in states and (wrap(lo - 1, width), True) in states
    check(dut, cycles)


def test_group_sum_wider_than_the_accumulator():
    """W = 18, 16 lanes: one group of 16 top products (983040) leaves the range
    on a clear beat; 8 up and 8 down in one group is 0 and never seen."""
    dut = DotProductPE(18, lanes=16)
    cycles = sum_of(16, [1] * 16) + sum_of(16, [-1] * 16) + sum_of(16, [1] * 8 + [-1] * 8)
    cycles += sum_of(16, [1] * 8 + [-1] * 8 + [1] * 16 + [-1] * 16)
    cycles += [beat([0] * 16, [0] * 16, 0, 0, valid=0)]
    states = model_states(cycles, 16, 18)
    assert [s[1] for s in states] == [True, True, False, False, True, True, True]
    check(dut, cycles)


def test_format_switch_between_beats():
    """Formats are per beat: one sum whose beats use different format pairs is
    the sum of each beat's group (W = 32, no overflow)."""
    rng = random.Random(7)
    lanes = 4
    dut = DotProductPE(32, lanes=lanes)
    cycles = []
    for s in range(30):
        for i in range(rng.randint(1, 6)):
            af, bf = rng.choice(PAIRS)
            cycles.append(beat([rng.randrange(16) for _ in range(lanes)],
                               [rng.randrange(16) for _ in range(lanes)], af, bf, clear=int(i == 0)))
    got = simulate(dut, cycles)
    acc = 0
    for c, g in zip(cycles, got):
        acc = (0 if c["clear"] else acc) + group_value(c["a"], c["b"], c["a_fmt"], c["b_fmt"])
        assert g == (acc, False), (c, g, acc)


def test_one_lane_is_todays_pe_cycle_by_cycle():
    """lanes = 1 gives the same acc and flag as ``ProcessingElement`` at the
    same latency on random stimulus, idle operands and clears included."""
    rng = random.Random(3)
    cycles = random_cycles(rng, 1, 80)
    for width in (18, 32):
        new = simulate(DotProductPE(width, latency=3, lanes=1), cycles)
        old = simulate(ProcessingElement(width, latency=3), cycles)
        assert new == old


def test_ports_and_widths_from_the_table():
    pe = DotProductPE(32, lanes=8)
    assert pe.lanes == 8 and pe.latency == default_dot_pe_latency(8) == 5
    assert len(pe.a.as_value()) == len(pe.b.as_value()) == 8 * lane_width()
    assert len(pe.acc) == 32
    assert DotProductPE(18, lanes=1).latency == 3
    assert DEFAULT_LANES in (1, 2, 4, 8, 16)


@pytest.mark.parametrize("kwargs", [dict(lanes=0), dict(lanes=65), dict(lanes=True),
                                    dict(lanes=2.0), dict(acc_width=17), dict(acc_width=65),
                                    dict(lanes=1, latency=2), dict(lanes=1, latency=5),
                                    dict(lanes=8, latency=8), dict(lanes=4, latency=True)])
def test_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        DotProductPE(**kwargs)
