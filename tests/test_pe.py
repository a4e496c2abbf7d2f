"""hw.pe.ProcessingElement against the golden model (Amaranth simulator).

Exhaustive over every operand nibble pair for every format pair of the table;
random clear/accumulate/bubble sequences; the sticky overflow flag exactly at
the accumulator boundary for narrow accumulators -- each for both PE latencies
(acc compared ``latency`` cycles after the inputs that produced it).
"""

import itertools

import numpy as np
import pytest
from amaranth.sim import Simulator

from model.config import DEFAULT_PE_LATENCY, PE_LATENCIES
from hw.pe import ProcessingElement
from hw.product import ProductUnit
from model.formats import FORMATS, from_nibbles, int_value_table
from model.hw_vocab import select_width, side_formats
from model.gemm import gemm_exact, overflow_mask

FORMAT_PAIRS = list(itertools.product(side_formats("a"), side_formats("b")))


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


async def drive(ctx, dut, cycles):
    """Apply one dict of PE inputs per cycle; return (acc, overflow) as it
    stands ``dut.latency`` cycles after each input cycle (i.e. the state that
    input produced), flushing the pipeline with idle cycles at the end."""
    idle = {"valid": 0, "clear": 0}
    seen = []
    for inputs in list(cycles) + [idle] * (dut.latency - 1):
        for name, value in inputs.items():
            # a and b are the PE's operand lanes (one lane: a list of one code).
            ctx.set(getattr(dut, name), [value] if name in ("a", "b") else value)
        await ctx.tick()
        seen.append((ctx.get(dut.acc), ctx.get(dut.overflow)))
    return seen[dut.latency - 1:]


def model_states(cycles, width, state=(0, False)):
    """The golden model's (acc, overflow) after each input cycle of ``cycles``
    (dicts with a, b, a_fmt/b_fmt names as fa/fb, valid, clear)."""
    seg_a, seg_b = [], []
    states = []
    for c in cycles:
        if c["clear"]:
            seg_a, seg_b = [], []
            state = (0, False)
        if c["valid"]:
            seg_a.append(c["a"])
            seg_b.append(c["b"])
            state = segment_expectation(seg_a, seg_b, c["fa"], c["fb"], width)
        states.append(state)
    return states


def as_inputs(c):
    return {"a": c["a"], "b": c["b"], "a_fmt": FORMATS[c["fa"]].hw_code,
            "b_fmt": FORMATS[c["fb"]].hw_code, "valid": c["valid"], "clear": c["clear"]}


@pytest.mark.parametrize("width", [17, 65, 0, True, 32.0])
def test_bad_acc_width(width):
    with pytest.raises(ValueError):
        ProcessingElement(width)


@pytest.mark.parametrize("latency", [0, 4, True, 1.5])
def test_bad_latency(latency):
    with pytest.raises(ValueError):
        ProcessingElement(32, latency=latency)


def test_widths_come_from_the_table():
    pe = ProcessingElement(18)
    assert pe.latency == DEFAULT_PE_LATENCY == 3
    assert ProcessingElement(18, latency=1).latency == 1
    assert len(pe.a_fmt) == select_width("a") == 2
    assert len(pe.b_fmt) == select_width("b") == 1
    # 4096 * 15 = 61440 < 2^16: 17 signed bits hold every product.
    assert len(ProductUnit().product) == 17


def test_product_unit_exhaustive_with_reserved_codes():
    """Every select-code pair and lane pair: the combinational product equals
    the golden model's; codes no format uses give 0."""
    dut = ProductUnit()
    by_code = {side: {FORMATS[n].hw_code: n for n in side_formats(side)} for side in "ab"}

    async def tb(ctx):
        for a_code, b_code in itertools.product(range(1 << len(dut.a_fmt)),
                                                range(1 << len(dut.b_fmt))):
            fa, fb = by_code["a"].get(a_code), by_code["b"].get(b_code)
            ta = int_value_table(fa) if fa else None
            tb_ = int_value_table(fb) if fb else None
            ctx.set(dut.a_fmt, a_code)
            ctx.set(dut.b_fmt, b_code)
            for a, b in itertools.product(range(16), range(16)):
                ctx.set(dut.a, [a])     # one lane
                ctx.set(dut.b, [b])
                want = 0 if ta is None or tb_ is None else int(ta[a] * tb_[b])
                got = ctx.get(dut.product)
                assert got == want, (a_code, b_code, a, b, got, want)

    run_tb(dut, tb, clocked=False)


