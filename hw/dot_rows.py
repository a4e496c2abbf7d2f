"""One lane of the k-lane PE: radix-4 rows, their sum, and one post shift.

Every product of SPEC 2 is written as a few narrow *rows* and a *post
shift*, so that the integer multiply and the logarithmic shift share the
same rows and adders and no lane has a multiplier or a wide shifter:

* **Digit rows** ``i = 0 .. D-1``: ``(b * d_i) << 2i`` with ``d_i`` in
  ``{-2, -1, 0, 1, 2}``.  For an integer A row ``d_i`` is the radix-4
  (Booth) digit ``-2 a[2i+1] + a[2i] + a[2i-1]`` of the A value.
* **The top row** ``(b * t) << 2D`` with ``t`` in ``{0, 1}``: the integer
  rows' top Booth digit (``uint4``'s bit 3), never negative.
* **The post shift** ``p``: the lane's sum ``S`` of its rows is shifted by
  ``p`` before the lanes are added.  Integer rows have ``p = 0``; a
  logarithmic A row with shift ``s = shift_per_exp * (e - 1)`` puts ``+-b``
  on digit row ``(s mod 2D) / 2`` and ``p = s - (s mod 2D)``.

Today (int4/uint4/fp4 on A): A values are 5-bit signed (-8..15), D = 2
digit rows (shifts 0 and 2) and the top row (shift 4); fp4's ``e = 1..7``
(``s = 0, 2, .., 12``) take digit row ``(e - 1) mod 2`` and ``p`` in
``{0, 4, 8, 12}``.  ``S`` is 9 bits (-120..225 for integers, +-60 for fp4),
the lane product 17 (+-15 << 12).  Against one shift row per lane (the
structure before, docs/lanes.md) this removes the 13-17-bit row and its
adder: the only wide part of a lane is the 4:1 post multiplexer.

Stage 1 (registered) per lane: each digit row ``(|d| b) ^ neg`` (``-x - 1``
when ``neg``), a zero digit clearing the register through its synchronous
reset (ECP5 FFs have one: each row bit is then one LUT4 of ``two``,
``b_j``, ``b_j-1``, ``neg``); the top row ``b`` likewise; the negation
carries; the post-shift index.  After it the lane's adders form ``S``
exactly: row 0 + row 1 from bit 0 with row 0's carry as carry-in, then each
further row from the previous row's weight with the previous row's carry
(so every ``+1`` rides on a carry-in; the top row, never negative, brings
none).  Then the post multiplexer and the lane tree (``hw.dot_pe``).

Everything is read from ``model.formats.FORMATS`` when the PE is built.
"""

from amaranth.hdl import Cat, Const, Mux, Signal, signed  # no __future__ annotations

from .adder_tree import Term, signed_width
from .product import hardware_specs as _hardware_specs, int_decode as _int_decode

__all__ = ["LanePlan", "LaneDecode", "LaneSum"]


def _booth_digit(value: int, i: int, width: int) -> int:
    """Radix-4 Booth digit ``i`` of ``value`` as a ``width``-bit signed word."""
    bit = lambda j: 0 if j < 0 else (value >> min(j, width - 1)) & 1  # noqa: E731
    return -2 * bit(2 * i + 1) + bit(2 * i) + bit(2 * i - 1)


def _interval(values) -> tuple[int, int]:
    values = list(values)
    return min(values), max(values)


