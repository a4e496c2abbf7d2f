"""cocotb bench of ``radix4_dot_pe`` (the k-lane PE, ``hw.dot_pe``) against the golden model.

Parameters (``RADIX4_PARAMS``): ``acc_width``, ``lanes``, ``latency``.  A
beat carries ``lanes`` A and B nibbles (lane 0 in the low bits); expected
sums and flags come from ``verif.kit.golden.gemm_expect`` (``gemm_exact`` and
``overflow_mask(..., lanes=k)`` over the clear-started sum laid out along K).
Tests: every code of lane 0 and of the last lane in every select pair
(reserved A codes multiply by 0) as one-beat sums with random other lanes;
random sums with holds, clears and extremes; the overflow boundary at narrow
W (a group leaving and re-entering the range, group ends exactly at both
edges, one beyond, sticky, cleared by clear and by reset); reset mid-sum.
Inputs change on the falling edge; ``acc``/``overflow`` are checked
``latency`` falling edges later.
"""

from __future__ import annotations

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from model.hw_vocab import lane_width, max_abs_product, select_width
from verif.kit import Coverage, assert_resolvable, get_seed, start_clock, test_rng
from verif.kit.golden import (code_count, extreme_nibbles, fill_pair, fill_to, format_names,
                              format_pairs, gemm_expect, product_nibbles, product_table,
                              reserved_codes)

PARAMS = json.loads(os.environ.get("RADIX4_PARAMS", "{}"))
LANES, LATENCY = PARAMS["lanes"], PARAMS["latency"]
A_CODES = sorted(format_names("a")) + reserved_codes("a")
B_CODES = sorted(format_names("b"))
NARROW = 24
COV = Coverage("dot_pe")
COV.declare("format pair", [f"a{a}b{b}" for a in A_CODES for b in B_CODES])
COV.declare("lane codes", [f"lane{ln}:a{a}b{b}:{x:x}{y:x}" for ln in sorted({0, LANES - 1})
                           for a in A_CODES for b in B_CODES
                           for x in range(code_count("a", a)) for y in range(code_count("b", b))])
COV.declare("control", ["valid+clear", "clear only", "valid (accumulate)", "hold"])
OVERFLOW_BINS = ["max exactly, no flag", "max+1 flags", "min exactly, no flag", "min-1 flags",
                 "sticky", "cleared by clear", "cleared by reset"]
# With one lane every prefix is a group end: a sum cannot leave and come back unseen.
OVERFLOW_BINS += ["left and re-entered inside a group: no flag"] if LANES > 1 else []


def pack(nibbles):
    return sum(int(v) << (lane_width() * i) for i, v in enumerate(nibbles))


class Beat:
    __slots__ = ("valid", "clear", "a", "b", "a_fmt", "b_fmt", "rst", "expect", "cov")

    def __init__(self, valid, clear, a, b, a_fmt, b_fmt, rst=0, expect=None, cov=None):
        self.valid, self.clear, self.a, self.b = valid, clear, list(a), list(b)
        self.a_fmt, self.b_fmt, self.rst, self.expect, self.cov = a_fmt, b_fmt, rst, expect, cov


def junk(rng):
    return Beat(0, 0, [rng.randrange(16) for _ in range(LANES)],
                [rng.randrange(16) for _ in range(LANES)], rng.randrange(1 << select_width("a")),
                rng.randrange(1 << select_width("b")))


def expect_sum(beats, width):
    """Fill in ``expect`` of a clear-started sum (one format pair) from the model;
    holds keep the previous state."""
    a_nib, b_nib, state = [], [], None
    first = next(bt for bt in beats if bt.valid)
    for bt in beats:
        if bt.valid:
            a_nib += bt.a
            b_nib += bt.b
            s, o = gemm_expect(np.array([a_nib]), np.array([b_nib]).T, first.a_fmt, first.b_fmt,
                               width, lanes=LANES)
            state = (int(s[0, 0]), bool(o[0, 0]))
        bt.expect = state
    return beats


