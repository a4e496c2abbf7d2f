"""A format added to the table inside a test needs no other edit.

Two throwaway rows are added to ``model.formats.FORMATS`` for the duration
of each test only:

* ``int3``: 3-bit two's complement, both sides, select code 3 (the B select
  field grows to 2 bits; the code sits in the low 3 bits of a 4-bit lane);
* ``lg8``: radix-8 [1,3,0] logarithmic format on A, select code 4 (the A
  select field grows to 3 bits, products to 23 bits).

Then the golden GEMM, the PE (Amaranth simulation, exhaustive over every code
pair, both latencies) and the array (a small GEMM per new format pair) run it,
checked against an independent integer-value function written here.
"""

import itertools

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.array import input_layout
from model.config import PE_LATENCIES
from hw.pe import ProcessingElement
from hw.product import ProductUnit
from model.backend import GoldenBackend
from model.formats import FORMATS, FormatSpec, to_nibbles
from model.hw_vocab import hardware_orientation, product_width, select_width, side_formats
from model.gemm import gemm_exact
from test_array import Job, run_array

INT3 = FormatSpec("int3", "int", 3, -4, 3, np.int8, hw_code=3, sides="ab")
LG8 = FormatSpec("lg8", "log", 4, 0, 15, np.uint8, hw_code=4, radix=8, exp_bits=3, sides="a")
NEW_PAIRS = [("int3", "int3"), ("int4", "int3"), ("uint4", "int3"), ("fp4", "int3"),
             ("int3", "int4"), ("int3", "uint4"), ("lg8", "int4"), ("lg8", "uint4"),
             ("lg8", "int3")]


@pytest.fixture(autouse=True)
def throwaway_rows(monkeypatch):
    monkeypatch.setitem(FORMATS, "int3", INT3)
    monkeypatch.setitem(FORMATS, "lg8", LG8)


def iv(code, fmt):
    """Integer value of one code, written independently of model.formats."""
    code = int(code)
    if fmt in ("int4", "uint4", "int3"):
        return code
    s, e = (code >> 3) & 1, code & 7
    radix = {"fp4": 4, "lg8": 8}[fmt]
    return 0 if e == 0 else (-1) ** s * radix ** (e - 1)


def codes(fmt):
    spec = FORMATS[fmt]
    return np.arange(spec.code_min, spec.code_max + 1).astype(spec.dtype)


def test_the_table_rows_reach_the_vocabulary():
    assert side_formats("a") == ("int4", "uint4", "fp4", "int3", "lg8")
    assert side_formats("b") == ("int4", "uint4", "int3")
    assert (select_width("a"), select_width("b")) == (3, 2)
    # 8^6 * 15 = 3932160 < 2^22: 23 signed bits.
    assert product_width() == 23
    assert hardware_orientation("int4", "lg8") is True
    assert input_layout(2, 3).size == 4 * 2 + 4 * 3 + 3 + 2 + 2
    with pytest.raises(ValueError, match="narrower than a product"):
        ProcessingElement(18)


def test_golden_gemm_runs_the_new_formats():
    rng = np.random.default_rng(3)
    for fa, fb in NEW_PAIRS + [("int4", "lg8")]:
        a = rng.choice(codes(fa), (3, 7))
        b = rng.choice(codes(fb), (7, 2))
        want = [[sum(iv(a[i, t], fa) * iv(b[t, j], fb) for t in range(7)) for j in range(2)]
                for i in range(3)]
        assert gemm_exact(a, b, fa, fb).tolist() == want
        assert GoldenBackend(acc_width=40).gemm(a, b, fa, fb).tolist() == want


def test_product_unit_exhaustive_over_every_select_and_code():
    dut = ProductUnit()
    by_code = {side: {FORMATS[n].hw_code: n for n in side_formats(side)} for side in "ab"}

    async def tb(ctx):
        for a_sel, b_sel in itertools.product(range(8), range(4)):
            fa, fb = by_code["a"].get(a_sel), by_code["b"].get(b_sel)
            ctx.set(dut.a_fmt, a_sel)
            ctx.set(dut.b_fmt, b_sel)
            a_codes = codes(fa) if fa else np.arange(16)
            b_codes = codes(fb) if fb else np.arange(16)
            for a, b in itertools.product(a_codes, b_codes):
                ctx.set(dut.a, [int(to_nibbles(a, fa)) if fa else int(a)])   # one lane
                ctx.set(dut.b, [int(to_nibbles(b, fb)) if fb else int(b)])
                want = iv(a, fa) * iv(b, fb) if fa and fb else 0
                assert ctx.get(dut.product) == want, (fa, fb, a, b)

    sim = Simulator(dut)
    sim.add_testbench(tb)
    sim.run()


@pytest.mark.parametrize("latency", PE_LATENCIES)
def test_pe_loads_every_code_pair_of_the_new_formats(latency):
    """clear+valid loads of every (A code, B code) of every new pair: acc shows
    the exact product ``latency`` cycles later."""
    dut = ProcessingElement(32, latency)
    loads = [(fa, fb, a, b) for fa, fb in NEW_PAIRS
             for a, b in itertools.product(codes(fa), codes(fb))]

    async def tb(ctx):
        ctx.set(dut.valid, 1)
        ctx.set(dut.clear, 1)
        seen = []
        for fa, fb, a, b in loads + [loads[-1]] * (latency - 1):
            ctx.set(dut.a_fmt, FORMATS[fa].hw_code)
            ctx.set(dut.b_fmt, FORMATS[fb].hw_code)
            ctx.set(dut.a, [int(to_nibbles(a, fa))])
            ctx.set(dut.b, [int(to_nibbles(b, fb))])
            await ctx.tick()
            seen.append(ctx.get(dut.acc))
        assert seen[latency - 1:] == [iv(a, fa) * iv(b, fb) for fa, fb, a, b in loads]

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()


@pytest.mark.parametrize("latency", PE_LATENCIES)
def test_array_runs_a_gemm_per_new_pair(latency):
    """A 3x2 array, one GEMM per new pair with random gaps and backpressure,
    each row checked against gemm_exact (run_array also checks it against the
    overflow model and that every row arrives once, in order)."""
    rows, cols, width = 3, 2, 32
    rng = np.random.default_rng(8 + latency)
    jobs = []
    for fa, fb in NEW_PAIRS:
        k = int(rng.integers(1, 7))
        a, b = rng.choice(codes(fa), (rows, k)), rng.choice(codes(fb), (k, cols))
        job = Job(a, b, fa, fb, [0], [k - 1], width)
        assert job.expected[0][0].tolist() == [
            [sum(iv(a[i, t], fa) * iv(b[t, j], fb) for t in range(k)) for j in range(cols)]
            for i in range(rows)]
        jobs.append(job)
    run_array(rows, cols, width, jobs, rng, p_valid=0.7, p_ready=0.6, latency=latency)


def test_log_format_on_b_is_refused_by_the_pe(monkeypatch):
    """The PE turns a log operand into a shift of the other one: A only."""
    monkeypatch.setitem(FORMATS, "lg8", FormatSpec("lg8", "log", 4, 0, 15, np.uint8, hw_code=0,
                                                   radix=8, exp_bits=3, sides="b"))
    monkeypatch.setitem(FORMATS, "int4", FormatSpec("int4", "int", 4, -8, 7, np.int8,
                                                    hw_code=2, sides="ab"))
    with pytest.raises(ValueError, match="on A only"):
        ProductUnit()
