"""AXI4-Lite slave onto the one-cycle register bus of ``hw.axi_csr.CsrFile``.

Write channel: the address (AW) and data (W) beats are taken independently
into holding registers (``awready``/``wready`` are high while the register
is empty); once both are held and no response waits, the bus write happens
in one cycle and the response (B) is raised with ``bresp`` OKAY (0) or
SLVERR (2) from the bus's ``w_err``.  Read channel: ``arready`` is high
while no read response waits; the bus read happens on the AR handshake and
R carries its data and ``rresp``.  One write and one read may be in flight
at a time (they are independent).  No ``awprot``/``arprot`` ports: the shell
has no protection levels.

``axil_members(prefix)`` gives the slave's ports (the shell's top-level
ports, ``s_axil_awaddr`` ...); ``AxiLiteSlave`` has them without a prefix.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .axi_regs import ADDR_WIDTH, DATA_WIDTH

__all__ = ["AxiLiteSlave", "axil_members", "AXIL_PORTS", "RESP_OKAY", "RESP_SLVERR"]

RESP_OKAY, RESP_SLVERR = 0, 2


def axil_members(prefix: str = "") -> dict:
    p = prefix
    return {
        f"{p}awaddr": In(ADDR_WIDTH), f"{p}awvalid": In(1), f"{p}awready": Out(1),
        f"{p}wdata": In(DATA_WIDTH), f"{p}wstrb": In(DATA_WIDTH // 8), f"{p}wvalid": In(1),
        f"{p}wready": Out(1),
        f"{p}bresp": Out(2), f"{p}bvalid": Out(1), f"{p}bready": In(1),
        f"{p}araddr": In(ADDR_WIDTH), f"{p}arvalid": In(1), f"{p}arready": Out(1),
        f"{p}rdata": Out(DATA_WIDTH), f"{p}rresp": Out(2), f"{p}rvalid": Out(1),
        f"{p}rready": In(1),
    }


AXIL_PORTS = tuple(axil_members())


class AxiLiteSlave(wiring.Component):
    def __init__(self):
        super().__init__({
            **axil_members(),
            # register bus (to CsrFile)
            "w_en": Out(1), "w_addr": Out(ADDR_WIDTH), "w_data": Out(DATA_WIDTH),
            "w_strb": Out(DATA_WIDTH // 8), "w_err": In(1),
            "r_en": Out(1), "r_addr": Out(ADDR_WIDTH), "r_data": In(DATA_WIDTH), "r_err": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        # ---- write -----------------------------------------------------------
        aw_full = Signal()
        w_full = Signal()
        aw_addr = Signal(ADDR_WIDTH)
        w_data = Signal(DATA_WIDTH)
        w_strb = Signal(DATA_WIDTH // 8)
        m.d.comb += [self.awready.eq(~aw_full), self.wready.eq(~w_full)]
        with m.If(self.awvalid & self.awready):
            m.d.sync += [aw_full.eq(1), aw_addr.eq(self.awaddr)]
        with m.If(self.wvalid & self.wready):
            m.d.sync += [w_full.eq(1), w_data.eq(self.wdata), w_strb.eq(self.wstrb)]
        do_write = Signal()
        m.d.comb += [
            do_write.eq(aw_full & w_full & ~self.bvalid),
            self.w_en.eq(do_write),
            self.w_addr.eq(aw_addr),
            self.w_data.eq(w_data),
            self.w_strb.eq(w_strb),
        ]
        with m.If(do_write):
            m.d.sync += [aw_full.eq(0), w_full.eq(0), self.bvalid.eq(1),
                         self.bresp.eq(Mux(self.w_err, RESP_SLVERR, RESP_OKAY))]
        with m.Elif(self.bvalid & self.bready):
            m.d.sync += self.bvalid.eq(0)
        # ---- read ------------------------------------------------------------
        m.d.comb += [
            self.arready.eq(~self.rvalid),
            self.r_en.eq(self.arvalid & self.arready),
            self.r_addr.eq(self.araddr),
        ]
        with m.If(self.r_en):
            m.d.sync += [self.rvalid.eq(1), self.rdata.eq(self.r_data),
                         self.rresp.eq(Mux(self.r_err, RESP_SLVERR, RESP_OKAY))]
        with m.Elif(self.rvalid & self.rready):
            m.d.sync += self.rvalid.eq(0)
        return m
