"""Clock and synchronous-reset helpers (Amaranth designs: ``clk``, ``rst`` active high)."""

from __future__ import annotations

from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, RisingEdge

PERIOD_NS = 10


def start_clock(dut, period_ns: int = PERIOD_NS):
    """Start ``dut.clk``; returns the running clock task."""
    clock = Clock(dut.clk, period_ns, unit="ns")
    clock.start()
    return clock


async def wait_cycles(dut, n: int):
    for _ in range(n):
        await RisingEdge(dut.clk)


async def reset(dut, cycles: int = 2, idle: dict | None = None):
    """Hold ``rst`` high for ``cycles`` rising edges with inputs at ``idle``.

    Signals are changed on falling edges so both simulators see them settled
    at the next rising edge.  Returns on the falling edge after release.
    """
    await FallingEdge(dut.clk)
    for name, value in (idle or {}).items():
        getattr(dut, name).value = value
    dut.rst.value = 1
    for _ in range(cycles):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0