@pytest.mark.parametrize("latency", PE_LATENCIES)
@pytest.mark.parametrize("fa,fb", FORMAT_PAIRS)
def test_pe_exhaustive_clear_and_accumulate(fa, fb, latency):
    """All 256 operand pairs, each loaded by clear+valid, then added to a
    running sum (valid only) and compared with the model cycle by cycle."""
    width = 32
    dut = ProcessingElement(width, latency)
    pairs = list(itertools.product(range(16), range(16)))
    cycles = [dict(a=a, b=b, fa=fa, fb=fb, valid=1, clear=1) for a, b in pairs]
    cycles += [dict(a=a, b=b, fa=fa, fb=fb, valid=1, clear=0) for a, b in pairs]
    want = model_states(cycles, width)
    # Each load is one product; the sum grows over the second half.
    assert want[255] == (int(int_value_table(fa)[15] * int_value_table(fb)[15]), False)

    async def tb(ctx):
        assert await drive(ctx, dut, map(as_inputs, cycles)) == want

    run_tb(dut, tb)


@pytest.mark.parametrize("latency", PE_LATENCIES)
def test_pe_latency_is_what_it_declares(latency):
    """A lone product shows on acc exactly ``latency`` cycles after its inputs."""
    dut = ProcessingElement(20, latency)

    async def tb(ctx):
        ctx.set(dut.a_fmt, FORMATS["int4"].hw_code)
        ctx.set(dut.b_fmt, FORMATS["int4"].hw_code)
        ctx.set(dut.a, [3])
        ctx.set(dut.b, [5])
        ctx.set(dut.valid, 1)
        ctx.set(dut.clear, 1)
        await ctx.tick()
        ctx.set(dut.valid, 0)
        ctx.set(dut.clear, 0)
        seen = [ctx.get(dut.acc)]
        for _ in range(3):
            await ctx.tick()
            seen.append(ctx.get(dut.acc))
        assert seen == [0] * (latency - 1) + [15] * (5 - latency)

    run_tb(dut, tb)


@pytest.mark.parametrize("latency", PE_LATENCIES)
@pytest.mark.parametrize("width", [18, 20, 32])
def test_pe_random_sequences(width, latency):
    """Random valid/clear/operands/formats per segment (seeded); acc and the
    sticky flag after every cycle equal the model of the current segment."""
    rng = np.random.default_rng(width)
    dut = ProcessingElement(width, latency)
    fa, fb = FORMAT_PAIRS[0]
    cycles = [dict(a=0, b=0, fa=fa, fb=fb, valid=0, clear=1)]  # a defined empty sum
    for _ in range(600):
        clear = rng.random() < 0.05
        if clear:
            fa, fb = FORMAT_PAIRS[rng.integers(len(FORMAT_PAIRS))]
        # Large FP4 exponents and B magnitudes reach narrow boundaries fast.
        a = int(rng.integers(16)) if fa != "fp4" else int(rng.choice([7, 7, 7, 6, 15, 0, 1]))
        cycles.append(dict(a=a, b=int(rng.integers(16)), fa=fa, fb=fb,
                           valid=int(rng.random() < 0.8), clear=int(clear)))
    want = model_states(cycles, width)
    # The 18-bit run must actually overflow (20 and 32 bits: see the boundary test).
    assert any(flag for _, flag in want) == (width == 18)

    async def tb(ctx):
        assert await drive(ctx, dut, map(as_inputs, cycles)) == want

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


@pytest.mark.parametrize("latency", PE_LATENCIES)
@pytest.mark.parametrize("width", [18, 20])
@pytest.mark.parametrize("side", ["positive", "negative"])
def test_pe_overflow_exactly_at_boundary(width, side, latency):
    """Reach the extreme representable sum exactly (no flag), then one unit
    further (flag set, acc wraps); the flag stays set when the sum comes back
    into range, a bubble holds it, and only clear drops it.  Checked against
    overflow_mask."""
    dut = ProcessingElement(width, latency)
    edge = (1 << (width - 1)) - 1 if side == "positive" else -(1 << (width - 1))
    step = 1 if side == "positive" else -1
    terms = _fp4_uint4_terms(edge)
    one_more = (8 if step < 0 else 0) | 1, 1      # +-1
    back = (8 if step > 0 else 0) | 2, 15           # -+60: back in range
    cycles = [dict(a=a, b=b, fa="fp4", fb="uint4", valid=1, clear=int(i == 0))
              for i, (a, b) in enumerate(terms + [one_more, back])]
    cycles += [dict(a=0, b=0, fa="fp4", fb="uint4", valid=0, clear=0),   # bubble
               dict(a=0, b=0, fa="fp4", fb="uint4", valid=0, clear=1)]   # clear only
    want = model_states(cycles, width)
    n = len(terms)
    assert want[n - 1] == (edge, False)
    assert want[n] == (wrap(edge + step, width), True)
    assert want[n + 1][1] and want[n + 2] == want[n + 1] and want[n + 3] == (0, False)

    async def tb(ctx):
        assert await drive(ctx, dut, map(as_inputs, cycles)) == want

    run_tb(dut, tb)


@pytest.mark.parametrize("latency", PE_LATENCIES)
def test_pe_reset_value(latency):
    dut = ProcessingElement(24, latency)

    async def tb(ctx):
        assert (ctx.get(dut.acc), ctx.get(dut.overflow)) == (0, 0)

    run_tb(dut, tb)
