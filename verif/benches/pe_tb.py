"""cocotb bench of ``radix4_pe`` (generated Verilog), checked against the golden model.

Tests: every nibble pair x every A format (including reserved 3) x every B
format; clear/valid/hold control sequences with random accumulations;
extremes and the exact ACC_WIDTH overflow boundary (both signs, sticky
after the sum comes back, cleared by ``clear``); reset mid-sum.
The PE is driven cycle by cycle: inputs change on the falling edge, ``acc``
and ``overflow`` are checked on the next falling edge (registered outputs).
"""

from __future__ import annotations

import cocotb
from cocotb.triggers import FallingEdge

from verif.kit import Coverage, assert_resolvable, get_seed, start_clock, test_rng
from verif.kit.golden import A_FMT_NAMES, product_table, running_expect

COV = Coverage("pe")
COV.declare("operands", [f"a{af}b{bf}:{a:x}{b:x}" for af in range(4) for bf in range(2)
                         for a in range(16) for b in range(16)])
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
    """Drive ``ops`` one per cycle; check each op's expectation one cycle later."""
    prev = None
    checked = 0
    last_fmt = (None, None)
    for op in ops + [None]:
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
            break
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
        prev = op
    dut.valid.value = dut.clear.value = dut.rst.value = 0
    dut._log.info("%s: %d ops, %d checks against the model", name, len(ops), checked)
    COV.save()


def finish(dut):
    dut._log.info("%s", COV.report())
    COV.save()


@cocotb.test()
async def exhaustive_products(dut):
    """Every (a nibble, b nibble, a_fmt 0..3, b_fmt 0..1) as a fresh one-product sum."""
    width = await setup(dut)
    rng, _ = test_rng("exhaustive_products")
    ops = []
    pairs = [(af, bf, a, b) for af in range(4) for bf in range(2) for a in range(16) for b in range(16)]
    rng.shuffle(pairs)     # format changes from cycle to cycle, as the array sees them
    tables = {(af, bf): product_table(af, bf) for af in range(4) for bf in range(2)}
    for af, bf, a, b in pairs:
        ops.append(Op(1, 1, a, af, b, bf, expect=(int(tables[af, bf][a, b]), False)))
        if rng.random() < 0.05:   # clear without a product empties the register
            ops.append(Op(0, 1, rng.randrange(16), rng.randrange(4), rng.randrange(16),
                          rng.randrange(2), expect=(0, False)))
    await run_ops(dut, ops, "exhaustive_products")
    finish(dut)


def sequence_ops(rng, width, a_fmt, b_fmt, length, p_hold=0.25, picks=None):
    """A clear-started accumulation of ``length`` products with random holds."""
    picks = picks or (lambda: (rng.randrange(16), rng.randrange(16)))
    a_nibs, b_nibs, ops = [], [], []
    first = True
    while len(a_nibs) < length:
        if not first and rng.random() < p_hold:   # hold: junk operands, valid low
            ops.append(Op(0, 0, rng.randrange(16), rng.randrange(4), rng.randrange(16),
                          rng.randrange(2), expect=None))
            continue
        a, b = picks()
        a_nibs.append(a)
        b_nibs.append(b)
        ops.append(Op(1, 1 if first else 0, a, a_fmt, b, b_fmt))
        ops[-1].expect = len(a_nibs) - 1      # placeholder: prefix index
        first = False
    exp = running_expect(a_nibs, b_nibs, a_fmt, b_fmt, width) if a_fmt != 3 else \
        {k: (0, False) for k in range(length)}
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
    extremes = {0: [0x8, 0x7, 0xF, 0x0], 1: [0xF, 0x0], 2: [0x0, 0x8, 0x7, 0xF]}
    for _ in range(60):
        af, bf = rng.randrange(4), rng.randrange(2)

        def pick():
            a = rng.choice(extremes.get(af, [0])) if rng.random() < 0.3 else rng.randrange(16)
            b = rng.choice([0x8, 0x7, 0xF]) if rng.random() < 0.3 else rng.randrange(16)
            return a, b
        ops += sequence_ops(rng, width, af, bf, rng.randint(1, 24), picks=pick)
        if rng.random() < 0.2:
            ops.append(Op(0, 1, rng.randrange(16), 0, rng.randrange(16), 0, expect=(0, False)))
    await run_ops(dut, ops, "random_accumulations")
    finish(dut)


