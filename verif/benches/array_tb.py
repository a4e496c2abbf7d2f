"""cocotb bench of ``radix4_array`` (generated Verilog) against the golden model.

One simulation runs every test below on one build (rows, cols, acc_width
come from ``RADIX4_PARAMS``).  Operands go in through a ``StreamDriver``
with random valid gaps, results come out through a ``StreamMonitor`` with
random ready stalls, and every output beat is matched exactly once by an
in-order scoreboard fed by ``model.gemm`` (sums wrapped to ACC_WIDTH,
overflow flags from ``overflow_mask``).
"""

from __future__ import annotations

import json
import math
import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge

from verif.kit import (Coverage, PauseControl, Scoreboard, StreamDriver, StreamMonitor,
                       burst_pause, get_seed, random_pause, start_clock, test_rng)
from verif.kit.golden import A_EXTREMES, B_EXTREMES, gemm_expect, random_operands

PARAMS = json.loads(os.environ.get("RADIX4_PARAMS", "{}"))
ROWS = PARAMS.get("rows", 8)
COLS = PARAMS.get("cols", 8)
W = PARAMS.get("acc_width", 32)
RB = max(1, math.ceil(math.log2(ROWS))) if ROWS > 1 else 1
NARROW = W <= 24         # overflow reachable within a test's time
IN_WIDTH = 4 * ROWS + 4 * COLS + 5

COV = Coverage(f"array {ROWS}x{COLS} W={W}")
COV.declare("format pair", [f"a{af}b{bf}" for af in range(3) for bf in range(2)] + ["a3 reserved"])
COV.declare("A codes", [f"a{af}:{n:x}" for af in range(3) for n in range(16)])
COV.declare("B codes", [f"b{bf}:{n:x}" for bf in range(2) for n in range(16)])
COV.declare("K", ["1", "2-8", "9-32", ">32"])
COV.declare("sum", ["fresh (first)", "continued (no first)"])
COV.declare("stalls", ["valid gaps", "ready stalls", "input blocked (valid, not ready)",
                       "gaps and stalls in one test"])
COV.declare("overflow", ["flagged output", "exactly max, unflagged", "exactly min, unflagged"]
            + (["unflagged output of a flagged GEMM"] if ROWS * COLS > 1 else [])
            if NARROW else ["wide: none reachable, none flagged"])
COV.declare("reset", ["during input beats", "with results pending"])
COV.declare("array size", [f"{ROWS}x{COLS}"])


def describe(beat):
    row, last, data, ovf = beat
    return f"row={row} last={last} data={list(data)} overflow={list(ovf)}"


