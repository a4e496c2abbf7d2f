"""The AXI shell: a tile behind AXI4-Lite control and AXI4-Stream data ports.

::

    s_axil_* --> AxiLiteSlave --> CsrFile (hw/axi_regs.py table) --> job descriptor, start
    s_axis_* (operand beats) -------------------------------> tile.load
                                                  tile.cmd <-- start
    m_axis_* (result rows, tlast on a job's last row) <-- tile.result
    irq <-- IRQ_STATUS & IRQ_ENABLE

Generic over the tile: any component with the members of
``hw.accel.AcceleratorTile`` (``cmd`` stream of a ``job_layout`` payload,
``load`` and ``result`` streams, ``counters_clear``, ``idle``, the
``COUNTERS``) and a ``config``; stream widths and select widths are read
from its signature, so the shell follows any array size, depth, ``k`` or
accumulator width.  A tile that also has the quantization unit's streams
(``hw.tile_quant.QuantTile``: ``qcfg``, ``mask``, ``requant``, ``qout``, and
``route``/``qlast`` in its command) gets one AXI4-Stream port per unit stream
(``hw.axi_quant``) and ``JOB_FLAGS.route``/``qlast`` go into its commands;
``ID.quant_lanes`` and ``QSTREAMS0/1`` say which build it is.

Programming model (docs/integration.md): write ``JOB_K`` and ``JOB_FLAGS``,
write ``CTRL.start``; send the job's ``k`` operand beats on ``s_axis`` (the
last with ``tlast``); an emitting job returns R rows on ``m_axis``, row R-1
with ``tlast``; ``STATUS.busy`` falls (and ``STATUS.done``,
``IRQ_STATUS.done`` rise) when its beats are in, computed and its rows taken.
Operand beats are back-pressured (``s_axis_tready`` low) until a job is
started.  One job at a time: ``start`` while busy is ignored and sets
``ERR.start_busy``; a ``k`` of 0 or above the depth, or a format code the
datapath lacks, is ignored and sets ``ERR.bad_k`` / ``ERR.bad_fmt``.

Tdata layouts: ``s_axis_tdata`` is the tile's ``load_layout`` (A operands of
rows 0..R-1 from bit 0, then B operands of columns 0..C-1), zero-padded to
whole bytes; ``m_axis_tdata`` is the tile's result row (``output_layout``:
the C sums, the C overflow flags, the row index, last), zero-padded.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from model.hw_vocab import side_formats
from model.formats import FORMATS

from .accel import COUNTER_WIDTH, COUNTERS
from .axi_csr import CsrFile, port_name
from .axi_lite import AXIL_PORTS, AxiLiteSlave, axil_members
from .axi_quant import connect_quant, quant_bytes, quant_members
from .axi_regs import ID_MAGIC, MAP_VERSION, register
from .tile_quant import ROUTE_UNIT

__all__ = ["AxiShell", "TOPLEVEL", "format_mask", "stream_bytes"]

TOPLEVEL = "radix4_axi"


def format_mask(side: str) -> int:
    """Bit n set: select code n of ``side`` is a format the datapath implements."""
    mask = 0
    for name in side_formats(side):
        mask |= 1 << FORMATS[name].hw_code
    return mask


def _is_code(select, side: str):
    """``select`` is the code of a format ``side`` implements."""
    return Cat(*[select == FORMATS[n].hw_code for n in side_formats(side)]).any()


def stream_bytes(bits: int) -> int:
    return (bits + 7) // 8


class AxiShell(wiring.Component):
    """``tile`` (an ``AcceleratorTile`` or a component with its members) behind AXI."""

    def __init__(self, tile):
        self.tile = tile
        self.config = tile.config
        sig = tile.signature.members
        self.job_layout = sig["cmd"].signature.members["payload"].shape
        self.load_bits = sig["load"].signature.members["payload"].shape.size
        self.result_layout = sig["result"].signature.members["payload"].shape
        self.in_bytes = stream_bytes(self.load_bits)
        self.out_bytes = stream_bytes(self.result_layout.size)
        # The tile with the quantization unit (hw.tile_quant) has a qcfg stream:
        # its unit streams get ports of their own (hw.axi_quant).
        self.quant = "qcfg" in sig
        self.quant_bytes = quant_bytes(sig) if self.quant else {}
        super().__init__({
            **(quant_members(sig) if self.quant else {}),
            **axil_members("s_axil_"),
            "s_axis_tdata": In(8 * self.in_bytes), "s_axis_tvalid": In(1),
            "s_axis_tready": Out(1), "s_axis_tlast": In(1),
            "m_axis_tdata": Out(8 * self.out_bytes), "m_axis_tvalid": Out(1),
            "m_axis_tready": In(1), "m_axis_tlast": Out(1),
            "irq": Out(1),
        })

    def _constants(self, m, csr):
        cfg = self.config
        values = {
            ("ID", "version"): MAP_VERSION, ("ID", "magic"): ID_MAGIC,
            ("ID", "quant_lanes"): self.tile.unit.lanes if self.quant else 0,
            ("CONFIG0", "rows"): cfg.rows, ("CONFIG0", "cols"): cfg.cols,
            ("CONFIG0", "acc_width"): cfg.acc_width, ("CONFIG0", "pe_latency"): cfg.pe_latency,
            ("CONFIG1", "depth_log2"): cfg.depth.bit_length() - 1,
            ("CONFIG1", "lanes"): cfg.lanes,
            ("CONFIG1", "a_formats"): format_mask("a"), ("CONFIG1", "b_formats"): format_mask("b"),
            ("STREAMS", "s_axis_bytes"): self.in_bytes,
            ("STREAMS", "m_axis_bytes"): self.out_bytes,
            ("QSTREAMS0", "qcfg_bytes"): self.quant_bytes.get("s_axis_qcfg", 0),
            ("QSTREAMS0", "q_bytes"): self.quant_bytes.get("m_axis_q", 0),
            ("QSTREAMS1", "mask_bytes"): self.quant_bytes.get("s_axis_mask", 0),
            ("QSTREAMS1", "rq_bytes"): self.quant_bytes.get("s_axis_rq", 0),
        }
        for (reg, field), v in values.items():
            width = register(reg).field(field).width
            assert 0 <= v < 1 << width, (reg, field, v)
            m.d.comb += getattr(csr, port_name(reg, field)).eq(Const(v, width))

    def elaborate(self, platform):
        m = Module()
        tile = self.tile
        R, depth = self.config.rows, self.config.depth
        m.submodules.tile = tile
        m.submodules.axil = axil = AxiLiteSlave()
        m.submodules.csr = csr = CsrFile()
        for name in AXIL_PORTS:
            port, inner = getattr(self, "s_axil_" + name), getattr(axil, name)
            if name in ("awready", "wready", "bresp", "bvalid", "arready", "rdata", "rresp",
                        "rvalid"):
                m.d.comb += port.eq(inner)
            else:
                m.d.comb += inner.eq(port)
        for name in ("w_en", "w_addr", "w_data", "w_strb", "r_en", "r_addr"):
            m.d.comb += getattr(csr, name).eq(getattr(axil, name))
        for name in ("w_err", "r_data", "r_err"):
            m.d.comb += getattr(axil, name).eq(getattr(csr, name))
        self._constants(m, csr)

        # ---- errors: one set pulse per ERR field --------------------------------
        err = {f.name: Signal(name=f"err_{f.name}") for f in register("ERR").fields}
        for name, sig in err.items():
            m.d.comb += getattr(csr, port_name("ERR", name) + "_set").eq(sig)
        m.d.comb += [err["ro_write"].eq(csr.ro_write), err["unmapped"].eq(csr.unmapped)]

        # ---- job start -----------------------------------------------------------
        cmd = tile.cmd
        cmd_valid = Signal()
        rows_pending = Signal(16)
        job_k = Signal(17)          # k of the running job (for the tlast check)
        busy = Signal()
        busy_q = Signal()
        done = Signal()
        k = csr.job_k_k
        a_fmt, b_fmt = csr.job_flags_a_fmt, csr.job_flags_b_fmt
        a_ok = Signal()
        b_ok = Signal()
        m.d.comb += [
            a_ok.eq(_is_code(a_fmt, "a")),
            b_ok.eq(_is_code(b_fmt, "b")),
            busy.eq(cmd_valid | ~tile.idle | (rows_pending != 0)),
        ]
        start = csr.ctrl_start
        route = csr.job_flags_route
        accept = Signal()
        bad_k = Signal()
        bad_fmt = Signal()
        bad_route = Signal()
        m.d.comb += [
            bad_k.eq((k == 0) | (k > depth)),
            bad_fmt.eq(~a_ok | ~b_ok),
            # the plain tile has route 0 only; route 3 is reserved
            bad_route.eq((route == 3) if self.quant else (route != 0)),
            accept.eq(start & ~busy & ~bad_k & ~bad_fmt & ~bad_route),
            err["start_busy"].eq(start & busy),
            err["bad_k"].eq(start & ~busy & bad_k),
            err["bad_fmt"].eq(start & ~busy & ~bad_k & bad_fmt),
            err["bad_route"].eq(start & ~busy & ~bad_k & ~bad_fmt & bad_route),
        ]
        beat_count = Signal(17)
        with m.If(accept):
            m.d.sync += [
                cmd_valid.eq(1),
                cmd.payload.k.eq(k),
                cmd.payload.a_fmt.eq(a_fmt),
                cmd.payload.b_fmt.eq(b_fmt),
                cmd.payload.accumulate.eq(csr.job_flags_accumulate),
                cmd.payload.emit.eq(csr.job_flags_emit),
                *([cmd.payload.route.eq(route), cmd.payload.qlast.eq(csr.job_flags_qlast)]
                  if self.quant else []),
                job_k.eq(k),
                beat_count.eq(0),
                done.eq(0),
            ]
        with m.Elif(cmd.valid & cmd.ready):
            m.d.sync += cmd_valid.eq(0)
        m.d.comb += cmd.valid.eq(cmd_valid)

        # ---- operand stream ------------------------------------------------------
        load = tile.load
        m.d.comb += [
            load.payload.eq(self.s_axis_tdata[:self.load_bits]),
            load.valid.eq(self.s_axis_tvalid),
            self.s_axis_tready.eq(load.ready),
        ]
        in_fire = Signal()
        is_last = Signal()
        job_last = Signal(17)
        m.d.comb += [in_fire.eq(self.s_axis_tvalid & load.ready),
                     job_last.eq(job_k - 1),
                     is_last.eq(beat_count == job_last)]
        with m.If(in_fire):
            m.d.sync += beat_count.eq(beat_count + 1)
            m.d.comb += [err["tlast_early"].eq(self.s_axis_tlast & ~is_last),
                         err["tlast_missing"].eq(~self.s_axis_tlast & is_last)]

        # ---- result stream -------------------------------------------------------
        res = tile.result
        out_fire = Signal()
        m.d.comb += [
            self.m_axis_tdata.eq(res.payload.as_value()),
            self.m_axis_tvalid.eq(res.valid),
            res.ready.eq(self.m_axis_tready),
            self.m_axis_tlast.eq(res.payload.last),
            out_fire.eq(res.valid & self.m_axis_tready),
            err["overflow"].eq(out_fire & (res.payload.overflow != 0)),
        ]
        add = Signal(16)
        raw_rows = route != ROUTE_UNIT      # routes 0 and 2: INT32 rows to m_axis
        m.d.comb += add.eq(Mux(accept & csr.job_flags_emit & raw_rows, R, 0))
        m.d.sync += rows_pending.eq(rows_pending + add - out_fire)

        if self.quant:
            connect_quant(m, self, tile, err)
        else:
            m.d.comb += err["qcfg_bad"].eq(0)

        # ---- status, done, interrupts --------------------------------------------
        finished = Signal()
        m.d.sync += busy_q.eq(busy)
        m.d.comb += finished.eq(busy_q & ~busy)
        with m.If(finished):
            m.d.sync += done.eq(1)
        any_err = Signal()
        m.d.comb += [
            any_err.eq(Cat(*err.values()).any()),
            csr.status_busy.eq(busy),
            csr.status_done.eq(done),
            csr.status_rows_pending.eq(rows_pending),
            csr.irq_status_done_set.eq(finished),
            csr.irq_status_error_set.eq(any_err),
            self.irq.eq(((csr.irq_status_done & csr.irq_enable_done)
                         | (csr.irq_status_error & csr.irq_enable_error)) != 0),
            tile.counters_clear.eq(csr.ctrl_counters_clear),
        ]

        # ---- counters: LO read latches HI ------------------------------------------
        assert COUNTER_WIDTH <= 48
        for name in COUNTERS:
            counter = getattr(tile, name)
            lo, hi = f"{name}_lo", f"{name}_hi"
            shadow = Signal(16, name=f"{name}_hi_shadow")
            lo_off = register(lo.upper()).offset
            with m.If(csr.r_en & (csr.r_addr[2:] == lo_off >> 2)):
                m.d.sync += shadow.eq(counter[32:])
            m.d.comb += [getattr(csr, port_name(lo.upper(), "value")).eq(counter[:32]),
                         getattr(csr, port_name(hi.upper(), "value")).eq(shadow)]
        return m
