"""Drain of the systolic array: complete rows, in order, into the output stream.

Rows become readable one cycle apart (the skew), row 0 first.  A row pointer
reads the row it points at as soon as that row is readable and the output
register is free (empty, or being taken this cycle), so the results of one
GEMM leave on consecutive cycles.  A row-select mux rather than a shift chain:
row 0 can leave while later rows are still being captured, which is what
lets GEMMs of K >= R + C + 1 stream back to back.

``o`` is a registered stream: ``o.valid``/``o.payload`` are flip-flops, and a
row stays in the output register until taken.

Timing (docs/timing.md): the output register is C*W + C + 3 flip-flops
spread over the whole array's width, so its load enable must not be a deep
function with one driver.  ``head_ready`` (the row the pointer is at is
readable) is a register computed a cycle ahead, and each column's group of
output flip-flops loads under its own enable ``head & (~valid | o.ready)``
from its own replicated copies of ``head_ready``, ``o.valid`` and the row
pointer (``hw.replica``).
"""

from amaranth.hdl import Array, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .replica import replica

__all__ = ["Drain", "output_layout", "row_bits"]


def row_bits(rows: int) -> int:
    """Width of the output ``row`` field: max(1, ceil(log2(rows)))."""
    return max(1, (rows - 1).bit_length())


def output_layout(rows: int, cols: int, acc_width: int) -> data.StructLayout:
    return data.StructLayout({
        "data": cols * acc_width, "overflow": cols, "row": row_bits(rows), "last": 1,
    })


def _row_mux(values):
    """``Array`` indexed by the row pointer, padded to a power of two so the
    generated ``case`` covers every pointer value (the pointer never exceeds
    R-1; the padding repeats the last row and costs no logic)."""
    size = 1 << row_bits(len(values))
    return Array(values + [values[-1]] * (size - len(values)))


class Drain(wiring.Component):
    """``data``/``overflow`` per row and ``done`` (row r readable from the
    next cycle) in; the output stream ``o`` and ``final_read`` (row R-1 moves
    to the output register this cycle) out."""

    def __init__(self, rows: int, cols: int, acc_width: int):
        self.rows, self.cols, self.acc_width = rows, cols, acc_width
        super().__init__({
            "data": In(data.ArrayLayout(cols * acc_width, rows)),
            "overflow": In(data.ArrayLayout(cols, rows)),
            "done": In(rows),
            "o": Out(stream.Signature(output_layout(rows, cols, acc_width))),
            "final_read": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        R, C, W = self.rows, self.cols, self.acc_width
        row_ready = Signal(R)       # row r readable, not yet read
        read_row = Signal(range(R)) if R > 1 else Const(0, 1)
        # head_ready == row_ready[read_row], kept in a register of its own
        # (computed a cycle ahead) so that the load enable below is a
        # function of three flip-flops and o.ready, not of the row-ready mux.
        head_ready = Signal()
        read_now = Signal()
        m.d.comb += [
            read_now.eq(head_ready & (~self.o.valid | self.o.ready)),
            self.final_read.eq(read_now & (read_row == R - 1)),
        ]

        ready_next = Signal(R)
        for r in range(R):
            m.d.comb += ready_next[r].eq(
                self.done[r] | (row_ready[r] & ~(read_now & (read_row == r))))
        read_row_next = Signal.like(read_row) if R > 1 else read_row
        if R > 1:
            m.d.comb += read_row_next.eq(
                Mux(read_now, Mux(read_row == R - 1, 0, read_row + 1), read_row))
        head_next = _row_mux([ready_next[r] for r in range(R)])[read_row_next]
        m.d.sync += [row_ready.eq(ready_next), head_ready.eq(head_next)]
        if R > 1:
            m.d.sync += read_row.eq(read_row_next)

        # The output register, one group per column.  Each group loads under
        # its own copy of the enable, built from its own copies (hw.replica)
        # of head_ready, o.valid and the row pointer: no net fans out to
        # every output flip-flop across the array (docs/timing.md).
        for c in range(C):
            head_c = replica(1, f"head_ready_c{c}")
            valid_c = replica(1, f"valid_c{c}")
            row_c = replica(len(read_row), f"read_row_c{c}") if R > 1 else read_row
            load_c = head_c & (~valid_c | self.o.ready)
            m.d.sync += head_c.eq(head_next)
            with m.If(load_c):
                m.d.sync += [
                    self.o.payload.data[c * W:(c + 1) * W].eq(
                        _row_mux([self.data[r][c * W:(c + 1) * W] for r in range(R)])[row_c]),
                    self.o.payload.overflow[c].eq(
                        _row_mux([self.overflow[r][c] for r in range(R)])[row_c]),
                    valid_c.eq(1),
                ]
            with m.Elif(self.o.ready):
                m.d.sync += valid_c.eq(0)
            if R > 1:
                m.d.sync += row_c.eq(read_row_next)

        with m.If(read_now):
            m.d.sync += [
                self.o.payload.row.eq(read_row),
                self.o.payload.last.eq(read_row == R - 1),
                self.o.valid.eq(1),
            ]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m
