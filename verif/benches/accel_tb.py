"""cocotb tests of ``radix4_accel`` (the accelerator tile) against the golden model.

One simulation runs every test below on one build (rows, cols, acc_width,
depth come from ``RADIX4_PARAMS``); the bench itself (drivers, scoreboard,
expectations, counter checks) is ``tile_bench.TileBench``.  Every emitted row
is matched exactly once against the model's sums of a whole accumulate chain,
and the performance counters against what the bench sent (beats, jobs,
clock cycles).
"""

from __future__ import annotations

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge

from model.hw_vocab import max_abs_product
from verif.kit import burst_pause, random_pause, test_rng
from verif.kit.bench import asymmetric_lanes
from verif.kit.golden import fill_pair, product_nibbles
from verif.kit.seed import depth

from .tile_bench import (COLS, COUNTERS, COV, DEPTH, K_MAX_FIELD, LANES, NARROW, PAIRS, RESERVED,
                         ROWS, TEST_TIMEOUT_US, TileBench, budget, cmd_word)


@cocotb.test(timeout_time=TEST_TIMEOUT_US, timeout_unit="us")
async def random_jobs(dut):
    """Random job chains of every format pair under gaps and stalls; counters exact."""
    rp = test_rng("random_jobs/pauses")[0]
    tb = await TileBench(dut, "random_jobs", random_pause(rp, 0.25), random_pause(rp, 0.25),
                         random_pause(rp, 0.25)).start()
    await tb.clear_counters()
    for i in range(budget(40)):
        tb.random_chain(fmts=PAIRS[i] if i < len(PAIRS) else None)
    await tb.drain()
    tb.check_counters()
    # counters_clear in the middle of a run: counts restart from the clearing
    # edge, whose own increment is lost.  Before + after + that one increment
    # must account for everything sent since the first clear.
    t0 = tb.clear_time
    for i in range(budget(10)):
        tb.random_chain()
    beats, jobs = tb.sent_beats, tb.sent_jobs
    await tb.wait_until(lambda: not tb.load.busy or len(tb.load.queue) <= DEPTH,
                        f"the load stream to get down to {DEPTH} queued beats")
    first = await tb.clear_counters()
    await tb.drain()
    second = tb.counters()
    elapsed = tb.elapsed_cycles(t0)
    assert first["cycles"] + 1 + second["cycles"] == elapsed, (first, second, elapsed)
    lost_mac = ROWS * COLS * beats - first["mac_pe_cycles"] - second["mac_pe_cycles"]
    lost_jobs = jobs - first["jobs_done"] - second["jobs_done"]
    assert lost_mac in (0, ROWS * COLS) and lost_jobs in (0, 1), \
        f"counts across counters_clear: before {first}, after {second}, sent {beats} beats {jobs} jobs"
    assert second["cycles"] > 0 and second["mac_pe_cycles"] > 0, second
    COV.hit("counters", "counters_clear mid-run")
    tb.finish()


@cocotb.test(timeout_time=TEST_TIMEOUT_US, timeout_unit="us")
async def extremes_and_overflow(dut):
    """Extreme codes in every format; sums at and beyond the ACC_WIDTH range across chains."""
    tb = await TileBench(dut, "extremes_and_overflow", random_pause(test_rng("eo")[0], 0.1)).start()
    for af, bf in PAIRS + RESERVED:
        a, b = tb.random_operands(tb.random_k(), af, bf, p_extreme=1.0)
        tb.send_job(a, b, af, bf)
    if NARROW:
        for bound in reversed(tb.bounds):
            sign = 1 if bound > 0 else -1
            # One beat past the fill adds +-1 where an asymmetric row pattern
            # meets an asymmetric column pattern; the other outputs end
            # exactly on the bound.
            af, bf = fill_pair()
            x, y = product_nibbles(af, bf, sign)
            extra = (np.where(asymmetric_lanes(ROWS), x, 0), np.where(asymmetric_lanes(COLS), y, 0))
            af, bf, a, b = tb.fill_operands(bound, COLS, extra)
            if ROWS * COLS == 1:                 # one output: also end exactly on the bound
                tb.send_job(a[:, :-1], b[:-1], af, bf)
            # Split across jobs of at most DEPTH beats: the boundary is crossed in a chain.
            k, step = a.shape[1], DEPTH * LANES
            for i in range(0, k, step):
                tb.send_job(a[:, i:i + step], b[i:i + step], af, bf, accumulate=i > 0)
            # ... and come back into range: the flags stay set (sticky) across the chain.
            bx, by = product_nibbles(af, bf, -sign * max_abs_product())
            tb.send_job(np.full((ROWS, 2), bx), np.full((2, COLS), by), af, bf, accumulate=True)
        for _ in range(budget(30)):
            tb.random_chain(fmts=tb.rng.choice(PAIRS), p_extreme=0.8)
    else:
        af, bf = fill_pair()
        x, y = product_nibbles(af, bf, max_abs_product())
        for _ in range(budget(6)):        # full-depth max-product sums stay exact, unflagged
            tb.send_job(np.full((ROWS, DEPTH * LANES), x), np.full((DEPTH * LANES, COLS), y),
                        af, bf)
    await tb.drain()
    tb.finish()


@cocotb.test(timeout_time=TEST_TIMEOUT_US, timeout_unit="us")
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


