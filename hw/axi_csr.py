"""The CSR decode generated from the register table (``hw.axi_regs.REGISTERS``).

``CsrFile`` sits behind the AXI4-Lite slave (``hw.axi_lite``) on a one-cycle
register bus: ``w_en`` with ``w_addr``/``w_data``/``w_strb`` writes, ``r_en``
with ``r_addr`` reads; ``r_data``, ``r_err`` and ``w_err`` answer in the same
cycle (combinational), and the slave registers them into its response.

Per table field ``<reg>_<field>`` (lower case) the component has a port whose
direction follows the access kind:

=====  =====================================================================
ro     ``In``: the value the hardware shows
rw     ``Out``: the stored value (reset 0)
w1c    ``In`` ``<reg>_<field>_set`` (a pulse sets the bit; set wins over a
       clear in the same cycle) and ``Out`` ``<reg>_<field>`` the sticky bit
wo     ``Out``: a one-cycle pulse per bit written 1
=====  =====================================================================

``unmapped`` and ``ro_write`` pulse on an access to an address not in the
table and on a write to a read-only register (the write is ignored).
"""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .axi_regs import ADDR_WIDTH, DATA_WIDTH, REGISTERS

__all__ = ["CsrFile", "port_name"]


def port_name(reg: str, field: str) -> str:
    return f"{reg}_{field}".lower()


class CsrFile(wiring.Component):
    def __init__(self, registers=REGISTERS):
        self.registers = tuple(registers)
        members = {
            "w_en": In(1), "w_addr": In(ADDR_WIDTH), "w_data": In(DATA_WIDTH),
            "w_strb": In(DATA_WIDTH // 8), "w_err": Out(1),
            "r_en": In(1), "r_addr": In(ADDR_WIDTH), "r_data": Out(DATA_WIDTH), "r_err": Out(1),
            "unmapped": Out(1), "ro_write": Out(1),
        }
        for r in self.registers:
            for f in r.fields:
                name = port_name(r.name, f.name)
                if r.access == "ro":
                    members[name] = In(f.width)
                elif r.access in ("rw", "wo"):
                    members[name] = Out(f.width)
                else:   # w1c
                    members[name] = Out(f.width)
                    members[name + "_set"] = In(f.width)
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        word = ADDR_WIDTH - 2
        w_word = self.w_addr[2:]
        r_word = self.r_addr[2:]
        # Byte strobes as a bit mask.
        mask = Signal(DATA_WIDTH)
        m.d.comb += mask.eq(Cat(*[self.w_strb[i].replicate(8) for i in range(DATA_WIDTH // 8)]))
        wdata = Signal(DATA_WIDTH)
        m.d.comb += wdata.eq(self.w_data & mask)

        w_hit = Signal()
        r_hit = Signal()
        w_ro = Signal()
        for r in self.registers:
            idx = r.offset >> 2
            sel_w = Signal(name=f"w_sel_{r.name.lower()}")
            m.d.comb += sel_w.eq(self.w_en & (w_word == Const(idx, word)))
            with m.If(r_word == Const(idx, word)):
                m.d.comb += r_hit.eq(1)
                for f in r.fields:
                    if r.access != "wo":
                        port = getattr(self, port_name(r.name, f.name))
                        m.d.comb += self.r_data[f.lsb:f.lsb + f.width].eq(port)
            with m.If(w_word == Const(idx, word)):
                m.d.comb += w_hit.eq(1)
                if r.access == "ro":
                    m.d.comb += w_ro.eq(1)
            for f in r.fields:
                port = getattr(self, port_name(r.name, f.name))
                bits = wdata[f.lsb:f.lsb + f.width]
                keep = mask[f.lsb:f.lsb + f.width]
                if r.access == "rw":
                    with m.If(sel_w):
                        m.d.sync += port.eq((port & ~keep) | bits)
                elif r.access == "wo":
                    m.d.comb += port.eq(Mux_(sel_w, bits))
                elif r.access == "w1c":
                    setp = getattr(self, port_name(r.name, f.name) + "_set")
                    clear = Signal(f.width, name=f"{port_name(r.name, f.name)}_clr")
                    m.d.comb += clear.eq(Mux_(sel_w, bits))
                    m.d.sync += port.eq((port & ~clear) | setp)
        m.d.comb += [
            self.w_err.eq(self.w_en & (~w_hit | w_ro)),
            self.r_err.eq(self.r_en & ~r_hit),
            self.unmapped.eq((self.w_en & ~w_hit) | (self.r_en & ~r_hit)),
            self.ro_write.eq(self.w_en & w_hit & w_ro),
        ]
        return m


def Mux_(sel, value):
    """``value`` when ``sel`` else 0 (same width)."""
    return value & sel.replicate(len(value))
