"""Input skew of the systolic array: one beat in, staggered lanes out.

Beat k is presented (``a``, ``b``, ``ctrl``) in the cycle it is issued.
Row r's A lane and control leave ``r`` cycles later, column c's B lane ``c``
cycles later, so that PE(r, c) -- which receives its A and control through
``c`` forwarding registers and its B through ``r`` -- sees all three in the
same cycle, issue + r + c.  Control goes down one register per row (a chain,
not per-row delay lines: row r's control is row r-1's one cycle later).
Its registers are replicas (``hw.replica``): equal to the grid's
forwarding registers on the same anti-diagonal, and kept apart from them
in synthesis so each drives only its own row (docs/timing.md).
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .pe_signature import SIDE_OPERANDS, PESignature, default_pe_signature
from .replica import replica

__all__ = ["Skew", "control_layout"]


def control_layout(pe: PESignature | None = None) -> data.StructLayout:
    """Control bits that travel with the A operand (select widths: the PE's)."""
    pe = pe or default_pe_signature()
    return data.StructLayout({
        "valid": 1, "first": 1, "last": 1,
        "a_fmt": pe.a_select_width, "b_fmt": pe.b_select_width,
    })


class Skew(wiring.Component):
    """``a`` (R PE operands), ``b`` (C PE operands), ``ctrl`` in; per-row A
    operand and control, per-column B operand out, row/column ``i`` delayed
    by ``i`` cycles.  Operand shapes are the PE's (``pe``).  A PE's side
    operands (``a_scale``: R fields in, ``row_a_scale`` out; ``b_scale``: C
    fields, ``col_b_scale``) are delayed like the operand they travel with."""

    def __init__(self, rows: int, cols: int, pe: PESignature | None = None):
        self.rows, self.cols = rows, cols
        self.pe = pe = pe or default_pe_signature()
        sides = {}
        for side, operand in SIDE_OPERANDS.items():
            width, n = pe.side_width(side), rows if operand == "a" else cols
            if width:
                where = "row" if operand == "a" else "col"
                sides[side] = In(n * width)
                sides[f"{where}_{side}"] = Out(data.ArrayLayout(width, n))
        super().__init__({
            "a": In(rows * pe.operand_width),
            "b": In(cols * pe.operand_width),
            "ctrl": In(control_layout(pe)),
            "row_a": Out(data.ArrayLayout(pe.operand_shape, rows)),
            "row_ctrl": Out(data.ArrayLayout(control_layout(pe), rows)),
            "col_b": Out(data.ArrayLayout(pe.operand_shape, cols)),
            **sides,
        })

    def elaborate(self, platform):
        m = Module()
        lane = self.pe.operand_width
        ctrl = self.ctrl
        for r in range(self.rows):
            m.d.comb += self.row_ctrl[r].eq(ctrl)
            if r < self.rows - 1:
                nxt = replica(control_layout(self.pe), f"ctrl_skew_{r + 1}")
                m.d.sync += nxt.eq(ctrl)
                ctrl = nxt
            m.d.comb += self.row_a[r].eq(
                _delay(m, self.a[lane * r:lane * (r + 1)], r, f"a_skew_{r}"))
        for c in range(self.cols):
            m.d.comb += self.col_b[c].eq(
                _delay(m, self.b[lane * c:lane * (c + 1)], c, f"b_skew_{c}"))
        for side, operand in SIDE_OPERANDS.items():
            width = self.pe.side_width(side)
            if not width:
                continue
            where = "row" if operand == "a" else "col"
            flat, out = getattr(self, side), getattr(self, f"{where}_{side}")
            for i in range(self.rows if operand == "a" else self.cols):
                m.d.comb += out[i].eq(
                    _delay(m, flat[width * i:width * (i + 1)], i, f"{side}_skew_{i}"))
        return m


def _delay(m, value, depth, name):
    """``value`` delayed by ``depth`` cycles (a chain of registers)."""
    for stage in range(depth):
        reg = Signal(len(value), name=f"{name}_{stage}")
        m.d.sync += reg.eq(value)
        value = reg
    return value