class ArrayBench:
    def __init__(self, dut, name, in_pause=None, out_pause=None):
        self.dut = dut
        self.name = name
        self.rng, self.np_rng = test_rng(name)
        self.in_pause = PauseControl(in_pause)
        self.out_pause = PauseControl(out_pause)
        self.sb = Scoreboard(f"{name} array {ROWS}x{COLS}", describe)
        self.drv = StreamDriver(dut.clk, dut.i__valid, dut.i__ready, dut.i__payload, IN_WIDTH,
                                pause=self.in_pause, rng=self.rng)
        self.mon = StreamMonitor(dut.clk, dut.o__valid, dut.o__ready, dut.o__payload,
                                 self.on_beat, pause=self.out_pause, rst=dut.rst,
                                 check={"i__ready": dut.i__ready, "o__valid": dut.o__valid,
                                        "o__payload": dut.o__payload})
        self.open_sum = None      # (A, B, af, bf) accumulated since the last `first`
        self.gemms = 0

    async def start(self):
        start_clock(self.dut)
        get_seed()
        self.dut.rst.value = 1
        self.drv.start()
        self.mon.start()
        for _ in range(3):
            await RisingEdge(self.dut.clk)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0
        return self

    # -- stimulus ---------------------------------------------------------
    def send_gemm(self, a_nib, b_nib, af, bf, *, first=True):
        """Queue one GEMM (A: ROWS x K nibbles, B: K x COLS) and its expected rows."""
        a_nib = np.asarray(a_nib, dtype=np.uint8)
        b_nib = np.asarray(b_nib, dtype=np.uint8)
        k = a_nib.shape[1]
        assert a_nib.shape == (ROWS, k) and b_nib.shape == (k, COLS) and k >= 1
        for t in range(k):
            word = 0
            for r in range(ROWS):
                word |= int(a_nib[r, t]) << (4 * r)
            for c in range(COLS):
                word |= int(b_nib[t, c]) << (4 * ROWS + 4 * c)
            word |= af << (4 * ROWS + 4 * COLS)
            word |= bf << (4 * ROWS + 4 * COLS + 2)
            word |= int(first and t == 0) << (4 * ROWS + 4 * COLS + 3)
            word |= int(t == k - 1) << (4 * ROWS + 4 * COLS + 4)
            self.drv.send(word)
        if first or self.open_sum is None:
            assert first, "a continued sum needs an open one"
            self.open_sum = (a_nib, b_nib, af, bf)
            COV.hit("sum", "fresh (first)")
        else:
            a0, b0, af0, bf0 = self.open_sum
            assert (af0, bf0) == (af, bf), "the model checks a sum in one format pair"
            self.open_sum = (np.hstack([a0, a_nib]), np.vstack([b0, b_nib]), af, bf)
            COV.hit("sum", "continued (no first)")
        A, B, _, _ = self.open_sum
        sums, ovf = gemm_expect(A, B, af, bf, W)
        for r in range(ROWS):
            self.sb.expect((r, int(r == ROWS - 1), tuple(int(x) for x in sums[r]),
                            tuple(bool(x) for x in ovf[r])), f"GEMM {self.gemms} row {r}")
        self.gemms += 1
        self.sample(a_nib, b_nib, af, bf, A.shape[1], sums, ovf)

    def sample(self, a_nib, b_nib, af, bf, k_total, sums, ovf):
        COV.hit("format pair", "a3 reserved" if af == 3 else f"a{af}b{bf}")
        if af != 3:
            for n in np.unique(a_nib):
                COV.hit("A codes", f"a{af}:{n:x}")
        for n in np.unique(b_nib):
            COV.hit("B codes", f"b{bf}:{n:x}")
        COV.hit("K", "1" if k_total == 1 else "2-8" if k_total <= 8 else
                "9-32" if k_total <= 32 else ">32")
        if NARROW:
            if ovf.any():
                COV.hit("overflow", "flagged output")
                if not ovf.all():
                    COV.hit("overflow", "unflagged output of a flagged GEMM")
            hi, lo = (1 << (W - 1)) - 1, -(1 << (W - 1))
            if ((sums == hi) & ~ovf).any():
                COV.hit("overflow", "exactly max, unflagged")
            if ((sums == lo) & ~ovf).any():
                COV.hit("overflow", "exactly min, unflagged")
        elif not ovf.any():
            COV.hit("overflow", "wide: none reachable, none flagged")

    def random_operands(self, k, af, bf, p_extreme=0.25):
        return random_operands(self.np_rng, ROWS, COLS, k, af, bf, p_extreme)

    def random_gemm(self, k_max=24, first=True, fmts=None):
        af, bf = fmts or (self.rng.randrange(3) if self.rng.random() > 0.05 else 3,
                          self.rng.randrange(2))
        k = self.rng.choice([1, self.rng.randint(2, 8), self.rng.randint(2, k_max)])
        self.send_gemm(*self.random_operands(k, af, bf), af, bf, first=first)
        return af, bf

    # -- response ---------------------------------------------------------
    def on_beat(self, word):
        data = tuple(_signed((word >> (W * c)) & ((1 << W) - 1), W) for c in range(COLS))
        ovf = tuple(bool((word >> (COLS * W + c)) & 1) for c in range(COLS))
        row = (word >> (COLS * W + COLS)) & ((1 << RB) - 1)
        last = (word >> (COLS * W + COLS + RB)) & 1
        self.sb.receive((row, last, data, ovf))

    async def drain(self, timeout_cycles=None):
        """Wait until every queued beat is in and every expected row is out."""
        limit = timeout_cycles or 2000 + 200 * len(self.sb.expected) + 10 * len(self.drv.queue)
        for _ in range(limit):
            if not self.drv.busy and not self.sb.expected:
                break
            await FallingEdge(self.dut.clk)
        for _ in range(ROWS + 20):           # nothing extra may follow
            await FallingEdge(self.dut.clk)
        self.sb.check_done()

    async def reset(self, cycles=3):
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 1
        self.drv.abort()
        self.sb.flush()
        self.open_sum = None
        for _ in range(cycles):
            await RisingEdge(self.dut.clk)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0

    def finish(self):
        if self.drv.gap_cycles:
            COV.hit("stalls", "valid gaps")
        if self.mon.stall_cycles:
            COV.hit("stalls", "ready stalls")
        if self.drv.blocked_cycles:
            COV.hit("stalls", "input blocked (valid, not ready)")
        if self.drv.gap_cycles and self.mon.stall_cycles:
            COV.hit("stalls", "gaps and stalls in one test")
        COV.hit("array size", f"{ROWS}x{COLS}")
        self.dut._log.info("%s: %d GEMMs, %d rows matched, in beats %d (gaps %d, blocked %d), "
                           "out stalls %d, X/Z-checked cycles %d", self.name, self.gemms,
                           self.sb.matched, self.drv.beats, self.drv.gap_cycles,
                           self.drv.blocked_cycles, self.mon.stall_cycles, self.mon.checked_cycles)
        self.dut._log.info("%s", COV.report())
        COV.save()


