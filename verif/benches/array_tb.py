"""cocotb bench of ``radix4_array`` (generated Verilog) against the golden model.

One simulation runs every test below on one build (rows, cols, acc_width
and the PE's lanes come from ``RADIX4_PARAMS``).  With ``k`` lanes a beat
carries ``k`` consecutive K indices per PE input (PE row r's A codes in A
lanes ``r*k .. r*k+k-1``), K is zero-padded to a multiple of ``k``, and the
expected flags follow the lanes overflow rule (``overflow_mask(..., lanes=k)``).  Operands go in through a ``StreamDriver``
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
from model.hw_vocab import max_abs_product
from verif.kit import (STREAM_STALL_BINS, Coverage, GemmBench, burst_pause, hit_stream_stalls,
                       random_pause, test_rng)
from verif.kit.bench import asymmetric_lanes
from verif.kit.clocking import PERIOD_NS
from verif.kit.seed import depth, sample
from verif.kit.golden import (code_count, extreme_nibbles, fill_pair, format_names, format_pairs,
                              gemm_expect, pair_label, product_nibbles, product_table,
                              random_operands, reserved_codes)

PARAMS = json.loads(os.environ.get("RADIX4_PARAMS", "{}"))
ROWS = PARAMS.get("rows", 8)
COLS = PARAMS.get("cols", 8)
W = PARAMS.get("acc_width", 32)
LANES = PARAMS.get("lanes", 1)
NARROW = W <= 24         # overflow reachable within a test's time

IN_LAYOUT = input_layout(ROWS, COLS, lanes=LANES)
IN = LayoutCodec(IN_LAYOUT, stream_lanes(IN_LAYOUT))
PAIRS = format_pairs()
RESERVED = [(a, b) for a in reserved_codes("a") for b in format_names("b")]

COV = Coverage(f"array {ROWS}x{COLS} W={W}" + (f" k={LANES}" if LANES > 1 else ""))
COV.declare("format pair", [pair_label(*p) for p in PAIRS + RESERVED])
COV.declare("A codes", [f"{n}:{x:x}" for c, n in format_names("a").items()
                        for x in range(code_count("a", c))])
COV.declare("B codes", [f"{n}:{x:x}" for c, n in format_names("b").items()
                        for x in range(code_count("b", c))])
COV.declare("K", ["1", "2-8", "9-32", ">32"])
COV.declare("sum", ["fresh (first)", "continued (no first)"])
COV.declare("stalls", STREAM_STALL_BINS + ["gaps and stalls in one test"])
COV.declare("overflow", ["flagged output", "exactly max, unflagged", "exactly min, unflagged",
                         "flag carried into a continued sum"]
            + (["unflagged output of a flagged GEMM"] if ROWS * COLS > 1 else [])
            if NARROW else ["wide: none reachable, none flagged"])
COV.declare("reset", ["during input beats", "with results pending",
                     "next GEMM's row 0 readable behind a held last row"])
COV.declare("array size", [f"{ROWS}x{COLS}"])
if LANES > 1:
    COV.declare("lanes", ["K a multiple of k", "K padded (not a multiple of k)",
                          "continued sum after a padded group"])


def padded(a_nib, b_nib):
    """A (R x K) and B (K x C) nibbles with K zero-padded to a multiple of LANES
    (code 0 is zero in every format)."""
    k = a_nib.shape[1]
    pad = -k % LANES
    return (np.pad(a_nib, ((0, 0), (0, pad))), np.pad(b_nib, ((0, pad), (0, 0))))


class ArrayBench(GemmBench):
    def __init__(self, dut, name, in_pause=None, out_pause=None):
        super().__init__(dut, name, f"array {ROWS}x{COLS}", COV, rows=ROWS, acc_width=W,
                         out="o", out_layout=output_layout(ROWS, COLS, W), out_pause=out_pause,
                         check={"i__ready": dut.i__ready, "o__valid": dut.o__valid,
                                "o__payload": dut.o__payload})
        self.drv = self.add_driver("i", IN_LAYOUT, in_pause)
        self.in_pause = self.drv.pause_control
        self.open_sum = None      # (A, B, af, bf, flagged before) since the last `first`
        self.open_padded = False  # the open sum's last part was zero-padded
        self.open_k = 0
        self.gemms = 0

    def after_reset(self):
        self.open_sum = None
        self.open_k = 0

    def expect_gemm(self, a_nib, b_nib, af, bf):
        return gemm_expect(a_nib, b_nib, af, bf, W, lanes=LANES)

    # -- stimulus ---------------------------------------------------------
    def send_gemm(self, a_nib, b_nib, af, bf, *, first=True):
        """Queue one GEMM (A: ROWS x K nibbles, B: K x COLS) and its expected rows."""
        a_nib = np.asarray(a_nib, dtype=np.uint8)
        b_nib = np.asarray(b_nib, dtype=np.uint8)
        k = a_nib.shape[1]
        assert a_nib.shape == (ROWS, k) and b_nib.shape == (k, COLS) and k >= 1
        if LANES > 1:
            COV.hit("lanes", "K a multiple of k" if k % LANES == 0 else
                    "K padded (not a multiple of k)")
            if not first and self.open_padded:
                COV.hit("lanes", "continued sum after a padded group")
            self.open_padded = k % LANES != 0
        a_nib, b_nib = padded(a_nib, b_nib)
        beats = a_nib.shape[1] // LANES
        for t in range(beats):
            g = slice(t * LANES, (t + 1) * LANES)
            # lane r*k + j of the beat: A[r, t*k + j]; lane c*k + j: B[t*k + j, c]
            self.drv.send(IN.pack(a=a_nib[:, g].reshape(-1), b=b_nib[g].T.reshape(-1),
                                  a_fmt=af, b_fmt=bf, first=int(first and t == 0),
                                  last=int(t == beats - 1)))
        if first or self.open_sum is None:
            assert first, "a continued sum needs an open one"
            self.open_sum = (a_nib, b_nib, af, bf, False)
            self.open_k = 0
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
        self.open_k += k          # K of the sum without the lanes' zero padding
        self.sample(a_nib, b_nib, af, bf, self.open_k, sums, ovf, flagged)
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
        hit_stream_stalls(COV, self.drv, self.mon)
        if self.drv.gap_cycles and self.mon.stall_cycles:
            COV.hit("stalls", "gaps and stalls in one test")
        COV.hit("array size", f"{ROWS}x{COLS}")


def _budget(base):
    """Scale GEMM counts down for big arrays (cycles per GEMM grow with rows) and
    in the regress profile (``verif.kit.seed.depth``)."""
    return max(4, depth(base) * 4 // max(4, ROWS))


# Backstop for each cocotb test: the most any test sends is about 2 * _budget(60)
# GEMMs of up to 50 beats; allow 10 cycles a beat and 20 (R + C) + 10 R a GEMM.
# Every wait in the tests is bounded by ``wait_until`` or ``drain`` first; this
# only turns a wait nobody bounded into a failure instead of a hang.
TEST_TIMEOUT_US = (PERIOD_NS * (2 * _budget(60) * (10 * 50 + 20 * (ROWS + COLS) + 10 * ROWS)
                                + 5000) / 1000)


@cocotb.test(timeout_time=TEST_TIMEOUT_US, timeout_unit="us")
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


@cocotb.test(timeout_time=TEST_TIMEOUT_US, timeout_unit="us")
async def extremes(dut):
    """Matrices of each format's extreme codes (from the table) in every pair."""
    tb = await ArrayBench(dut, "extremes").start()
    for af, bf in PAIRS + RESERVED:
        # regress profile: a random 1/max(4, R) of the (x, y) pairs per seed
        for x, y in sample(tb.rng, [(x, y) for x in extreme_nibbles("a", af)[:6]
                                    for y in extreme_nibbles("b", bf)], 1 / max(4, ROWS)):
            k = tb.rng.randint(1, 3)
            tb.send_gemm(np.full((ROWS, k), x), np.full((k, COLS), y), af, bf)
        a, b = tb.random_operands(4, af, bf, p_extreme=1.0)
        tb.send_gemm(a, b, af, bf)
    await tb.drain()
    tb.finish()


