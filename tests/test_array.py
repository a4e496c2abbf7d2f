"""hw.array.SystolicArray against model.gemm (Amaranth simulator).

A producer testbench streams beats with random valid gaps, a consumer
testbench drains rows with random backpressure; every emitted row is checked
against ``gemm_exact`` (wrapped to ``acc_width``) and ``overflow_mask`` of the
beats since the latest ``first``, and every expected row must arrive exactly
once, in order.  Every streaming test runs with both PE latencies; the
array's external timing (latencies, stalls) is the same for both.
"""

import itertools
import math

import numpy as np
import pytest
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from hw.array import SystolicArray, input_layout, output_layout, row_bits
from hw.pe import ProcessingElement
from model.config import PE_LATENCIES
from model.formats import FORMATS, to_nibbles
from model.hw_vocab import side_formats
from model.gemm import gemm_exact, overflow_mask
from verif.kit.sim_stream import EdgeCount, random_pause, stream_get, stream_put

FORMAT_PAIRS = list(itertools.product(side_formats("a"), side_formats("b")))
CODE_RANGE = {"int4": (-8, 8, np.int8), "uint4": (0, 16, np.uint8), "fp4": (0, 16, np.uint8)}


def wrap(values, width):
    values = np.asarray(values, dtype=object)
    mask = (1 << width) - 1
    out = [(int(v) & mask) - ((int(v) & mask) >> (width - 1) << width) for v in values.ravel()]
    return np.array(out, dtype=np.int64).reshape(values.shape)


def random_codes(rng, fmt, shape):
    lo, hi, dtype = CODE_RANGE[fmt]
    return rng.integers(lo, hi, shape).astype(dtype)


class Job:
    """One GEMM segment list: beats of A (R x K) and B (K x C) codes, the
    indices where ``first``/``last`` are set, and the expected emissions."""

    def __init__(self, a, b, fa, fb, firsts, lasts, width):
        self.a, self.b, self.fa, self.fb = a, b, fa, fb
        self.firsts, self.lasts = set(firsts), set(lasts)
        self.beats = []
        a_nib = to_nibbles(a, fa)
        b_nib = to_nibbles(b, fb)
        start = 0
        self.expected = []  # list of (data R x C wrapped, overflow R x C)
        for k in range(a.shape[1]):
            if k in self.firsts:
                start = k
            self.beats.append({
                "a": sum(int(a_nib[r, k]) << (4 * r) for r in range(a.shape[0])),
                "b": sum(int(b_nib[k, c]) << (4 * c) for c in range(b.shape[1])),
                "a_fmt": FORMATS[fa].hw_code, "b_fmt": FORMATS[fb].hw_code,
                "first": int(k in self.firsts), "last": int(k in self.lasts),
            })
            if k in self.lasts:
                sa, sb = a[:, start:k + 1], b[start:k + 1]
                self.expected.append((wrap(gemm_exact(sa, sb, fa, fb), width),
                                      overflow_mask(sa, sb, fa, fb, width)))


def simple_job(rng, rows, cols, k, fa, fb, width):
    a = random_codes(rng, fa, (rows, k))
    b = random_codes(rng, fb, (k, cols))
    return Job(a, b, fa, fb, [0], [k - 1], width)


