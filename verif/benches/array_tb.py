"""cocotb bench of ``radix4_array`` (generated Verilog) against the golden model.

One simulation runs every test below on one build (rows, cols, acc_width
come from ``RADIX4_PARAMS``).  Operands go in through a ``StreamDriver``
with random valid gaps, results come out through a ``StreamMonitor`` with
random ready stalls, and every output beat is matched exactly once by an
in-order scoreboard fed by ``model.gemm`` (sums wrapped to ACC_WIDTH,
overflow flags from ``overflow_mask``).  Payloads are packed and unpacked by
``hw.codec`` from the array's own layouts; formats, extreme codes and the
overflow fill come from the format table (``verif.kit.golden``).
"""

from __future__ import annotations

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from hw.array import input_layout, output_layout
from hw.codec import LayoutCodec, stream_lanes
from model.formats import max_abs_product
from verif.kit import Coverage, GemmBench, burst_pause, random_pause, test_rng
from verif.kit.bench import asymmetric_lanes
from verif.kit.seed import depth, sample
from verif.kit.golden import (code_count, extreme_nibbles, fill_pair, format_names, format_pairs,
                              pair_label, product_nibbles, product_table, random_operands,
                              reserved_codes)

PARAMS = json.loads(os.environ.get("RADIX4_PARAMS", "{}"))
ROWS = PARAMS.get("rows", 8)
COLS = PARAMS.get("cols", 8)
W = PARAMS.get("acc_width", 32)
NARROW = W <= 24         # overflow reachable within a test's time

IN_LAYOUT = input_layout(ROWS, COLS)
IN = LayoutCodec(IN_LAYOUT, stream_lanes(IN_LAYOUT))
PAIRS = format_pairs()
RESERVED = [(a, b) for a in reserved_codes("a") for b in format_names("b")]

COV = Coverage(f"array {ROWS}x{COLS} W={W}")
COV.declare("format pair", [pair_label(*p) for p in PAIRS + RESERVED])
COV.declare("A codes", [f"{n}:{x:x}" for c, n in format_names("a").items()
                        for x in range(code_count("a", c))])
COV.declare("B codes", [f"{n}:{x:x}" for c, n in format_names("b").items()
                        for x in range(code_count("b", c))])
COV.declare("K", ["1", "2-8", "9-32", ">32"])
COV.declare("sum", ["fresh (first)", "continued (no first)"])
COV.declare("stalls", ["valid gaps", "ready stalls", "input blocked (valid, not ready)",
                       "gaps and stalls in one test"])
COV.declare("overflow", ["flagged output", "exactly max, unflagged", "exactly min, unflagged",
                         "flag carried into a continued sum"]
            + (["unflagged output of a flagged GEMM"] if ROWS * COLS > 1 else [])
            if NARROW else ["wide: none reachable, none flagged"])
COV.declare("reset", ["during input beats", "with results pending"])
COV.declare("array size", [f"{ROWS}x{COLS}"])


