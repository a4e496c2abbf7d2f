"""``AxiBench``: cocotbext-axi masters around ``radix4_axi`` and the golden model.

The AXI4-Lite master (``s_axil_*``), the operand source (``s_axis_*``) and
the result sink (``m_axis_*``) are cocotbext-axi's (found by prefix); every
register access goes through the offsets and field masks of
``hw.axi_regs`` (the driver's constants), every tdata is packed and
unpacked by ``hw.codec`` from the tile's layouts, and every expected row is
the golden model's (``verif.kit.golden.gemm_expect``) sum of the whole
accumulate chain.  A cycle monitor samples handshakes for the coverage bins.
"""

from __future__ import annotations

import json
import logging
import os

import cocotb
import numpy as np
from cocotb.triggers import FallingEdge, RisingEdge, with_timeout
from cocotbext.axi import (AxiLiteBus, AxiLiteMaster, AxiStreamBus, AxiStreamFrame,
                           AxiStreamSink, AxiStreamSource)

from hw.accel import COUNTERS, load_layout
from hw.array import output_layout
from hw.axi_lite import RESP_OKAY, RESP_SLVERR
from hw.axi_regs import OFFSET, counter_registers, field_mask, field_value
from hw.codec import LayoutCodec, stream_lanes
from verif.kit import Coverage, start_clock, test_rng
from verif.kit.clocking import reset as pulse_reset
from verif.kit.golden import format_pairs, gemm_expect, pair_label, random_operands

PARAMS = json.loads(os.environ.get("RADIX4_PARAMS", "{}"))
ROWS = PARAMS.get("rows", 8)
COLS = PARAMS.get("cols", 8)
W = PARAMS.get("acc_width", 32)
DEPTH = PARAMS.get("depth", 512)
PAIRS = format_pairs()
LOAD = LayoutCodec(load_layout(ROWS, COLS), stream_lanes(load_layout(ROWS, COLS)))
RES_LAYOUT = output_layout(ROWS, COLS, W)
RES = LayoutCodec(RES_LAYOUT, stream_lanes(RES_LAYOUT))
TIMEOUT_US = 2_000       # sim time; the whole bench takes ~40 us

COV = Coverage(f"axi {ROWS}x{COLS} W={W} depth={DEPTH}")
COV.declare("format pair", [pair_label(*p) for p in PAIRS])
COV.declare("K per job", ["1", f"2..{DEPTH - 1}", f"{DEPTH} (= depth)"])
COV.declare("chain", ["fresh job", "accumulate", "no emit", "chain longer than depth"])
COV.declare("handshake", ["s_axis tvalid low (source pause)", "s_axis tready low with tvalid",
                          "m_axis tready low with tvalid", "lite access while streaming",
                          "AW before W", "W before AW", "AR while R stalled"])
COV.declare("response", ["unmapped read SLVERR", "unmapped write SLVERR", "ro write SLVERR",
                         "start while busy ignored", "k=0 ignored", "k>depth ignored",
                         "bad format ignored", "tlast early flagged", "tlast missing flagged",
                         "w1c clears", "overflow flagged"])
COV.declare("reset", ["while loading a job", "with results pending"])
COV.declare("irq", ["done raised", "error raised", "masked stays low", "cleared by w1c"])


def in_bytes() -> int:
    return (load_layout(ROWS, COLS).size + 7) // 8


def out_bytes() -> int:
    return (RES_LAYOUT.size + 7) // 8


