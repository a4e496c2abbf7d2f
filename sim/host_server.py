"""cocotb side of the long-lived RTL backend (runs inside the simulator).

One cocotb test, ``serve``, connects to the driver's Unix socket (path in
``RADIX4_HOST_SOCKET``) and answers line requests until ``quit`` or EOF:

    run <n_cmd> <n_load> <n_res> <gap_permille> <stall_permille> <seed> <max_cycles>
        -> ok <cycles> <busy_cycles> <mac_pe_cycles> <stall_cycles> <jobs_done> <cmd_error>
        -> timeout <cycles waited>
    reset <cycles>  -> ok

The operand and command files are already in the simulator's working
directory when ``run`` arrives; the results are in ``res.hex`` when ``ok`` is
sent.  Blocking on the socket is fine: simulated time stands still meanwhile.

Timing discipline (as ``verif.kit.stream``): the server drives only on the
falling clock edge and samples only in the ``ReadOnly`` phase, never inside
a value-change callback.  ``done`` rises in the same non-blocking update as
the tile's counters; a read in ``RisingEdge(done)``'s callback saw the
counters before or after that edge's increment depending on the simulator's
event order (Icarus: before, Verilator: after), so ``cycles`` differed by one.
The counters reported describe the clock edges after the clearing edge up to
and including the one that raised ``done`` (docs/driver.md, "Counters").
"""

import os
import socket

import cocotb
from cocotb.triggers import ClockCycles, FallingEdge, First, ReadOnly, RisingEdge, Timer

from hw.accel import COUNTERS


async def reset_dut(dut, cycles):
    await FallingEdge(dut.clk)
    dut.rst.value = 1
    await ClockCycles(dut.clk, cycles, FallingEdge)
    dut.rst.value = 0


async def socket_requests(dut, on_reset=None):
    """The driver's requests on ``RADIX4_HOST_SOCKET``, as ``(words, stream)``
    per line, until ``quit`` or EOF.  Blank lines are skipped and ``reset N``
    (N cycles of reset, answered ``ok``) is handled here; a reply to any other
    request goes to ``stream``.  Shared by this server and ``sim.axi_server``."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(os.environ["RADIX4_HOST_SOCKET"])
    stream = sock.makefile("rw", buffering=1)
    try:
        for line in stream:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            if words[0] == "reset":
                await reset_dut(dut, int(words[1]))
                if on_reset is not None:     # e.g. a bus host re-reading the sizes
                    await on_reset()
                stream.write("ok\n")
                continue
            yield words, stream
    finally:
        stream.close()
        sock.close()


async def serve_requests(dut, requests: dict[str, tuple[str, ...]],
                         status: tuple[str, ...] = ("cmd_error",)) -> None:
    """Answer line requests on the socket until ``quit`` or EOF.

    ``requests`` maps a request word to the count ports it sets, in order:
    ``<word> <count>... <gap_permille> <stall_permille> <seed> <max_cycles>``.
    Count ports a request does not name are set to 0.  The reply is
    ``ok <COUNTERS...> <status ports...>`` or ``timeout <max_cycles>``.
    Shared by this server and ``sim.quant_server`` (the tile with the unit).
    """
    all_ports = list(dict.fromkeys(p for names in requests.values() for p in names))
    await reset_dut(dut, 4)
    go = 0
    async for words, stream in socket_requests(dut):
        names = requests.get(words[0])
        if names is None:
            stream.write(f"error unknown request {words[0]!r}\n")
            continue
        values = list(map(int, words[1:]))
        counts = dict(zip(names, values))
        gap, stall, seed, max_cycles = values[len(names):len(names) + 4]
        # Drive between rising edges: the next rising edge is the
        # clearing edge (``start``), on every simulator.
        await FallingEdge(dut.clk)
        for port in all_ports:
            getattr(dut, port).value = counts.get(port, 0)
        dut.gap_permille.value = gap
        dut.stall_permille.value = stall
        dut.seed.value = seed
        go ^= 1
        dut.go.value = go
        await RisingEdge(dut.clk)
        await ReadOnly()            # done of the last batch dropped on this edge
        if int(dut.done.value):
            stream.write("error done did not drop on the clearing edge\n")
            continue
        finished = RisingEdge(dut.done)
        # A Timer, not ClockCycles: counting cycles would call Python on
        # every clock edge; the testbench clock has a 10 ns period.
        waited = await First(finished, Timer(10 * max_cycles, unit="ns"))
        if waited is not finished:
            stream.write(f"timeout {max_cycles}\n")
            continue
        # Sample once every update of the done edge has settled (see above).
        await ReadOnly()
        reply = [int(getattr(dut, name).value) for name in (*COUNTERS, *status)]
        stream.write("ok " + " ".join(map(str, reply)) + "\n")


@cocotb.test()
async def serve(dut):
    await serve_requests(dut, {"run": ("n_cmd", "n_load", "n_res")})
