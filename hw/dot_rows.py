"""One lane of the k-lane PE as radix-4 rows: decode (registered) and rows.

Every product of SPEC 2 is written as a few *rows*, each the B value times
a signed digit, shifted by an even amount, so that the integer multiply and
the logarithmic shift share one adder tree and no lane has a multiplier:

* **Digit rows** ``i = 0 .. D-1``: ``(b * d_i) << 2i`` with ``d_i`` in
  ``{-2, -1, 0, 1, 2}``.  For an integer A row ``d_i`` is the radix-4
  (Booth) digit ``-2 a[2i+1] + a[2i] + a[2i-1]`` of the A value; for a
  logarithmic A row whose shift ``shift_per_exp * (e - 1)`` equals ``2i``
  it is ``+-1``.
* **The shift row**: ``(+-b) << p`` with ``p`` from a small set ``P``: the
  logarithmic shifts no digit row takes and, when it is never negative, the
  top Booth digit (in ``{0, 1}``) of the integer rows -- one multiplexer.

Today (int4/uint4/fp4 on A): A values are 5-bit signed (-8..15), three
Booth digits; the top one is ``uint4``'s bit 3, so D = 2 digit rows (shifts
0 and 2; fp4 ``e = 1, 2``) and the shift row takes ``P = {4, 6, ..., 12}``
(uint4 top digit, fp4 ``e = 3..7``).  Three rows per lane; a logarithmic
code lights exactly one of them.

Negation is ``x ^ neg`` (``-x - 1``), applied in stage 1 for the digit rows
(with the digit's magnitude) and before the first shift stage for the shift
row; the ``+1`` is a carry of the row's own weight (``2^shift``), taken by
an adder of the PE's tree (``hw.adder_tree.reduce_by_weight``).  Rows carry
no fill bits below their shift: a row is ``(value, shift)``, and the tree
adds rows of the same weight across lanes first.  A tree of ``n`` rows has
``n - 1`` adders, one short for ``n`` carries, so one row of the PE (lane
0's row 0) is negated exactly in stage 1 (``(x ^ neg) + neg``, a 6-bit add)
and has no carry.

Everything is read from ``model.formats.FORMATS`` when the PE is built.
"""

from amaranth.hdl import Cat, Const, Mux, Signal, signed  # no __future__ annotations

from .adder_tree import WTerm, signed_width
from .product import hardware_specs as _hardware_specs, int_decode as _int_decode

__all__ = ["LanePlan", "LaneDecode"]


def _booth_digit(value: int, i: int, width: int) -> int:
    """Radix-4 Booth digit ``i`` of ``value`` as a ``width``-bit signed word."""
    bit = lambda j: 0 if j < 0 else (value >> min(j, width - 1)) & 1  # noqa: E731
    return -2 * bit(2 * i + 1) + bit(2 * i) + bit(2 * i - 1)


