"""cocotb bench of ``radix4_pe`` (generated Verilog), checked against the golden model.

Tests: every nibble pair x every A select value (including reserved ones) x
every B format, all read from the format table; clear/valid/hold control sequences with random accumulations;
extremes and the exact ACC_WIDTH overflow boundary (both signs, sticky
after the sum comes back, cleared by ``clear``); reset mid-sum.
The PE is driven cycle by cycle: inputs change on the falling edge, ``acc``
and ``overflow`` are checked ``latency`` falling edges later (the PE's
declared latency, ``pe_latency`` in ``RADIX4_PARAMS``, default
``model.config.DEFAULT_PE_LATENCY``).  A reset flushes the PE's pipeline, so the
operations of the ``latency - 1`` cycles before it are never observable and
go unchecked.
"""

from __future__ import annotations

import json
import os

import cocotb
from cocotb.triggers import FallingEdge

from model.config import DEFAULT_PE_LATENCY
from verif.kit import Coverage, assert_resolvable, get_seed, start_clock, test_rng
from verif.kit.seed import depth
from model.hw_vocab import lane_width, max_abs_product, select_width
from verif.kit.golden import (code_count, extreme_nibbles, fill_pair, fill_to, format_names, format_pairs,
                              product_nibbles, product_table, reserved_codes, running_expect)

LATENCY = json.loads(os.environ.get("RADIX4_PARAMS", "{}")).get("pe_latency", DEFAULT_PE_LATENCY)

# Every A select value (reserved ones multiply by 0) and every B format, from the table.
A_CODES = sorted(format_names("a")) + reserved_codes("a")
B_CODES = sorted(format_names("b"))


def junk(rng):
    """Any lane value (operands of a cycle that does not count)."""
    return rng.randrange(1 << lane_width())


def junk_fmts(rng):
    """Any select-field values (a cycle whose operands do not count)."""
    return rng.randrange(1 << select_width("a")), rng.randrange(1 << select_width("b"))

COV = Coverage("pe")
COV.declare("operands", [f"a{af}b{bf}:{a:x}{b:x}" for af in A_CODES for bf in B_CODES
                         for a in range(code_count("a", af)) for b in range(code_count("b", bf))])
COV.declare("control", ["valid+clear", "clear only", "valid (accumulate)", "hold"])
# Narrow builds walk to the exact overflow boundary; wide ones cannot in a
# test's time (2^(W-1) / 61440 cycles) and get their own bin (declared in setup).
NARROW = 24
OVERFLOW_BINS = ["max exactly, no flag", "max+1 flags", "min exactly, no flag",
                 "min-1 flags", "sticky after wrap", "cleared by clear", "cleared by reset"]
WIDE_BIN = "wide: no flag on long max-product sums"
COV.declare("fmt switch", ["a_fmt changes between cycles", "b_fmt changes between cycles"])


class Op:
    __slots__ = ("valid", "clear", "a", "a_fmt", "b", "b_fmt", "rst", "expect", "cov")

    def __init__(self, valid, clear, a=0, a_fmt=0, b=0, b_fmt=0, rst=0, expect=None, cov=None):
        self.valid, self.clear, self.a, self.a_fmt = valid, clear, a, a_fmt
        self.b, self.b_fmt, self.rst = b, b_fmt, rst
        self.expect = expect        # (acc, overflow) after this cycle, or None: unchecked
        self.cov = cov              # overflow coverage bin this check proves


async def setup(dut):
    start_clock(dut)
    get_seed()
    width = len(dut.acc)
    COV.declare("overflow", OVERFLOW_BINS if width <= NARROW else [WIDE_BIN])
    for s in ("a", "a_fmt", "b", "b_fmt", "valid", "clear"):
        getattr(dut, s).value = 0
    dut.rst.value = 1
    for _ in range(2):
        await FallingEdge(dut.clk)
    dut.rst.value = 0
    return width