def fill_to(target: int, sign: int):
    """fp4 x uint4 (a nibble, b nibble) pairs whose products sum to ``target``.

    Works digit by digit in base 4 with the largest product first; all the
    actual values are checked by the model, this only picks operands.
    """
    pairs = []
    rest = abs(target)
    while rest >= 61440:
        pairs.append((0x7 | (0x8 if sign < 0 else 0), 15))
        rest -= 61440
    for e in range(7, 0, -1):
        mag = 4 ** (e - 1)
        digit = rest // mag
        if digit:
            pairs.append((e | (0x8 if sign < 0 else 0), digit))
            rest -= digit * mag
    return pairs


@cocotb.test()
async def overflow_boundary(dut):
    """Reach exactly the largest / smallest sum, then one beyond; sticky; clear and reset."""
    width = await setup(dut)
    rng, _ = test_rng("overflow_boundary")
    if width > NARROW:
        # Only narrow builds walk to the boundary (the pytest matrix includes
        # W=18); wide builds check long max-product sums stay exact, unflagged.
        ops = sequence_ops(rng, width, 2, 1, 300, p_hold=0.0, picks=lambda: (0x7, 15))
        ops[-1].cov = WIDE_BIN
        await run_ops(dut, ops, "overflow_boundary (wide)")
        finish(dut)
        return
    hi = (1 << (width - 1)) - 1
    lo = -(1 << (width - 1))
    for sign, bound, name_ok, name_bad in ((1, hi, "max exactly, no flag", "max+1 flags"),
                                            (-1, lo, "min exactly, no flag", "min-1 flags")):
        pairs = fill_to(bound, sign)
        extra = (0x1 | (0x8 if sign < 0 else 0), 1)      # +-1
        back = [(0x7 | (0x0 if sign < 0 else 0x8), 15)] * 3  # come back into range
        seq = pairs + [extra] + back
        a_nibs = [p[0] for p in seq]
        b_nibs = [p[1] for p in seq]
        exp = running_expect(a_nibs, b_nibs, 2, 1, width)
        ops = [Op(1, 1 if k == 0 else 0, a, 2, b, 1, expect=exp[k])
               for k, (a, b) in enumerate(seq)]
        ops[len(pairs) - 1].cov = name_ok
        ops[len(pairs)].cov = name_bad
        ops[-1].cov = "sticky after wrap"
        # acc and flag hold over an idle cycle, then clear drops the flag.
        ops.append(Op(0, 0, 0, 2, 0, 1, expect=exp[len(seq) - 1]))
        if sign > 0:
            ops.append(Op(0, 1, 0, 2, 0, 1, expect=(0, False), cov="cleared by clear"))
        else:
            ops.append(Op(0, 0, 0, 2, 0, 1, rst=1, expect=(0, False), cov="cleared by reset"))
        await run_ops(dut, ops, f"overflow_boundary ({'max' if sign > 0 else 'min'})")
    finish(dut)


@cocotb.test()
async def reset_mid_sum(dut):
    """A reset in the middle of a sum leaves acc 0 and no flag; the next sum is exact."""
    width = await setup(dut)
    rng, _ = test_rng("reset_mid_sum")
    ops = []
    for _ in range(10):
        ops += sequence_ops(rng, width, rng.randrange(3), rng.randrange(2), rng.randint(2, 10))
        ops.append(Op(1, 0, rng.randrange(16), rng.randrange(4), rng.randrange(16),
                      rng.randrange(2), rst=1, expect=(0, False)))
        ops.append(Op(0, 0, rng.randrange(16), 0, rng.randrange(16), 0, expect=(0, False)))
    await run_ops(dut, ops, "reset_mid_sum")
    finish(dut)
