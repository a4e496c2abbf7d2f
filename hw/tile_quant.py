"""The accelerator tile with the quantization unit on its result path (issue 12).

::

    cmd ----> AcceleratorTile --result rows--> route (per emitting job) --raw--> result
    load ---/                                        \\--unit--+
    mask ------------------------------------------------------+--> QuantUnit --> qout
    requant (stored INT32 rows) ---------------------(src=1)---/         ^
    qcfg --------------------------------------------------------------/

The command word is the tile's ``job_layout`` with two fields appended at the
top, so a word built for the plain tile is a valid raw command here:

- ``route``: where the job's R result rows go: 0 ``result`` (INT32, exactly
  the plain tile's stream), 1 the unit only, 2 both (INT32 to the host *and*
  the unit: the measuring pass of exact GradScale); 3 is refused
  (``cmd_error``, the job is dropped like a bad ``k``);
- ``qlast``: the job's last row ends the unit's job (``last`` on its input).

A unit job is one ``qcfg`` beat (the unit's ``config_layout`` plus ``src``:
0 the tile's routed rows, 1 the ``requant`` stream of stored INT32 rows,
which carries its own mask and ``last``; ``mask_en``: with ``src`` 0, take one
``mask`` beat per routed row, else the mask is all ones).  The host issues
``qcfg`` beats in the order of the unit jobs the routed rows form; the unit
takes a ``qcfg`` only between jobs, so the streams need no other ordering.

Rows routed to the unit while it runs a ``requant`` job wait (backpressure
into the array), and vice versa; raw rows never wait for the unit.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from model.config import DatapathConfig

from .accel import COUNTER_WIDTH, COUNTERS, AcceleratorTile, job_layout, load_layout
from .array import output_layout
from .quant_unit import QuantUnit, check_lanes, config_layout, input_layout
from .quant_unit import output_layout as unit_output_layout

__all__ = ["QuantTile", "default_quant_lanes", "QUANT_LANES_DEFAULT", "qjob_layout",
           "qcfg_layout", "mask_layout", "requant_layout", "ROUTE_RAW", "ROUTE_UNIT", "ROUTE_BOTH", "TAG_DEPTH", "TOPLEVEL"]

ROUTE_RAW, ROUTE_UNIT, ROUTE_BOTH = 0, 1, 2
TAG_DEPTH = 4       # emitting jobs between command and last row: loader, 2 banks, array
TOPLEVEL = "radix4_qtile"
# Two datapath lanes: the unit keeps up with an 8x8 array for K >= R*C/2 = 32 and
# costs under a third of the per-column unit (docs/quantizer.md, "Lanes").
QUANT_LANES_DEFAULT = 2


def default_quant_lanes(cols: int, quant_lanes: int | None = None) -> int:
    """The unit's lanes in the tile: ``quant_lanes``, or by default QUANT_LANES_DEFAULT
    (clamped to ``cols``, reduced until it divides ``cols``)."""
    if quant_lanes is not None:
        return check_lanes(cols, quant_lanes)
    lanes = min(QUANT_LANES_DEFAULT, cols)
    while cols % lanes:
        lanes -= 1
    return lanes


def qjob_layout(depth: int, pe=None) -> data.StructLayout:
    fields = {name: f.shape for name, f in job_layout(depth, pe)}
    return data.StructLayout({**fields, "route": 2, "qlast": 1})


def qcfg_layout(cols: int) -> data.StructLayout:
    fields = {name: f.shape for name, f in config_layout(cols)}
    return data.StructLayout({**fields, "src": 1, "mask_en": 1})


def mask_layout(cols: int) -> data.StructLayout:
    return data.StructLayout({"mask": cols})


def requant_layout(cols: int, acc_width: int) -> data.StructLayout:
    return input_layout(cols, acc_width)


class QuantTile(wiring.Component):
    """``AcceleratorTile`` + ``QuantUnit`` on its result path (module docstring)."""

    def __init__(self, rows: int | None = None, cols: int | None = None,
                 acc_width: int | None = None, depth: int | None = None,
                 pe_latency: int | None = None, quant_lanes: int | None = None, *,
                 lanes: int | None = None, config: DatapathConfig | None = None):
        self.tile = AcceleratorTile(rows, cols, acc_width, depth, pe_latency, lanes=lanes,
                                    config=config)
        cfg = self.config = self.tile.config
        self.unit = QuantUnit(lanes=default_quant_lanes(cfg.cols, quant_lanes), config=cfg)
        self.rows, self.cols, self.acc_width, self.depth = cfg.rows, cfg.cols, cfg.acc_width, \
            cfg.depth
        rows, cols, acc_width, depth, pe = cfg.rows, cfg.cols, cfg.acc_width, cfg.depth, \
            self.tile.pe_signature
        members = {
            "cmd": In(stream.Signature(qjob_layout(depth, pe))),
            "load": In(stream.Signature(load_layout(rows, cols, pe))),
            "qcfg": In(stream.Signature(qcfg_layout(cols))),
            "mask": In(stream.Signature(mask_layout(cols))),
            "requant": In(stream.Signature(requant_layout(cols, acc_width))),
            "result": Out(stream.Signature(output_layout(rows, cols, acc_width))),
            "qout": Out(stream.Signature(unit_output_layout(cols, acc_width))),
            "counters_clear": In(1),
            "idle": Out(1),
            "cmd_error": Out(1),
            "cfg_error": Out(1),
        }
        members.update({name: Out(COUNTER_WIDTH) for name in COUNTERS})
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        m.submodules.tile = tile = self.tile
        m.submodules.unit = unit = self.unit
        m.submodules.tags = tags = SyncFIFO(width=3, depth=TAG_DEPTH)

        # ---- commands: strip route/qlast into the tag FIFO ---------------------
        cmd = self.cmd.payload
        route_bad = cmd.route == 3
        k_ok = (cmd.k != 0) & (cmd.k <= self.depth)     # what the tile accepts
        needs_tag = cmd.emit & k_ok
        bad_route = Signal()
        for name, _ in job_layout(self.depth, self.tile.pe_signature):
            m.d.comb += getattr(tile.cmd.payload, name).eq(getattr(cmd, name))
        m.d.comb += [
            tile.cmd.valid.eq(self.cmd.valid & ~route_bad & tags.w_rdy),
            self.cmd.ready.eq(route_bad | (tile.cmd.ready & tags.w_rdy)),
            tags.w_data.eq(cmd.route | (cmd.qlast << 2)),
            tags.w_en.eq(self.cmd.valid & tile.cmd.ready & tags.w_rdy & ~route_bad & needs_tag),
        ]
        with m.If(self.cmd.valid & route_bad):
            m.d.sync += bad_route.eq(1)
        m.d.comb += [self.cmd_error.eq(tile.cmd_error | bad_route),
                     self.cfg_error.eq(unit.cfg_error)]

        # ---- unit configuration: src and mask_en latched with the job ---------
        src = Signal()
        mask_en = Signal()
        qc = self.qcfg.payload
        for name, _ in config_layout(self.cols):
            m.d.comb += getattr(unit.cfg.payload, name).eq(getattr(qc, name))
        m.d.comb += [unit.cfg.valid.eq(self.qcfg.valid), self.qcfg.ready.eq(unit.cfg.ready)]
        with m.If(self.qcfg.valid & unit.cfg.ready):
            m.d.sync += [src.eq(qc.src), mask_en.eq(qc.mask_en)]

        # ---- result rows: fork to the host and/or the unit ---------------------
        row = tile.result.payload
        route = tags.r_data[:2]
        qlast = tags.r_data[2]
        to_raw = route != ROUTE_UNIT
        to_unit = route != ROUTE_RAW
        mask_ok = ~mask_en | self.mask.valid
        ok_raw = ~to_raw | self.result.ready
        ok_unit = ~to_unit | (~src & unit.i.ready & mask_ok)
        fire = tile.result.valid & ok_raw & ok_unit
        m.d.comb += [
            tile.result.ready.eq(ok_raw & ok_unit),
            self.result.payload.eq(row),
            self.result.valid.eq(tile.result.valid & to_raw & ok_unit),
            tags.r_en.eq(fire & row.last),
            self.mask.ready.eq(tile.result.valid & to_unit & ~src & mask_en & ok_raw
                               & unit.i.ready),
        ]
        with m.If(src):
            m.d.comb += [unit.i.payload.eq(self.requant.payload),
                         unit.i.valid.eq(self.requant.valid),
                         self.requant.ready.eq(unit.i.ready)]
        with m.Else():
            m.d.comb += [
                unit.i.payload.data.eq(row.data),
                unit.i.payload.overflow.eq(row.overflow),
                unit.i.payload.mask.eq(
                    self.mask.payload.mask | ~mask_en.replicate(self.cols)),
                unit.i.payload.last.eq(row.last & qlast),
                unit.i.valid.eq(tile.result.valid & to_unit & mask_ok & ok_raw),
            ]
        wiring.connect(m, wiring.flipped(self.qout), unit.o)

        # ---- status, counters ------------------------------------------------
        wiring.connect(m, wiring.flipped(self.load), tile.load)
        m.d.comb += [
            tile.counters_clear.eq(self.counters_clear),
            self.idle.eq(tile.idle & ~tags.r_rdy),
        ]
        for name in COUNTERS:
            m.d.comb += getattr(self, name).eq(getattr(tile, name))
        return m


def generate_verilog(rows: int | None = None, cols: int | None = None,
                     acc_width: int | None = None, depth: int | None = None,
                     quant_lanes: int | None = None, pe_latency: int | None = None, *,
                     config: DatapathConfig | None = None) -> str:
    """Verilog of the tile with the unit (module ``radix4_qtile``)."""
    from amaranth.back import verilog

    from .dot_pe_model import model_sources
    from .verilog_text import TIMESCALE, kick_comb_blocks
    top = QuantTile(rows, cols, acc_width, depth, pe_latency, quant_lanes=quant_lanes,
                    config=config)
    cfg = top.config
    body = kick_comb_blocks(verilog.convert(top, name=TOPLEVEL, emit_src=False))
    return (f"// {TOPLEVEL}: radix4 tile + quantization unit (rows={cfg.rows} cols={cfg.cols} "
            f"acc_width={cfg.acc_width} depth={cfg.depth} quant_lanes={top.unit.lanes} "
            f"pe_latency={cfg.pe_latency}"
            + ("" if cfg.pe_model == "rtl" else f" pe_model={cfg.pe_model}") + ")\n"
            f"// Generated by hw.tile_quant.generate_verilog from hw/ (Amaranth); do not edit.\n"
            f"{TIMESCALE}\n") + body + model_sources(cfg)