class AxiBench:
    def __init__(self, dut, name: str, in_pause: float = 0.0, out_pause: float = 0.0):
        self.dut = dut
        self.name = name
        self.rng, self.np_rng = test_rng(name)
        for log in ("cocotb.radix4_axi.s_axil", "cocotb.radix4_axi.s_axis",
                    "cocotb.radix4_axi.m_axis", "cocotb.radix4_axi"):
            logging.getLogger(log).setLevel(logging.WARNING)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axil"), dut.clk, dut.rst)
        self.src = AxiStreamSource(AxiStreamBus.from_prefix(dut, "s_axis"), dut.clk, dut.rst)
        self.sink = AxiStreamSink(AxiStreamBus.from_prefix(dut, "m_axis"), dut.clk, dut.rst)
        self.set_pauses(in_pause, out_pause)
        self.chain = None          # (A, B, af, bf, total k) of the running accumulate chain
        self.streaming = False
        self.beats = 0             # beats sent since counters were cleared
        self.jobs = 0

    def set_pauses(self, in_pause: float, out_pause: float):
        rng = self.rng

        def gen(p):
            while True:
                yield p > 0 and rng.random() < p
        self.src.set_pause_generator(gen(in_pause))
        self.sink.set_pause_generator(gen(out_pause))
        # AXI4-Lite channels too: AW and W arrive in either order, B and R wait.
        lite = min(0.4, max(in_pause, out_pause))      # never stalled for good
        for ch in (self.axil.write_if.aw_channel, self.axil.write_if.w_channel,
                   self.axil.write_if.b_channel, self.axil.read_if.ar_channel,
                   self.axil.read_if.r_channel):
            ch.set_pause_generator(gen(lite))

    async def start(self):
        start_clock(self.dut)
        await self.reset()
        cocotb.start_soon(self._monitor())
        return self

    async def reset(self, cycles: int = 2):
        await pulse_reset(self.dut, cycles)
        self.src.clear()
        self.sink.clear()
        self.chain = None
        self.beats = self.jobs = 0
        await FallingEdge(self.dut.clk)

    async def _monitor(self):
        d = self.dut
        while True:
            await RisingEdge(d.clk)
            if d.rst.value == 1:
                continue
            busy_in = self.streaming
            if busy_in and d.s_axis_tvalid.value == 0:
                COV.hit("handshake", "s_axis tvalid low (source pause)")
            if d.s_axis_tvalid.value == 1 and d.s_axis_tready.value == 0:
                COV.hit("handshake", "s_axis tready low with tvalid")
            if d.m_axis_tvalid.value == 1 and d.m_axis_tready.value == 0:
                COV.hit("handshake", "m_axis tready low with tvalid")
            lite = (d.s_axil_rvalid.value == 1 and d.s_axil_rready.value == 1) or \
                (d.s_axil_bvalid.value == 1 and d.s_axil_bready.value == 1)
            if lite and d.s_axis_tvalid.value == 1 and d.s_axis_tready.value == 1:
                COV.hit("handshake", "lite access while streaming")
            aw = d.s_axil_awvalid.value == 1 and d.s_axil_awready.value == 1
            w = d.s_axil_wvalid.value == 1 and d.s_axil_wready.value == 1
            if aw and not w and d.s_axil_wvalid.value == 0:
                COV.hit("handshake", "AW before W")
            if w and not aw and d.s_axil_awvalid.value == 0:
                COV.hit("handshake", "W before AW")
            if d.s_axil_arvalid.value == 1 and d.s_axil_rvalid.value == 1 and \
                    d.s_axil_rready.value == 0:
                COV.hit("handshake", "AR while R stalled")

    # ---- register access (offsets and fields from hw.axi_regs) ---------------
    async def write(self, reg, value: int, expect=RESP_OKAY, strb_bytes=None):
        addr = OFFSET[reg] if isinstance(reg, str) else reg
        resp = await self.axil.write(addr, int(value).to_bytes(4, "little"))
        assert int(resp.resp) == expect, f"write {reg}: resp {resp.resp}, expected {expect}"

    async def read(self, reg, expect=RESP_OKAY) -> int:
        addr = OFFSET[reg] if isinstance(reg, str) else reg
        resp = await self.axil.read(addr, 4)
        assert int(resp.resp) == expect, f"read {reg}: resp {resp.resp}, expected {expect}"
        return int.from_bytes(resp.data, "little")

    async def field(self, reg: str, name: str) -> int:
        return field_value(reg, name, await self.read(reg))

    async def counter(self, name: str) -> int:
        lo, hi = counter_registers(name)
        low = await self.read(lo.name)
        return low | await self.read(hi.name) << 32

    async def counters(self) -> dict:
        return {n: await self.counter(n) for n in COUNTERS}

    async def err(self) -> int:
        return await self.read("ERR")

    async def wait_idle(self, budget: int = 20000):
        for _ in range(budget):
            if not await self.field("STATUS", "busy"):
                return
        raise AssertionError(f"{self.name}: STATUS.busy still set after {budget} polls")

    # ---- jobs -----------------------------------------------------------------
    async def program(self, k, af, bf, accumulate=False, emit=True):
        flags = (af << _lsb("a_fmt")) | (bf << _lsb("b_fmt")) | \
            (field_mask("JOB_FLAGS", "accumulate") if accumulate else 0) | \
            (field_mask("JOB_FLAGS", "emit") if emit else 0)
        await self.write("JOB_K", k)
        await self.write("JOB_FLAGS", flags)
        await self.write("CTRL", field_mask("CTRL", "start"))

    def frame(self, a_nib, b_nib, tlast_at=None) -> list:
        """Beats of a job as one frame (tlast on its last beat), or as pieces
        ending at the indices in ``tlast_at`` (to misplace tlast)."""
        k = a_nib.shape[1]
        words = LOAD.words_to_ints(LOAD.pack_words({"a": a_nib.T, "b": b_nib}, n=k))
        data = [w.to_bytes(in_bytes(), "little") for w in words]
        ends = sorted(set(tlast_at or []) | {k - 1})
        frames, start = [], 0
        for e in ends:
            frames.append(AxiStreamFrame(b"".join(data[start:e + 1])))
            start = e + 1
        return frames

    def expect(self, a_nib, b_nib, af, bf, accumulate):
        if accumulate and self.chain is not None:
            a0, b0, caf, cbf = self.chain
            assert (caf, cbf) == (af, bf)
            a_nib = np.concatenate([a0, a_nib], axis=1)
            b_nib = np.concatenate([b0, b_nib], axis=0)
            COV.hit("chain", "accumulate")
            if a_nib.shape[1] > DEPTH:
                COV.hit("chain", "chain longer than depth")
        else:
            COV.hit("chain", "fresh job")
        self.chain = (a_nib, b_nib, af, bf)
        return gemm_expect(a_nib, b_nib, af, bf, W)

    async def run_job(self, a_nib, b_nib, af, bf, accumulate=False, emit=True,
                      tlast_at=None, during=None):
        """Program, start, stream, collect and check one job; returns the rows."""
        k = a_nib.shape[1]
        COV.hit("format pair", pair_label(af, bf))
        COV.hit("K per job", "1" if k == 1 else f"{DEPTH} (= depth)" if k == DEPTH
                else f"2..{DEPTH - 1}")
        sums, ovf = self.expect(a_nib, b_nib, af, bf, accumulate)
        await self.program(k, af, bf, accumulate, emit)
        self.streaming = True
        for f in self.frame(a_nib, b_nib, tlast_at):
            await self.src.send(f)
        if during is not None:
            await during()
        await self.src.wait()
        self.streaming = False
        self.beats += k
        self.jobs += 1
        if not emit:
            COV.hit("chain", "no emit")
            await self.wait_idle()
            return None
        frame = await with_timeout(self.sink.recv(), TIMEOUT_US, "us")
        rows = self.check_rows(bytes(frame.tdata), sums, ovf)
        await self.wait_idle()
        assert await self.field("STATUS", "done") == 1, "STATUS.done not set after a job"
        return rows

    def check_rows(self, data: bytes, sums, ovf):
        n = out_bytes()
        assert len(data) == ROWS * n, f"result frame of {len(data)} bytes, expected {ROWS} rows"
        for r in range(ROWS):
            row = RES.unpack(int.from_bytes(data[r * n:(r + 1) * n], "little"))
            assert row["row"] == r and row["last"] == (r == ROWS - 1), row
            assert list(row["data"]) == [int(x) for x in sums[r]], \
                f"row {r}: got {row['data']}, expected {list(sums[r])}"
            assert [bool(x) for x in row["overflow"]] == [bool(x) for x in ovf[r]], \
                f"row {r} overflow: got {row['overflow']}, expected {list(ovf[r])}"
        return data

    def random_job(self, k=None, fmts=None, p_extreme=0.25):
        k = k or self.rng.choice([1, DEPTH, self.rng.randint(1, DEPTH)])
        af, bf = fmts or self.rng.choice(PAIRS)
        a, b = random_operands(self.np_rng, ROWS, COLS, k, af, bf, p_extreme)
        return a, b, af, bf

    async def random_chain(self, p_extreme=0.25):
        jobs = self.rng.choice([1, 1, 2, 3])
        af, bf = self.rng.choice(PAIRS)
        for j in range(jobs):
            a, b, _, _ = self.random_job(fmts=(af, bf), p_extreme=p_extreme)
            await self.run_job(a, b, af, bf, accumulate=j > 0, emit=j == jobs - 1)


def _lsb(name: str) -> int:
    mask = field_mask("JOB_FLAGS", name)
    return (mask & -mask).bit_length() - 1


__all__ = ["AxiBench", "COV", "ROWS", "COLS", "W", "DEPTH", "PAIRS", "RESP_OKAY", "RESP_SLVERR",
           "in_bytes", "out_bytes", "TIMEOUT_US"]
