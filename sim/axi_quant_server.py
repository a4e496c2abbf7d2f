"""cocotb side of the quant tile through the AXI shell (``--bus axi`` with an
on-chip recipe): ``radix4_axi_qtile`` driven by cocotbext-axi masters.

The socket protocol is ``sim.quant_server``'s (``run`` for raw GEMMs,
``qrun`` with the unit's streams; reply ``ok <COUNTERS...> <cmd_error>
<cfg_error>``) and the files are the quant host's (``cmd.hex`` ``load.hex``
``qcfg.hex`` ``mask.hex`` ``rq.hex`` in, ``res.hex`` ``qres.hex`` out), so
``sim.quant_backend.QuantRtlBackend`` drives it unchanged.  The path is the
one a CPU with DMA channels would take (docs/integration.md): the unit's
configurations, masks and stored rows are queued on their own AXI4-Stream
ports (``s_axis_qcfg``, ``s_axis_mask``, ``s_axis_rq``) for the whole batch,
``m_axis`` and ``m_axis_q`` are drained concurrently (``m_axis_q`` beat by
beat: a unit job's frame may span batches), and each tile job is
programmed over AXI4-Lite (``JOB_K``, ``JOB_FLAGS`` with ``route``/``qlast``,
``CTRL.start``) with its beats as one ``s_axis`` frame.  ``cmd_error`` is 1
if ``ERR`` holds a bit but ``overflow`` and ``qcfg_bad``; ``cfg_error`` is
``ERR.qcfg_bad``.
"""

from __future__ import annotations

import random

import cocotb
from cocotb.triggers import RisingEdge

from hw.axi_regs import field_mask, field_value, job_start_writes
from hw.tile_quant import qjob_layout
from hw.codec import LayoutCodec

from .axi_server import BusHost, collect_rows, start_host
from .host_server import socket_requests
from .quant_backend import _codecs
from .stream_feed import StreamFeed

# the unit's ports: prefix -> (file, codec key, QSTREAMS field)
IN_PORTS = {"s_axis_qcfg": ("qcfg.hex", "qcfg", ("QSTREAMS0", "qcfg_bytes")),
            "s_axis_mask": ("mask.hex", "mask", ("QSTREAMS1", "mask_bytes")),
            "s_axis_rq": ("rq.hex", "rq", ("QSTREAMS1", "rq_bytes"))}


