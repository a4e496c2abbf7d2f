"""Text the Verilog writers add around Amaranth's output: the tops' module
names, the timescale and the time-0 kick of combinational blocks (for
4-state simulators).

Its own module, importing nothing of ours, so that the units that write their
own Verilog (``hw.quant_unit``, ``hw.tile_quant``) need not import
``hw.verilog``, which imports every top (and so the units) itself; and so
that the simulator build cache (``verif.toolchain``) names modules without
importing Amaranth.
"""

from __future__ import annotations

import re

__all__ = ["TIMESCALE", "TOPS", "kick_comb_blocks"]

TIMESCALE = "`timescale 1ns/1ps"

# top name -> Verilog module name
TOPS = {"pe": "radix4_pe", "array": "radix4_array", "accel": "radix4_accel", "axi": "radix4_axi",
        "axi_qtile": "radix4_axi_qtile"}

# Yosys' Verilog backend gives every module with combinational ``always @*``
# blocks a dummy register, declared ``reg \$auto$verilog_backend.cc:N:dump_module$M = 0;``
# and read by each block, so that the blocks run once at time 0.  Icarus
# applies that initial value before the blocks wait on it, so a block whose
# inputs never change (e.g. a mux fed only by reset-valued registers) stays X
# until its inputs move.  Toggling the register at ``#0`` (once every block is
# waiting) makes each block evaluate once.  Verilator is 2-state, evaluates
# all logic at time 0 anyway and refuses delays without ``--timing``, so it
# does not see the line; synthesis tools ignore it (dead register).
_YOSYS_INIT_TRIGGER = re.compile(
    r"^(?P<indent>[ \t]*)reg (?P<name>\\\$auto\$verilog_backend\.cc:\d+:dump_module\$\d+ )\s*= 0;\n",
    re.M)


def kick_comb_blocks(body: str) -> str:
    """After each Yosys trigger declaration, toggle it at ``#0`` (not under Verilator)."""
    return _YOSYS_INIT_TRIGGER.sub(
        lambda m: (f"{m.group(0)}`ifndef VERILATOR  // 4-state simulators: run comb blocks once\n"
                   f"{m.group('indent')}initial #0 {m.group('name')}= 1'b1;\n`endif\n"), body)
