"""Input skew of the systolic array: one beat in, staggered lanes out.

Beat k is presented (``a``, ``b``, ``ctrl``) in the cycle it is issued.
Row r's A lane and control leave ``r`` cycles later, column c's B lane ``c``
cycles later, so that PE(r, c) -- which receives its A and control through
``c`` forwarding registers and its B through ``r`` -- sees all three in the
same cycle, issue + r + c.  Control goes down one register per row (a chain,
not per-row delay lines: row r's control is row r-1's one cycle later).
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from model.hw_vocab import lane_width, select_width

__all__ = ["Skew", "control_layout"]


def control_layout() -> data.StructLayout:
    """Control bits that travel with the A operand (select widths from the table)."""
    return data.StructLayout({
        "valid": 1, "first": 1, "last": 1,
        "a_fmt": select_width("a"), "b_fmt": select_width("b"),
    })


class Skew(wiring.Component):
    """``a`` (R lanes), ``b`` (C lanes), ``ctrl`` in; per-row A lane and
    control, per-column B lane out, row/column ``i`` delayed by ``i`` cycles."""

    def __init__(self, rows: int, cols: int):
        self.rows, self.cols = rows, cols
        lane = lane_width()
        super().__init__({
            "a": In(rows * lane),
            "b": In(cols * lane),
            "ctrl": In(control_layout()),
            "row_a": Out(data.ArrayLayout(lane, rows)),
            "row_ctrl": Out(data.ArrayLayout(control_layout(), rows)),
            "col_b": Out(data.ArrayLayout(lane, cols)),
        })

    def elaborate(self, platform):
        m = Module()
        lane = lane_width()
        ctrl = self.ctrl
        for r in range(self.rows):
            m.d.comb += self.row_ctrl[r].eq(ctrl)
            if r < self.rows - 1:
                nxt = Signal(control_layout(), name=f"ctrl_skew_{r + 1}")
                m.d.sync += nxt.eq(ctrl)
                ctrl = nxt
            m.d.comb += self.row_a[r].eq(
                _delay(m, self.a[lane * r:lane * (r + 1)], r, f"a_skew_{r}"))
        for c in range(self.cols):
            m.d.comb += self.col_b[c].eq(
                _delay(m, self.b[lane * c:lane * (c + 1)], c, f"b_skew_{c}"))
        return m


def _delay(m, value, depth, name):
    """``value`` delayed by ``depth`` cycles (a chain of registers)."""
    for stage in range(depth):
        reg = Signal(len(value), name=f"{name}_{stage}")
        m.d.sync += reg.eq(value)
        value = reg
    return value
