"""cocotb side of the quant-tile RTL backend (runs inside the simulator).

Like ``sim.host_server``, over the socket in ``RADIX4_HOST_SOCKET``:

    qrun <n_cmd> <n_load> <n_qcfg> <n_mask> <n_rq> <n_res> <n_qres> <gap> <stall> <seed> <max_cycles>
    run <n_cmd> <n_load> <n_res> <gap> <stall> <seed> <max_cycles>     (raw GEMMs: no unit streams)
        -> ok <cycles> <busy_cycles> <mac_pe_cycles> <stall_cycles> <jobs_done> <cmd_error> <cfg_error>
        -> timeout <cycles waited>
    reset <cycles>  -> ok
"""

import os
import socket

import cocotb
from cocotb.triggers import ClockCycles, First, RisingEdge, Timer

from hw.accel import COUNTERS

_COUNTS = ("n_cmd", "n_load", "n_qcfg", "n_mask", "n_rq", "n_res", "n_qres")


async def _reset(dut, cycles):
    dut.rst.value = 1
    await ClockCycles(dut.clk, cycles)
    dut.rst.value = 0
    await RisingEdge(dut.clk)


@cocotb.test()
async def serve(dut):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(os.environ["RADIX4_HOST_SOCKET"])
    stream = sock.makefile("rw", buffering=1)
    await _reset(dut, 4)
    go = 0
    try:
        for line in stream:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            if words[0] == "reset":
                await _reset(dut, int(words[1]))
                stream.write("ok\n")
                continue
            if words[0] == "run":       # the plain tile's request: raw GEMMs only
                n_cmd, n_load, n_res = map(int, words[1:4])
                counts = (n_cmd, n_load, 0, 0, 0, n_res, 0)
                gap, stall, seed, max_cycles = map(int, words[4:8])
            elif words[0] == "qrun":
                counts = tuple(map(int, words[1:8]))
                gap, stall, seed, max_cycles = map(int, words[8:12])
            else:
                stream.write(f"error unknown request {words[0]!r}\n")
                continue
            for name, v in zip(_COUNTS, counts):
                getattr(dut, name).value = v
            dut.gap_permille.value = gap
            dut.stall_permille.value = stall
            dut.seed.value = seed
            go ^= 1
            dut.go.value = go
            await RisingEdge(dut.clk)
            if int(dut.done.value):
                await RisingEdge(dut.clk)
            finished = RisingEdge(dut.done)
            waited = await First(finished, Timer(10 * max_cycles, unit="ns"))
            if waited is not finished:
                stream.write(f"timeout {max_cycles}\n")
                continue
            values = [int(getattr(dut, name).value) for name in COUNTERS]
            stream.write("ok " + " ".join(map(str, values))
                         + f" {int(dut.cmd_error.value)} {int(dut.cfg_error.value)}\n")
    finally:
        stream.close()
        sock.close()
