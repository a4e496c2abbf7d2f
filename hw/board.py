"""Board top: UART -> bridge -> AXI shell -> tile (``radix4 bitstream``).

``BoardCore`` is everything but the pins: a serial line in (``rx``) and out
(``tx``), the UART (``hw.uart``), the frame bridge (``hw.uart_bridge``) and
the AXI shell around the tile.  The simulated board (``sim.uart_host``'s
line model) runs this same component; ``BoardTop`` only adds the pins of an
``amaranth-boards`` platform (the ULX3S's FTDI UART, LEDs for busy and
irq), the PLL from the board's oscillator to the design's clock
(``hw.ecp5_pll``; none when they are equal) and holds the design in reset
until the PLL locks and for 2^16 cycles after.  The report of ``radix4
bitstream`` says whether the design meets timing at that clock.
"""

from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .accel import AcceleratorTile
from .axi_lite import AXIL_PORTS
from .axi_shell import AxiShell
from .uart import UartRx, UartTx
from .uart_bridge import UartBridge

__all__ = ["BoardCore", "BoardTop", "BAUD"]

BAUD = 115_200


class BoardCore(wiring.Component):
    rx: In(1, init=1)
    tx: Out(1, init=1)
    busy_led: Out(1)
    irq: Out(1)

    def __init__(self, config, divisor: int, timeout: int = 1 << 20):
        self.config = config
        self.divisor = divisor
        self.shell = AxiShell(AcceleratorTile(config=config))
        self.bridge = UartBridge(self.shell.in_bytes, self.shell.out_bytes, timeout)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.shell = shell = self.shell
        m.submodules.bridge = br = self.bridge
        m.submodules.urx = urx = UartRx(self.divisor)
        m.submodules.utx = utx = UartTx(self.divisor)
        m.d.comb += [
            urx.rx.eq(self.rx), self.tx.eq(utx.tx),
            br.rx_data.eq(urx.data), br.rx_valid.eq(urx.valid),
            utx.data.eq(br.tx_data), utx.valid.eq(br.tx_valid), br.tx_ready.eq(utx.ready),
            shell.s_axis_tdata.eq(br.axis_tdata), shell.s_axis_tvalid.eq(br.axis_tvalid),
            shell.s_axis_tlast.eq(br.axis_tlast), br.axis_tready.eq(shell.s_axis_tready),
            br.res_tdata.eq(shell.m_axis_tdata), br.res_tvalid.eq(shell.m_axis_tvalid),
            br.res_tlast.eq(shell.m_axis_tlast), shell.m_axis_tready.eq(br.res_tready),
            self.irq.eq(shell.irq), self.busy_led.eq(shell.m_axis_tvalid),
        ]
        for name in AXIL_PORTS:
            s, b = getattr(shell, "s_axil_" + name), getattr(br, "m_axil_" + name)
            if name in ("awready", "wready", "bresp", "bvalid", "arready", "rdata", "rresp",
                        "rvalid"):
                m.d.comb += b.eq(s)
            else:
                m.d.comb += s.eq(b)
        return m


class BoardTop(Elaboratable):
    """The elaboratable given to ``platform.build``: the core at ``clk_hz``, made
    from the platform's ``in_hz`` oscillator by the ECP5 PLL when they differ."""

    def __init__(self, config, clk_hz: int, in_hz: int | None = None, baud: int = BAUD):
        from .ecp5_pll import pll_setting
        self.in_hz = in_hz or clk_hz
        self.pll = (None if self.in_hz == clk_hz
                    else pll_setting(self.in_hz / 1e6, clk_hz / 1e6))
        self.core = BoardCore(config, divisor=round(clk_hz / baud))

    def elaborate(self, platform):
        from amaranth.hdl import ClockDomain, ClockSignal, ResetSignal
        from amaranth.lib.cdc import FFSynchronizer
        from amaranth.lib.io import Buffer
        from .ecp5_pll import ehxplll
        m = Module()
        m.domains.sync = ClockDomain("sync")
        m.domains.por = ClockDomain("por", reset_less=True)
        m.submodules.clk_buf = clk_buf = Buffer("i", platform.request(platform.default_clk,
                                                                       dir="-"))
        clk, pll_lock, locked = Signal(), Signal(), Signal()
        if self.pll is None:
            m.d.comb += [clk.eq(clk_buf.i), pll_lock.eq(1)]
        else:
            m.submodules.pll = ehxplll(self.pll, clk_buf.i, clk, pll_lock)
        m.d.comb += [ClockSignal("sync").eq(clk), ClockSignal("por").eq(clk)]
        # LOCK is the PLL's, not synchronous to its output.
        m.submodules.lock_sync = FFSynchronizer(pll_lock, locked, o_domain="por")
        # Reset held until the PLL locks, then for 2^16 cycles of its clock.
        por = Signal(16, init=0)
        m.d.comb += ResetSignal("sync").eq(~por.all())
        with m.If(~locked):
            m.d.por += por.eq(0)
        with m.Elif(~por.all()):
            m.d.por += por.eq(por + 1)
        uart = platform.request("uart", 0, dir={"rx": "-", "tx": "-", "rts": "-", "dtr": "-"})
        m.submodules.rx_buf = rx_buf = Buffer("i", uart.rx)
        m.submodules.tx_buf = tx_buf = Buffer("o", uart.tx)
        m.submodules.core = core = self.core
        m.d.comb += [core.rx.eq(rx_buf.i), tx_buf.o.eq(core.tx)]
        for i, sig in enumerate((core.irq, core.busy_led)):
            led = platform.request("led", i, dir="-")
            m.submodules[f"led{i}"] = b = Buffer("o", led)
            m.d.comb += b.o.eq(sig)
        return m