@cocotb.test(timeout_time=TEST_TIMEOUT_US, timeout_unit="us")
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


@cocotb.test(timeout_time=TEST_TIMEOUT_US, timeout_unit="us")
async def reset_mid_gemm(dut):
    """Reset during input beats and with results pending: nothing stale comes out."""
    rp = test_rng("rmg")[0]
    tb = await ArrayBench(dut, "reset_mid_gemm", random_pause(rp, 0.3),
                          random_pause(rp, 0.3)).start()
    for round_ in range(depth(4, 2)):
        # 1. in the middle of a long GEMM's input beats
        tb.random_gemm()
        af, bf = tb.rng.choice(PAIRS)
        tb.send_gemm(*tb.random_operands(30 * LANES, af, bf), af, bf)
        await tb.wait_until(lambda: not tb.drv.busy or (len(tb.drv.queue) <= 10 and
                                                        len(tb.sb.expected) <= ROWS),
                            "the long GEMM's input to get down to 10 queued beats")
        if tb.drv.busy:
            COV.hit("reset", "during input beats")
        await tb.reset(cycles=1 + round_)
        # 2. with a finished GEMM's rows held back by a stalled output
        tb.out_pause.force = True
        tb.random_gemm(k_max=4)
        await tb.wait_until(lambda: not tb.drv.busy, "a GEMM's beats to go in (output stalled)")
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