async def setup(dut):
    start_clock(dut)
    get_seed()
    width = len(dut.acc)
    if width <= NARROW:
        COV.declare("overflow", OVERFLOW_BINS)
    for s in ("a", "a_fmt", "b", "b_fmt", "valid", "clear"):
        getattr(dut, s).value = 0
    dut.rst.value = 1
    for _ in range(2):
        await FallingEdge(dut.clk)
    dut.rst.value = 0
    return width


async def run(dut, beats, name):
    """Drive one beat a cycle; check each expectation ``LATENCY`` cycles later."""
    beats = list(beats)
    for r, bt in enumerate(beats):      # beats a reset flushes: unchecked
        if bt.rst:
            for i in range(max(0, r - LATENCY + 1), r):
                beats[i].expect, beats[i].cov = None, None
    flight, checked, done = [None] * (LATENCY - 1), 0, None
    for bt in beats + [None] * LATENCY:
        await FallingEdge(dut.clk)
        assert_resolvable({"acc": dut.acc, "overflow": dut.overflow}, f"in {name}")
        if done is not None and done.expect is not None:
            got = (dut.acc.value.to_signed(), int(dut.overflow.value))
            want = (done.expect[0], int(done.expect[1]))
            assert got == want, (f"{name}: after a={done.a} b={done.b} a_fmt={done.a_fmt} "
                                 f"b_fmt={done.b_fmt} valid={done.valid} clear={done.clear} "
                                 f"rst={done.rst}: got {got}, model says {want}")
            checked += 1
            if done.cov:
                COV.hit("overflow", done.cov)
        if bt is None:
            dut.valid.value = dut.clear.value = dut.rst.value = 0
            flight.append(None)
            done = flight.pop(0)
            continue
        dut.a.value, dut.b.value = pack(bt.a), pack(bt.b)
        dut.a_fmt.value, dut.b_fmt.value = bt.a_fmt, bt.b_fmt
        dut.valid.value, dut.clear.value, dut.rst.value = bt.valid, bt.clear, bt.rst
        if not bt.rst:
            COV.hit("control", {(1, 1): "valid+clear", (0, 1): "clear only",
                                (1, 0): "valid (accumulate)", (0, 0): "hold"}[(bt.valid, bt.clear)])
            if bt.valid:
                COV.hit("format pair", f"a{bt.a_fmt}b{bt.b_fmt}")
        flight.append(bt)
        done = flight.pop(0)    # its state shows on acc after the next falling edge
    dut._log.info("%s: %d beats, %d checks against the model", name, len(beats), checked)
    COV.save()


@cocotb.test()
async def every_code_of_a_lane(dut):
    """Lane 0 and the last lane take every code pair of every select pair."""
    width = await setup(dut)
    rng, _ = test_rng("every_code_of_a_lane")
    beats = []
    for lane in sorted({0, LANES - 1}):
        for af in A_CODES:
            for bf in B_CODES:
                for x in range(code_count("a", af)):
                    for y in range(code_count("b", bf)):
                        bt = junk(rng)
                        bt.valid, bt.clear, bt.a_fmt, bt.b_fmt = 1, 1, af, bf
                        bt.a[lane], bt.b[lane] = x, y
                        beats += expect_sum([bt], width)
                        COV.hit("lane codes", f"lane{lane}:a{af}b{bf}:{x:x}{y:x}")
    rng.shuffle(beats)
    await run(dut, beats, "every_code_of_a_lane")


@cocotb.test()
async def random_sums(dut):
    """Clear-started sums in random format pairs, extremes mixed in, with holds."""
    width = await setup(dut)
    rng, _ = test_rng("random_sums")
    beats = []
    for _ in range(40):
        af, bf = rng.choice(A_CODES), rng.choice(B_CODES)
        pick_a = lambda: rng.choice(extreme_nibbles("a", af)) if rng.random() < 0.4 \
            else rng.randrange(code_count("a", af))  # noqa: E731
        pick_b = lambda: rng.choice(extreme_nibbles("b", bf)) if rng.random() < 0.4 \
            else rng.randrange(code_count("b", bf))  # noqa: E731
        seg = []
        for i in range(rng.randint(1, 10)):
            while i and rng.random() < 0.25:
                seg.append(junk(rng))
            seg.append(Beat(1, int(i == 0), [pick_a() for _ in range(LANES)],
                            [pick_b() for _ in range(LANES)], af, bf))
        beats += expect_sum(seg, width)
        if rng.random() < 0.2:
            bt = junk(rng)
            bt.clear, bt.expect = 1, (0, False)
            beats.append(bt)
    await run(dut, beats, "random_sums")