class ArrayBench(GemmBench):
    def __init__(self, dut, name, in_pause=None, out_pause=None):
        super().__init__(dut, name, f"array {ROWS}x{COLS}", COV, rows=ROWS, acc_width=W,
                         out="o", out_layout=output_layout(ROWS, COLS, W), out_pause=out_pause,
                         check={"i__ready": dut.i__ready, "o__valid": dut.o__valid,
                                "o__payload": dut.o__payload})
        self.drv = self.add_driver("i", IN_LAYOUT, in_pause)
        self.in_pause = self.drv.pause_control
        self.open_sum = None      # (A, B, af, bf, flagged before) since the last `first`
        self.gemms = 0

    def after_reset(self):
        self.open_sum = None

    # -- stimulus ---------------------------------------------------------
    def send_gemm(self, a_nib, b_nib, af, bf, *, first=True):
        """Queue one GEMM (A: ROWS x K nibbles, B: K x COLS) and its expected rows."""
        a_nib = np.asarray(a_nib, dtype=np.uint8)
        b_nib = np.asarray(b_nib, dtype=np.uint8)
        k = a_nib.shape[1]
        assert a_nib.shape == (ROWS, k) and b_nib.shape == (k, COLS) and k >= 1
        for t in range(k):
            self.drv.send(IN.pack(a=a_nib[:, t], b=b_nib[t], a_fmt=af, b_fmt=bf,
                                  first=int(first and t == 0), last=int(t == k - 1)))
        if first or self.open_sum is None:
            assert first, "a continued sum needs an open one"
            self.open_sum = (a_nib, b_nib, af, bf, False)
            COV.hit("sum", "fresh (first)")
        else:
            a0, b0, af0, bf0, flagged = self.open_sum
            assert (af0, bf0) == (af, bf), "the model checks a sum in one format pair"
            self.open_sum = (np.hstack([a0, a_nib]), np.vstack([b0, b_nib]), af, bf, flagged)
            COV.hit("sum", "continued (no first)")
        A, B, _, _, flagged = self.open_sum
        sums, ovf = self.expect_gemm(A, B, af, bf)
        self.expect_rows(sums, ovf, f"GEMM {self.gemms}")
        self.gemms += 1
        self.sample(a_nib, b_nib, af, bf, A.shape[1], sums, ovf, flagged)
        self.open_sum = (A, B, af, bf, flagged or bool(ovf.any()))

    def sample(self, a_nib, b_nib, af, bf, k_total, sums, ovf, flagged_before):
        COV.hit("format pair", pair_label(af, bf))
        fa, fb = format_names("a").get(af), format_names("b")[bf]
        if fa is not None:
            for n in np.unique(a_nib):
                COV.hit("A codes", f"{fa}:{n:x}")
        for n in np.unique(b_nib):
            COV.hit("B codes", f"{fb}:{n:x}")
        COV.hit("K", "1" if k_total == 1 else "2-8" if k_total <= 8 else
                "9-32" if k_total <= 32 else ">32")
        if NARROW:
            lo, hi = self.bounds
            if ovf.any():
                COV.hit("overflow", "flagged output")
                if not ovf.all():
                    COV.hit("overflow", "unflagged output of a flagged GEMM")
                if flagged_before:
                    COV.hit("overflow", "flag carried into a continued sum")
            if ((sums == hi) & ~ovf).any():
                COV.hit("overflow", "exactly max, unflagged")
            if ((sums == lo) & ~ovf).any():
                COV.hit("overflow", "exactly min, unflagged")
        elif not ovf.any():
            COV.hit("overflow", "wide: none reachable, none flagged")

    def random_operands(self, k, af, bf, p_extreme=0.25):
        return random_operands(self.np_rng, ROWS, COLS, k, af, bf, p_extreme)

    def random_pair(self):
        if RESERVED and self.rng.random() < 0.05:
            return self.rng.choice(RESERVED)
        return self.rng.choice(PAIRS)

    def random_gemm(self, k_max=24, first=True, fmts=None):
        af, bf = fmts or self.random_pair()
        k = self.rng.choice([1, self.rng.randint(2, 8), self.rng.randint(2, k_max)])
        self.send_gemm(*self.random_operands(k, af, bf), af, bf, first=first)
        return af, bf

    def sample_stalls(self):
        if self.drv.gap_cycles:
            COV.hit("stalls", "valid gaps")
        if self.mon.stall_cycles:
            COV.hit("stalls", "ready stalls")
        if self.drv.blocked_cycles:
            COV.hit("stalls", "input blocked (valid, not ready)")
        if self.drv.gap_cycles and self.mon.stall_cycles:
            COV.hit("stalls", "gaps and stalls in one test")
        COV.hit("array size", f"{ROWS}x{COLS}")


