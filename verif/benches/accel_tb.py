"""cocotb bench of ``radix4_accel`` (the accelerator tile) against the golden model.

One simulation runs every test below on one build (rows, cols, acc_width,
depth come from ``RADIX4_PARAMS``).  Commands and operand beats go in
through two independent ``StreamDriver``s with random valid gaps, result
rows come out through a ``StreamMonitor`` with random ready stalls, and
every emitted row is matched exactly once by an in-order scoreboard fed by
``model.gemm`` (sums of a whole accumulate chain, wrapped to ACC_WIDTH,
overflow flags from ``overflow_mask``).  The performance counters are
checked against what the bench itself sent (beats, jobs, clock cycles).

Field positions of the ``cmd`` / ``load`` / ``result`` payloads come from the
hardware's own layouts (``hw.accel.job_layout`` etc.): they are the
interface, not expected values.
"""

from __future__ import annotations

import json
import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge
from cocotb.utils import get_sim_time

from hw.accel import COUNTERS, job_layout, load_layout
from hw.array import output_layout
from verif.kit import (Coverage, PauseControl, Scoreboard, StreamDriver, StreamMonitor,
                       burst_pause, get_seed, random_pause, start_clock, test_rng)
from verif.kit.clocking import PERIOD_NS
from verif.kit.golden import gemm_expect, random_operands

PARAMS = json.loads(os.environ.get("RADIX4_PARAMS", "{}"))
ROWS = PARAMS.get("rows", 8)
COLS = PARAMS.get("cols", 8)
W = PARAMS.get("acc_width", 32)
DEPTH = PARAMS.get("depth", 512)
NARROW = W <= 24         # overflow reachable with a few extreme products

JOB = job_layout(DEPTH)
LOAD = load_layout(ROWS, COLS)
OUT = output_layout(ROWS, COLS, W)
K_MAX_FIELD = (1 << JOB["k"].width) - 1      # largest k the command can carry
PAIRS = [(af, bf) for af in range(3) for bf in range(2)]

COV = Coverage(f"accel {ROWS}x{COLS} W={W} depth={DEPTH}")
COV.declare("format pair", [f"a{af}b{bf}" for af, bf in PAIRS] + ["a3 reserved"])
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


def _field(layout, name):
    f = layout[name]
    return f.offset, f.width


def cmd_word(k, af, bf, accumulate, emit):
    word = 0
    for name, value in (("k", k), ("a_fmt", af), ("b_fmt", bf), ("accumulate", int(accumulate)),
                        ("emit", int(emit))):
        off, width = _field(JOB, name)
        assert 0 <= value < (1 << width), (name, value)
        word |= value << off
    return word


def beat_words(a_nib, b_nib):
    """Load beats of one job: A column t and B row t per beat."""
    a_off, _ = _field(LOAD, "a")
    b_off, _ = _field(LOAD, "b")
    words = []
    for t in range(a_nib.shape[1]):
        w = 0
        for r in range(ROWS):
            w |= int(a_nib[r, t]) << (a_off + 4 * r)
        for c in range(COLS):
            w |= int(b_nib[t, c]) << (b_off + 4 * c)
        words.append(w)
    return words


def _signed(x, w):
    return x - (1 << w) if x >> (w - 1) else x


def decode_result(word):
    d_off, _ = _field(OUT, "data")
    o_off, _ = _field(OUT, "overflow")
    r_off, r_w = _field(OUT, "row")
    l_off, _ = _field(OUT, "last")
    data = tuple(_signed((word >> (d_off + W * c)) & ((1 << W) - 1), W) for c in range(COLS))
    ovf = tuple(bool((word >> (o_off + c)) & 1) for c in range(COLS))
    return ((word >> r_off) & ((1 << r_w) - 1), (word >> l_off) & 1, data, ovf)


def describe(beat):
    row, last, data, ovf = beat
    return f"row={row} last={last} data={list(data)} overflow={list(ovf)}"


