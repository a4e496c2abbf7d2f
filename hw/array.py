"""Output-stationary systolic array of processing elements.

Data flow (R rows, C columns, one input beat = one k step)::

    i --> [input register] --issue--> Skew --> PEGrid --> Drain --> o
                                      (hw.skew) (hw.grid)  (hw.drain)

* ``Skew``: A row r and its control leave r cycles after issue, B column c
  after c cycles.
* ``PEGrid``: PE(r, c) sees beat k at issue + r + c; control bits (valid,
  first, last, a_fmt, b_fmt) travel with A, so formats may change from beat
  to beat.  Result capture is timed from the PE's declared ``latency``.
* ``Drain``: complete rows, in order, one per cycle, into the registered
  output stream.

The PE is a parameter: ``pe_class(acc_width, latency=pe_latency)`` builds
each cell (default ``hw.pe.ProcessingElement``) and must declare that
latency.  The array's external timing is the same for PE latency 1 and 2
(see ``hw.grid``).

Only one GEMM's results can wait in the result registers.  A ``last`` beat is
therefore held in the input register (and ``i.ready`` drops, the array keeps
running with bubbles) while the previous GEMM still has rows that have not
moved to the output register.  Without output backpressure this only happens
when a GEMM has K <= R + C beats.
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from model.hw_vocab import lane_width, select_width

from .drain import Drain, output_layout, row_bits
from .grid import PEGrid
from .pe import DEFAULT_PE_LATENCY, ProcessingElement, check_acc_width, check_latency
from .skew import Skew, control_layout

__all__ = ["SystolicArray", "input_layout", "output_layout", "row_bits", "control_layout",
           "MAX_DIM"]

MAX_DIM = 64  # rows/cols accepted by the constructor (16x16 is the tested size)


def input_layout(rows: int, cols: int) -> data.StructLayout:
    lane = lane_width()
    return data.StructLayout({
        "a": rows * lane, "b": cols * lane, "a_fmt": select_width("a"),
        "b_fmt": select_width("b"), "first": 1, "last": 1,
    })


def _check_dim(name, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DIM:
        raise ValueError(f"{name} must be an integer in [1, {MAX_DIM}], got {value!r}")
    return value


class SystolicArray(wiring.Component):
    """R x C output-stationary GEMM array with stream input and output.

    ``i``: one beat per k step (A column k, B row k, formats, first, last).
    ``o``: R beats per GEMM, row 0 first, ``last`` on row R-1.
    """

    def __init__(self, rows: int, cols: int, acc_width: int = 32,
                 pe_latency: int = DEFAULT_PE_LATENCY,
                 pe_class=None):
        try:
            self.rows = _check_dim("rows", rows)
            self.cols = _check_dim("cols", cols)
            self.acc_width = check_acc_width(acc_width)
            self.pe_latency = check_latency(pe_latency)
        except ValueError:
            self._MustUse__silence = True  # never built: no "unused elaboratable" warning
            raise
        # Looked up when the array is built, so a caller may substitute the PE
        # module-wide (hw.synth_compose swaps in a black box this way).
        self.pe_class = pe_class if pe_class is not None else ProcessingElement
        super().__init__({
            "i": In(stream.Signature(input_layout(rows, cols))),
            "o": Out(stream.Signature(output_layout(rows, cols, acc_width))),
        })

    def elaborate(self, platform):
        m = Module()
        R, C, W = self.rows, self.cols, self.acc_width
        m.submodules.skew = skew = Skew(R, C)
        m.submodules.grid = grid = PEGrid(R, C, W, self.pe_latency, self.pe_class)
        m.submodules.drain = drain = Drain(R, C, W)

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

        m.d.comb += [
            skew.a.eq(held.a),
            skew.b.eq(held.b),
            skew.ctrl.valid.eq(issue),
            skew.ctrl.first.eq(held.first),
            skew.ctrl.last.eq(held.last),
            skew.ctrl.a_fmt.eq(held.a_fmt),
            skew.ctrl.b_fmt.eq(held.b_fmt),
        ]
        m.d.comb += [
            grid.row_a.eq(skew.row_a),
            grid.row_ctrl.eq(skew.row_ctrl),
            grid.col_b.eq(skew.col_b),
            drain.data.eq(grid.data),
            drain.overflow.eq(grid.overflow),
            drain.done.eq(grid.done),
        ]
        # The drain's registered output stream is the array's.
        wiring.connect(m, drain.o, wiring.flipped(self.o))

        # The result registers are free once the last row has been read.
        with m.If(issue & held.last):
            m.d.sync += results_pending.eq(1)
        with m.Elif(drain.final_read):
            m.d.sync += results_pending.eq(0)
        return m
