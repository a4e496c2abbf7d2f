"""hw.pe.ProcessingElement against the golden model (Amaranth simulator).

Exhaustive over every operand nibble pair for every format pair; random
clear/accumulate/bubble sequences; the sticky overflow flag exactly at the
accumulator boundary for narrow accumulators.
"""

import itertools

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.pe import ProcessingElement, ProductUnit
from model.formats import FORMATS, from_nibbles, int_value_table
from model.gemm import A_FORMATS, B_FORMATS, gemm_exact, overflow_mask

FORMAT_PAIRS = list(itertools.product(A_FORMATS, B_FORMATS))


def run_tb(dut, testbench, clocked=True):
    sim = Simulator(dut)
    if clocked:
        sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()


def wrap(value, width):
    """Two's-complement wrap of an exact integer into ``width`` bits."""
    value = int(value) & ((1 << width) - 1)
    return value - (1 << width) if value >> (width - 1) else value


def segment_expectation(a_nib, b_nib, fa, fb, width):
    """(acc, overflow) after accumulating the nibble sequences from a clear."""
    a = from_nibbles(np.asarray(a_nib, dtype=np.uint8)[None, :], fa)
    b = from_nibbles(np.asarray(b_nib, dtype=np.uint8)[:, None], fb)
    exact = int(gemm_exact(a, b, fa, fb)[0, 0])
    flag = bool(overflow_mask(a, b, fa, fb, width)[0, 0])
    return wrap(exact, width), flag


@pytest.mark.parametrize("width", [17, 65, 0, True, 32.0])
def test_bad_acc_width(width):
    with pytest.raises(ValueError):
        ProcessingElement(width)


def test_product_unit_exhaustive_with_reserved_format():
    """Every (a_fmt, b_fmt, a, b): the combinational product; a_fmt 3 gives 0."""
    dut = ProductUnit()
    tables = {name: int_value_table(name) for name in ("int4", "uint4", "fp4")}

    async def tb(ctx):
        for a_code, b_code in itertools.product(range(4), range(2)):
            a_name = {FORMATS[n].hw_code: n for n in A_FORMATS}.get(a_code)
            b_name = {FORMATS[n].hw_code: n for n in B_FORMATS}[b_code]
            ctx.set(dut.a_fmt, a_code)
            ctx.set(dut.b_fmt, b_code)
            for a, b in itertools.product(range(16), range(16)):
                ctx.set(dut.a, a)
                ctx.set(dut.b, b)
                want = 0 if a_name is None else tables[a_name][a] * tables[b_name][b]
                got = ctx.get(dut.product)
                assert got == want, (a_code, b_code, a, b, got, want)

    run_tb(dut, tb, clocked=False)


@pytest.mark.parametrize("fa,fb", FORMAT_PAIRS)
def test_pe_exhaustive_clear_and_accumulate(fa, fb):
    """All 256 operand pairs, each loaded by clear+valid, then added to a
    running sum (valid only) and compared with the model cycle by cycle."""
    width = 32
    dut = ProcessingElement(width)
    pairs = list(itertools.product(range(16), range(16)))

    async def tb(ctx):
        ctx.set(dut.a_fmt, FORMATS[fa].hw_code)
        ctx.set(dut.b_fmt, FORMATS[fb].hw_code)
        # 1) clear + valid loads exactly one product.
        ctx.set(dut.valid, 1)
        ctx.set(dut.clear, 1)
        for a, b in pairs:
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            await ctx.tick()
            want, _ = segment_expectation([a], [b], fa, fb, width)
            assert ctx.get(dut.acc) == want, (a, b)
            assert ctx.get(dut.overflow) == 0
        # 2) the same pairs accumulated into one sum (starts from the last load).
        ctx.set(dut.clear, 0)
        seq_a, seq_b = [pairs[-1][0]], [pairs[-1][1]]
        for a, b in pairs:
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            await ctx.tick()
            seq_a.append(a)
            seq_b.append(b)
        want, flag = segment_expectation(seq_a, seq_b, fa, fb, width)
        assert ctx.get(dut.acc) == want
        assert ctx.get(dut.overflow) == flag == 0

    run_tb(dut, tb)