async def run_ops(dut, ops, name):
    """Drive ``ops`` one per cycle; check each op's expectation ``LATENCY`` cycles later."""
    # Ops a reset flushes from the pipeline before they reach acc: unchecked.
    ops = list(ops)
    for r, op in enumerate(ops):
        if op.rst:
            for i in range(max(0, r - LATENCY + 1), r):
                if not ops[i].rst:
                    ops[i] = Op(ops[i].valid, ops[i].clear, ops[i].a, ops[i].a_fmt, ops[i].b,
                                ops[i].b_fmt, 0, None, None)
    in_flight = [None] * (LATENCY - 1)   # ops driven, not yet visible on acc
    prev = None
    checked = 0
    last_fmt = (None, None)
    for op in ops + [None] * LATENCY:
        await FallingEdge(dut.clk)
        assert_resolvable({"acc": dut.acc, "overflow": dut.overflow}, f"in {name}")
        if prev is not None and prev.expect is not None:
            acc = dut.acc.value.to_signed()
            ovf = int(dut.overflow.value)
            want_acc, want_ovf = prev.expect
            assert (acc, ovf) == (want_acc, int(want_ovf)), (
                f"{name}: after a={prev.a:#x} a_fmt={prev.a_fmt} b={prev.b:#x} b_fmt={prev.b_fmt} "
                f"valid={prev.valid} clear={prev.clear} rst={prev.rst}: got acc={acc} "
                f"overflow={ovf}, model says acc={want_acc} overflow={int(want_ovf)}")
            checked += 1
            if prev.cov:
                COV.hit("overflow", prev.cov)
        if op is None:
            dut.valid.value = dut.clear.value = dut.rst.value = 0
            in_flight.append(None)
            prev = in_flight.pop(0)
            continue
        dut.a.value, dut.a_fmt.value, dut.b.value, dut.b_fmt.value = op.a, op.a_fmt, op.b, op.b_fmt
        dut.valid.value, dut.clear.value, dut.rst.value = op.valid, op.clear, op.rst
        if not op.rst:
            COV.hit("control", {(1, 1): "valid+clear", (0, 1): "clear only",
                                (1, 0): "valid (accumulate)", (0, 0): "hold"}[(op.valid, op.clear)])
            if op.valid:
                COV.hit("operands", f"a{op.a_fmt}b{op.b_fmt}:{op.a:x}{op.b:x}")
                if last_fmt[0] is not None and last_fmt[0] != op.a_fmt:
                    COV.hit("fmt switch", "a_fmt changes between cycles")
                if last_fmt[1] is not None and last_fmt[1] != op.b_fmt:
                    COV.hit("fmt switch", "b_fmt changes between cycles")
                last_fmt = (op.a_fmt, op.b_fmt)
        in_flight.append(op)
        prev = in_flight.pop(0)
    dut.valid.value = dut.clear.value = dut.rst.value = 0
    dut._log.info("%s: %d ops, %d checks against the model", name, len(ops), checked)
    COV.save()


def finish(dut):
    dut._log.info("%s", COV.report())
    COV.save()


@cocotb.test()
async def exhaustive_products(dut):
    """Every (a nibble, b nibble, A select value, B format) as a fresh one-product sum."""
    width = await setup(dut)
    rng, _ = test_rng("exhaustive_products")
    ops = []
    pairs = [(af, bf, a, b) for af in A_CODES for bf in B_CODES
             for a in range(code_count("a", af)) for b in range(code_count("b", bf))]
    rng.shuffle(pairs)     # format changes from cycle to cycle, as the array sees them
    tables = {(af, bf): product_table(af, bf) for af in A_CODES for bf in B_CODES}
    for af, bf, a, b in pairs:
        ops.append(Op(1, 1, a, af, b, bf, expect=(int(tables[af, bf][a, b]), False)))
        if rng.random() < 0.05:   # clear without a product empties the register
            ja, jb = junk_fmts(rng)
            ops.append(Op(0, 1, junk(rng), ja, junk(rng), jb, expect=(0, False)))
    await run_ops(dut, ops, "exhaustive_products")
    finish(dut)


def sequence_ops(rng, width, a_fmt, b_fmt, length, p_hold=0.25, picks=None):
    """A clear-started accumulation of ``length`` products with random holds."""
    picks = picks or (lambda: (rng.randrange(code_count("a", a_fmt)),
                               rng.randrange(code_count("b", b_fmt))))
    a_nibs, b_nibs, ops = [], [], []
    first = True
    while len(a_nibs) < length:
        if not first and rng.random() < p_hold:   # hold: junk operands, valid low
            ja, jb = junk_fmts(rng)
            ops.append(Op(0, 0, junk(rng), ja, junk(rng), jb, expect=None))
            continue
        a, b = picks()
        a_nibs.append(a)
        b_nibs.append(b)
        ops.append(Op(1, 1 if first else 0, a, a_fmt, b, b_fmt))
        ops[-1].expect = len(a_nibs) - 1      # placeholder: prefix index
        first = False
    exp = running_expect(a_nibs, b_nibs, a_fmt, b_fmt, width)
    k_last = None
    for op in ops:
        if op.valid:
            k_last = op.expect
            op.expect = exp[k_last]
        else:
            op.expect = exp[k_last]   # a hold keeps the previous sum
    return ops