class TileBench:
    def __init__(self, dut, name, cmd_pause=None, load_pause=None, out_pause=None):
        self.dut = dut
        self.name = name
        self.rng, self.np_rng = test_rng(name)
        self.cmd_pause = PauseControl(cmd_pause)
        self.load_pause = PauseControl(load_pause)
        self.out_pause = PauseControl(out_pause)
        self.sb = Scoreboard(f"{name} tile {ROWS}x{COLS}", describe)
        self.cmd = StreamDriver(dut.clk, dut.cmd__valid, dut.cmd__ready, dut.cmd__payload,
                                JOB.size, pause=self.cmd_pause, rng=self.rng)
        self.load = StreamDriver(dut.clk, dut.load__valid, dut.load__ready, dut.load__payload,
                                 LOAD.size, pause=self.load_pause, rng=self.rng)
        checked = {"cmd__ready": dut.cmd__ready, "load__ready": dut.load__ready,
                   "result__valid": dut.result__valid, "result__payload": dut.result__payload,
                   "idle": dut.idle, "cmd_error": dut.cmd_error}
        checked.update({n: getattr(dut, n) for n in COUNTERS})
        self.mon = StreamMonitor(dut.clk, dut.result__valid, dut.result__ready,
                                 dut.result__payload, self.on_result, pause=self.out_pause,
                                 rst=dut.rst, check=checked)
        self.chain = None         # (A, B, af, bf, jobs, overflowed earlier) since the last fresh job
        self.sent_beats = 0       # valid beats queued since the counters were cleared
        self.sent_jobs = 0
        self.jobs = 0
        self.clear_time = None

    async def start(self):
        start_clock(self.dut)
        get_seed()
        self.dut.rst.value = 1
        self.dut.counters_clear.value = 0
        self.cmd.start()
        self.load.start()
        self.mon.start()
        for _ in range(3):
            await RisingEdge(self.dut.clk)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0
        self.clear_time = get_sim_time("ns") - PERIOD_NS   # reset cleared the counters
        return self

    # -- stimulus ---------------------------------------------------------
    def send_job(self, a_nib, b_nib, af, bf, *, accumulate=False, emit=True):
        """Queue one job (A: ROWS x k nibbles, B: k x COLS) and its expected rows."""
        a_nib = np.asarray(a_nib, dtype=np.uint8)
        b_nib = np.asarray(b_nib, dtype=np.uint8)
        k = a_nib.shape[1]
        assert a_nib.shape == (ROWS, k) and b_nib.shape == (k, COLS) and 1 <= k <= DEPTH
        self.cmd.send(cmd_word(k, af, bf, accumulate, emit))
        for w in beat_words(a_nib, b_nib):
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
            if accumulate:
                COV.hit("chain", "accumulate right after reset")
            else:
                COV.hit("chain", "fresh job")
            self.chain = (a_nib, b_nib, af, bf, 1, False)
        A, B, _, _, n, ovf_before = self.chain
        sums, ovf = gemm_expect(A, B, af, bf, W)
        if A.shape[1] > DEPTH:
            COV.hit("chain", "chain longer than depth")
        COV.hit("K per job", "1" if k == 1 else f"{DEPTH} (= depth)" if k == DEPTH
                else f"2..{DEPTH - 1}")
        COV.hit("format pair", "a3 reserved" if af == 3 else f"a{af}b{bf}")
        COV.hit("emit", "emit" if emit else "no emit")
        if emit:
            for r in range(ROWS):
                self.sb.expect((r, int(r == ROWS - 1), tuple(int(x) for x in sums[r]),
                                tuple(bool(x) for x in ovf[r])), f"job {self.jobs} row {r}")
            self.sample_overflow(sums, ovf, ovf_before)
        self.chain = (A, B, af, bf, n, ovf_before or bool(ovf.any()))
        self.jobs += 1

    def sample_overflow(self, sums, ovf, ovf_before):
        if not NARROW:
            if not ovf.any():
                COV.hit("overflow", "wide: none reachable, none flagged")
            return
        hi, lo = (1 << (W - 1)) - 1, -(1 << (W - 1))
        if ovf.any():
            COV.hit("overflow", "flagged output")
            if ovf_before:
                COV.hit("overflow", "flag set in an earlier job of the chain")
        if ((sums == hi) & ~ovf).any():
            COV.hit("overflow", "exactly max, unflagged")
        if ((sums == lo) & ~ovf).any():
            COV.hit("overflow", "exactly min, unflagged")

    def random_operands(self, k, af, bf, p_extreme=0.25):
        return random_operands(self.np_rng, ROWS, COLS, k, af, bf, p_extreme)

    def random_k(self):
        return self.rng.choice([1, DEPTH, self.rng.randint(1, DEPTH), self.rng.randint(1, DEPTH)])

    def random_chain(self, fmts=None, p_extreme=0.25):
        """A fresh job followed by 0..3 accumulating jobs; only some parts emit."""
        af, bf = fmts or (self.rng.choice(PAIRS) if self.rng.random() > 0.05
                          else (3, self.rng.randrange(2)))
        n = self.rng.choice([1, 1, 2, 3, 4]) if af != 3 else 1
        for i in range(n):
            emit = i == n - 1 or self.rng.random() < 0.4
            if i == n - 1 and self.rng.random() < 0.1:
                emit = False                      # the next fresh job drops these sums
                COV.hit("chain", "sums dropped (no emit, next job fresh)")
            self.send_job(*self.random_operands(self.random_k(), af, bf, p_extreme), af, bf,
                          accumulate=i > 0, emit=emit)

    # -- response ---------------------------------------------------------
    def on_result(self, word):
        self.sb.receive(decode_result(word))

    async def drain(self):
        """Wait until every command and beat is in and every expected row is out."""
        limit = 3000 + 20 * (len(self.load.queue) + len(self.cmd.queue)) \
            + 100 * len(self.sb.expected)
        for _ in range(limit):
            if not self.cmd.busy and not self.load.busy and not self.sb.expected \
                    and self.dut.idle.value == 1:
                break
            await FallingEdge(self.dut.clk)
        for _ in range(3 * (ROWS + COLS) + 20):     # nothing extra may follow
            await FallingEdge(self.dut.clk)
        self.sb.check_done()
        assert not self.cmd.busy and not self.load.busy, \
            f"{self.name}: the tile stopped taking commands/beats"
        assert self.dut.idle.value == 1, f"{self.name}: tile not idle after all jobs"

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

    def check_counters(self, *, expect_error=False):
        """Counters vs. what was sent since the last clear (call on a falling edge, idle)."""
        c = self.counters()
        # Cycles: rising edges after the one that cleared the counters.
        elapsed = round((get_sim_time("ns") - self.clear_time) / PERIOD_NS) - 1
        want = {"cycles": elapsed, "mac_pe_cycles": ROWS * COLS * self.sent_beats,
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

    async def reset(self, cycles=3):
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 1
        self.cmd.abort()
        self.load.abort()
        self.sb.flush()
        self.chain = None
        for _ in range(cycles):
            await RisingEdge(self.dut.clk)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0
        self.clear_time = get_sim_time("ns") - PERIOD_NS
        self.sent_beats = self.sent_jobs = 0

    def finish(self):
        if self.cmd.gap_cycles:
            COV.hit("stalls", "cmd valid gaps")
        if self.load.gap_cycles:
            COV.hit("stalls", "load valid gaps")
        if self.mon.stall_cycles:
            COV.hit("stalls", "result ready stalls")
        if self.cmd.blocked_cycles:
            COV.hit("stalls", "cmd blocked (both banks busy)")
        if self.load.blocked_cycles:
            COV.hit("stalls", "load blocked (no command yet)")
        self.dut._log.info("%s: %d jobs, %d rows matched; cmd gaps %d blocked %d; load beats %d "
                           "gaps %d blocked %d; result stalls %d; X/Z-checked cycles %d",
                           self.name, self.jobs, self.sb.matched, self.cmd.gap_cycles,
                           self.cmd.blocked_cycles, self.load.beats, self.load.gap_cycles,
                           self.load.blocked_cycles, self.mon.stall_cycles,
                           self.mon.checked_cycles)
        self.dut._log.info("%s", COV.report())
        COV.save()


def _budget(base):
    """Scale job counts down for big tiles and deep banks."""
    return max(4, base * 16 // max(16, ROWS * COLS + DEPTH))


@cocotb.test()
async def random_jobs(dut):
    """Random job chains of every format pair under gaps and stalls; counters exact."""
    rp = test_rng("random_jobs/pauses")[0]
    tb = await TileBench(dut, "random_jobs", random_pause(rp, 0.25), random_pause(rp, 0.25),
                         random_pause(rp, 0.25)).start()
    await tb.clear_counters()
    for i in range(_budget(40)):
        tb.random_chain(fmts=PAIRS[i] if i < len(PAIRS) else None)
    await tb.drain()
    tb.check_counters()
    # counters_clear in the middle of a run: counts restart from the clearing
    # edge, whose own increment is lost.  Before + after + that one increment
    # must account for everything sent since the first clear.
    t0 = tb.clear_time
    for i in range(_budget(10)):
        tb.random_chain()
    beats, jobs = tb.sent_beats, tb.sent_jobs
    while tb.load.busy and len(tb.load.queue) > DEPTH:
        await FallingEdge(dut.clk)
    first = await tb.clear_counters()
    await tb.drain()
    second = tb.counters()
    elapsed = round((get_sim_time("ns") - t0) / PERIOD_NS) - 1
    assert first["cycles"] + 1 + second["cycles"] == elapsed, (first, second, elapsed)
    lost_mac = ROWS * COLS * beats - first["mac_pe_cycles"] - second["mac_pe_cycles"]
    lost_jobs = jobs - first["jobs_done"] - second["jobs_done"]
    assert lost_mac in (0, ROWS * COLS) and lost_jobs in (0, 1), \
        f"counts across counters_clear: before {first}, after {second}, sent {beats} beats {jobs} jobs"
    assert second["cycles"] > 0 and second["mac_pe_cycles"] > 0, second
    COV.hit("counters", "counters_clear mid-run")
    tb.finish()


@cocotb.test()
async def extremes_and_overflow(dut):
    """Extreme codes in every format; sums at and beyond the ACC_WIDTH range across chains."""
    tb = await TileBench(dut, "extremes_and_overflow", random_pause(test_rng("eo")[0], 0.1)).start()
    for af in range(4):
        for bf in range(2):
            a, b = tb.random_operands(tb.random_k(), af, bf, p_extreme=1.0)
            tb.send_job(a, b, af, bf)
    if NARROW:
        hi, lo = (1 << (W - 1)) - 1, -(1 << (W - 1))
        for bound in (hi, lo):
            pairs = fill_to(bound)
            # Even columns end exactly on the bound, odd ones one beyond it.
            pairs.append((0x1 | (0x8 if bound < 0 else 0), None))
            k = len(pairs)
            a = np.zeros((ROWS, k), dtype=np.uint8)
            b = np.zeros((k, COLS), dtype=np.uint8)
            for t, (x, y) in enumerate(pairs):
                a[:, t] = x
                if y is None:
                    b[t, 1::2] = 1
                    if COLS == 1:
                        b[t, 0] = 1
                else:
                    b[t, :] = y
            # Split across jobs of at most DEPTH beats: the boundary is crossed in a chain.
            parts = [(a[:, i:i + DEPTH], b[i:i + DEPTH]) for i in range(0, k, DEPTH)]
            for i, (pa, pb) in enumerate(parts):
                tb.send_job(pa, pb, 2, 1, accumulate=i > 0, emit=True)
            # ... and come back into range: the flags stay set (sticky) across the chain.
            back = 0x7 | (0x8 if bound > 0 else 0)
            tb.send_job(np.full((ROWS, 2), back), np.full((2, COLS), 15), 2, 1,
                        accumulate=True, emit=True)
        for _ in range(_budget(30)):
            af, bf = tb.rng.choice([(2, 0), (2, 1), (0, 0), (1, 1)])
            tb.random_chain(fmts=(af, bf), p_extreme=0.8)
    else:
        for _ in range(_budget(6)):
            k = DEPTH
            a = np.full((ROWS, k), 0x7, dtype=np.uint8)
            a[tb.np_rng.random(a.shape) < 0.5] = 0xF
            tb.send_job(a, np.full((k, COLS), 15), 2, 1)
    await tb.drain()
    tb.finish()


def fill_to(target):
    """fp4 x uint4 (a, b) nibble pairs whose products sum to ``target``.

    Only picks operands (largest product first, then base-4 digits); every
    value is checked by the model.
    """
    sign = 0x8 if target < 0 else 0
    rest, pairs = abs(target), []
    while rest >= 61440:
        pairs.append((0x7 | sign, 15))
        rest -= 61440
    for e in range(7, 0, -1):
        digit = rest // 4 ** (e - 1)
        if digit:
            pairs.append((e | sign, digit))
            rest -= digit * 4 ** (e - 1)
    return pairs


@cocotb.test()
async def bad_commands(dut):
    """k = 0 and k > depth are dropped and set the sticky cmd_error; reset clears it."""
    rp = test_rng("bad/pauses")[0]
    tb = await TileBench(dut, "bad_commands", random_pause(rp, 0.2), random_pause(rp, 0.2),
                         random_pause(rp, 0.2)).start()
    assert int(dut.cmd_error.value) == 0, "cmd_error set after reset"
    assert DEPTH + 1 <= K_MAX_FIELD, "k > depth must be encodable (depth is a power of two)"
    for bad_k, bin_ in ((0, "k=0 dropped, flag set"), (DEPTH + 1, "k>depth dropped, flag set")):
        tb.random_chain()
        await tb.drain()
        assert int(dut.cmd_error.value) == 0, "cmd_error set by good commands"
        await tb.clear_counters()
        af, bf = tb.rng.choice(PAIRS)
        tb.cmd.send(cmd_word(bad_k, af, bf, False, True))      # no beats of its own
        tb.random_chain()
        tb.random_chain()
        await tb.drain()
        # The dropped command is neither a job nor beats; the good ones are exact.
        tb.check_counters(expect_error=True)
        COV.hit("cmd_error", bin_)
        # Sticky: more good jobs do not clear it; only reset does.
        tb.random_chain()
        await tb.drain()
        assert int(dut.cmd_error.value) == 1, "cmd_error is not sticky"
        await tb.reset()
        assert int(dut.cmd_error.value) == 0, "reset did not clear cmd_error"
        COV.hit("cmd_error", "cleared by reset")
    tb.finish()


@cocotb.test()
async def reset_mid_job(dut):
    """Reset while loading, while computing and with results pending: nothing stale after."""
    rp = test_rng("rmj/pauses")[0]
    tb = await TileBench(dut, "reset_mid_job", random_pause(rp, 0.3), random_pause(rp, 0.3),
                         random_pause(rp, 0.3)).start()
    for round_ in range(3):
        # 1. mid-load: a long job's command taken, part of its beats in.
        tb.random_chain()
        tb.send_job(*tb.random_operands(DEPTH, 0, 0), 0, 0)
        while tb.load.busy and len(tb.load.queue) > DEPTH // 2:
            await FallingEdge(dut.clk)
        if tb.load.busy and dut.load__ready.value == 1:
            COV.hit("reset", "while loading a job")
        if dut.idle.value == 0:
            COV.hit("reset", "while the array computes")
        await tb.reset(cycles=1 + round_)
        await _expect_quiet(tb)
        # 2. results of a finished job held back by a stalled result stream.
        tb.out_pause.force = True
        tb.random_chain()
        af, bf = tb.rng.choice(PAIRS)
        tb.send_job(*tb.random_operands(tb.random_k(), af, bf), af, bf)   # emits
        while tb.cmd.busy or tb.load.busy:
            await FallingEdge(dut.clk)
        for _ in range(ROWS + COLS + 8):
            await FallingEdge(dut.clk)
        assert dut.result__valid.value == 1, "no result pending before the reset"
        COV.hit("reset", "with results pending")
        await tb.reset()
        tb.out_pause.force = None
        await _expect_quiet(tb)
        # 3. the next jobs are exact; an accumulating first job adds to zeroed sums.
        af, bf = tb.rng.choice(PAIRS)
        tb.send_job(*tb.random_operands(tb.random_k(), af, bf), af, bf, accumulate=True)
        tb.random_chain()
        await tb.drain()
        tb.check_counters()
    tb.finish()


async def _expect_quiet(tb):
    """Right after a reset: counters zero, no output, idle (the scoreboard expects nothing)."""
    await FallingEdge(tb.dut.clk)
    c = tb.counters()
    assert c["cycles"] <= 1 and all(c[n] == 0 for n in COUNTERS if n != "cycles"), \
        f"counters not cleared by reset: {c}"
    assert int(tb.dut.cmd_error.value) == 0
    COV.hit("counters", "zero after reset")
    for _ in range(3 * (ROWS + COLS) + 20):
        await FallingEdge(tb.dut.clk)
        assert tb.dut.result__valid.value == 0, "a result came out after reset"
    assert tb.dut.idle.value == 1, "tile not idle after reset"
    tb.sb.check_done()


@cocotb.test()
async def streaming_without_bubbles(dut):
    """Full-depth jobs with no gaps or stalls: after the first bank fills, no stall cycles."""
    tb = await TileBench(dut, "streaming_without_bubbles").start()
    await tb.clear_counters()
    # The array itself stalls GEMMs shorter than R + C + 1 beats (docs/hardware.md).
    assert DEPTH >= ROWS + COLS + 1, "pick depth >= rows + cols + 1 for this bench"
    for _ in range(max(4, _budget(8))):
        af, bf = tb.rng.choice(PAIRS)
        tb.send_job(*tb.random_operands(DEPTH, af, bf), af, bf)
    await tb.drain()
    c = tb.check_counters()
    # hw/accel.py: "Jobs follow each other without a bubble"; at most the first
    # beat's memory read and its hand-over cost cycles.
    assert c["stall_cycles"] <= 2, f"bubbles between back-to-back jobs: {c}"
    COV.hit("stalls", "no stall cycles when streaming")
    tb.finish()


@cocotb.test()
async def backpressure_long(dut):
    """A long run under heavy bursty gaps and stalls on all three streams."""
    rp = test_rng("bpl/pauses")[0]
    tb = await TileBench(dut, "backpressure_long", burst_pause(rp, 0.4, 6),
                         burst_pause(rp, 0.4, 8), burst_pause(rp, 0.5, 12)).start()
    await tb.clear_counters()
    for _ in range(_budget(50)):
        tb.random_chain()
    await tb.drain()
    tb.check_counters()
    tb.finish()

