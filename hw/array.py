"""Output-stationary systolic array of ``ProcessingElement``s.

Data flow (R rows, C columns, one input beat = one k step)::

    i --> [input register] --issue--> skew lines --> PE grid --> result regs --> [output register] --> o
                                       A row r: r-cycle delay, then right along row r
                                       B col c: c-cycle delay, then down column c
                                       control: down column 0, then right along each row

PE(r, c) sees beat k at issue time + r + c.  The control bits of a beat
(valid, first, last, a_fmt, b_fmt) travel with the A operand, so every PE gets
them in the same cycle as its operands; the format may therefore change from
one beat to the next.

Each cell forwards its inputs one cycle later to its right (A, control) and
lower (B) neighbour.  Those forwarding registers also tell the cell when its
``acc`` holds the sum of a ``last`` beat: the cycle after, the cell copies
``acc``/``overflow`` into its result register.  Row r is complete when cell
(r, C-1) has captured; rows complete one cycle apart, in order.  A row
pointer reads complete rows, one per cycle, into the registered output stream.

Only one GEMM's results can wait in the result registers.  A ``last`` beat is
therefore held in the input register (and ``i.ready`` drops, the array keeps
running with bubbles) while the previous GEMM still has rows that have not
moved to the output register.  Without output backpressure this only happens
when a GEMM has K <= R + C beats.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .pe import ProcessingElement, check_acc_width

__all__ = ["SystolicArray", "input_layout", "output_layout", "row_bits", "MAX_DIM"]

MAX_DIM = 64  # rows/cols accepted by the constructor (16x16 is the tested size)


def row_bits(rows: int) -> int:
    """Width of the output ``row`` field: max(1, ceil(log2(rows)))."""
    return max(1, (rows - 1).bit_length())


def input_layout(rows: int, cols: int) -> data.StructLayout:
    return data.StructLayout({
        "a": rows * 4, "b": cols * 4, "a_fmt": 2, "b_fmt": 1, "first": 1, "last": 1,
    })


def output_layout(rows: int, cols: int, acc_width: int) -> data.StructLayout:
    return data.StructLayout({
        "data": cols * acc_width, "overflow": cols, "row": row_bits(rows), "last": 1,
    })


def _check_dim(name, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DIM:
        raise ValueError(f"{name} must be an integer in [1, {MAX_DIM}], got {value!r}")
    return value


def _row_mux(values):
    """``Array`` indexed by the row pointer, padded to a power of two so the
    generated ``case`` covers every pointer value (the pointer never exceeds
    R-1; the padding repeats the last row and costs no logic)."""
    size = 1 << row_bits(len(values))
    return Array(values + [values[-1]] * (size - len(values)))


# Control bits that travel with the A operand.
_CONTROL_LAYOUT = data.StructLayout({
    "valid": 1, "first": 1, "last": 1, "a_fmt": 2, "b_fmt": 1,
})


class SystolicArray(wiring.Component):
    """R x C output-stationary GEMM array with stream input and output.

    ``i``: one beat per k step (A column k, B row k, formats, first, last).
    ``o``: R beats per GEMM, row 0 first, ``last`` on row R-1.
    """

    def __init__(self, rows: int, cols: int, acc_width: int = 32):
        try:
            self.rows = _check_dim("rows", rows)
            self.cols = _check_dim("cols", cols)
            self.acc_width = check_acc_width(acc_width)
        except ValueError:
            self._MustUse__silence = True  # never built: no "unused elaboratable" warning
            raise
        super().__init__({
            "i": In(stream.Signature(input_layout(rows, cols))),
            "o": Out(stream.Signature(output_layout(rows, cols, acc_width))),
        })

    def elaborate(self, platform):
        m = Module()
        R, C, W = self.rows, self.cols, self.acc_width

        # ---- input register: i.ready depends on state only -----------------
        held = Signal(input_layout(R, C))
        held_full = Signal()
        # results_pending: a last beat was issued and not all of its rows have
        # moved to the output register yet (so the result registers are taken).
        results_pending = Signal()
        issue = Signal()
        m.d.comb += issue.eq(held_full & ~(held.last & results_pending))
        m.d.comb += self.i.ready.eq(~held_full | issue)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [held.eq(self.i.payload), held_full.eq(1)]
        with m.Elif(issue):
            m.d.sync += held_full.eq(0)

        # ---- skew: what enters column 0 of row r / row 0 of column c --------
        # Control goes down column 0 one register per row.
        ctrl_in = [Signal(_CONTROL_LAYOUT, name=f"ctrl_in_{r}") for r in range(R)]
        m.d.comb += [
            ctrl_in[0].valid.eq(issue),
            ctrl_in[0].first.eq(held.first),
            ctrl_in[0].last.eq(held.last),
            ctrl_in[0].a_fmt.eq(held.a_fmt),
            ctrl_in[0].b_fmt.eq(held.b_fmt),
        ]
        for r in range(1, R):
            m.d.sync += ctrl_in[r].eq(ctrl_in[r - 1])

        a_in = [self._delay_line(m, held.a[4 * r:4 * r + 4], r, f"a_skew_{r}") for r in range(R)]
        b_in = [self._delay_line(m, held.b[4 * c:4 * c + 4], c, f"b_skew_{c}") for c in range(C)]

        # ---- PE grid ---------------------------------------------------------
        results = [[None] * C for _ in range(R)]
        result_ovf = [[None] * C for _ in range(R)]
        row_complete = [None] * R
        b_from_above = list(b_in)
        for r in range(R):
            a_from_left = a_in[r]
            ctrl_from_left = ctrl_in[r]
            for c in range(C):
                pe = ProcessingElement(W)
                m.submodules[f"pe_{r}_{c}"] = pe
                m.d.comb += [
                    pe.a.eq(a_from_left),
                    pe.b.eq(b_from_above[c]),
                    pe.a_fmt.eq(ctrl_from_left.a_fmt),
                    pe.b_fmt.eq(ctrl_from_left.b_fmt),
                    pe.valid.eq(ctrl_from_left.valid),
                    pe.clear.eq(ctrl_from_left.valid & ctrl_from_left.first),
                ]
                # Forwarding registers (only those someone reads).
                if c < C - 1:
                    a_next = Signal(4, name=f"a_fwd_{r}_{c}")
                    m.d.sync += a_next.eq(a_from_left)
                    a_from_left = a_next
                if r < R - 1:
                    b_next = Signal(4, name=f"b_fwd_{r}_{c}")
                    m.d.sync += b_next.eq(b_from_above[c])
                    b_from_above[c] = b_next
                # The valid/last pair always exists: it times the capture below.
                ctrl_next = Signal(_CONTROL_LAYOUT, name=f"ctrl_fwd_{r}_{c}")
                if c < C - 1:
                    m.d.sync += ctrl_next.eq(ctrl_from_left)
                else:
                    m.d.sync += [ctrl_next.valid.eq(ctrl_from_left.valid),
                                 ctrl_next.last.eq(ctrl_from_left.last)]
                # Result register: acc is the final sum the cycle after a last beat.
                capture = ctrl_next.valid & ctrl_next.last
                result = Signal(signed(W), name=f"result_{r}_{c}")
                ovf = Signal(name=f"result_ovf_{r}_{c}")
                with m.If(capture):
                    m.d.sync += [result.eq(pe.acc), ovf.eq(pe.overflow)]
                results[r][c] = result
                result_ovf[r][c] = ovf
                if c == C - 1:
                    row_complete[r] = capture
                ctrl_from_left = ctrl_next

        # ---- drain: rows in order into the registered output stream ----------
        row_ready = Signal(R)       # row r captured, not yet read
        read_row = Signal(range(R)) if R > 1 else Const(0, 1)
        read_now = Signal()
        row_ready_bits = _row_mux([row_ready[r] for r in range(R)])
        m.d.comb += read_now.eq(row_ready_bits[read_row] & (~self.o.valid | self.o.ready))

        for r in range(R):
            with m.If(row_complete[r]):
                m.d.sync += row_ready[r].eq(1)
            with m.Elif(read_now & (read_row == r)):
                m.d.sync += row_ready[r].eq(0)

        with m.If(read_now):
            column_data = []
            column_ovf = []
            for c in range(C):
                column_data.append(_row_mux([results[r][c] for r in range(R)])[read_row])
                column_ovf.append(_row_mux([result_ovf[r][c] for r in range(R)])[read_row])
            m.d.sync += [
                self.o.payload.data.eq(Cat(*column_data)),
                self.o.payload.overflow.eq(Cat(*column_ovf)),
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

        # The result registers are free once the last row has been read.
        with m.If(issue & held.last):
            m.d.sync += results_pending.eq(1)
        with m.Elif(read_now & (read_row == R - 1)):
            m.d.sync += results_pending.eq(0)
        return m

    @staticmethod
    def _delay_line(m, value, depth, name):
        """``value`` delayed by ``depth`` cycles (a chain of registers)."""
        for stage in range(depth):
            reg = Signal(len(value), name=f"{name}_{stage}")
            m.d.sync += reg.eq(value)
            value = reg
        return value
