"""The mutation catalogue's rows for the AXI shell, its AXI4-Lite slave and CSR
block, the shell around the quantization tile, and the board top's UART and
frame bridge (issues 26, 24).

Part of ``verif.mutants.CATALOGUE`` (its docstring says what a row is); kept
apart only to keep each catalogue module short.
"""

from __future__ import annotations

from .mutant import Mutant as M

__all__ = ["AXI_MUTANTS"]

AXI_MUTANTS = [
    # ---- AXI shell (issue 26) -------------------------------------------------------
    M("axi_start_while_busy", "axi_shell", "accept.eq(start & ~busy & ~bad_k & ~bad_fmt & ~bad_route)",
      "accept.eq(start & ~bad_k & ~bad_fmt & ~bad_route)", "start while busy replaces the running job"),
    M("axi_busy_ignores_rows", "axi_shell",
      "busy.eq(cmd_valid | ~tile.idle | (rows_pending != 0))", "busy.eq(cmd_valid | ~tile.idle)",
      "not busy while result rows are still to leave (done too early)"),
    M("axi_k0_starts", "axi_shell", "bad_k.eq((k == 0) | (k > depth))", "bad_k.eq(k > depth)",
      "k = 0 is passed to the tile instead of refused"),
    M("axi_tlast_missing_unflagged", "axi_shell",
      'err["tlast_missing"].eq(~self.s_axis_tlast & is_last)', 'err["tlast_missing"].eq(0)',
      "a job's last beat without tlast is not flagged"),
    M("axi_tlast_early_unflagged", "axi_shell",
      'err["tlast_early"].eq(self.s_axis_tlast & ~is_last)', 'err["tlast_early"].eq(0)',
      "tlast before a job's last beat is not flagged"),
    M("axi_overflow_unflagged", "axi_shell",
      'err["overflow"].eq(out_fire & (res.payload.overflow != 0))', 'err["overflow"].eq(0)',
      "ERR.overflow never set"),
    M("axi_done_not_cleared", "axi_shell", "                done.eq(0),\n", "",
      "STATUS.done stays set while the next job runs"),
    M("axi_irq_ignores_enable", "axi_shell",
      "(csr.irq_status_done & csr.irq_enable_done)", "csr.irq_status_done",
      "irq raised for a masked cause"),
    M("axi_tdata_shifted", "axi_shell", "load.payload.eq(self.s_axis_tdata[:self.load_bits])",
      "load.payload.eq(self.s_axis_tdata[1:self.load_bits + 1])",
      "operand beats taken one bit off"),
    M("axil_bresp_always_okay", "axi_lite", "self.bresp.eq(Mux(self.w_err, RESP_SLVERR, RESP_OKAY))",
      "self.bresp.eq(RESP_OKAY)", "illegal writes answered OKAY"),
    M("axil_read_overrun", "axi_lite", "self.arready.eq(~self.rvalid)", "self.arready.eq(1)",
      "a read accepted while its predecessor's response waits (response lost)"),
    M("csr_ro_write_ok", "axi_csr", "self.w_err.eq(self.w_en & (~w_hit | w_ro))",
      "self.w_err.eq(self.w_en & ~w_hit)", "write to a read-only register gets OKAY",
      ("tests:axi", "verif:axi")),
    M("csr_strobes_ignored", "axi_csr", "wdata.eq(self.w_data & mask)", "wdata.eq(self.w_data)",
      "byte strobes ignored on write-1 registers"),
    M("csr_w1c_clear_lost", "axi_csr", "m.d.sync += port.eq((port & ~clear) | setp)",
      "m.d.sync += port.eq(port | setp)", "write 1 does not clear a sticky bit",
      ("tests:axi", "verif:axi")),
    # ---- AXI shell around the tile with the quantization unit ----------------------
    M("axiq_route_dropped", "axi_shell", "cmd.payload.route.eq(route)", "cmd.payload.route.eq(0)",
      "JOB_FLAGS.route not passed to the tile (rows never reach the unit)", ("verif:axiq",)),
    M("axiq_qlast_dropped", "axi_shell", "cmd.payload.qlast.eq(csr.job_flags_qlast)",
      "cmd.payload.qlast.eq(0)", "JOB_FLAGS.qlast not passed (unit jobs never end)",
      ("verif:axiq",)),
    M("axiq_route3_accepted", "axi_shell", "bad_route.eq((route == 3) if self.quant",
      "bad_route.eq((route == 4) if self.quant", "reserved route 3 reaches the tile",
      ("verif:axiq",)),
    M("axiq_unit_rows_pending", "axi_shell", "raw_rows = route != ROUTE_UNIT", "raw_rows = 1",
      "rows routed to the unit counted as m_axis rows (busy never falls)", ("verif:axiq",)),
    M("axiq_qcfg_bad_unflagged", "axi_quant", 'err["qcfg_bad"].eq(qcfg_bad)',
      'err["qcfg_bad"].eq(0)', "ERR.qcfg_bad never set"),
    M("axiq_q_tlast_every_row", "axi_quant", 'port["tlast"].eq(inner.payload.last)',
      'port["tlast"].eq(1)', "m_axis_q tlast on every row, not on the unit job's last"),
    M("axiq_tdata_shifted", "axi_quant", 'inner.payload.eq(port["tdata"][:bits])',
      'inner.payload.eq(port["tdata"][1:bits + 1])', "unit stream beats taken one bit off"),
    # ---- board top: UART and frame bridge (the serial line's own checks) ------------
    M("bridge_checksum_unchecked", "uart_bridge",
      "with m.If(known & ((total + byte)[:8] == 0)):", "with m.If(known):",
      "a request with a bad checksum is executed, not refused"),
    M("bridge_no_resync", "uart_bridge",
      '                    with m.Elif(idle == self.timeout):\n                        m.next = "SYNC"\n',
      "", "a request cut off mid-frame swallows the next one (no timeout resync)"),
    M("bridge_reply_checksum_off", "uart_bridge", "self.tx_data.eq((~out_sum + 1)[:8])",
      "self.tx_data.eq((~out_sum)[:8])", "replies carry a wrong checksum"),
    M("bridge_row_have_forced", "uart_bridge", "Cat(have, Const(0, 7)), *data",
      "Cat(Const(1, 1), Const(0, 7)), *data", "ROW says a result row was waiting when none was"),
    M("uart_tx_no_stop_bit", "uart", "frame.eq(Cat(0, self.data, 1)), left.eq(10)",
      "frame.eq(Cat(0, self.data, 1)), left.eq(9)", "bytes sent without their stop bit"),
]