def run_array(rows, cols, width, jobs, rng, p_valid=1.0, p_ready=1.0, max_cycles=20000,
              latency=1, pe_class=None):
    """Stream ``jobs`` through the array; returns (rows received, cycle log)."""
    dut = SystolicArray(rows, cols, width, pe_latency=latency, pe_class=pe_class)
    assert dut.pe_latency == latency
    beats = [beat for job in jobs for beat in job.beats]
    expected = [(e, r) for job in jobs for e in job.expected for r in range(rows)]
    received = []
    log = {"accepted": [], "emitted": [], "cycles": 0}
    done = {"producer": False}

    async def producer(ctx):
        clock = EdgeCount()
        for beat in beats:
            await stream_put(ctx, dut.i, beat, pause=random_pause(rng, 1 - p_valid),
                             limit=max_cycles, clock=clock)
            log["accepted"].append(clock.edges - 1)
        done["producer"] = True

    async def consumer(ctx):
        clock = EdgeCount()
        while len(received) < len(expected):
            assert clock.edges < max_cycles, f"{len(received)} rows after {max_cycles} cycles"
            payload = await stream_get(ctx, dut.o, pause=random_pause(rng, 1 - p_ready),
                                       limit=max_cycles, clock=clock, what="output row")
            received.append({name: getattr(payload, name)
                             for name in ("data", "overflow", "row", "last")})
            log["emitted"].append(clock.edges - 1)
        # Nothing more may come out once everything expected has arrived.
        ctx.set(dut.o.ready, 1)
        for _ in range(rows + cols + 8):
            assert not ctx.get(dut.o.valid), "extra output row"
            await ctx.tick()
        log["cycles"] = clock.edges
        assert done["producer"]

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()

    assert len(received) == len(expected), f"{len(received)} rows, expected {len(expected)}"
    for n, (payload, ((data, ovf), r)) in enumerate(zip(received, expected)):
        assert payload["row"] == r, f"beat {n}: row {payload['row']}, expected {r}"
        assert payload["last"] == (r == rows - 1)
        word = payload["data"]
        got = [(word >> (width * c)) & ((1 << width) - 1) for c in range(cols)]
        got = [g - (1 << width) if g >> (width - 1) else g for g in got]
        assert got == list(data[r]), f"beat {n} (row {r}): {got} != {list(data[r])}"
        got_ovf = [(payload["overflow"] >> c) & 1 for c in range(cols)]
        assert got_ovf == [int(x) for x in ovf[r]], f"beat {n} (row {r}) overflow"
    return received, log


def test_layouts_match_the_fixed_interface():
    lay = input_layout(3, 5)
    assert [(n, f.width, f.offset) for n, f in lay] == [
        ("a", 12, 0), ("b", 20, 12), ("a_fmt", 2, 32), ("b_fmt", 1, 34),
        ("first", 1, 35), ("last", 1, 36)]
    out = output_layout(3, 5, 20)
    assert [(n, f.width, f.offset) for n, f in out] == [
        ("data", 100, 0), ("overflow", 5, 100), ("row", 2, 105), ("last", 1, 107)]
    for rows in (1, 2, 3, 4, 5, 8, 9, 16):
        assert row_bits(rows) == max(1, math.ceil(math.log2(rows)))


@pytest.mark.parametrize("rows,cols,width", [(0, 2, 32), (2, 0, 32), (2, 2, 17), (2, 2, 65)])
def test_bad_parameters(rows, cols, width):
    with pytest.raises(ValueError):
        SystolicArray(rows, cols, width)


@pytest.mark.parametrize("latency", PE_LATENCIES)
@pytest.mark.parametrize("rows,cols", [(1, 1), (2, 3), (3, 2), (4, 4)])
def test_all_format_pairs_with_stalls(rows, cols, latency):
    """Random GEMMs in every format pair, random valid gaps and backpressure."""
    rng = np.random.default_rng(rows * 10 + cols)
    width = 32
    jobs = [simple_job(rng, rows, cols, int(rng.integers(1, 9)), fa, fb, width)
            for fa, fb in FORMAT_PAIRS]
    run_array(rows, cols, width, jobs, rng, p_valid=0.7, p_ready=0.5, latency=latency)


def _extra(latency):
    """Cycles a PE deeper than 2 adds to the result latency (docs/hardware.md):
    row r's last column is final L cycles after its last beat reached it, and
    latencies 1 and 2 read that column with no extra cycle."""
    return max(0, latency - 2)