@cocotb.test(timeout_time=TEST_TIMEOUT_US, timeout_unit="us")
async def reset_mid_job(dut):
    """Reset while loading, while computing and with results pending: nothing stale after."""
    rp = test_rng("rmj/pauses")[0]
    tb = await TileBench(dut, "reset_mid_job", random_pause(rp, 0.3), random_pause(rp, 0.3),
                         random_pause(rp, 0.3)).start()
    for round_ in range(depth(3, 2)):
        # 1. mid-load: a long job's command taken, part of its beats in.
        tb.random_chain()
        af, bf = tb.rng.choice(PAIRS)
        tb.send_job(*tb.random_operands(DEPTH, af, bf), af, bf)
        await tb.wait_until(lambda: not tb.load.busy or len(tb.load.queue) <= DEPTH // 2,
                            f"the load stream to get down to {DEPTH // 2} queued beats")
        if tb.load.busy and dut.load__ready.value == 1:
            COV.hit("reset", "while loading a job")
        if dut.idle.value == 0:
            COV.hit("reset", "while the array computes")
        await tb.reset(cycles=1 + round_)
        await tb.expect_quiet()
        # 2. results of a finished job held back by a stalled result stream.
        # A chain runs first with results flowing, and *all* of it comes out
        # before the stall: with the result stream stalled the tile takes only
        # the jobs up to the second emitting one plus two banks, so a chain
        # whose inputs are in but whose results are not (regress seed 114 at
        # PE latency 1: two emitting jobs still inside) leaves no bank for the
        # job below.  Drained, the tile is idle and that job always fits.
        tb.random_chain()
        await tb.drain()
        tb.out_pause.force = True
        af, bf = tb.rng.choice(PAIRS)
        tb.send_job(*tb.random_operands(tb.random_k(), af, bf), af, bf)   # emits
        await tb.wait_until(lambda: not tb.inputs_busy,
                            "an emitting job's command and beats to go in (results stalled)")
        # Its beats are in a bank now: up to DEPTH beats still to enter the array.
        await tb.wait_until(lambda: dut.result__valid.value == 1,
                            "the emitting job's first result row (result stream stalled)",
                            DEPTH + 3 * (ROWS + COLS) + 20)
        for _ in range(ROWS + COLS + 8):
            await FallingEdge(dut.clk)
        assert dut.result__valid.value == 1, "no result pending before the reset"
        COV.hit("reset", "with results pending")
        await tb.reset()
        tb.out_pause.force = None
        await tb.expect_quiet()
        # 3. the next jobs are exact; an accumulating first job adds to zeroed sums.
        af, bf = tb.rng.choice(PAIRS)
        tb.send_job(*tb.random_operands(tb.random_k(), af, bf), af, bf, accumulate=True)
        tb.random_chain()
        await tb.drain()
        tb.check_counters()
    tb.finish()


@cocotb.test(timeout_time=TEST_TIMEOUT_US, timeout_unit="us")
async def streaming_without_bubbles(dut):
    """Full-depth jobs with no gaps or stalls: after the first bank fills, no stall cycles."""
    tb = await TileBench(dut, "streaming_without_bubbles").start()
    await tb.clear_counters()
    # The array itself stalls GEMMs shorter than R + C + 1 beats (docs/hardware.md).
    assert DEPTH >= ROWS + COLS + 1, "pick depth >= rows + cols + 1 for this bench"
    for _ in range(max(4, budget(8))):
        af, bf = tb.rng.choice(PAIRS)
        tb.send_job(*tb.random_operands(DEPTH, af, bf), af, bf)
    await tb.drain()
    c = tb.check_counters()
    # hw/accel.py: "Jobs follow each other without a bubble"; at most the first
    # beat's memory read and its hand-over cost cycles.
    assert c["stall_cycles"] <= 2, f"bubbles between back-to-back jobs: {c}"
    COV.hit("stalls", "no stall cycles when streaming")
    tb.finish()


@cocotb.test(timeout_time=TEST_TIMEOUT_US, timeout_unit="us")
async def backpressure_long(dut):
    """A long run under heavy bursty gaps and stalls on all three streams."""
    rp = test_rng("bpl/pauses")[0]
    tb = await TileBench(dut, "backpressure_long", burst_pause(rp, 0.4, 6),
                         burst_pause(rp, 0.4, 8), burst_pause(rp, 0.5, 12)).start()
    await tb.clear_counters()
    for _ in range(budget(50)):
        tb.random_chain()
    await tb.drain()
    tb.check_counters()
    tb.finish()



@cocotb.test(timeout_time=TEST_TIMEOUT_US, timeout_unit="us")
async def idle_with_beat_in_hand(dut):
    """``idle`` stays low while the sequencer holds a beat the array has not taken.

    Result rows are stalled, so the array keeps the second job's ``last``
    beat in its input register and stops taking beats; the third job's only
    beat is then read from its bank and held by the sequencer, with no
    command loading and both banks empty.
    """
    tb = await TileBench(dut, "idle_with_beat_in_hand").start()
    await tb.clear_counters()
    tb.out_pause.force = True
    for _ in range(3):
        af, bf = tb.rng.choice(PAIRS)
        tb.send_job(*tb.random_operands(1, af, bf), af, bf)
    await tb.wait_until(lambda: not tb.inputs_busy,
                        "three 1-beat jobs' commands and beats to go in (results stalled)")
    for _ in range(2 * (ROWS + COLS) + 10):
        await FallingEdge(dut.clk)
        entered = tb.counters()["mac_pe_cycles"] // (ROWS * COLS)
        assert entered < tb.sent_beats, \
            f"precondition: a beat should still be outside the array ({entered} entered)"
        assert dut.idle.value == 0, (f"idle high with {tb.sent_beats - entered} beat(s) "
                                     "taken from load but not yet in the array")
    COV.hit("idle", "low with only a beat in hand")
    tb.out_pause.force = None
    await tb.drain()
    tb.check_counters()
    tb.finish()