def _signed(x, w):
    return x - (1 << w) if x >> (w - 1) else x


def _budget(base):
    """Scale GEMM counts down for big arrays (cycles per GEMM grow with rows)."""
    return max(4, base * 4 // max(4, ROWS))


@cocotb.test()
async def random_gemms(dut):
    """Constrained-random GEMMs of every format pair, light random gaps and stalls."""
    rng_probe = test_rng("random_gemms")[0]
    tb = await ArrayBench(dut, "random_gemms", random_pause(rng_probe, 0.2),
                          random_pause(rng_probe, 0.2)).start()
    pairs = [(af, bf) for af in range(3) for bf in range(2)] + [(3, 0), (3, 1)]
    for i in range(_budget(40)):
        tb.random_gemm(fmts=pairs[i % len(pairs)] if i < len(pairs) else None)
        if tb.rng.random() < 0.05:
            tb.send_gemm(*tb.random_operands(tb.rng.randint(33, 50), 0, 1), 0, 1)
    await tb.drain()
    tb.finish()


@cocotb.test()
async def extremes(dut):
    """Matrices of extreme codes: -8, 7, 15, fp4 zeros 0x0/0x8, fp4 top 0x7/0xF."""
    tb = await ArrayBench(dut, "extremes").start()
    for af in range(4):
        for bf in range(2):
            for x in A_EXTREMES[af]:
                for y in B_EXTREMES[bf]:
                    k = tb.rng.randint(1, 3)
                    tb.send_gemm(np.full((ROWS, k), x), np.full((k, COLS), y), af, bf)
            a, b = tb.random_operands(4, af, bf, p_extreme=1.0)
            tb.send_gemm(a, b, af, bf)
    await tb.drain()
    tb.finish()


def _fill_to(target):
    """fp4 x uint4 (a, b) nibble pairs whose products sum to ``target`` (model checks them)."""
    sign = 0x8 if target < 0 else 0
    rest, pairs = abs(target), []
    while rest >= 61440:
        pairs.append((0x7 | sign, 15))
        rest -= 61440
    for e in range(7, 0, -1):
        if rest // 4 ** (e - 1):
            pairs.append((e | sign, rest // 4 ** (e - 1)))
            rest -= (rest // 4 ** (e - 1)) * 4 ** (e - 1)
    return pairs


@cocotb.test()
async def overflow(dut):
    """Sums at and beyond the ACC_WIDTH range; the flags must equal overflow_mask."""
    tb = await ArrayBench(dut, "overflow", random_pause(test_rng("ovp")[0], 0.1)).start()
    if not NARROW:
        for _ in range(_budget(6)):       # long max-magnitude sums stay exact, unflagged
            k = 40
            a = np.full((ROWS, k), 0x7, dtype=np.uint8)
            a[tb.np_rng.random(a.shape) < 0.5] = 0xF
            tb.send_gemm(a, np.full((k, COLS), 15), 2, 1)
        await tb.drain()
        tb.finish()
        return
    hi, lo = (1 << (W - 1)) - 1, -(1 << (W - 1))
    for bound in (hi, lo):
        pairs = _fill_to(bound)
        k = len(pairs) + 1
        a = np.zeros((ROWS, k), dtype=np.uint8)
        b = np.zeros((k, COLS), dtype=np.uint8)
        for t, (x, y) in enumerate(pairs):
            a[:, t] = x
            b[t, :] = y
        # The extra beat adds +-1 to odd columns only: even columns end exactly
        # on the bound, odd ones one beyond it.
        a[:, -1] = 0x1 | (0x8 if bound < 0 else 0)
        b[-1, 1::2] = 1
        tb.send_gemm(a, b, 2, 1)
        if COLS == 1:                      # no odd column: go one beyond in a second GEMM
            b[-1, 0] = 1
            tb.send_gemm(a, b, 2, 1)
    for _ in range(_budget(30)):           # random big sums: some columns overflow
        af, bf = tb.rng.choice([(2, 0), (2, 1), (0, 0), (1, 1)])
        k = tb.rng.randint(1, 8)
        a, b = tb.random_operands(k, af, bf, p_extreme=0.8)
        tb.send_gemm(a, b, af, bf)
        if tb.rng.random() < 0.3:          # continue the same sums without `first`
            tb.send_gemm(*tb.random_operands(tb.rng.randint(1, 4), af, bf, 0.8), af, bf,
                         first=False)
    await tb.drain()
    tb.finish()


@cocotb.test()
async def reset_mid_gemm(dut):
    """Reset during input beats and with results pending: nothing stale comes out."""
    rp = test_rng("rmg")[0]
    tb = await ArrayBench(dut, "reset_mid_gemm", random_pause(rp, 0.3),
                          random_pause(rp, 0.3)).start()
    for round_ in range(4):
        # 1. in the middle of a long GEMM's input beats
        tb.random_gemm()
        tb.send_gemm(*tb.random_operands(30, 0, 0), 0, 0)
        while tb.drv.busy and (len(tb.drv.queue) > 10 or tb.sb.expected and
                               len(tb.sb.expected) > ROWS):
            await FallingEdge(dut.clk)
        if tb.drv.busy:
            COV.hit("reset", "during input beats")
        await tb.reset(cycles=1 + round_)
        # 2. with a finished GEMM's rows held back by a stalled output
        tb.out_pause.force = True
        tb.random_gemm(k_max=4)
        while tb.drv.busy:
            await FallingEdge(dut.clk)
        for _ in range(ROWS + 4):
            await FallingEdge(dut.clk)
        COV.hit("reset", "with results pending")
        await tb.reset()
        tb.out_pause.force = None
        # nothing may come out now (the scoreboard expects nothing) ...
        for _ in range(3 * ROWS + 20):
            await FallingEdge(dut.clk)
        tb.sb.check_done()
        # ... and the next GEMMs are exact (no stale partial sums).
        for _ in range(3):
            tb.random_gemm(k_max=8)
        await tb.drain()
    tb.finish()


@cocotb.test()
async def backpressure_long(dut):
    """A long run under heavy bursty stalls on both sides: nothing lost or duplicated."""
    rp = test_rng("bpl")[0]
    tb = await ArrayBench(dut, "backpressure_long", burst_pause(rp, 0.4, 6),
                          burst_pause(rp, 0.5, 12)).start()
    n = _budget(60)
    for i in range(n):
        tb.random_gemm(k_max=6, first=True)
        if tb.rng.random() < 0.25:
            af, bf = tb.open_sum[2], tb.open_sum[3]
            tb.random_gemm(k_max=4, first=False, fmts=(af, bf))
    await tb.drain()
    tb.finish()
