"""Accelerator tile in Amaranth's simulator: jobs, double buffering, stalls.

Random job chains (clear / accumulate / emit) with random gaps on the command
and load streams and random result backpressure; every emitted result row is
compared with the golden model and must arrive exactly once.
"""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.accel import AcceleratorTile, COUNTERS, job_layout, load_layout
from hw.array import output_layout
from hw.codec import LayoutCodec, stream_lanes
from model.formats import FORMATS, to_nibbles
from model.hw_vocab import side_formats
from model.gemm import gemm_exact, overflow_mask
from verif.kit.sim_stream import EdgeCount, random_pause, stream_get, stream_put

PAIRS = [(fa, fb) for fa in side_formats("a") for fb in side_formats("b")]


def codec(layout):
    return LayoutCodec(layout, stream_lanes(layout))


def rand_codes(rng, fmt, shape):
    spec = FORMATS[fmt]
    return rng.integers(spec.code_min, spec.code_max + 1, shape).astype(spec.dtype)


def make_jobs(rng, rows, cols, depth, n_jobs):
    """Random job chains; returns (jobs, expected result sets)."""
    jobs, expected = [], []
    pending = None  # (a list, b list, fa, fb) of the chain being accumulated
    for i in range(n_jobs):
        fa, fb = PAIRS[rng.integers(len(PAIRS))]
        k = int(rng.integers(1, depth + 1))
        accumulate = pending is not None and pending[2:] == (fa, fb) and rng.random() < 0.5
        a = rand_codes(rng, fa, (rows, k))
        b = rand_codes(rng, fb, (k, cols))
        if accumulate:
            pending = (np.hstack([pending[0], a]), np.vstack([pending[1], b]), fa, fb)
        else:
            pending = (a, b, fa, fb)
        emit = bool(rng.random() < 0.6) or i == n_jobs - 1
        jobs.append(dict(a=a, b=b, fa=fa, fb=fb, k=k, accumulate=accumulate, emit=emit))
        if emit:
            aa, bb = pending[0], pending[1]
            expected.append((gemm_exact(aa, bb, fa, fb), overflow_mask(aa, bb, fa, fb, 32)))
    return jobs, expected


def job_word(job, depth):
    return codec(job_layout(depth)).pack(
        k=job["k"], a_fmt=FORMATS[job["fa"]].hw_code, b_fmt=FORMATS[job["fb"]].hw_code,
        accumulate=int(job["accumulate"]), emit=int(job["emit"]))


def beat_words(job, rows, cols):
    load = codec(load_layout(rows, cols))
    a_nib = to_nibbles(job["a"], job["fa"])   # rows x k
    b_nib = to_nibbles(job["b"], job["fb"])   # k x cols
    return load.words_to_ints(load.pack_words({"a": a_nib.T, "b": b_nib}, n=job["k"]))


def run_tile(rows, cols, depth, jobs, rng, gap=0.3, stall=0.3, extra_cmds=()):
    dut = AcceleratorTile(rows, cols, 32, depth)
    W = 32
    cmds = list(extra_cmds) + [job_word(j, depth) for j in jobs]
    beats = [w for j in jobs for w in beat_words(j, rows, cols)]
    n_results = rows * sum(j["emit"] for j in jobs)
    got = []
    seen = {}

    async def drive(ctx, stream, words):
        for w in words:
            await stream_put(ctx, stream, w, pause=random_pause(rng, gap))

    async def cmd_bench(ctx):
        await drive(ctx, dut.cmd, cmds)

    async def load_bench(ctx):
        await drive(ctx, dut.load, beats)

    # Cycle budget from the job sizes: every command and beat under the gaps,
    # every row under the stalls, with a wide margin (runs take a tenth of it).
    budget = 1000 + 20 * (len(cmds) + len(beats)) + 20 * (rows + cols) * n_results

    async def result_bench(ctx):
        clock = EdgeCount()
        while len(got) < n_results:
            got.append(await stream_get(
                ctx, dut.result, pause=random_pause(rng, stall), limit=budget, clock=clock,
                raw=True, what=f"result row {len(got)} of {n_results}"))
            assert clock.edges < budget, (f"results stopped arriving: {len(got)} of "
                                          f"{n_results} rows after {budget} cycles (the run's "
                                          f"cycle budget)")
        ctx.set(dut.result.ready, 1)
        for _ in range(3 * (rows + cols) + 10):   # nothing extra may follow
            *_, valid = await ctx.tick().sample(dut.result.valid)
            assert not valid, "an extra result row appeared"
        for name in COUNTERS:
            seen[name] = ctx.get(getattr(dut, name))
        seen["idle"] = ctx.get(dut.idle)
        seen["cmd_error"] = ctx.get(dut.cmd_error)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(cmd_bench, background=True)
    sim.add_testbench(load_bench, background=True)
    sim.add_testbench(result_bench)
    sim.run()

    out = codec(output_layout(rows, cols, W))
    rows_out = []
    for p in got:
        f = out.unpack(p)
        rows_out.append((list(f["data"]), list(f["overflow"]), f["row"], f["last"]))
    return rows_out, seen, len(beats)


