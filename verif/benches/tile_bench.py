"""``TileBench``: stimulus, expectations and counter checks for ``radix4_accel``.

Used by the cocotb tests in ``accel_tb.py`` (one build, parameters from
``RADIX4_PARAMS``).  Commands and operand beats go in through two independent
``StreamDriver``s, result rows come out through the ``GemmBench`` monitor and
scoreboard; expected rows are the golden model's sums of a whole accumulate
chain.  Every payload is packed and unpacked by ``hw.codec`` from the tile's
own layouts, and formats come from the format table.
"""

from __future__ import annotations

import json
import os

import numpy as np
from cocotb.triggers import FallingEdge
from cocotb.utils import get_sim_time

from hw.accel import COUNTERS, job_layout, load_layout
from hw.array import output_layout
from hw.codec import LayoutCodec, stream_lanes
from verif.kit import Coverage, GemmBench
from verif.kit.clocking import PERIOD_NS
from verif.kit.seed import depth
from verif.kit.golden import (format_names, format_pairs, gemm_expect, pair_label, random_operands,
                              reserved_codes)

PARAMS = json.loads(os.environ.get("RADIX4_PARAMS", "{}"))
ROWS = PARAMS.get("rows", 8)
COLS = PARAMS.get("cols", 8)
W = PARAMS.get("acc_width", 32)
DEPTH = PARAMS.get("depth", 512)
# PE lanes (SPEC 2, --lanes K): a beat carries LANES codes per PE input; a
# job's codes are zero-padded to whole beats; DEPTH and a job's k count beats.
LANES = PARAMS.get("lanes", 1)
NARROW = W <= 24         # overflow reachable with a few extreme products

JOB_LAYOUT = job_layout(DEPTH)
LOAD_LAYOUT = load_layout(ROWS, COLS, lanes=LANES)
JOB = LayoutCodec(JOB_LAYOUT)
LOAD = LayoutCodec(LOAD_LAYOUT, stream_lanes(LOAD_LAYOUT))
K_MAX_FIELD = (1 << JOB.field("k").width) - 1      # largest k the command can carry
PAIRS = format_pairs()
RESERVED = [(a, b) for a in reserved_codes("a") for b in format_names("b")]

COV = Coverage(f"accel {ROWS}x{COLS} W={W} depth={DEPTH}"
               + (f" k={LANES}" if LANES > 1 else ""))
COV.declare("format pair", [pair_label(*p) for p in PAIRS + RESERVED])
COV.declare("K per job", ["1", f"2..{DEPTH - 1}", f"{DEPTH} (= depth)"])
COV.declare("chain", ["fresh job", "accumulate (2nd job)", "accumulate (3rd+ job)",
                      "chain longer than depth", "sums dropped (no emit, next job fresh)",
                      "accumulate right after reset"])
COV.declare("emit", ["emit", "no emit"])
COV.declare("stalls", ["cmd valid gaps", "load valid gaps", "result ready stalls",
                       "cmd blocked (both banks busy)", "load blocked (no command yet)",
                       "tile stall cycles counted", "no stall cycles when streaming"])
COV.declare("overflow", ["flagged output", "exactly max, unflagged", "exactly min, unflagged",
                         "flag set in an earlier job of the chain"]
            if NARROW else ["wide: none reachable, none flagged"])
COV.declare("cmd_error", ["k=0 dropped, flag set", "k>depth dropped, flag set",
                          "cleared by reset"])
COV.declare("reset", ["while loading a job", "with results pending", "while the array computes"])
COV.declare("counters", ["checked after a run", "counters_clear mid-run", "zero after reset"])
COV.declare("idle", ["low with only a beat in hand"])


def cmd_word(k, af, bf, accumulate, emit) -> int:
    return JOB.pack(k=k, a_fmt=af, b_fmt=bf, accumulate=int(accumulate), emit=int(emit))