@pytest.mark.parametrize("latency", PE_LATENCIES)
@pytest.mark.parametrize("rows,cols", [(4, 3), (1, 2)])
def test_back_to_back_streams_without_stalls(rows, cols, latency):
    """K >= R + C + 1 (+1 at PE latency 3) back to back, always ready: one
    beat per cycle, no drop of i.ready, and the documented latencies."""
    width = 32
    rng = np.random.default_rng(7)
    k = rows + cols + 1 + _extra(latency)
    jobs = [simple_job(rng, rows, cols, k, fa, fb, width) for fa, fb in FORMAT_PAIRS[:4]]
    _, log = run_array(rows, cols, width, jobs, rng, latency=latency)
    accepted = log["accepted"]
    assert accepted == list(range(accepted[0], accepted[0] + len(accepted)))
    # Latency from the cycle a last beat is accepted to its rows' cycles.
    for g in range(len(jobs)):
        t_last = accepted[(g + 1) * k - 1]
        emitted = log["emitted"][g * rows:(g + 1) * rows]
        first = t_last + cols + 3 + _extra(latency)
        assert emitted == list(range(first, first + rows))


@pytest.mark.parametrize("latency", PE_LATENCIES)
def test_one_beat_shorter_gemms_stall_once_each(latency):
    """K = R + C: the next last beat waits exactly one cycle (the documented
    streaming bound is K >= R + C + 1, + 1 at PE latency 3)."""
    rows, cols, width = 3, 2, 32
    rng = np.random.default_rng(8)
    k = rows + cols + _extra(latency)
    jobs = [simple_job(rng, rows, cols, k, "uint4", "int4", width) for _ in range(3)]
    _, log = run_array(rows, cols, width, jobs, rng, latency=latency)
    gaps = list(np.diff(log["accepted"]))
    # The second GEMM's last beat waits in the input register for one cycle,
    # so the beat after it (the third GEMM's first) is taken one cycle late.
    assert gaps == [1] * (2 * k - 1) + [2] + [1] * (k - 1)


@pytest.mark.parametrize("latency", PE_LATENCIES)
def test_short_gemms_back_to_back_stall_input_only(latency):
    """K = 1 GEMMs (first and last on one beat): i.ready drops while results
    wait, but nothing is lost and every GEMM comes out."""
    rows, cols, width = 3, 4, 32
    rng = np.random.default_rng(11)
    jobs = [simple_job(rng, rows, cols, 1, fa, fb, width) for fa, fb in FORMAT_PAIRS]
    _, log = run_array(rows, cols, width, jobs, rng, latency=latency)
    # One GEMM per R + C + 1 (+1 at latency 3) cycles (the first beat after
    # reset is not held).
    period = rows + cols + 1 + _extra(latency)
    assert list(np.diff(log["accepted"])) == [1] + [period] * (len(jobs) - 2)
    run_array(rows, cols, width, jobs, np.random.default_rng(12), p_valid=0.8, p_ready=0.3,
              latency=latency)


@pytest.mark.parametrize("latency", PE_LATENCIES)
@pytest.mark.parametrize("seed", [1, 2])
def test_random_mixed_stream(seed, latency):
    """A long random stream on a non-square array: random K (1..12), random
    extra last/first points inside a GEMM, random formats, gaps, backpressure."""
    rows, cols, width = 3, 4, 24
    rng = np.random.default_rng(100 + seed)
    jobs = []
    for _ in range(8):
        k = int(rng.integers(1, 13))
        fa, fb = FORMAT_PAIRS[rng.integers(len(FORMAT_PAIRS))]
        inner = [int(x) for x in range(1, k) if rng.random() < 0.15]
        firsts = [0] + [x for x in inner if rng.random() < 0.5]
        lasts = [x - 1 for x in inner] + [k - 1]
        jobs.append(Job(random_codes(rng, fa, (rows, k)), random_codes(rng, fb, (k, cols)),
                        fa, fb, firsts, lasts, width))
    run_array(rows, cols, width, jobs, rng, p_valid=0.75, p_ready=0.6, latency=latency)


