"""The PE grid of the systolic array: cells, forwarding registers, result capture.

Each cell forwards its A lane and control one cycle later to its right and
its B lane one cycle later to the cell below, so PE(r, c) sees a beat
``r + c`` cycles after it entered the skew (see ``hw.skew``).

Capture timing comes from the PE's declared ``latency`` L: the cell's
``acc`` holds the sum of a ``last`` beat L cycles after the cell saw it.  The
control chain of a row therefore runs L stages past the last column (only
the 1-bit "valid last" survives there), and cell c copies ``acc``/``overflow``
into its result register when the last beat is L stages downstream of it.

``done[r]`` tells the drain that row r can be read from the next cycle on.
With L = 1 that is the cycle the last cell captures.  With L >= 2 it is one
cycle before the last cell's ``acc`` becomes final; the row's last column is
then read straight from ``acc`` in its capture cycle (its result register is
written in the same edge and holds it afterwards, for a drain held by
backpressure).  So a 2-cycle PE costs the array no extra result latency and
back-to-back streaming keeps its K >= R + C + 1 bound.  ``done`` moves by
L - 2 cycles for deeper PEs.

Every PE on an anti-diagonal sees the same control value, so the control
and "valid last" registers are replicas (``hw.replica``): synthesis keeps
one copy per row and column instead of merging a diagonal's copies into one
register with a die-wide fanout (docs/timing.md).
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from model.config import DatapathConfig

from .pe_signature import SIDE_OPERANDS
from .replica import replica
from .skew import control_layout

__all__ = ["PEGrid", "done_stage"]


def done_stage(cols: int, latency: int) -> int:
    """Control-chain stage (0 = column 0's input) at which a row's ``done`` fires."""
    return cols - 1 + max(1, latency - 1)


class PEGrid(wiring.Component):
    """R x C cells of ``pe_class.from_config(config)``.

    The cells are built here, and everything the grid needs to know about a
    PE it reads from them: its signature (``hw.pe_signature.PESignature``:
    operand lanes, select widths, accumulator), its ``latency`` and
    ``lanes``.  ``pe_signature`` is that signature, for the array's layouts.

    In: per-row A operand and control, per-column B operand (skewed), and
    the PE's side operands (``row_a_scale``, ``col_b_scale``; absent at
    width 0), forwarded with A to the right and with B downwards.
    Out: ``data[r]`` (row r, column c at bits ``[W*c, W*c+W)``),
    ``overflow[r]`` (bit c), ``done`` (bit r: row r readable next cycle).
    """

    def __init__(self, config: DatapathConfig, pe_class):
        self.config = config
        self.rows, self.cols = config.rows, config.cols
        self.cells = [[pe_class.from_config(config) for _ in range(config.cols)]
                      for _ in range(config.rows)]
        first = self.cells[0][0]
        for attr in ("latency", "lanes"):
            declared = getattr(first, attr, None)
            wanted = getattr(config, "pe_latency" if attr == "latency" else attr)
            if declared != wanted:
                for row in self.cells:
                    for pe in row:
                        pe._MustUse__silence = True
                raise ValueError(f"{pe_class.__name__} declares {attr} {declared!r}, the array "
                                 f"was built for {wanted}")
        self.pe_signature = sig = first.signature
        self.pe_latency = first.latency
        W = sig.acc_width
        sides = {f"{'row' if op == 'a' else 'col'}_{side}":
                 In(data.ArrayLayout(sig.side_width(side),
                                     config.rows if op == "a" else config.cols))
                 for side, op in SIDE_OPERANDS.items() if sig.side_width(side)}
        super().__init__({
            **sides,
            "row_a": In(data.ArrayLayout(sig.operand_shape, config.rows)),
            "row_ctrl": In(data.ArrayLayout(control_layout(sig), config.rows)),
            "col_b": In(data.ArrayLayout(sig.operand_shape, config.cols)),
            "data": Out(data.ArrayLayout(config.cols * W, config.rows)),
            "overflow": Out(data.ArrayLayout(config.cols, config.rows)),
            "done": Out(config.rows),
        })

    def elaborate(self, platform):
        m = Module()
        R, C, L = self.rows, self.cols, self.pe_latency
        sig = self.pe_signature
        # Per column: B and its side operands, forwarded down together.
        b_from_above = [{"b": self.col_b[c]} for c in range(C)]
        for side, op in SIDE_OPERANDS.items():
            if op == "b" and sig.side_width(side):
                for c in range(C):
                    b_from_above[c][side] = getattr(self, f"col_{side}")[c]
        for r in range(R):
            # Control chain of row r: stage c feeds PE(r, c) for c < C; the
            # stages after the last column keep only "valid last".
            ctrl = [self.row_ctrl[r]]
            for c in range(1, C):
                reg = replica(control_layout(sig), f"ctrl_fwd_{r}_{c - 1}")
                m.d.sync += reg.eq(ctrl[-1])
                ctrl.append(reg)
            ends = [x.valid & x.last for x in ctrl]
            for stage in range(C, C + L):
                reg = replica(1, f"end_{r}_{stage}")
                m.d.sync += reg.eq(ends[-1])
                ends.append(reg)

            # A and its side operands, forwarded right together.
            a_from_left = {"a": self.row_a[r]}
            a_from_left.update({side: getattr(self, f"row_{side}")[r]
                                for side, op in SIDE_OPERANDS.items()
                                if op == "a" and sig.side_width(side)})
            words, flags = [], []
            for c in range(C):
                pe = self.cells[r][c]
                m.submodules[f"pe_{r}_{c}"] = pe
                drive = {**a_from_left, **b_from_above[c],
                         **{f: getattr(ctrl[c], f) for f in sig.selects()},
                         "valid": ctrl[c].valid, "clear": ctrl[c].valid & ctrl[c].first}
                # Every input of the PE's signature, and only those.
                m.d.comb += [getattr(pe, name).eq(drive[name])
                             for name, member in sig.members.items() if member.flow == In]
                # Forwarding registers (only those someone reads).
                if c < C - 1:
                    a_from_left = _forward(m, a_from_left, f"fwd_{r}_{c}")
                if r < R - 1:
                    b_from_above[c] = _forward(m, b_from_above[c], f"fwd_{r}_{c}")
                # Result register: acc is the final sum L cycles after the last beat.
                capture = ends[c + L]
                result = Signal(sig.acc_shape, name=f"result_{r}_{c}")
                ovf = Signal(name=f"result_ovf_{r}_{c}")
                with m.If(capture):
                    m.d.sync += [result.eq(pe.acc), ovf.eq(pe.overflow)]
                if c == C - 1 and L >= 2:
                    # Read in its capture cycle: straight from acc (see module doc).
                    result, ovf = Mux(capture, pe.acc, result), Mux(capture, pe.overflow, ovf)
                words.append(result)
                flags.append(ovf)
            m.d.comb += [
                self.data[r].eq(Cat(*words)),
                self.overflow[r].eq(Cat(*flags)),
                self.done[r].eq(ends[done_stage(C, L)]),
            ]
        return m


def register_each(m, values: dict, name_of) -> dict:
    """Each of ``values`` (name -> signal) one register later, the register
    named ``name_of(name)`` (the grid's forwarding, the FP baselines' stages)."""
    out = {}
    for name, value in values.items():
        reg = Signal.like(value, name=name_of(name))
        m.d.sync += reg.eq(value)
        out[name] = reg
    return out


def _forward(m, values: dict, tag: str) -> dict:
    """Each of ``values`` one register later (``<name>_<tag>``)."""
    return register_each(m, values, lambda name: f"{name}_{tag}")