def sum_beats(products, af, bf, width, covs=None):
    """One clear-started sum whose K-ordered products are ``products`` (lane by
    lane, padded to whole groups with zero products)."""
    products = list(products) + [0] * (-len(products) % LANES)
    pairs = [product_nibbles(af, bf, p) for p in products]
    beats = [Beat(1, int(g == 0), [x for x, _ in pairs[g:g + LANES]],
                  [y for _, y in pairs[g:g + LANES]], af, bf)
             for g in range(0, len(pairs), LANES)]
    expect_sum(beats, width)
    for i, cov in (covs or {}).items():
        beats[i].cov = cov
    return beats


@cocotb.test()
async def overflow_boundary(dut):
    """Group ends exactly at the edges and one beyond; a group that leaves and
    re-enters; sticky; cleared by clear and by reset (narrow W only)."""
    width = await setup(dut)
    if width > NARROW:
        return
    hi, lo = (1 << (width - 1)) - 1, -(1 << (width - 1))
    top = max_abs_product()
    beats = []
    for edge, step, ok, bad in ((hi, 1, "max exactly, no flag", "max+1 flags"),
                                (lo, -1, "min exactly, no flag", "min-1 flags")):
        af, bf, pairs = fill_to(edge)
        table = product_table(af, bf)
        parts = [int(table[x, y]) for x, y in pairs]
        parts += [0] * (-len(parts) % LANES)
        n = len(parts) // LANES
        seq = sum_beats(parts + [step], af, bf, width, {n - 1: ok, n: bad})
        seq.append(Beat(0, 0, [0] * LANES, [0] * LANES, af, bf, expect=seq[-1].expect,
                        cov="sticky"))
        if edge > 0:
            seq.append(Beat(0, 1, [0] * LANES, [0] * LANES, af, bf, expect=(0, False),
                            cov="cleared by clear"))
        else:   # holds first: a reset flushes the LATENCY - 1 beats before it unchecked
            seq += [Beat(0, 0, [0] * LANES, [0] * LANES, af, bf) for _ in range(LATENCY)]
            seq.append(Beat(0, 0, [0] * LANES, [0] * LANES, af, bf, rst=1, expect=(0, False),
                            cov="cleared by reset"))
        beats += seq
    # reach x top leaves the range, one -top comes back; zeros in front put
    # the excursion inside a group (not at its end) whenever LANES > 1.
    af, bf = fill_pair()
    reach = -(-(hi + 1) // top)
    pad = 1 if (reach - 1) % LANES == LANES - 1 and LANES > 1 else 0
    seq = sum_beats([0] * pad + [top] * reach + [-top], af, bf, width)
    assert seq[-1].expect[1] == (LANES == 1), (LANES, seq[-1].expect)
    if LANES > 1:
        seq[-1].cov = "left and re-entered inside a group: no flag"
    beats += seq
    await run(dut, beats, "overflow_boundary")


@cocotb.test()
async def reset_mid_sum(dut):
    """A reset in the middle of a sum leaves acc 0 and no flag; the next sum is exact."""
    width = await setup(dut)
    rng, _ = test_rng("reset_mid_sum")
    beats = []
    for _ in range(6):
        af, bf = rng.choice(format_pairs())
        seg = [Beat(1, int(i == 0), [rng.randrange(code_count("a", af)) for _ in range(LANES)],
                    [rng.randrange(code_count("b", bf)) for _ in range(LANES)], af, bf)
               for i in range(rng.randint(2, 6))]
        beats += expect_sum(seg, width)
        bt = junk(rng)
        bt.valid, bt.rst, bt.expect = 1, 1, (0, False)
        beats += [bt, Beat(0, 0, [0] * LANES, [0] * LANES, 0, 0, expect=(0, False))]
    await run(dut, beats, "reset_mid_sum")
