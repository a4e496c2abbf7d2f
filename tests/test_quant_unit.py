"""hw.quant_unit.QuantUnit against model.requant (Amaranth simulator), with one
datapath lane per column and time-shared (2 lanes, 1 lane).

A config/input producer and an output consumer run with random valid gaps
and ready stalls; every emitted beat is compared with ``run_job`` of the
model, in order, exactly once.  Also: throughput and latency unstalled,
``i.ready`` independent of ``i.valid``, rejected configurations, and the
per-lane generator against the model's xorshift sequence.
"""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.quant_unit import QuantUnit, config_layout, input_layout, output_layout
from model import requant as rq
from verif.benches import quant_unit_stim as stim
from verif.kit.sim_stream import EdgeCount, random_pause, stream_get, stream_put


def run_unit(cols, width, jobs, rng, p_valid=1.0, p_ready=1.0, bad_cfgs=(), max_cycles=None,
             lanes=None, dut=None):
    """Stream jobs through the unit; ``bad_cfgs``: {job index: mode code} sends a
    rejected config (mode 3 or mantissa 0) before that job.

    Every wait is bounded, so a unit that stops taking or giving beats fails
    with what was waited for instead of hanging the simulation: one handshake
    may wait ``stall_limit`` cycles, the whole run ``max_cycles`` (default: a
    budget from the number of beats and the cycles a row takes)."""
    dut = dut or QuantUnit(cols, width, lanes)
    cfg_words = [stim.config_word(j.cfg, cols) for j in jobs]
    in_words = [list(stim.input_words(j, width)) for j in jobs]
    expected = [b for j in jobs for b in stim.expected_beats(j)]
    received, log = [], {"accepted": [], "emitted": [], "cfg_error": []}
    slices = cols // dut.lanes                     # cycles a row takes in the datapath
    stall_limit = 100 * (slices + 2)
    if max_cycles is None:
        beats = sum(map(len, in_words)) + len(expected) + 2 * len(jobs) + len(bad_cfgs)
        max_cycles = 1000 + 20 * (slices + 1) * beats

    async def producer(ctx):
        clock = EdgeCount()

        async def offer(stream, word, what, gaps=True):
            """Put one beat (bounded waits); the cycle it moved in."""
            await stream_put(ctx, stream, word, pause=random_pause(rng, 1 - p_valid) if gaps
                             else None, limit=stall_limit, clock=clock, what=what)
            assert clock.edges < max_cycles, (
                f"{what} taken at cycle {clock.edges - 1}, past the run's cycle budget "
                f"{max_cycles}; {len(received)} of {len(expected)} output beats so far")
            return clock.edges - 1

        for n, job in enumerate(jobs):
            if n in bad_cfgs:
                why = "mode 3" if bad_cfgs[n] == 3 else f"mantissa 0, mode code {bad_cfgs[n]}"
                bad = stim.config_word(job.cfg, cols, mode_code=bad_cfgs[n])
                if bad_cfgs[n] != 3:     # mantissa 0 in a legal mode
                    bad &= ~(((1 << rq.MANT_BITS) - 1) << config_layout(cols)["mantissa"].offset)
                await offer(dut.cfg, bad, f"rejected config ({why}) before job {n}")
                log["cfg_error"].append(ctx.get(dut.cfg_error))
                assert log["cfg_error"][-1] == 1, \
                    f"cfg_error not set by the rejected config ({why}) before job {n}"
            await offer(dut.cfg, cfg_words[n], f"config of job {n}")
            for b, word in enumerate(in_words[n]):
                # i.ready is a function of state: it may not follow i.valid
                ctx.set(dut.i.valid, 0)
                r0 = ctx.get(dut.i.ready)
                ctx.set(dut.i.valid, 1)
                assert ctx.get(dut.i.ready) == r0
                log["accepted"].append(await offer(dut.i, word, f"input beat {b} of job {n}"))

    async def consumer(ctx):
        clock = EdgeCount()
        while len(received) < len(expected):
            word = await stream_get(ctx, dut.o, pause=random_pause(rng, 1 - p_ready),
                                    limit=max_cycles, clock=clock, raw=True,
                                    what=f"output beat {len(received)} of {len(expected)}")
            assert clock.edges < max_cycles, (f"{len(received)} of {len(expected)} output "
                                              f"beats after {max_cycles} cycles (the run's "
                                              f"cycle budget)")
            received.append(stim.output_dict(word, cols, width))
            log["emitted"].append(clock.edges - 1)
        ctx.set(dut.o.ready, 1)
        for _ in range(12):
            assert not ctx.get(dut.o.valid), "extra output beat"
            await ctx.tick()
        log["cfg_error_end"] = ctx.get(dut.cfg_error)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    assert len(received) == len(expected), f"{len(received)} beats, expected {len(expected)}"
    for n, (got, want) in enumerate(zip(received, expected)):
        assert got == want, f"beat {n}:\n got  {got}\n want {want}"
    return log


