"""Drain of the systolic array: complete rows, in order, into the output stream.

Rows become readable one cycle apart (the skew), row 0 first.  A row pointer
reads the row it points at as soon as that row is readable and the output
register is free (empty, or being taken this cycle), so the results of one
GEMM leave on consecutive cycles.  A row-select mux rather than a shift chain:
row 0 can leave while later rows are still being captured, which is what
lets GEMMs of K >= R + C + 1 stream back to back.

``o`` is a registered stream: ``o.valid``/``o.payload`` are flip-flops, and a
row stays in the output register until taken.
"""

from amaranth.hdl import Array, Const, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

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
        R = self.rows
        row_ready = Signal(R)       # row r readable, not yet read
        read_row = Signal(range(R)) if R > 1 else Const(0, 1)
        read_now = Signal()
        row_ready_bits = _row_mux([row_ready[r] for r in range(R)])
        m.d.comb += [
            read_now.eq(row_ready_bits[read_row] & (~self.o.valid | self.o.ready)),
            self.final_read.eq(read_now & (read_row == R - 1)),
        ]

        for r in range(R):
            with m.If(self.done[r]):
                m.d.sync += row_ready[r].eq(1)
            with m.Elif(read_now & (read_row == r)):
                m.d.sync += row_ready[r].eq(0)

        with m.If(read_now):
            m.d.sync += [
                self.o.payload.data.eq(_row_mux([self.data[r] for r in range(R)])[read_row]),
                self.o.payload.overflow.eq(
                    _row_mux([self.overflow[r] for r in range(R)])[read_row]),
                self.o.payload.row.eq(read_row),
                self.o.payload.last.eq(read_row == R - 1),
                self.o.valid.eq(1),
            ]
            if R > 1:
                m.d.sync += read_row.eq(read_row + 1)
                with m.If(read_row == R - 1):
                    m.d.sync += read_row.eq(0)
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m
