"""The MXFP4 / NVFP4 dot-product PEs (hw.block_dot_pe) in Amaranth simulation
against the beat-level reference of model.block_hw (issue 25 item 3)."""

import numpy as np
import pytest
from amaranth.hdl import signed
from amaranth.sim import Simulator

from hw.block_dot_pe import Mxfp4DotPE, Nvfp4DotPE
from model.block_hw import BLOCK_ACC_WIDTH, accumulate, beat_term, hw_format, lane_sum

CLASSES = {"mxfp4": Mxfp4DotPE, "nvfp4": Nvfp4DotPE}


def run_beats(dut, beats, gaps=None):
    """Drive ``beats`` (``(a codes, b codes, a field, b field, clear)``), with
    ``gaps[j]`` idle cycles before beat j; ``(acc, overflow)`` after each beat,
    read ``latency`` cycles after its operands."""
    gaps = gaps or [0] * len(beats)
    schedule = []
    for gap, beat in zip(gaps, beats):
        schedule += [None] * gap + [beat]
    schedule += [None] * dut.latency
    got = []

    async def bench(ctx):
        issued = []
        for t, beat in enumerate(schedule):
            if beat is not None:
                a, b, fa, fb, clear = beat
                ctx.set(dut.a, [int(x) for x in a])
                ctx.set(dut.b, [int(x) for x in b])
                ctx.set(dut.a_scale, int(fa))
                ctx.set(dut.b_scale, int(fb))
                issued.append(t)
            ctx.set(dut.valid, beat is not None)
            ctx.set(dut.clear, beat is not None and bool(beat[4]))
            await ctx.tick()
            if len(got) < len(issued) and issued[len(got)] + dut.latency - 1 == t:
                got.append((ctx.get(dut.acc), bool(ctx.get(dut.overflow))))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got


def reference(beats, fmt, acc_width=BLOCK_ACC_WIDTH):
    terms = [beat_term(lane_sum(a, b), fa, fb, fmt) for a, b, fa, fb, _ in beats]
    return accumulate(terms, [c for *_, c in beats], acc_width)


def _fields(hwf, rng, n):
    """Random valid scale fields (d in 0..R, any m)."""
    m = rng.integers(0, 1 << hwf.m_bits, n) if hwf.m_bits else np.ones(n, np.int64)
    return hwf.pack_scale(m, rng.integers(0, hwf.window + 1, n))


@pytest.mark.parametrize("fmt", CLASSES)
def test_every_code_pair_at_one_lane(fmt):
    """k = 1: all 16 x 16 E2M1 code pairs, each under four scale pairs
    (the largest and smallest factor, the deepest and the zero shift)."""
    hwf = hw_format(fmt)
    m_top = (1 << hwf.m_bits) - 1 if hwf.m_bits else 1
    scale_pairs = [(hwf.pack_scale(m_top, 0), hwf.pack_scale(m_top, 0)),
                   (hwf.pack_scale(1, hwf.window), hwf.pack_scale(1, hwf.window)),
                   (hwf.pack_scale(m_top, 3), hwf.pack_scale(1, hwf.window)),
                   (hwf.pack_scale(m_top // 2, hwf.window), hwf.pack_scale(m_top, 1))]
    beats = [([ca], [cb], fa, fb, True) for fa, fb in scale_pairs
             for ca in range(16) for cb in range(16)]
    dut = CLASSES[fmt](lanes=1)
    got = run_beats(dut, beats)
    assert got == reference(beats, fmt)
    # Independently of the reference: every product of the E2M1 grid appears.
    values = {0, 1, 2, 3, 4, 6, 8, 12}
    assert {abs(acc) >> (2 * hwf.window) for acc, _ in got[:256]} == \
        {x * y * m_top * m_top for x in values for y in values}


@pytest.mark.parametrize("lanes", [2, 8])
@pytest.mark.parametrize("fmt", CLASSES)
def test_random_beats_with_gaps(fmt, lanes):
    hwf = hw_format(fmt)
    rng = np.random.default_rng(lanes * 31 + len(fmt))
    n = 150
    fa, fb = _fields(hwf, rng, n), _fields(hwf, rng, n)
    beats = [(rng.integers(0, 16, lanes), rng.integers(0, 16, lanes), fa[t], fb[t],
              t == 0 or rng.random() < 0.1) for t in range(n)]
    # Directed: an all-zero block (codes 0, d = R), the largest factor at shift 2R.
    m_top = (1 << hwf.m_bits) - 1 if hwf.m_bits else 1
    beats[5] = ([0] * lanes, [7] * lanes, hwf.pack_scale(m_top, hwf.window), fb[5], False)
    beats[6] = ([7] * lanes, [0xF] * lanes, hwf.pack_scale(m_top, 0), hwf.pack_scale(m_top, 0),
                False)
    gaps = [int(g) for g in rng.integers(0, 3, n) * (rng.random(n) < 0.3)]
    got = run_beats(CLASSES[fmt](lanes=lanes), beats, gaps)
    assert got == reference(beats, fmt)


def _narrow(cls, width):
    """The same generator with a ``width``-bit accumulator, so that the
    overflow boundary is reachable in a few beats (the 64-bit one needs 2^17)."""
    return type(f"Narrow{cls.__name__}", (cls,), {"acc_bits": width, "acc_shape": signed(width)})


@pytest.mark.parametrize("fmt", CLASSES)
def test_overflow_flag_at_the_exact_boundary(fmt):
    """Terms 2^0 .. 2^(W-2) sum to exactly 2^(W-1) - 1 (not flagged), one more
    flags; likewise down to exactly -2^(W-1) and one below."""
    hwf = hw_format(fmt)
    width = 24
    R = hwf.window

    def power(i, negative=False):   # S = +-1, F = 1, shift i = 2R - da - db
        da = min(R, 2 * R - i)
        return ([1], [9 if negative else 1], hwf.pack_scale(1, da),
                hwf.pack_scale(1, 2 * R - i - da))

    up = [(*power(i), i == 0) for i in range(width - 1)]
    down = [(*power(i, True), i == 0) for i in range(width - 1)] + [(*power(0, True), False)]
    beats = up + [(*power(0), False)] + down + [(*power(0, True), False)]
    got = run_beats(_narrow(CLASSES[fmt], width)(lanes=1), beats)
    want = reference(beats, fmt, width)
    assert got == want
    top = (1 << (width - 1)) - 1
    assert want[width - 2] == (top, False) and want[width - 1][1] is True
    assert want[2 * width - 1] == (-(1 << (width - 1)), False) and want[-1][1] is True
