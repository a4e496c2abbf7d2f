"""cocotb side of the AXI backend (``sim.axi_backend``): the driver's batches
through the AXI shell's bus ports, with cocotbext-axi masters.

Same socket protocol as ``sim.host_server`` (``run <n_cmd> <n_load> <n_res>
<gap_permille> <stall_permille> <seed> <max_cycles>`` -> ``ok <COUNTERS...>
<error>``, ``reset <cycles>``, ``quit``), and the same files in the run
directory (``cmd.hex``, ``load.hex`` in, ``res.hex`` out), so
``sim.backends.RtlBackend`` drives it unchanged.  What differs is the path:
each job is programmed exactly as a host CPU would (docs/integration.md,
"Programming sequence"): ``JOB_K``, ``JOB_FLAGS``, ``CTRL.start`` over
AXI4-Lite; its beats as one AXI4-Stream frame (``tlast`` on the last); an
emitting job's R rows read as one frame from ``m_axis``; ``STATUS.busy``
polled until it falls.  Counters are cleared (``CTRL.counters_clear``) at
the start of a batch and read over the bus at its end; ``<error>`` is 1 if
``ERR`` holds any bit but ``overflow`` (the driver reads overflow per row).
Register offsets and fields come only from ``hw.axi_regs``.
"""

from __future__ import annotations

import logging
import os
import random

import cocotb
from cocotb.triggers import with_timeout
from cocotb.clock import Clock
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiStreamBus, AxiStreamFrame,
                           AxiStreamSink, AxiStreamSource)

from hw.accel import COUNTERS
from hw.axi_regs import OFFSET, counter_registers, field_mask, field_value, job_start_writes

from .driver import job_codec, load_codec, result_codec
from .host_server import reset_dut, socket_requests

CLOCK_NS = 10


def _params() -> dict:
    import json
    return json.loads(os.environ["RADIX4_AXI_PARAMS"])


class BusHost:
    """The register-level driver of one AXI shell (what a CPU would run)."""

    def __init__(self, dut, params: dict):
        self.dut = dut
        self.p = params
        for name in ("s_axil", "s_axis", "m_axis"):
            logging.getLogger(f"cocotb.{dut._name}.{name}").setLevel(logging.WARNING)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        self.src = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst)
        self.jobs = job_codec(params["depth"])
        self.load = load_codec(params["rows"], params["cols"])
        self.res = result_codec(params["rows"], params["cols"], params["acc_width"])
        self.in_bytes = self.out_bytes = None

    async def write(self, reg: str, value: int):
        resp = await self.axil.write(OFFSET[reg], int(value).to_bytes(4, "little"))
        if int(resp.resp) != 0:
            raise RuntimeError(f"write {reg}: bus error {resp.resp}")

    async def read(self, reg: str) -> int:
        resp = await self.axil.read(OFFSET[reg], 4)
        if int(resp.resp) != 0:
            raise RuntimeError(f"read {reg}: bus error {resp.resp}")
        return int.from_bytes(resp.data, "little")

    async def identify(self):
        st = await self.read("STREAMS")
        self.in_bytes = field_value("STREAMS", "s_axis_bytes", st)
        self.out_bytes = field_value("STREAMS", "m_axis_bytes", st)

    def pauses(self, gap: int, stall: int, seed: int):
        rng = random.Random(seed)

        def gen(permille):
            while True:
                yield permille > 0 and rng.randrange(1000) < permille
        self.src.set_pause_generator(gen(gap))
        self.sink.set_pause_generator(gen(stall))

    async def wait_idle(self):
        while field_value("STATUS", "busy", await self.read("STATUS")):
            pass

    async def run_batch(self, cmd_words: list[int], beats: list[int]) -> list[int]:
        """Every job of the batch through the bus; the result rows as ints."""
        await self.write("CTRL", field_mask("CTRL", "counters_clear"))
        rows, ptr = [], 0
        for word in cmd_words:
            job = self.jobs.unpack(word)
            k = job["k"]
            for reg, value in job_start_writes(k, job["a_fmt"], job["b_fmt"], job["accumulate"],
                                               job["emit"]):
                await self.write(reg, value)
            data = b"".join(w.to_bytes(self.in_bytes, "little") for w in beats[ptr:ptr + k])
            ptr += k
            await self.src.send(AxiStreamFrame(data))
            if job["emit"]:
                frame = await self.sink.recv()
                raw = bytes(frame.tdata)
                n = self.out_bytes
                rows += [int.from_bytes(raw[i:i + n], "little") for i in range(0, len(raw), n)]
            await self.wait_idle()
        return rows

    async def counters(self) -> list[int]:
        out = []
        for name in COUNTERS:
            lo, hi = counter_registers(name)
            low = await self.read(lo.name)
            out.append(low | await self.read(hi.name) << 32)
        return out


@cocotb.test()
async def serve(dut):
    params = _params()
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    host = BusHost(dut, params)
    await reset_dut(dut, 4)
    await host.identify()
    async for words, stream in socket_requests(dut):
        if words[0] != "run":
            stream.write(f"error unknown request {words[0]!r}\n")
            continue
        n_cmd, n_load, n_res, gap, stall, seed, max_cycles = map(int, words[1:8])
        cmds = host.jobs.words_to_ints(host.jobs.from_hex(open("cmd.hex").read())) \
            if n_cmd else []
        beats = host.load.words_to_ints(host.load.from_hex(open("load.hex").read())) \
            if n_load else []
        host.pauses(gap, stall, seed)
        # Bus overhead: a few AXI-Lite transactions per job on top of the
        # host testbench's budget.
        budget = (max_cycles + 400 * len(cmds)) * CLOCK_NS
        try:
            rows = await with_timeout(host.run_batch(cmds[:n_cmd], beats[:n_load]),
                                      budget, "ns")
        except cocotb.triggers.SimTimeoutError:
            stream.write(f"timeout {max_cycles}\n")
            continue
        if len(rows) != n_res:
            stream.write(f"error {len(rows)} result rows, expected {n_res}\n")
            continue
        if rows:
            with open("res.hex", "wb") as f:
                f.write(host.res.to_hex(host.res.ints_to_words(rows)))
        err = await host.read("ERR") & ~field_mask("ERR", "overflow")
        await host.write("ERR", 0xFFFFFFFF)
        counters = await host.counters()
        stream.write("ok " + " ".join(map(str, counters + [int(err != 0)])) + "\n")
