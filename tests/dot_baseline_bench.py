"""Amaranth-simulator bench of the k-lane baseline PEs against model/dot_baselines.py.

``run_jobs(pe, jobs)`` streams dot products through a PE: each job is a list
of beats (``lanes`` A and B codes each), the first with ``clear``; random
bubbles between beats, jobs back to back.  It returns, per job, ``(acc,
overflow)`` read ``latency`` cycles after the job's last beat (the array's
capture time), and the same values after a further idle cycle when the next
job has not started (the PE must hold them).  ``expected(kind, jobs, lanes)``
is the golden model's answer.
"""

import numpy as np
from amaranth.sim import Simulator

from model.dot_baselines import fp_dot, int8_dot

__all__ = ["run_jobs", "expected", "random_jobs", "to_signed"]


def to_signed(v, bits):
    return v - (1 << bits) if v >> (bits - 1) else v


def run_jobs(pe, jobs, *, bubble_rate=0.3, seed=0):
    rng = np.random.default_rng(seed)
    L, k = pe.latency, pe.lanes
    schedule = []    # per cycle: (a, b, valid, clear) or None for a bubble
    first_cycle, last_cycle = [], []
    for job in jobs:
        for i, (a, b) in enumerate(job):
            while rng.random() < bubble_rate:
                schedule.append(None)
            if i == 0:
                first_cycle.append(len(schedule))
            schedule.append((a, b, 1, int(i == 0)))
        last_cycle.append(len(schedule) - 1)
    # A job's result must still be there one cycle later when the next job's
    # first beat came at least one cycle after its last one.
    held = {j for j in range(len(jobs))
            if j + 1 == len(jobs) or first_cycle[j + 1] > last_cycle[j] + 1}
    read_at = {t + L - 1: j for j, t in enumerate(last_cycle)}
    total = len(schedule) + L + 1
    out = {}

    async def bench(ctx):
        for t in range(total):
            beat = schedule[t] if t < len(schedule) else None
            if beat is None:
                ctx.set(pe.valid, 0)
                ctx.set(pe.clear, 0)
            else:
                a, b, v, c = beat
                for i in range(k):
                    ctx.set(pe.a[i], int(a[i]))
                    ctx.set(pe.b[i], int(b[i]))
                ctx.set(pe.valid, v)
                ctx.set(pe.clear, c)
            await ctx.tick()
            if t in read_at:
                out[read_at[t]] = (ctx.get(pe.acc), ctx.get(pe.overflow))
            if t - 1 in read_at and read_at[t - 1] in held:
                j = read_at[t - 1]
                assert (ctx.get(pe.acc), ctx.get(pe.overflow)) == out[j], f"job {j} not held"

    sim = Simulator(pe)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return [out[j] for j in range(len(jobs))]


def expected(kind, jobs, lanes):
    res = []
    for job in jobs:
        a = np.concatenate([np.asarray(x, dtype=np.int64) for x, _ in job])
        b = np.concatenate([np.asarray(y, dtype=np.int64) for _, y in job])
        if kind == "int8":
            acc, ovf = int8_dot(np.array([to_signed(int(x), 8) for x in a]),
                                np.array([to_signed(int(y), 8) for y in b]), lanes)
            res.append((acc, int(ovf)))
        else:
            bits, ovf = fp_dot(a, b, kind, lanes)
            res.append((bits, int(ovf)))
    return res


def random_jobs(rng, lanes, bits, n_jobs, max_groups, *, draw=None):
    """Random jobs of 1..max_groups beats; ``draw(rng, shape)`` gives codes."""
    draw = draw or (lambda r, shape: r.integers(0, 1 << bits, shape))
    jobs = []
    for _ in range(n_jobs):
        g = int(rng.integers(1, max_groups + 1))
        jobs.append([(draw(rng, lanes), draw(rng, lanes)) for _ in range(g)])
    return jobs