def test_layouts():
    assert config_layout(2).size == 2 + 3 + 16 + 6 + 8 + 32 + 64
    assert input_layout(3, 20).size == 3 * 20 + 3 + 3 + 1
    # data/overflow sit where the array's output rows have them
    assert input_layout(3, 20)["data"].offset == 0 and input_layout(3, 20)["overflow"].offset == 60
    assert output_layout(3, 20).size == 12 + 12 + 3 + 1 + 20 + 1


# lanes: one per column (None), time-shared by 2 and fully serial (1)
@pytest.mark.parametrize("cols,width,lanes", [(1, 18, None), (3, 32, None), (4, 64, None),
                                              (4, 32, 2), (4, 32, 1), (6, 24, 2), (6, 24, 1)])
def test_random_jobs_with_stalls(cols, width, lanes):
    rng = np.random.default_rng(cols * 100 + width + 7 * (lanes or 0))
    jobs = stim.random_jobs(rng, 14, cols, width)
    run_unit(cols, width, jobs, rng, p_valid=0.7, p_ready=0.6, lanes=lanes)


@pytest.mark.parametrize("cols,lanes", [(2, None), (4, 2), (3, 1)])
def test_unstalled_throughput_and_latency(cols, lanes):
    width = 32
    slices = cols // (lanes or cols)
    rng = np.random.default_rng(5)
    jobs = [stim.make_job(rng, k, cols, width, beats=12)
            for k in ("fwd-uint4", "bwd-stochastic", "bwd-nearest")]
    log = run_unit(cols, width, jobs, rng, lanes=lanes)
    acc = log["accepted"]
    for j in range(3):   # within a job: one row per cols/lanes cycles
        seg = acc[12 * j:12 * (j + 1)]
        assert seg == list(range(seg[0], seg[0] + 12 * slices, slices))
    # latency: a beat accepted in cycle t leaves in cycle t + 3 + cols/lanes
    assert [e - a for a, e in zip(acc, log["emitted"])] == [3 + slices] * len(acc)


def test_rejected_configs_set_the_error_and_lose_nothing():
    cols, width = 2, 24
    rng = np.random.default_rng(9)
    jobs = [stim.make_job(rng, k, cols, width) for k in ("fwd-uint4", "bwd-nearest", "fwd-int4")]
    # Mantissa 0 first: cfg_error is sticky, so it must be the one that sets it.
    log = run_unit(cols, width, jobs, rng, p_valid=0.8, p_ready=0.8, bad_cfgs={1: 0, 2: 3})
    assert log["cfg_error"] == [1, 1] and log["cfg_error_end"] == 1


@pytest.mark.parametrize("cols,lanes", [(3, None), (4, 2), (3, 1)])
def test_prng_lanes_follow_the_model(cols, lanes):
    """Stochastic rounding of values at the middle of every level pair exposes the
    random words: the codes of a long job match the model's xorshift streams, one
    per column whichever datapath lane serves the column."""
    width = 32
    rng = np.random.default_rng(11)
    beats = 40
    acc = np.full((beats, cols), 7 * 4 ** 3, dtype=object)   # between levels: both phases random
    job = stim.Job("bwd-stochastic", rq.JobConfig("fp4", 1, 0, 14, "stochastic", seed=0),
                   acc, np.ones((beats, cols), bool), np.zeros((beats, cols), bool))
    res = rq.run_job(job.cfg, job.acc, job.mask)
    assert 0 < (res.code0 == res.code0.max()).mean() < 1     # really random
    run_unit(cols, width, [job], rng, p_ready=0.5, lanes=lanes)


def test_bad_parameters():
    for cols, width in ((0, 32), (2, 17), (2, 65)):
        with pytest.raises(ValueError):
            QuantUnit(cols, width)
    for lanes in (0, 3, 5, True, 2.0):     # must divide cols = 4
        with pytest.raises(ValueError, match="lanes"):
            QuantUnit(4, 32, lanes)
    assert QuantUnit(4, 32).lanes == 4 and QuantUnit(4, 32, 2).lanes == 2