class TileBench(GemmBench):
    def __init__(self, dut, name, cmd_pause=None, load_pause=None, out_pause=None):
        checked = {"cmd__ready": dut.cmd__ready, "load__ready": dut.load__ready,
                   "result__valid": dut.result__valid, "result__payload": dut.result__payload,
                   "idle": dut.idle, "cmd_error": dut.cmd_error}
        checked.update({n: getattr(dut, n) for n in COUNTERS})
        super().__init__(dut, name, f"tile {ROWS}x{COLS}", COV, rows=ROWS, acc_width=W,
                         out="result", out_layout=output_layout(ROWS, COLS, W),
                         out_pause=out_pause, check=checked)
        self.cmd = self.add_driver("cmd", JOB_LAYOUT, cmd_pause)
        self.load = self.add_driver("load", LOAD_LAYOUT, load_pause)
        self.chain = None         # (A, B, af, bf, jobs, overflowed earlier) since the last fresh job
        self.sent_beats = 0       # valid beats queued since the counters were cleared
        self.sent_jobs = 0
        self.jobs = 0
        self.clear_time = None

    def idle_inputs(self):
        self.dut.counters_clear.value = 0

    def after_reset(self):
        self.chain = None
        self.clear_time = get_sim_time("ns") - PERIOD_NS   # reset cleared the counters
        self.sent_beats = self.sent_jobs = 0

    def quiet(self) -> bool:
        return self.dut.idle.value == 1

    def quiet_cycles(self) -> int:
        return 3 * (ROWS + COLS) + 20

    # -- bounded waits (GemmBench.wait_until) ------------------------------
    def cycle_budget(self) -> int:
        """A job's rows come after its beats and the array's R + C fill."""
        beats = len(self.cmd.queue) + len(self.load.queue)
        return 500 + 20 * (ROWS + COLS) + 30 * beats + 40 * len(self.sb.expected)

    def state(self) -> str:
        d = self.dut
        return (f"{super().state()}; cmd_ready={d.cmd__ready.value} "
                f"load_ready={d.load__ready.value} result_valid={d.result__valid.value} "
                f"idle={d.idle.value}")

    # -- stimulus ---------------------------------------------------------
    def send_job(self, a_nib, b_nib, af, bf, *, accumulate=False, emit=True):
        """Queue one job (A: ROWS x K nibbles, B: K x COLS; K zero-padded to
        k = ceil(K / LANES) beats) and its expected rows."""
        a_nib = np.asarray(a_nib, dtype=np.uint8)
        b_nib = np.asarray(b_nib, dtype=np.uint8)
        codes = a_nib.shape[1]
        assert a_nib.shape == (ROWS, codes) and b_nib.shape == (codes, COLS)
        pad = -codes % LANES
        a_nib, b_nib = np.pad(a_nib, ((0, 0), (0, pad))), np.pad(b_nib, ((0, pad), (0, 0)))
        k = a_nib.shape[1] // LANES
        assert 1 <= k <= DEPTH
        self.cmd.send(cmd_word(k, af, bf, accumulate, emit))
        # beat t: A lane r*LANES + j = A[r, t*LANES + j]; B lane c*LANES + j = B[t*LANES + j, c]
        a_beats = a_nib.reshape(ROWS, k, LANES).transpose(1, 0, 2).reshape(k, ROWS * LANES)
        b_beats = b_nib.reshape(k, LANES, COLS).transpose(0, 2, 1).reshape(k, COLS * LANES)
        for w in LOAD.words_to_ints(LOAD.pack_words({"a": a_beats, "b": b_beats}, n=k)):
            self.load.send(w)
        self.sent_beats += k
        self.sent_jobs += 1
        if accumulate and self.chain is not None:
            a0, b0, af0, bf0, n, ovf_before = self.chain
            assert (af0, bf0) == (af, bf), "the model checks a sum in one format pair"
            self.chain = (np.hstack([a0, a_nib]), np.vstack([b0, b_nib]), af, bf, n + 1,
                          ovf_before)
            COV.hit("chain", "accumulate (2nd job)" if n == 1 else "accumulate (3rd+ job)")
        else:
            # After reset (chain None) an accumulating job adds to zeroed PEs.
            COV.hit("chain", "accumulate right after reset" if accumulate else "fresh job")
            self.chain = (a_nib, b_nib, af, bf, 1, False)
        A, B, _, _, n, ovf_before = self.chain
        sums, ovf = self.expect_gemm(A, B, af, bf)
        if A.shape[1] > DEPTH * LANES:     # beats of the chain (A is padded)
            COV.hit("chain", "chain longer than depth")
        COV.hit("K per job", "1" if k == 1 else f"{DEPTH} (= depth)" if k == DEPTH
                else f"2..{DEPTH - 1}")
        COV.hit("format pair", pair_label(af, bf))
        COV.hit("emit", "emit" if emit else "no emit")
        if emit:
            self.expect_rows(sums, ovf, f"job {self.jobs}")
            self.sample_overflow(sums, ovf, ovf_before)
        self.chain = (A, B, af, bf, n, ovf_before or bool(ovf.any()))
        self.jobs += 1

    def sample_overflow(self, sums, ovf, ovf_before):
        if not NARROW:
            if not ovf.any():
                COV.hit("overflow", "wide: none reachable, none flagged")
            return
        lo, hi = self.bounds
        if ovf.any():
            COV.hit("overflow", "flagged output")
            if ovf_before:
                COV.hit("overflow", "flag set in an earlier job of the chain")
        if ((sums == hi) & ~ovf).any():
            COV.hit("overflow", "exactly max, unflagged")
        if ((sums == lo) & ~ovf).any():
            COV.hit("overflow", "exactly min, unflagged")

    def expect_gemm(self, a_nib, b_nib, af, bf):
        return gemm_expect(a_nib, b_nib, af, bf, W, lanes=LANES)

    def random_operands(self, k, af, bf, p_extreme=0.25):
        """Operands of a job of ``k`` beats: ``k * LANES`` codes, some of the
        last beat left to the zero padding when LANES > 1."""
        if LANES > 1:
            k = k * LANES - self.rng.randrange(LANES)
        return self._random_operands(k, af, bf, p_extreme)

    def _random_operands(self, k, af, bf, p_extreme):
        return random_operands(self.np_rng, ROWS, COLS, k, af, bf, p_extreme)

    def random_k(self):
        return self.rng.choice([1, DEPTH, self.rng.randint(1, DEPTH), self.rng.randint(1, DEPTH)])

    def random_chain(self, fmts=None, p_extreme=0.25):
        """A fresh job followed by 0..3 accumulating jobs; only some parts emit."""
        reserved = fmts is None and RESERVED and self.rng.random() < 0.05
        af, bf = fmts or (self.rng.choice(RESERVED) if reserved else self.rng.choice(PAIRS))
        n = 1 if reserved else self.rng.choice([1, 1, 2, 3, 4])
        for i in range(n):
            emit = i == n - 1 or self.rng.random() < 0.4
            if i == n - 1 and self.rng.random() < 0.1:
                emit = False                      # the next fresh job drops these sums
                COV.hit("chain", "sums dropped (no emit, next job fresh)")
            self.send_job(*self.random_operands(self.random_k(), af, bf, p_extreme), af, bf,
                          accumulate=i > 0, emit=emit)

    # -- counters ---------------------------------------------------------
    def counters(self) -> dict:
        return {n: int(getattr(self.dut, n).value) for n in COUNTERS}

    async def clear_counters(self) -> dict:
        """Pulse ``counters_clear`` for one edge; return the counters just before it."""
        await FallingEdge(self.dut.clk)
        before = self.counters()
        self.dut.counters_clear.value = 1
        t = get_sim_time("ns")
        await FallingEdge(self.dut.clk)
        self.dut.counters_clear.value = 0
        self.clear_time = t
        self.sent_beats = 0
        self.sent_jobs = 0
        return before

    def elapsed_cycles(self, since=None) -> int:
        """Rising edges after the one that cleared the counters (at ``since``)."""
        since = self.clear_time if since is None else since
        return round((get_sim_time("ns") - since) / PERIOD_NS) - 1

    def check_counters(self, *, expect_error=False):
        """Counters vs. what was sent since the last clear (call on a falling edge, idle)."""
        c = self.counters()
        want = {"cycles": self.elapsed_cycles(), "mac_pe_cycles": ROWS * COLS * self.sent_beats,
                "jobs_done": self.sent_jobs}
        got = {k: c[k] for k in want}
        assert got == want, f"{self.name}: counters {got}, expected {want} (all: {c})"
        assert c["stall_cycles"] == c["busy_cycles"] - self.sent_beats, \
            f"{self.name}: stall_cycles != busy_cycles - beats: {c}, beats {self.sent_beats}"
        assert self.sent_beats <= c["busy_cycles"] <= c["cycles"], c
        assert int(self.dut.cmd_error.value) == int(expect_error), \
            f"{self.name}: cmd_error={self.dut.cmd_error.value}, expected {int(expect_error)}"
        if c["stall_cycles"]:
            COV.hit("stalls", "tile stall cycles counted")
        COV.hit("counters", "checked after a run")
        self.dut._log.info("%s: counters %s (beats sent %d, jobs %d)", self.name, c,
                           self.sent_beats, self.sent_jobs)
        return c

    async def expect_quiet(self):
        """Right after a reset: counters zero, no output, idle (nothing expected)."""
        await FallingEdge(self.dut.clk)
        c = self.counters()
        assert c["cycles"] <= 1 and all(c[n] == 0 for n in COUNTERS if n != "cycles"), \
            f"counters not cleared by reset: {c}"
        assert int(self.dut.cmd_error.value) == 0
        COV.hit("counters", "zero after reset")
        for _ in range(self.quiet_cycles()):
            await FallingEdge(self.dut.clk)
            assert self.dut.result__valid.value == 0, "a result came out after reset"
        assert self.dut.idle.value == 1, "tile not idle after reset"
        self.sb.check_done()

    def sample_stalls(self):
        for drv, label in ((self.cmd, "cmd"), (self.load, "load")):
            if drv.gap_cycles:
                COV.hit("stalls", f"{label} valid gaps")
        if self.mon.stall_cycles:
            COV.hit("stalls", "result ready stalls")
        if self.cmd.blocked_cycles:
            COV.hit("stalls", "cmd blocked (both banks busy)")
        if self.load.blocked_cycles:
            COV.hit("stalls", "load blocked (no command yet)")
        self.dut._log.info("%s: %d jobs", self.name, self.jobs)


def budget(base):
    """Scale job counts down for big tiles and deep banks, and in the regress
    profile (``verif.kit.seed.depth``)."""
    return max(4, depth(base) * 16 // max(16, ROWS * COLS + DEPTH))


# Backstop for each cocotb test (``@cocotb.test(timeout_time=TEST_TIMEOUT_US,
# timeout_unit="us")``): the most any test sends is budget(50) chains of up
# to 4 jobs of DEPTH beats; allow 10 cycles a beat and 20 (R + C) a job (the
# tests take 1-2 cycles a beat under their heaviest pauses).  Every wait in
# the tests is bounded by ``wait_until`` or ``drain`` first; this only turns a
# wait nobody bounded into a failure.
TEST_TIMEOUT_US = PERIOD_NS * (budget(50) * 4 * (10 * DEPTH + 20 * (ROWS + COLS)) + 5000) / 1000