@pytest.mark.parametrize("width", [18, 20, 32])
def test_pe_random_sequences(width):
    """Random valid/clear/operands/formats per segment (seeded); acc and the
    sticky flag after every cycle equal the model of the current segment."""
    rng = np.random.default_rng(width)
    dut = ProcessingElement(width)

    async def tb(ctx):
        seg_a, seg_b, fmt = [], [], FORMAT_PAIRS[0]
        flagged = 0
        ctx.set(dut.clear, 1)  # start from a defined empty sum
        await ctx.tick()
        for _ in range(600):
            clear = rng.random() < 0.05
            valid = rng.random() < 0.8
            if clear:
                fmt = FORMAT_PAIRS[rng.integers(len(FORMAT_PAIRS))]
                seg_a, seg_b = [], []
            fa, fb = fmt
            # Large FP4 exponents and B magnitudes reach narrow boundaries fast.
            a = int(rng.integers(16)) if fa != "fp4" else int(rng.choice([7, 7, 7, 6, 15, 0, 1]))
            b = int(rng.integers(16))
            ctx.set(dut.a_fmt, FORMATS[fa].hw_code)
            ctx.set(dut.b_fmt, FORMATS[fb].hw_code)
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            ctx.set(dut.valid, valid)
            ctx.set(dut.clear, clear)
            await ctx.tick()
            if valid:
                seg_a.append(a)
                seg_b.append(b)
            want = segment_expectation(seg_a or [0], seg_b or [0], fa, fb, width)
            assert (ctx.get(dut.acc), ctx.get(dut.overflow)) == want
            flagged += want[1]
        # The 18-bit run must actually overflow (20 and 32 bits: see the boundary test).
        assert (flagged > 0) == (width == 18)

    run_tb(dut, tb)


def _fp4_uint4_terms(target):
    """FP4 x UINT4 operand nibbles whose products sum to ``target`` (any sign)."""
    sign = 8 if target < 0 else 0
    rest = abs(target)
    terms = []
    for e in range(7, 0, -1):
        mag = 4 ** (e - 1)
        while rest >= mag:
            b = min(15, rest // mag)
            terms.append((sign | e, b))
            rest -= mag * b
    assert rest == 0
    return terms


@pytest.mark.parametrize("width", [18, 20])
@pytest.mark.parametrize("side", ["positive", "negative"])
def test_pe_overflow_exactly_at_boundary(width, side):
    """Reach the extreme representable sum exactly (no flag), then one unit
    further (flag set, acc wraps); the flag stays set when the sum comes back
    into range and drops only on clear.  Checked against overflow_mask."""
    dut = ProcessingElement(width)
    edge = (1 << (width - 1)) - 1 if side == "positive" else -(1 << (width - 1))
    step = 1 if side == "positive" else -1
    terms = _fp4_uint4_terms(edge)
    one_more = (8 if step < 0 else 0) | 1, 1      # +-1
    back = (8 if step > 0 else 0) | 2, 15           # -+60: back in range

    async def tb(ctx):
        ctx.set(dut.a_fmt, FORMATS["fp4"].hw_code)
        ctx.set(dut.b_fmt, FORMATS["uint4"].hw_code)
        ctx.set(dut.valid, 1)
        seq = []
        for i, (a, b) in enumerate(terms + [one_more, back]):
            ctx.set(dut.clear, i == 0)
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            await ctx.tick()
            seq.append((a, b))
            want = segment_expectation(*zip(*seq), "fp4", "uint4", width)
            assert (ctx.get(dut.acc), ctx.get(dut.overflow)) == want
            if i == len(terms) - 1:
                assert want == (edge, False)
            if i == len(terms):
                assert want == (wrap(edge + step, width), True)
        assert ctx.get(dut.overflow) == 1  # sticky after coming back into range
        # A bubble keeps everything; clear without valid empties the sum.
        ctx.set(dut.valid, 0)
        ctx.set(dut.clear, 0)
        held = ctx.get(dut.acc)
        await ctx.tick()
        assert (ctx.get(dut.acc), ctx.get(dut.overflow)) == (held, 1)
        ctx.set(dut.clear, 1)
        await ctx.tick()
        assert (ctx.get(dut.acc), ctx.get(dut.overflow)) == (0, 0)

    run_tb(dut, tb)


def test_pe_reset_value():
    dut = ProcessingElement(24)

    async def tb(ctx):
        assert (ctx.get(dut.acc), ctx.get(dut.overflow)) == (0, 0)

    run_tb(dut, tb)