@cocotb.test()
async def random_accumulations(dut):
    """Clear-started sums of random length in every format pair, with hold cycles."""
    width = await setup(dut)
    rng, _ = test_rng("random_accumulations")
    ops = []
    for _ in range(depth(60, 20)):
        af, bf = rng.choice(A_CODES), rng.choice(B_CODES)

        def pick():
            a = rng.choice(extreme_nibbles("a", af)) if rng.random() < 0.3 \
                else rng.randrange(code_count("a", af))
            b = rng.choice(extreme_nibbles("b", bf)) if rng.random() < 0.3 \
                else rng.randrange(code_count("b", bf))
            return a, b
        ops += sequence_ops(rng, width, af, bf, rng.randint(1, 24), picks=pick)
        if rng.random() < 0.2:
            ops.append(Op(0, 1, junk(rng), 0, junk(rng), 0, expect=(0, False)))
    await run_ops(dut, ops, "random_accumulations")
    finish(dut)


@cocotb.test()
async def overflow_boundary(dut):
    """Reach exactly the largest / smallest sum, then one beyond; sticky; clear and reset."""
    width = await setup(dut)
    rng, _ = test_rng("overflow_boundary")
    if width > NARROW:
        # Only narrow builds walk to the boundary (the pytest matrix includes
        # W=18); wide builds check long max-product sums stay exact, unflagged.
        af, bf = fill_pair()
        top = product_nibbles(af, bf, max_abs_product())
        ops = sequence_ops(rng, width, af, bf, 300, p_hold=0.0, picks=lambda: top)
        ops[-1].cov = WIDE_BIN
        await run_ops(dut, ops, "overflow_boundary (wide)")
        finish(dut)
        return
    hi = (1 << (width - 1)) - 1
    lo = -(1 << (width - 1))
    for sign, bound, name_ok, name_bad in ((1, hi, "max exactly, no flag", "max+1 flags"),
                                            (-1, lo, "min exactly, no flag", "min-1 flags")):
        af, bf, pairs = fill_to(bound)
        extra = product_nibbles(af, bf, sign)                             # +-1
        back = [product_nibbles(af, bf, -sign * max_abs_product())] * 3  # back into range
        seq = pairs + [extra] + back
        a_nibs = [p[0] for p in seq]
        b_nibs = [p[1] for p in seq]
        exp = running_expect(a_nibs, b_nibs, af, bf, width)
        ops = [Op(1, 1 if k == 0 else 0, a, af, b, bf, expect=exp[k])
               for k, (a, b) in enumerate(seq)]
        ops[len(pairs) - 1].cov = name_ok
        ops[len(pairs)].cov = name_bad
        ops[-1].cov = "sticky after wrap"
        # acc and flag hold over an idle cycle, then clear drops the flag.
        ops.append(Op(0, 0, 0, af, 0, bf, expect=exp[len(seq) - 1]))
        if sign > 0:
            ops.append(Op(0, 1, 0, af, 0, bf, expect=(0, False), cov="cleared by clear"))
        else:
            ops.append(Op(0, 0, 0, af, 0, bf, rst=1, expect=(0, False), cov="cleared by reset"))
        await run_ops(dut, ops, f"overflow_boundary ({'max' if sign > 0 else 'min'})")
    finish(dut)


@cocotb.test()
async def reset_mid_sum(dut):
    """A reset in the middle of a sum leaves acc 0 and no flag; the next sum is exact."""
    width = await setup(dut)
    rng, _ = test_rng("reset_mid_sum")
    ops = []
    for _ in range(depth(10, 4)):
        ops += sequence_ops(rng, width, *rng.choice(format_pairs()), rng.randint(2, 10))
        ja, jb = junk_fmts(rng)
        ops.append(Op(1, 0, junk(rng), ja, junk(rng), jb, rst=1,
                      expect=(0, False)))
        ops.append(Op(0, 0, junk(rng), 0, junk(rng), 0, expect=(0, False)))
    await run_ops(dut, ops, "reset_mid_sum")
    finish(dut)