@pytest.mark.parametrize("latency", PE_LATENCIES)
def test_k_split_with_first_and_last(latency):
    """One long K in segments: last mid-way emits partial sums and does not
    clear; beats without first keep accumulating; a new first restarts."""
    rows, cols, width = 2, 3, 32
    rng = np.random.default_rng(3)
    k = 23
    a = random_codes(rng, "fp4", (rows, k))
    b = random_codes(rng, "int4", (k, cols))
    job1 = Job(a, b, "fp4", "int4", firsts=[0, 15], lasts=[4, 5, 14, 22], width=width)
    job2 = simple_job(rng, rows, cols, 6, "uint4", "uint4", width)
    run_array(rows, cols, width, [job1, job2], rng, p_valid=0.6, p_ready=0.6, latency=latency)


@pytest.mark.parametrize("latency", PE_LATENCIES)
def test_overflow_flags_per_output_with_narrow_accumulator(latency):
    """acc_width 18: FP4 x UINT4 sums that leave the range in some outputs
    only; flags and wrapped data per output equal the model."""
    rows, cols, width = 2, 2, 18
    rng = np.random.default_rng(5)
    k = 6
    a = np.array([[7, 7, 7, 1, 0, 0],        # 3 x 4096 x b: overflows for large b
                  [15, 7, 15, 7, 15, 7]],    # alternating signs: stays in range
                 dtype=np.uint8)
    b = np.array([[15, 1], [15, 2], [15, 1], [3, 1], [0, 0], [9, 9]], dtype=np.uint8)
    job = Job(a, b, "fp4", "uint4", [0], [k - 1], width)
    data, ovf = job.expected[0]
    assert ovf.any() and not ovf.all()
    jobs = [job, simple_job(rng, rows, cols, 3, "fp4", "uint4", width)]
    run_array(rows, cols, width, jobs, rng, p_valid=0.8, p_ready=0.7, latency=latency)


@pytest.mark.parametrize("latency", PE_LATENCIES)
@pytest.mark.parametrize("rows,cols", [(2, 3), (1, 1)])
def test_no_combinational_path_from_inputs_to_outputs(rows, cols, latency):
    """Within a cycle, changing any input (valid, payload, ready) never moves
    any output (i.ready, o.valid, o.payload): random traffic reaches every
    state (held last beats, pending results, backpressure)."""
    dut = SystolicArray(rows, cols, 20, pe_latency=latency)
    rng = np.random.default_rng(rows + cols)
    in_bits = input_layout(rows, cols).size

    def outputs(ctx):
        return (ctx.get(dut.i.ready), ctx.get(dut.o.valid),
                ctx.get(dut.o.payload.as_value()))

    def randomize(ctx):
        ctx.set(dut.i.valid, int(rng.integers(2)))
        ctx.set(dut.o.ready, int(rng.random() < 0.4))
        word = int(rng.integers(0, 1 << 62)) | (int(rng.integers(0, 1 << 62)) << 62)
        if rng.random() < 0.5:  # keep first/last frequent
            word |= int(rng.integers(4)) << (in_bits - 2)
        ctx.set(dut.i.payload.as_value(), word & ((1 << in_bits) - 1))

    async def tb(ctx):
        seen_not_ready = seen_valid = 0
        for _ in range(400):
            randomize(ctx)
            before = outputs(ctx)
            for _ in range(3):
                randomize(ctx)
                assert outputs(ctx) == before
            seen_not_ready += not before[0]
            seen_valid += before[1]
            await ctx.tick()
        assert seen_not_ready and seen_valid  # the interesting states were reached

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()


class _CountingPE(ProcessingElement):
    """A PE variant (here: the PE, counted) handed to the array as a parameter."""
    built = 0

    def __init__(self, *, config):
        type(self).built += 1
        super().__init__(config=config)


class _MislabelledPE(ProcessingElement):
    """Declares one latency more than it has: the array must refuse it."""

    def __init__(self, *, config):
        super().__init__(config=config)
        self.latency = config.pe_latency + 1


