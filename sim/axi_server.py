"""cocotb side of the AXI backend (``sim.axi_backend``): the driver's batches
through the AXI shell's bus ports, with cocotbext-axi's AXI4-Lite master and
AXI4-Stream sink and ``sim.stream_feed``'s AXI4-Stream master (one Python
wake-up per beat; cocotbext-axi's source also woke on every edge it waited).

Same socket protocol as ``sim.host_server`` (``run <n_cmd> <n_load> <n_res>
<gap_permille> <stall_permille> <seed> <max_cycles>`` -> ``ok <COUNTERS...>
<error>``, ``reset <cycles>``, ``quit``), and the same files in the run
directory (``cmd.hex``, ``load.hex`` in, ``res.hex`` out), so
``sim.backends.RtlBackend`` drives it unchanged.  What differs is the path:
each job is programmed exactly as a host CPU would (docs/integration.md,
"Programming sequence"): ``JOB_K``, ``JOB_FLAGS``, ``CTRL.start`` over
AXI4-Lite; its beats as one AXI4-Stream frame (``tlast`` on the last); an
emitting job's R rows collected from ``m_axis`` (drained concurrently); the
job's end waited for on ``irq`` (``IRQ_ENABLE.done``; ``IRQ_STATUS.done``
cleared by one write), and ``JOB_K``/``JOB_FLAGS`` written only when they
change (the driver keeps a shadow of what it wrote, refreshed after a reset).  Counters are cleared (``CTRL.counters_clear``) at
the start of a batch and read over the bus at its end; ``<error>`` is 1 if
``ERR`` holds any bit but ``overflow`` (the driver reads overflow per row).
Register offsets and fields come only from ``hw.axi_regs``.
"""

from __future__ import annotations

import logging
import os
import random

import cocotb
from cocotb.triggers import RisingEdge, with_timeout
from cocotb.clock import Clock
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiStreamBus, AxiStreamSink

from hw.accel import COUNTERS
from hw.axi_regs import OFFSET, counter_registers, field_mask, field_value, job_start_writes

from .driver import job_codec, load_codec, result_codec
from .host_server import reset_dut, socket_requests
from .stream_feed import StreamFeed

CLOCK_NS = 10


def _params() -> dict:
    import json
    return json.loads(os.environ["RADIX4_AXI_PARAMS"])


async def collect_rows(sink, n: int, nbytes: int) -> list[int]:
    """``n`` beats of ``nbytes`` from ``sink`` (any framing), as ints."""
    raw = b""
    while len(raw) < n * nbytes:
        raw += bytes((await sink.recv()).tdata)
    return [int.from_bytes(raw[i:i + nbytes], "little") for i in range(0, len(raw), nbytes)]


class BusHost:
    """The register-level driver of one AXI shell (what a CPU would run)."""

    def __init__(self, dut, params: dict):
        self.dut = dut
        self.p = params
        for name in ("s_axil", "m_axis"):
            logging.getLogger(f"cocotb.{dut._name}.{name}").setLevel(logging.WARNING)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        # operand beats: one coroutine wake-up per beat (sim.stream_feed)
        self.src = StreamFeed(dut, "s_axis")
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst)
        self.jobs = job_codec(params["depth"])
        self.load = load_codec(params["rows"], params["cols"], params.get("lanes") or 1)
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

    @staticmethod
    def set_pauses(port, permille: int, seed: int):
        """Random pauses on a cocotbext-axi sink, or none at all: any
        pause generator (all False included) wakes a Python coroutine on every
        clock edge for the rest of the simulation."""
        if permille <= 0:
            port.set_pause_generator(None)
            port.pause = False          # not the last value of a previous generator
            return
        rng = random.Random(seed)
        port.set_pause_generator(rng.randrange(1000) < permille for _ in iter(int, 1))

    def pauses(self, gap: int, stall: int, seed: int):
        self.src.set_pauses(gap, seed)
        self.set_pauses(self.sink, stall, seed + 1)

    async def setup(self):
        """After a reset: the sizes, and the done interrupt (how jobs are waited for)."""
        self.written = {}
        self.src.clear()            # a reset drops the queued beats
        await self.identify()
        await self.write("IRQ_ENABLE", field_mask("IRQ_ENABLE", "done"))

    async def start_job(self, writes):
        """``hw.axi_regs.job_start_writes``; a descriptor register already holding
        the value is not rewritten (as a CPU driver keeps a shadow of what it wrote)."""
        for reg, value in writes:
            if reg != "CTRL" and self.written.get(reg) == value:
                continue
            await self.write(reg, value)
            self.written[reg] = value

    def send_beats(self, beats: list[int]):
        """One job's beats as one s_axis frame (tlast on the last), queued."""
        self.src.send(beats)

    async def wait_done(self):
        """The job finished: ``irq`` (IRQ_ENABLE.done) rises; clear IRQ_STATUS.done.
        One write per job instead of polling STATUS over the bus."""
        if not int(self.dut.irq.value):
            await RisingEdge(self.dut.irq)
        await self.write("IRQ_STATUS", field_mask("IRQ_STATUS", "done"))

    async def timed(self, coro, max_cycles: int, n_jobs: int):
        """``coro``'s result, or None past the budget: the host testbench's, plus a
        few AXI-Lite transactions per job."""
        try:
            return await with_timeout(coro, (max_cycles + 400 * n_jobs) * CLOCK_NS, "ns")
        except cocotb.triggers.SimTimeoutError:
            return None

    async def run_batch(self, cmd_words: list[int], beats: list[int]) -> list[int]:
        """Every job of the batch through the bus; the result rows as ints."""
        await self.write("CTRL", field_mask("CTRL", "counters_clear"))
        n_rows = self.p["rows"] * sum(self.jobs.unpack(w)["emit"] for w in cmd_words)
        rows = cocotb.start_soon(collect_rows(self.sink, n_rows, self.out_bytes))
        ptr = 0
        for word in cmd_words:
            job = self.jobs.unpack(word)
            k = job["k"]
            await self.start_job(job_start_writes(k, job["a_fmt"], job["b_fmt"],
                                                  job["accumulate"], job["emit"]))
            self.send_beats(beats[ptr:ptr + k])
            ptr += k
            await self.wait_done()
        return await rows

    async def counters(self) -> list[int]:
        out = []
        for name in COUNTERS:
            lo, hi = counter_registers(name)
            low = await self.read(lo.name)
            out.append(low | await self.read(hi.name) << 32)
        return out


async def start_host(dut, host_class):
    """The clock, a reset and ``host_class``'s setup: how every bus server starts."""
    Clock(dut.clk, CLOCK_NS, unit="ns").start()
    host = host_class(dut, _params())
    await reset_dut(dut, 4)
    await host.setup()
    return host


@cocotb.test()
async def serve(dut):
    host = await start_host(dut, BusHost)
    async for words, stream in socket_requests(dut, on_reset=host.setup):
        if words[0] != "run":
            stream.write(f"error unknown request {words[0]!r}\n")
            continue
        n_cmd, n_load, n_res, gap, stall, seed, max_cycles = map(int, words[1:8])
        cmds = host.jobs.words_to_ints(host.jobs.from_hex(open("cmd.hex").read())) \
            if n_cmd else []
        beats = host.load.words_to_ints(host.load.from_hex(open("load.hex").read())) \
            if n_load else []
        host.pauses(gap, stall, seed)
        rows = await host.timed(host.run_batch(cmds[:n_cmd], beats[:n_load]), max_cycles,
                                len(cmds))
        if rows is None:
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