@cocotb.test(timeout_time=TEST_TIMEOUT_US, timeout_unit="us")
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


@cocotb.test(timeout_time=TEST_TIMEOUT_US, timeout_unit="us")
async def reset_with_next_gemm_readable(dut):
    """Reset while a GEMM's last row is held in the output register and the
    next GEMM's rows, row 0 included, are finished and readable behind it
    (tests/test_array.py::test_reset_with_results_pending_then_next_gemm_is_exact):
    nothing may come out after the reset, and the next GEMMs are exact.  Only
    here is a row-ready bit that survived reset ever read."""
    tb = await ArrayBench(dut, "reset_with_next_gemm_readable").start()
    for round_ in range(depth(3, 2)):
        # Take all rows of the first GEMM but its last: that one moves into the
        # output register and stays (ready held low from then on), so the
        # second GEMM issues and its rows wait behind it.  The pause generator
        # decides each cycle's ready from the rows taken before that cycle.
        taken0 = tb.sb.matched
        tb.out_pause.gen = (tb.sb.matched - taken0 >= ROWS - 1 for _ in iter(int, 1))
        for _ in range(2):
            tb.random_gemm(k_max=4)
        await tb.wait_until(lambda: not tb.drv.busy, "two GEMMs' beats to go in")
        await tb.wait_until(lambda: tb.sb.matched - taken0 == ROWS - 1 and dut.o__valid.value,
                            f"{ROWS - 1} rows of the first GEMM to be taken and its last "
                            "row to be offered")
        for _ in range(2 * (ROWS + COLS) + 20):   # the second GEMM finishes behind it
            await FallingEdge(dut.clk)
        held = tb.result_codec.unpack(int(dut.o__payload.value))
        assert dut.o__valid.value == 1 and held["row"] == ROWS - 1 and held["last"] == 1, \
            f"precondition: the first GEMM's last row should be held, got {held}"
        assert len(tb.sb.expected) == 1 + ROWS, "precondition: only the held row was not taken"
        COV.hit("reset", "next GEMM's row 0 readable behind a held last row")
        await tb.reset(cycles=1 + round_ % 2)
        tb.out_pause.gen = iter(lambda: False, None)             # ready every cycle
        for _ in range(3 * (ROWS + COLS) + 20):
            await FallingEdge(dut.clk)
            assert dut.o__valid.value == 0, "a row from before the reset came out"
        tb.sb.check_done()
        for _ in range(3):
            tb.random_gemm(k_max=8)
        await tb.drain()
    tb.finish()
