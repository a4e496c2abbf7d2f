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

The PE is a parameter: ``pe_class.from_config(config)`` builds each cell
(default ``default_pe_class(config.lanes)``: ``hw.pe.ProcessingElement`` for
one lane, ``hw.dot_pe.DotProductPE`` for k lanes) and must declare the
configuration's latency and lanes; the operand and select widths of the input beat are
the PE's signature's.  The array's external timing is the same for PE
latency 1 and 2 (see ``hw.grid``).

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

from model.config import DEFAULT_PE, DatapathConfig

from .drain import Drain, output_layout, row_bits
from .grid import PEGrid
from .pe_kinds import pe_class_for
from .pe_signature import SIDE_OPERANDS, PESignature, default_pe_signature
from .replica import replica
from .skew import Skew, control_layout

__all__ = ["SystolicArray", "input_layout", "output_layout", "row_bits", "control_layout",
           "default_pe_class"]


def default_pe_class(lanes: int):
    """The radix-4 PE of ``lanes`` lanes: today's one-MAC PE for one lane, the
    k-lane dot-product PE (SPEC 2, ``--lanes K``) otherwise."""
    return pe_class_for(DEFAULT_PE, lanes)


def input_layout(rows: int, cols: int, pe: PESignature | None = None, *,
                 lanes: int = 1) -> data.StructLayout:
    """One input beat: R A operands, C B operands, the side operands of a PE
    that has them, the selects, first and last (widths: the PE's signature
    ``pe``; default the radix-4 PE's of ``lanes`` lanes).  PE row r's ``k``
    codes are A lanes ``r*k .. r*k + k - 1`` (lane 0 of the PE, the lowest K
    of the group, lowest).  Side operands (``a_scale``: R fields, row r at
    bits ``[w*r, w*r + w)``; ``b_scale``: C fields, column c likewise) follow
    ``b`` and are absent for a PE without them (width 0)."""
    pe = pe or default_pe_signature(lanes)
    fields = {"a": rows * pe.operand_width, "b": cols * pe.operand_width}
    for side, operand in SIDE_OPERANDS.items():
        if pe.side_width(side):
            fields[side] = (rows if operand == "a" else cols) * pe.side_width(side)
    # The selects keep their (possibly zero-width) fields: the payload layout
    # of the PEs without selects is the one they have always had.
    return data.StructLayout({**fields, "a_fmt": pe.a_select_width,
                              "b_fmt": pe.b_select_width, "first": 1, "last": 1})