class LanePlan:
    """Which row and post shift serve which code: computed once from the format table."""

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
        if not self.int_a:
            raise ValueError("the lane's rows need an integer format on A")
        a_vals = [v for s in self.int_a for v in range(s.int_min, s.int_max + 1)]
        b_vals = [v for s in b_specs for v in range(s.int_min, s.int_max + 1)] or [0]
        self.a_width = signed_width(min(a_vals + [0]), max(a_vals + [0]))
        self.b_lo, self.b_hi = min(b_vals + [0]), max(b_vals + [0])
        digits = (self.a_width + 1) // 2
        top = {_booth_digit(v, digits - 1, self.a_width) for v in a_vals}
        if not top <= {0, 1} or digits < 2:
            raise ValueError("the lane's rows need a top Booth digit in {0, 1} "
                             f"(A values {min(a_vals)}..{max(a_vals)})")
        self.digit_rows = digits - 1
        self.top_shift = 2 * self.digit_rows
        period = 2 * self.digit_rows
        # Logarithmic codes: (spec, e) -> (digit row, post shift).
        self.log_target = {}
        for spec in self.log_a:
            for e in range(1, spec.e_max + 1):
                s = spec.shift_per_exp * (e - 1)
                if s % 2:
                    raise ValueError(f"{spec.name}: shift {s} is odd; the rows are radix-4")
                self.log_target[spec.name, e] = ((s % period) // 2, s - s % period)
        self.posts = sorted({0} | {p for _, p in self.log_target.values()})
        # The exact row sum S under each post shift, and the lane product.
        sums = {p: [0] for p in self.posts}
        sums[0] += [a * b for a in a_vals for b in b_vals]
        for (name, e), (row, p) in self.log_target.items():
            sums[p] += [sign * b << 2 * row for b in b_vals for sign in (1, -1)]
        self.sum_range = {p: _interval(v) for p, v in sums.items()}
        self.sum_width = signed_width(*_interval(sum(sums.values(), [])))
        self.product_range = _interval(sum(([v << p for v in vals] for p, vals in sums.items()), []))

    @property
    def rows(self) -> int:
        return self.digit_rows + 1

    @property
    def adders(self) -> int:
        """Adder levels of one lane (a chain: one per row after the first)."""
        return self.rows - 1


class LaneDecode:
    """Stage 1 of a lane: the registered rows, their carries and the post-shift index.

    ``elaborate_into(m, a, a_fmt, b, b_fmt)`` adds the decode and its
    registers; ``sum_stages()`` then hands the pieces to ``LaneSum``.
    """

    def __init__(self, plan: LanePlan, name: str):
        self.plan, self.name = plan, name

    def elaborate_into(self, m, a, a_fmt, b, b_fmt):
        plan, n = self.plan, self.name
        bv = _int_decode(m, b, b_fmt, plan.b_specs, f"{n}_b_value", zero_others=True)
        av = _int_decode(m, a, a_fmt, plan.int_a, f"{n}_a_value", zero_others=False)
        is_int = a_fmt.matches(*[s.hw_code for s in plan.int_a])
        w = plan.a_width
        bit = lambda j: Const(0, 1) if j < 0 else av[min(j, w - 1)]  # noqa: E731
        one_c, two_c, neg_c = [], [], []
        for i in range(plan.digit_rows):
            x2, x1, x0 = bit(2 * i + 1), bit(2 * i), bit(2 * i - 1)
            one_c.append(is_int & (x1 ^ x0))
            two_c.append(is_int & ((x2 & ~x1 & ~x0) | (~x2 & x1 & x0)))
            neg_c.append(is_int & x2 & ~(x1 & x0))
        t = plan.digit_rows
        top_c = is_int & (bit(2 * t) ^ bit(2 * t - 1))
        post_c = Const(0, range(len(plan.posts)))
        for spec in plan.log_a:
            sel = a_fmt == spec.hw_code
            e, s = a[:spec.exp_bits], a[spec.exp_bits]
            for ev in range(1, spec.e_max + 1):
                row, p = plan.log_target[spec.name, ev]
                hit = sel & (e == ev)
                one_c[row] = one_c[row] | hit
                neg_c[row] = neg_c[row] | (hit & s)
                if p:
                    post_c = Mux(hit, plan.posts.index(p), post_c)
        self.digit, self.neg = [], []
        for i in range(plan.digit_rows):
            row = Signal(signed(len(bv) + 1), name=f"{n}_digit{i}")
            one, two, negc = (Signal(name=f"{n}_{x}{i}_c") for x in ("one", "two", "neg"))
            m.d.comb += [one.eq(one_c[i]), two.eq(two_c[i]), negc.eq(neg_c[i])]
            value = (Mux(two, bv << 1, bv).as_unsigned() ^ negc.replicate(len(row))).as_signed()
            # A zero digit clears the register (its reset): no AND per bit.
            m.d.sync += row.eq(Mux(one | two, value, 0))
            neg = Signal(name=f"{n}_neg{i}")
            m.d.sync += neg.eq(negc)
            self.digit.append(row)
            self.neg.append(neg)
        self.top = Signal.like(bv, name=f"{n}_top")
        on = Signal(name=f"{n}_top_c")
        m.d.comb += on.eq(top_c)
        m.d.sync += self.top.eq(Mux(on, bv, 0))
        self.post = Signal(range(len(plan.posts)), name=f"{n}_post")
        m.d.sync += self.post.eq(post_c)

    def rows(self):
        """``[(value, lo, hi, shift)]``, the carries ``[(bit, shift)]`` and the post index."""
        plan = self.plan
        lo, hi = min(0, 2 * plan.b_lo), max(0, 2 * plan.b_hi)      # d * b, |d| <= 2
        lo, hi = min(lo, -hi - 1), max(hi, -lo - 1)                # and its x ^ neg
        rows = [(d, lo, hi, 2 * i) for i, d in enumerate(self.digit)]
        rows.append((self.top, min(0, plan.b_lo), max(0, plan.b_hi), plan.top_shift))
        carries = [(c, 2 * i) for i, c in enumerate(self.neg)]
        return rows, carries, self.post


class LaneSum:
    """The lane's adder chain (``S``, exact) and its post multiplexer.

    Built level by level so that ``hw.dot_pe`` can register between levels:
    ``step(m, level)`` adds the next row; ``pieces()``/``replace()`` expose
    what is in flight for a register stage; ``product(m)`` applies the post
    shift once the chain is done.
    """

    def __init__(self, decode: LaneDecode):
        self.plan, self.name = decode.plan, decode.name
        rows, carries, post = decode.rows()
        self.rows, self.carries, self.post = rows, carries, post
        v, lo, hi, _ = rows[0]
        self.sum = (v, lo, hi)       # the partial sum, at shift 0
        self.next = 1

    def step(self, m, level):
        """Add row ``self.next`` (shift ``2 j``) and the carry of weight ``2^(2 j - 2)``:
        ``(sum >> f) + (row << 2) + carry`` from bit ``f = 2 j - 2`` (the
        sum's low bits are wired through; the first adder starts at bit 0
        and takes row 0's carry)."""
        j = self.next
        v, lo, hi, shift = self.rows[j]
        s, slo, shi = self.sum
        f = 0 if j == 1 else shift - 2
        carry = next(c for c, w in self.carries if w == f)
        self.carries = [(c, w) for c, w in self.carries if w != f]
        d = shift - f
        up_lo, up_hi = (slo >> f) + (lo << d), (shi >> f) + (hi << d) + 1
        up = Signal(signed(signed_width(up_lo, up_hi)), name=f"{self.name}_add{level}",
                    attrs={"keep": 1})
        m.d.comb += up.eq((s >> f) + (v << d) + carry)
        self.last_adder = up
        if f:
            total = Signal(signed(f + len(up)), name=f"{self.name}_sum{level}")
            m.d.comb += total.eq(Cat(s[:f], up))
        else:
            total = up
        self.sum = (total, slo + (lo << shift), shi + (hi << shift) + (1 << f))
        self.next += 1

    @property
    def done(self) -> bool:
        return self.next == len(self.rows)

    def pieces(self):
        """Everything of this lane a register stage must carry."""
        rest = [r[0] for r in self.rows[self.next:]]
        return [self.sum[0], *rest, *(c for c, _ in self.carries), self.post]

    def replace(self, regs):
        """Take the registered ``pieces()`` (same order)."""
        s, *regs = regs
        self.sum = (s, *self.sum[1:])
        n = len(self.rows) - self.next
        self.rows[self.next:] = [(q, *r[1:]) for q, r in zip(regs[:n], self.rows[self.next:])]
        regs = regs[n:]
        self.carries = [(q, w) for q, (_, w) in zip(regs, self.carries)]
        self.post = regs[-1]

    def product(self, m) -> Term:
        """The lane's exact product: ``S << posts[post]`` (``S`` exact in
        ``sum_width`` bits; under a post shift it is narrower still)."""
        plan = self.plan
        s = self.sum[0][:plan.sum_width].as_signed()
        out = Signal(signed(signed_width(*plan.product_range)), name=f"{self.name}_product")
        with m.Switch(self.post):
            for idx, p in enumerate(plan.posts):
                with m.Case(idx):
                    width = signed_width(*plan.sum_range[p])
                    m.d.comb += out.eq(s[:width].as_signed() << p)
            with m.Default():
                m.d.comb += out.eq(0)
        return Term(out, *plan.product_range)