class QuantBusHost(BusHost):
    """``BusHost`` plus the unit's stream ports."""

    def __init__(self, dut, params: dict):
        super().__init__(dut, params)
        self.jobs = LayoutCodec(qjob_layout(params["depth"]))
        self.qcodecs = _codecs(params["rows"], params["cols"], params["acc_width"],
                               params["depth"])
        # not cocotbext-axi's source: these beats wait most of a batch (sim.stream_feed)
        self.qsrc = {p: StreamFeed(dut, p) for p in IN_PORTS}
        self.qbytes = {}
        self.q_stall = None
        dut.m_axis_q_tready.value = 0

    async def setup(self):
        for feed in self.qsrc.values():     # a reset drops what was queued
            feed.clear()
        await super().setup()

    async def identify(self):
        await super().identify()
        words = {reg: await self.read(reg) for reg in ("QSTREAMS0", "QSTREAMS1")}
        for prefix, (_, _, (reg, field)) in IN_PORTS.items():
            self.qbytes[prefix] = field_value(reg, field, words[reg])
        self.qbytes["m_axis_q"] = field_value("QSTREAMS0", "q_bytes", words["QSTREAMS0"])

    def pauses(self, gap: int, stall: int, seed: int):
        super().pauses(gap, stall, seed)
        for i, src in enumerate(self.qsrc.values()):
            src.set_pauses(gap, seed + 2 + i)
        rng = random.Random(seed + 7)
        self.q_stall = (lambda: rng.randrange(1000) < stall) if stall > 0 else None

    async def collect_q(self, n: int) -> list[int]:
        """``n`` beats of ``m_axis_q`` as they come, with random tready stalls.
        Not cocotbext-axi's sink: it hands over whole frames (up to tlast), and a
        unit job's frame can span the host's batches.  Sampled on the clock edge
        as cocotbext-axi samples; without stalls ``tready`` stays high and the
        coroutine sleeps until ``tvalid`` rises instead of waking on every edge
        (a unit job's rows come far apart; docs/integration.md has the cost)."""
        d, out = self.dut, []
        stall = self.q_stall
        if stall is None and n:
            d.m_axis_q_tready.value = 1
        while len(out) < n:
            if stall is not None:
                d.m_axis_q_tready.value = int(not stall())
            elif not int(d.m_axis_q_tvalid.value):
                await RisingEdge(d.m_axis_q_tvalid)
            await RisingEdge(d.clk)
            if int(d.m_axis_q_tready.value) and int(d.m_axis_q_tvalid.value):
                out.append(int(d.m_axis_q_tdata.value))
        d.m_axis_q_tready.value = 0
        return out

    def queue_unit_inputs(self, counts: dict[str, int]):
        """Queue the batch's unit inputs (all of each file) on their ports."""
        for prefix, (fname, key, _) in IN_PORTS.items():
            n = counts[key]
            if not n:
                continue
            codec = self.qcodecs[key]
            words = codec.words_to_ints(codec.from_hex(open(fname).read()))[:n]
            if max(words) >> 8 * self.qbytes[prefix]:      # QSTREAMS says the width
                raise ValueError(f"{prefix}: a beat wider than {self.qbytes[prefix]} bytes")
            # one frame per batch and port (tlast is ignored on these ports)
            self.qsrc[prefix].send(words)

    async def run_qbatch(self, cmd_words, beats, counts: dict[str, int]):
        """The batch's jobs through the bus; (INT32 rows, code rows) as ints."""
        await self.write("CTRL", field_mask("CTRL", "counters_clear"))
        self.queue_unit_inputs(counts)
        res = cocotb.start_soon(collect_rows(self.sink, counts["res"], self.out_bytes))
        qres = cocotb.start_soon(self.collect_q(counts["qres"]))
        ptr = 0
        for word in cmd_words:
            job = self.jobs.unpack(word)
            k = job["k"]
            await self.start_job(job_start_writes(k, job["a_fmt"], job["b_fmt"], job["accumulate"],
                                                  job["emit"], job["route"], job["qlast"]))
            self.send_beats(beats[ptr:ptr + k])
            ptr += k
            await self.wait_done()
        return await res, await qres


@cocotb.test()
async def serve(dut):
    host = await start_host(dut, QuantBusHost)
    names = {"run": ("cmd", "load", "res"),
             "qrun": ("cmd", "load", "qcfg", "mask", "rq", "res", "qres")}
    async for words, stream in socket_requests(dut, on_reset=host.setup):
        if words[0] not in names:
            stream.write(f"error unknown request {words[0]!r}\n")
            continue
        keys = names[words[0]]
        values = list(map(int, words[1:]))
        counts = {k: 0 for k in ("cmd", "load", "qcfg", "mask", "rq", "res", "qres")}
        counts.update(zip(keys, values))
        gap, stall, seed, max_cycles = values[len(keys):len(keys) + 4]
        cmds = host.jobs.words_to_ints(host.jobs.from_hex(open("cmd.hex").read())) \
            if counts["cmd"] else []
        beats = host.load.words_to_ints(host.load.from_hex(open("load.hex").read())) \
            if counts["load"] else []
        host.pauses(gap, stall, seed)
        reply = await host.timed(host.run_qbatch(cmds[:counts["cmd"]], beats[:counts["load"]],
                                                 counts), max_cycles, len(cmds))
        if reply is None:
            stream.write(f"timeout {max_cycles}\n")
            continue
        rows, qrows = reply
        for fname, key, codec, got in (("res.hex", "res", host.res, rows),
                                       ("qres.hex", "qres", host.qcodecs["qres"], qrows)):
            if len(got) != counts[key]:
                stream.write(f"error {len(got)} {key} rows, expected {counts[key]}\n")
                break
            if got:
                with open(fname, "wb") as f:
                    f.write(codec.to_hex(codec.ints_to_words(got)))
        else:
            err = await host.read("ERR")
            await host.write("ERR", 0xFFFFFFFF)
            cfg_err = err & field_mask("ERR", "qcfg_bad")
            cmd_err = err & ~field_mask("ERR", "overflow") & ~field_mask("ERR", "qcfg_bad")
            counters = await host.counters()
            stream.write("ok " + " ".join(map(str, counters + [int(cmd_err != 0),
                                                             int(cfg_err != 0)])) + "\n")