@pytest.mark.parametrize("latency", PE_LATENCIES)
def test_the_pe_is_a_parameter(latency):
    """The array builds its cells from the class it is given (R=3: a row count
    that is not a power of two) and computes the same GEMMs with it."""
    rows, cols, width = 3, 2, 20
    _CountingPE.built = 0
    dut = SystolicArray(rows, cols, width, pe_latency=latency, pe_class=_CountingPE)
    Fragment.get(dut, None)
    assert _CountingPE.built == rows * cols
    rng = np.random.default_rng(21)
    jobs = [simple_job(rng, rows, cols, 5, fa, fb, width) for fa, fb in FORMAT_PAIRS]
    run_array(rows, cols, width, jobs, rng, p_valid=0.8, p_ready=0.5, latency=latency,
              pe_class=_CountingPE)


def test_a_pe_declaring_another_latency_is_refused():
    with pytest.raises(ValueError, match="declares latency 2"):
        Fragment.get(SystolicArray(2, 2, 20, pe_latency=1, pe_class=_MislabelledPE), None)


@pytest.mark.parametrize("latency", [0, 4])
def test_bad_pe_latency(latency):
    with pytest.raises(ValueError, match="latency"):
        SystolicArray(2, 2, 20, pe_latency=latency)


# ---- issue 17: reset mid-run with results pending --------------------------------

@pytest.mark.parametrize("stall_after_reset", [False, True])
def test_reset_with_results_pending_then_next_gemm_is_exact(stall_after_reset):
    """Reset while one GEMM's rows wait behind a stalled consumer and the next
    GEMM's last beat is held: nothing may come out afterwards, and a fresh
    GEMM must stream through (a ``results_pending`` that survived reset would
    hold its last beat forever).  ``stall_after_reset``: the consumer stays
    stalled after the reset until the fresh GEMM's rows are all readable, so
    a replicated copy of the drain's pointer state that survived the reset
    would load a stale row it cannot give back (with the consumer ready it
    would catch up unseen; docs/timing.md, per-column drain state)."""
    from amaranth.hdl import ClockDomain, Module
    rows, cols, width = 3, 2, 18
    rng = np.random.default_rng(17)
    before = [simple_job(rng, rows, cols, 1, "int4", "int4", width) for _ in range(2)]
    after = simple_job(rng, rows, cols, 4, "fp4", "uint4", width)
    dut = SystolicArray(rows, cols, width)
    top = Module()
    top.domains.sync = cd = ClockDomain()
    top.submodules.dut = dut
    got = []

    async def send(ctx, beats):
        for beat in beats:
            await stream_put(ctx, dut.i, beat)

    async def consume(ctx, n):
        for _ in range(n):
            await stream_get(ctx, dut.o)

    async def bench(ctx):
        ctx.set(dut.o.ready, 0)
        await send(ctx, before[0].beats)
        # Take all but the first GEMM's last row: that row moves into the output
        # register and stays there, so the second GEMM issues and all of its
        # rows (row 0 included) wait, readable, behind it.
        await consume(ctx, rows - 1)
        await send(ctx, before[1].beats)
        for _ in range(rows + cols + 6):
            await ctx.tick()
        assert ctx.get(dut.o.valid) and ctx.get(dut.o.payload.row) == rows - 1
        ctx.set(cd.rst, 1)
        await ctx.tick()
        ctx.set(cd.rst, 0)
        ctx.set(dut.o.ready, int(not stall_after_reset))
        for _ in range(rows + cols + 6):             # nothing pending survives
            *_, valid = await ctx.tick().sample(dut.o.valid)
            assert not valid, "a row from before the reset came out"
        await send(ctx, after.beats)
        if stall_after_reset:
            for _ in range(2 * (rows + cols) + 8):   # every row readable, row 0 held
                await ctx.tick()
            ctx.set(dut.o.ready, 1)
        for _ in range(4 * (rows + cols) + 20):
            *_, valid, data = await ctx.tick().sample(dut.o.valid, dut.o.payload.data)
            if valid:
                got.append(data)
        assert len(got) == rows, f"{len(got)} rows after reset, expected {rows}"

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    (data, _), = after.expected
    for r, word in enumerate(got):
        vals = [(word >> (width * c)) & ((1 << width) - 1) for c in range(cols)]
        vals = [v - (1 << width) if v >> (width - 1) else v for v in vals]
        assert vals == list(data[r])