@pytest.mark.parametrize("rows,cols,depth,seed", [(1, 1, 4, 1), (2, 3, 8, 2), (3, 2, 4, 3),
                                                  (4, 4, 16, 4)])
def test_tile_random_jobs_under_stalls(rows, cols, depth, seed):
    rng = np.random.default_rng(seed)
    jobs, expected = make_jobs(rng, rows, cols, depth, 14)
    out, counters, n_beats = run_tile(rows, cols, depth, jobs, rng)
    assert len(out) == rows * len(expected)
    for g, (c, ovf) in enumerate(expected):
        for r in range(rows):
            vals, flags, row, last = out[g * rows + r]
            assert row == r and last == (r == rows - 1)
            assert vals == c[r].tolist(), f"result set {g} row {r}"
            assert flags == ovf[r].astype(int).tolist()
    assert counters["mac_pe_cycles"] == rows * cols * n_beats
    assert counters["jobs_done"] == len(jobs)
    assert counters["busy_cycles"] >= n_beats
    assert counters["stall_cycles"] == counters["busy_cycles"] - n_beats
    assert counters["cycles"] > counters["busy_cycles"]
    assert counters["idle"] == 1 and counters["cmd_error"] == 0


def test_tile_streams_without_bubbles_when_unstalled():
    rows, cols, depth = 2, 2, 16
    rng = np.random.default_rng(9)
    jobs = []
    for _ in range(6):
        a = rand_codes(rng, "fp4", (rows, depth))
        b = rand_codes(rng, "uint4", (depth, cols))
        jobs.append(dict(a=a, b=b, fa="fp4", fb="uint4", k=depth, accumulate=False, emit=True))
    out, counters, n_beats = run_tile(rows, cols, depth, jobs, rng, gap=0.0, stall=0.0)
    for g, j in enumerate(jobs):
        c = gemm_exact(j["a"], j["b"], "fp4", "uint4")
        assert [out[g * rows + r][0] for r in range(rows)] == c.tolist()
    # Loading overlaps compute: after the first bank fills, one beat per cycle.
    assert counters["stall_cycles"] <= 2
    assert counters["busy_cycles"] <= n_beats + 2


def test_bad_command_sets_sticky_error_and_is_dropped():
    rows, cols, depth = 2, 2, 4
    rng = np.random.default_rng(11)
    a = rand_codes(rng, "int4", (rows, 3))
    b = rand_codes(rng, "int4", (3, cols))
    job = dict(a=a, b=b, fa="int4", fb="int4", k=3, accumulate=False, emit=True)
    bad_zero = job_word(dict(job, k=0), depth)
    bad_big = job_word(dict(job, k=depth + 1), depth)
    out, counters, _ = run_tile(rows, cols, depth, [job], rng, extra_cmds=(bad_zero, bad_big))
    assert counters["cmd_error"] == 1
    assert [o[0] for o in out] == gemm_exact(a, b, "int4", "int4").tolist()


def test_depth_and_shape_validation():
    for bad in (0, 1, 3, 1 << 17, True):
        with pytest.raises(ValueError):
            AcceleratorTile(2, 2, 32, bad)
    with pytest.raises(ValueError):
        AcceleratorTile(0, 2)
    with pytest.raises(ValueError):
        AcceleratorTile(2, 2, acc_width=17)


# ---- issue 17: counters_clear, consumer ready held low, idle vs a beat in hand ----

def _one_beat_jobs(rng, rows, cols, n):
    jobs = []
    for _ in range(n):
        a = rand_codes(rng, "int4", (rows, 1))
        b = rand_codes(rng, "uint4", (1, cols))
        jobs.append(dict(a=a, b=b, fa="int4", fb="uint4", k=1, accumulate=False, emit=True))
    return jobs


