"""8N1 UART receiver and transmitter (``divisor`` clock cycles per bit).

``UartRx``: ``rx`` line in; ``data``/``valid`` (one-cycle strobe) out, a
byte whose stop bit is low is dropped (``frame_error`` pulses).  The line is
sampled in the middle of each bit after a two-flop synchroniser.
``UartTx``: a ``data``/``valid``/``ready`` stream in; ``tx`` line out (idle
high).  Both reset to idle.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["UartRx", "UartTx"]


def _checked_divisor(divisor: int) -> int:
    """Clock cycles per bit; the receiver samples mid-bit, so at least 4."""
    if divisor < 4:
        raise ValueError(f"UART divisor must be >= 4, got {divisor}")
    return divisor


class UartRx(wiring.Component):
    rx: In(1, init=1)
    data: Out(8)
    valid: Out(1)
    frame_error: Out(1)

    def __init__(self, divisor: int):
        self.divisor = _checked_divisor(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        sync1 = Signal(init=1)
        line = Signal(init=1)
        m.d.sync += [sync1.eq(self.rx), line.eq(sync1)]
        timer = Signal(range(self.divisor * 3 // 2 + 1))
        bits = Signal(range(10))
        shift = Signal(8)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += [timer.eq(self.divisor * 3 // 2 - 1), bits.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [timer.eq(self.divisor - 1), bits.eq(bits + 1)]
                    with m.If(bits == 8):     # stop bit
                        m.d.comb += [self.valid.eq(line), self.frame_error.eq(~line)]
                        m.next = "STOP"
                    with m.Else():
                        m.d.sync += shift.eq(Cat(shift[1:], line))
            with m.State("STOP"):
                with m.If(line):              # wait for the line to go idle again
                    m.next = "IDLE"
        m.d.comb += self.data.eq(shift)
        return m


class UartTx(wiring.Component):
    data: In(8)
    valid: In(1)
    ready: Out(1)
    tx: Out(1, init=1)

    def __init__(self, divisor: int):
        self.divisor = _checked_divisor(divisor)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        timer = Signal(range(self.divisor))
        frame = Signal(10, init=0x3FF)
        left = Signal(range(11))
        m.d.comb += self.ready.eq(left == 0)
        with m.If(self.valid & self.ready):
            m.d.sync += [frame.eq(Cat(0, self.data, 1)), left.eq(10),
                         timer.eq(self.divisor - 1)]
        with m.Elif(left != 0):
            with m.If(timer == 0):
                m.d.sync += [frame.eq(Cat(frame[1:], 1)), left.eq(left - 1),
                             timer.eq(self.divisor - 1)]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        m.d.comb += self.tx.eq(Mux1(left != 0, frame[0]))
        return m


def Mux1(active, bit):
    """The frame's bit while sending, else the idle level (high)."""
    return bit | ~active