def _budget(base):
    """Scale GEMM counts down for big arrays (cycles per GEMM grow with rows) and
    in the regress profile (``verif.kit.seed.depth``)."""
    return max(4, depth(base) * 4 // max(4, ROWS))


@cocotb.test()
async def random_gemms(dut):
    """Constrained-random GEMMs of every format pair, light random gaps and stalls."""
    rng_probe = test_rng("random_gemms")[0]
    tb = await ArrayBench(dut, "random_gemms", random_pause(rng_probe, 0.2),
                          random_pause(rng_probe, 0.2)).start()
    pairs = PAIRS + RESERVED
    for i in range(max(_budget(40), len(pairs))):
        tb.random_gemm(fmts=pairs[i] if i < len(pairs) else None)
        if i == 1 or tb.rng.random() < 0.05:        # at least one K > 32
            af, bf = tb.rng.choice(PAIRS)
            tb.send_gemm(*tb.random_operands(tb.rng.randint(33, 50), af, bf), af, bf)
    await tb.drain()
    tb.finish()


@cocotb.test()
async def extremes(dut):
    """Matrices of each format's extreme codes (from the table) in every pair."""
    tb = await ArrayBench(dut, "extremes").start()
    for af, bf in PAIRS + RESERVED:
        # regress profile: a random quarter of the (x, y) pairs per seed
        for x, y in sample(tb.rng, [(x, y) for x in extreme_nibbles("a", af)[:6]
                                    for y in extreme_nibbles("b", bf)]):
            k = tb.rng.randint(1, 3)
            tb.send_gemm(np.full((ROWS, k), x), np.full((k, COLS), y), af, bf)
        a, b = tb.random_operands(4, af, bf, p_extreme=1.0)
        tb.send_gemm(a, b, af, bf)
    await tb.drain()
    tb.finish()


@cocotb.test()
async def overflow(dut):
    """Sums at and beyond the ACC_WIDTH range; the flags must equal overflow_mask."""
    tb = await ArrayBench(dut, "overflow", random_pause(test_rng("ovp")[0], 0.1)).start()
    if not NARROW:
        af, bf = fill_pair()
        table = product_table(af, bf)
        x_pos, y = product_nibbles(af, bf, max_abs_product())
        neg = np.nonzero(table[:, y] == -max_abs_product())[0]
        for _ in range(_budget(6)):       # long max-magnitude sums stay exact, unflagged
            k = 40
            a = np.full((ROWS, k), x_pos, dtype=np.uint8)
            if len(neg):
                a[tb.np_rng.random(a.shape) < 0.5] = neg[0]
            tb.send_gemm(a, np.full((k, COLS), y), af, bf)
        await tb.drain()
        tb.finish()
        return
    lo, hi = tb.bounds
    for bound in (hi, lo):
        sign = 1 if bound > 0 else -1
        af, bf, a, b = tb.fill_operands(bound, COLS)
        tb.send_gemm(a, b, af, bf)                       # every output exactly on the bound
        # One more beat adds +-1 where an asymmetric row pattern meets an
        # asymmetric column pattern: those outputs go one beyond the bound.
        x, y = product_nibbles(af, bf, sign)
        extra = (np.where(asymmetric_lanes(ROWS), x, 0), np.where(asymmetric_lanes(COLS), y, 0))
        af, bf, a, b = tb.fill_operands(bound, COLS, extra)
        tb.send_gemm(a, b, af, bf)
        # Keep accumulating back into range: the flags stay set (sticky).
        bx, by = product_nibbles(af, bf, -sign * max_abs_product())
        tb.send_gemm(np.full((ROWS, 2), bx), np.full((2, COLS), by), af, bf, first=False)
    for _ in range(_budget(30)):           # random big sums: some columns overflow
        af, bf = tb.rng.choice(PAIRS)
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
    for round_ in range(depth(4, 2)):
        # 1. in the middle of a long GEMM's input beats
        tb.random_gemm()
        af, bf = tb.rng.choice(PAIRS)
        tb.send_gemm(*tb.random_operands(30, af, bf), af, bf)
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
    for _ in range(_budget(60)):
        tb.random_gemm(k_max=6, first=True)
        if tb.rng.random() < 0.25:
            af, bf = tb.open_sum[2], tb.open_sum[3]
            tb.random_gemm(k_max=4, first=False, fmts=(af, bf))
    await tb.drain()
    tb.finish()