def _directed_tile(rows, cols, depth, jobs, consumer):
    """Commands and loads back to back; ``consumer(ctx, dut, state)`` drives
    result.ready, checks, and collects result payloads in ``state["rows"]``."""
    dut = AcceleratorTile(rows, cols, 32, depth)
    state = {"rows": []}

    async def cmd_bench(ctx):
        for j in jobs:
            await stream_put(ctx, dut.cmd, job_word(j, depth))

    async def load_bench(ctx):
        for w in [w for j in jobs for w in beat_words(j, rows, cols)]:
            await stream_put(ctx, dut.load, w)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(cmd_bench, background=True)
    sim.add_testbench(load_bench, background=True)
    async def result_bench(ctx):
        await consumer(ctx, dut, state)

    sim.add_testbench(result_bench)
    sim.run()
    return state


def _check_rows(rows_got, jobs, rows, cols):
    out = codec(output_layout(rows, cols, 32))
    want = [gemm_exact(j["a"], j["b"], j["fa"], j["fb"])[r].tolist()
            for j in jobs for r in range(rows)]
    assert [list(out.unpack(p)["data"]) for p in rows_got] == want


def test_counters_clear_pulsed_mid_run_and_when_idle():
    """A mutant whose counters ignore counters_clear fails here (verif.mutants)."""
    rows, cols, depth = 2, 2, 4
    jobs = _one_beat_jobs(np.random.default_rng(21), rows, cols, 6)

    async def consumer(ctx, dut, state):
        ctx.set(dut.result.ready, 1)
        for _ in range(5):
            await ctx.tick()
        ctx.set(dut.counters_clear, 1)          # mid-run: work is in flight
        await ctx.tick()
        ctx.set(dut.counters_clear, 0)
        assert all(ctx.get(getattr(dut, n)) == 0 for n in COUNTERS), "not cleared mid-run"
        since = 0
        while len(state["rows"]) < rows * len(jobs):
            *_, valid, payload = await ctx.tick().sample(dut.result.valid,
                                                         dut.result.payload.as_value())
            since += 1
            if valid:
                state["rows"].append(payload)
            assert ctx.get(dut.cycles) == since    # counts from the clearing edge
        for _ in range(3 * (rows + cols)):
            await ctx.tick()
        assert ctx.get(dut.idle) and ctx.get(dut.jobs_done) >= 1
        ctx.set(dut.counters_clear, 1)          # when idle: everything back to 0
        await ctx.tick()
        ctx.set(dut.counters_clear, 0)
        assert [ctx.get(getattr(dut, n)) for n in COUNTERS] == [0] * len(COUNTERS)
        await ctx.tick()
        assert ctx.get(dut.cycles) == 1 and ctx.get(dut.busy_cycles) == 0

    state = _directed_tile(rows, cols, depth, jobs, consumer)
    _check_rows(state["rows"], jobs, rows, cols)


def test_result_ready_held_low_while_valid_then_released():
    """The consumer holds ready low for many cycles while a row is offered:
    the row stays (valid, same payload), nothing is lost or duplicated, and
    idle never rises while a job's beat has not entered the array."""
    rows, cols, depth = 3, 2, 4
    # Three one-beat jobs: with results stalled, the third job's beat ends up the
    # only thing in flight (in the sequencer's hand) -- idle must stay low.
    jobs = _one_beat_jobs(np.random.default_rng(22), rows, cols, 3)

    async def consumer(ctx, dut, state):
        ctx.set(dut.result.ready, 0)
        held = None
        taken = 0
        for _ in range(60):                     # stall: results pile up inside
            *_, valid, payload, c_valid, c_ready = await ctx.tick().sample(
                dut.result.valid, dut.result.payload.as_value(), dut.cmd.valid, dut.cmd.ready)
            taken += c_valid and c_ready        # commands taken at this edge
            if held is not None:
                assert valid and payload == held, "a held row changed or vanished"
            held = payload if valid else held
            # After the edge: idle means every taken job's beat entered the array.
            if ctx.get(dut.idle):
                assert ctx.get(dut.jobs_done) == taken, "idle with a job's beat in hand"
        assert held is not None, "no row was offered during the stall"
        ctx.set(dut.result.ready, 1)
        for _ in range(400):
            *_, valid, payload = await ctx.tick().sample(dut.result.valid,
                                                         dut.result.payload.as_value())
            if valid:
                state["rows"].append(payload)

    state = _directed_tile(rows, cols, depth, jobs, consumer)
    _check_rows(state["rows"], jobs, rows, cols)