class LanePlan:
    """Which row serves which code: computed once from the format table."""

    def __init__(self):
        a_specs, b_specs = _hardware_specs("a"), _hardware_specs("b")
        for spec in b_specs:
            if spec.is_log:
                raise ValueError(f"{spec.name}: the PE takes logarithmic formats on A only")
        self.a_specs, self.b_specs = a_specs, b_specs
        self.int_a = [s for s in a_specs if not s.is_log]
        self.log_a = [s for s in a_specs if s.is_log]
        for spec in self.log_a:
            if spec.bits != spec.exp_bits + 1 or spec.radix != 1 << spec.shift_per_exp:
                raise ValueError(f"{spec.name}: a log format must be {{sign, exponent}} "
                                 "with a power-of-two radix")
        a_vals = [v for s in self.int_a for v in range(s.int_min, s.int_max + 1)] or [0]
        b_vals = [v for s in b_specs for v in range(s.int_min, s.int_max + 1)] or [0]
        self.a_width = signed_width(min(a_vals + [0]), max(a_vals + [0]))
        self.b_lo, self.b_hi = min(b_vals + [0]), max(b_vals + [0])
        digits = (self.a_width + 1) // 2
        top = {_booth_digit(v, digits - 1, self.a_width) for v in a_vals}
        # The top digit joins the shift row when it is only ever 0 or 1.
        self.top_in_shift_row = bool(self.int_a) and top <= {0, 1}
        self.digit_rows = digits - 1 if self.top_in_shift_row else digits
        if not self.int_a:
            self.digit_rows = 0
        # Logarithmic shifts: (spec, e) -> ("digit", i) or ("shift", p).
        self.log_target = {}
        shifts = {2 * (digits - 1)} if self.top_in_shift_row else set()
        for spec in self.log_a:
            for e in range(1, spec.e_max + 1):
                s = spec.shift_per_exp * (e - 1)
                if s % 2 == 0 and s // 2 < max(self.digit_rows, 1 if not self.int_a else 0):
                    self.log_target[spec.name, e] = ("digit", s // 2)
                else:
                    self.log_target[spec.name, e] = ("shift", s)
                    shifts.add(s)
        if not self.int_a and self.log_a:
            self.digit_rows = 1   # shift 0 of the log rows
        self.shifts = sorted(shifts)

    @property
    def rows(self) -> int:
        return self.digit_rows + (1 if self.shifts else 0)



class LaneDecode:
    """Stage 1 of a lane: the registered signed digit rows, signs and shift operand.

    ``elaborate_into(m, a, a_fmt, b, b_fmt)`` adds the decode and its
    registers; ``rows(m)`` then builds the lane's rows (``WTerm``s) and its
    weighted carries from the registered controls, combinationally.
    ``exact_row0``: row 0 is negated exactly here (no carry; one lane of a PE).
    """

    def __init__(self, plan: LanePlan, name: str, exact_row0: bool = False):
        self.plan, self.name = plan, name
        self.exact_row0 = exact_row0

    def elaborate_into(self, m, a, a_fmt, b, b_fmt):
        plan, n = self.plan, self.name
        bv = _int_decode(m, b, b_fmt, plan.b_specs, f"{n}_b_value", zero_others=True)
        neg = [Signal(name=f"{n}_neg{i}") for i in range(plan.digit_rows)]
        act, sneg = Signal(name=f"{n}_shift_on"), Signal(name=f"{n}_shift_neg")
        pos = Signal(range(max(len(plan.shifts), 1)), name=f"{n}_shift_pos")
        one_c, two_c, neg_c, act_c, sneg_c = [0] * plan.digit_rows, [0] * plan.digit_rows, \
            [0] * plan.digit_rows, 0, 0
        pos_c = 0
        if plan.int_a:
            av = _int_decode(m, a, a_fmt, plan.int_a, f"{n}_a_value", zero_others=False)
            is_int = a_fmt.matches(*[s.hw_code for s in plan.int_a])
            w = plan.a_width
            bit = lambda j: Const(0, 1) if j < 0 else av[min(j, w - 1)]  # noqa: E731
            for i in range(plan.digit_rows):
                x2, x1, x0 = bit(2 * i + 1), bit(2 * i), bit(2 * i - 1)
                one_c[i] = is_int & (x1 ^ x0)
                two_c[i] = is_int & ((x2 & ~x1 & ~x0) | (~x2 & x1 & x0))
                neg_c[i] = is_int & x2 & ~(x1 & x0)
            if plan.top_in_shift_row:
                t = (w + 1) // 2 - 1
                act_c = is_int & (bit(2 * t) ^ bit(2 * t - 1))
                pos_c = Mux(is_int, plan.shifts.index(2 * t), 0)
        for spec in plan.log_a:
            sel = a_fmt == spec.hw_code
            e, s = a[:spec.exp_bits], a[spec.exp_bits]
            for ev in range(1, spec.e_max + 1):
                kind, where = plan.log_target[spec.name, ev]
                hit = sel & (e == ev)
                if kind == "digit":
                    one_c[where] = one_c[where] | hit
                    neg_c[where] = neg_c[where] | (hit & s)
                else:
                    act_c = act_c | hit
                    sneg_c = sneg_c | (hit & s)
                    pos_c = Mux(hit, plan.shifts.index(where), pos_c)
        # Digit rows: |d| * b and the sign, ``(|d| b) ^ neg``, selected and
        # registered here, so stage 2 starts with its adders (measured:
        # fewer LUT4 than the sign in stage 2, docs/lanes.md).
        self.digit = []
        for i in range(plan.digit_rows):
            row = Signal(signed(len(bv) + 1), name=f"{n}_digit{i}")
            negc = Signal(name=f"{n}_neg{i}_c")
            m.d.comb += negc.eq(neg_c[i])
            # A zero digit clears the register through its reset (ECP5 FFs
            # have a synchronous LSR): each row bit is then one LUT4 of
            # (two, b_j, b_j-1, neg) instead of a 5-input function.
            zero = Signal(name=f"{n}_zero{i}")
            m.d.comb += zero.eq(~(one_c[i] | two_c[i]))
            mag = Mux(two_c[i], bv << 1, bv)
            value = (mag.as_unsigned() ^ negc.replicate(len(row))).as_signed()
            if i == 0 and self.exact_row0:
                value = value + negc
            m.d.sync += row.eq(Mux(zero, 0, value))
            self.digit.append(row)
        m.d.sync += [*(g.eq(v) for g, v in zip(neg, neg_c))]
        self.neg = neg
        self.act, self.sneg, self.pos = act, sneg, pos
        if not plan.shifts:
            return
        # The shift row's operand, gated and sign-applied here (+-b or 0;
        # ``~b`` for -b, the +1 is a carry of the tree), with the first
        # shift stage: stage 2 then has two 2:1 stages before its adder.
        sneg_v = Signal(name=f"{n}_shift_neg_c")
        pos_v = Signal.like(pos, name=f"{n}_shift_pos_c")
        m.d.comb += [sneg_v.eq(sneg_c), pos_v.eq(pos_c)]
        act_v = Signal(name=f"{n}_shift_on_c")
        m.d.comb += act_v.eq(act_c)
        x = (bv.as_unsigned() ^ sneg_v.replicate(len(bv))).as_signed()
        self.early = _early_stages(plan.shifts)
        x = _shift_stages(m, x, sneg_v, plan.shifts, pos_v, range(self.early), f"{n}_shift_e")
        self.shift_x = Signal.like(x, name=f"{n}_shift_x")
        # An idle shift row is cleared through the register's reset, as the digit rows.
        m.d.sync += [act.eq(act_c), sneg.eq(sneg_c), pos.eq(pos_c),
                     self.shift_x.eq(Mux(act_v, x, 0))]

    def rows(self, m):
        """The lane's rows (``WTerm``s: value, interval, shift) and carries
        (``(bit, shift)``: the ``+1`` of each one's-complement row)."""
        plan, n = self.plan, self.name
        blo, bhi = plan.b_lo, plan.b_hi
        terms, carries = [], []
        lo, hi = min(0, 2 * blo), max(0, 2 * bhi)       # d * b, |d| <= 2
        for i in range(plan.digit_rows):
            if i == 0 and self.exact_row0:
                terms.append(WTerm(self.digit[0], lo, hi, 0))
                continue
            terms.append(WTerm(self.digit[i], min(lo, -hi - 1), max(hi, -lo - 1), 2 * i))
            carries.append((self.neg[i], 2 * i))
        if plan.shifts:
            # The shifted row without the fill bits below the smallest shift
            # (all ``sneg``: their value and the +1 make ``sneg << base``).
            base, span = plan.shifts[0], max(plan.shifts) - plan.shifts[0]
            slo, shi = min(blo, 0) << span, max(bhi, 0) << span
            slo, shi = min(slo, -shi - 1), max(shi, -slo - 1)
            rest = range(self.early, max(len(self.pos), self.early))
            y = _shift_stages(m, self.shift_x, self.sneg, plan.shifts, self.pos, rest,
                              f"{n}_shift", early=self.early)
            row = Signal(signed(signed_width(slo, shi)), name=f"{n}_shift_row")
            m.d.comb += row.eq(y[base:].as_signed())
            terms.append(WTerm(row, slo, shi, base))
            carries.append((self.sneg, base))
        return terms, carries


# Shift-row index bits applied in stage 1 (with the sign), the rest in stage 2.
EARLY_SHIFT_BITS = 1


def _arithmetic(shifts):
    step = shifts[1] - shifts[0] if len(shifts) > 1 else 1
    return step, all(b - a == step for a, b in zip(shifts, shifts[1:]))


def _early_stages(shifts) -> int:
    """Index bits the stage-1 part of the shift row applies (0 for a case shifter)."""
    bits = max(1, (len(shifts) - 1).bit_length())
    return min(EARLY_SHIFT_BITS, bits) if _arithmetic(shifts)[1] else 0


def _shift_stages(m, x, fill, shifts, pos, bits, name, *, early=0):
    """Part of ``x << shifts[pos]`` (``fill`` shifted in at the bottom).

    Shifts in an arithmetic progression are a log shifter: the base shift
    ``shifts[0]`` (wiring), then for each index bit ``j`` a 2:1 stage by
    ``step * 2^j``; ``bits`` picks the stages done here (``early`` stages
    were done before).  Other shift sets are one case per shift, all at once.
    """
    step, arithmetic = _arithmetic(shifts)
    if not arithmetic:
        if early or not bits:
            return x
        out = Signal(signed(len(x) + max(shifts)), name=name)
        with m.Switch(pos):
            for idx, p in enumerate(shifts):
                with m.Case(idx):
                    m.d.comb += out.eq(Cat(fill.replicate(p), x).as_signed() if p else x)
            with m.Default():
                m.d.comb += out.eq(0)
        return out
    y = x
    if not early and shifts[0]:
        y = Cat(fill.replicate(shifts[0]), x).as_signed()
    for j in bits:
        moved = Cat(fill.replicate(step << j), y).as_signed()
        stage = Signal(signed(len(moved)), name=f"{name}_{j}")
        m.d.comb += stage.eq(Mux(pos[j], moved, y))
        y = stage
    return y