class SystolicArray(wiring.Component):
    """R x C output-stationary GEMM array with stream input and output.

    ``i``: one beat per k step (A column k, B row k, formats, first, last).
    ``o``: R beats per GEMM, row 0 first, ``last`` on row R-1.

    Built from a ``model.config.DatapathConfig`` (``config=``, or the fields
    one by one).  ``pe_class`` builds the cells (``pe_class.from_config``;
    default the class of ``config.pe``, ``hw.pe_kinds``); the input layout
    follows the PE's signature (``pe_signature``).
    """

    def __init__(self, rows: int | None = None, cols: int | None = None,
                 acc_width: int | None = None, pe_latency: int | None = None, pe_class=None, *,
                 lanes: int | None = None, config: DatapathConfig | None = None):
        try:
            self.config = DatapathConfig.of(config, rows=rows, cols=cols, acc_width=acc_width,
                                            pe_latency=pe_latency, lanes=lanes)
        except ValueError:
            self._MustUse__silence = True  # never built: no "unused elaboratable" warning
            raise
        cfg = self.config
        self.rows, self.cols, self.acc_width = cfg.rows, cfg.cols, cfg.acc_width
        self.pe_latency = cfg.pe_latency
        # hw.synth_compose passes a black box here; default: the kind's class.
        self.pe_class = (pe_class if pe_class is not None
                         else pe_class_for(cfg.pe, cfg.lanes, cfg.pe_model))
        self.grid = PEGrid(cfg, self.pe_class)
        self.pe_signature = self.grid.pe_signature
        super().__init__({
            "i": In(stream.Signature(input_layout(cfg.rows, cfg.cols, self.pe_signature))),
            "o": Out(stream.Signature(output_layout(cfg.rows, cfg.cols,
                                                    self.pe_signature.acc_width))),
        })

    def elaborate(self, platform):
        m = Module()
        R, C, sig = self.rows, self.cols, self.pe_signature
        m.submodules.skew = skew = Skew(R, C, sig)
        m.submodules.grid = grid = self.grid
        m.submodules.drain = drain = Drain(R, C, sig.acc_width)

        # ---- input register: i.ready depends on state only -----------------
        held = Signal(input_layout(R, C, sig))
        held_full = Signal()
        # results_pending: a last beat was issued and not all of its rows have
        # moved to the output register yet (so the result registers are taken).
        results_pending = Signal()
        issue = Signal()
        m.d.comb += issue.eq(held_full & ~(held.last & results_pending))
        m.d.comb += self.i.ready.eq(~held_full | issue)
        with m.If(self.i.valid & self.i.ready):
            # The control fields here; the operand lanes below.
            m.d.sync += [getattr(held, f).eq(getattr(self.i.payload, f))
                         for f in (*sig.selects(), "first", "last")]
            m.d.sync += held_full.eq(1)
        with m.Elif(issue):
            m.d.sync += held_full.eq(0)
        # The operand lanes load under per-row / per-column copies of that
        # enable, from their own copies (hw.replica) of held_full, held.last
        # and results_pending: no one net enables every input flip-flop
        # (docs/timing.md).  Each copy holds what its master holds.
        # A row's side operand (a_scale) loads with its A lanes, a column's with B's.
        lane = sig.operand_width
        sides = {op: [(s, sig.side_width(s)) for s, o in SIDE_OPERANDS.items()
                      if o == op and sig.side_width(s)] for op in ("a", "b")}
        groups = [([("a", lane * r, lane)] + [(s, w * r, w) for s, w in sides["a"]], f"a{r}")
                  for r in range(R)]
        groups += [([("b", lane * c, lane)] + [(s, w * c, w) for s, w in sides["b"]], f"b{c}")
                   for c in range(C)]
        for slices, tag in groups:
            full_g, last_g, pending_g = (replica(1, f"held_{x}_{tag}")
                                         for x in ("full", "last", "pending"))
            load_g = self.i.valid & (~full_g | ~(last_g & pending_g))
            with m.If(load_g):
                m.d.sync += [getattr(held, field)[lo:lo + width].eq(
                                 getattr(self.i.payload, field)[lo:lo + width])
                             for field, lo, width in slices]
                m.d.sync += [full_g.eq(1), last_g.eq(self.i.payload.last)]
            with m.Elif(issue):
                m.d.sync += full_g.eq(0)
            with m.If(issue & held.last):
                m.d.sync += pending_g.eq(1)
            with m.Elif(drain.final_read):
                m.d.sync += pending_g.eq(0)

        m.d.comb += [getattr(skew, side).eq(getattr(held, side)) for side in SIDE_OPERANDS
                     if sig.side_width(side)]
        m.d.comb += [getattr(grid, f"{'row' if op == 'a' else 'col'}_{side}").eq(
                         getattr(skew, f"{'row' if op == 'a' else 'col'}_{side}"))
                     for side, op in SIDE_OPERANDS.items() if sig.side_width(side)]
        m.d.comb += [
            skew.a.eq(held.a),
            skew.b.eq(held.b),
            skew.ctrl.valid.eq(issue),
            skew.ctrl.first.eq(held.first),
            skew.ctrl.last.eq(held.last),
            *(getattr(skew.ctrl, f).eq(getattr(held, f)) for f in sig.selects()),
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
