"""Host side of the board's UART bridge (``radix4 gemm --device PORT``).

``Device`` speaks the frames of ``hw.uart_bridge`` (checksummed both ways)
over a *transport* (``send(bytes)``, ``recv(n) -> bytes`` raising
``DeviceTimeout``): ``SerialTransport`` (pyserial, a real board) or
``SimulatedLine`` (the board's RTL, ``hw.board.BoardCore``, in Amaranth's
simulator behind a serial-line model: same frames, same bridge).
``UartBackend`` runs GEMMs on it, one tile job at a time, with the
programming sequence of docs/integration.md; results are checked by the
``model.backend.Backend`` machinery like every backend's.

Every failure is a ``DeviceError`` with a one-line message: no answer
(timeout), garbage, a reply whose checksum is wrong, the board reporting a
corrupt request, a bus error, a wrong ID.
"""

from __future__ import annotations

import numpy as np

from hw.axi_regs import ID_MAGIC, OFFSET, field_mask, field_value, job_start_writes
from hw.uart_bridge import OP_ERROR, OPS, SYNC_REPLY, SYNC_REQ, reply_bytes
from model.backend import Backend
from model.config import DatapathConfig
from model.formats import FORMATS

from .driver import load_codec, plan_gemm, result_codec

__all__ = ["Device", "DeviceError", "DeviceTimeout", "SerialTransport", "SimulatedLine",
           "UartBackend", "request_frame"]


class DeviceError(RuntimeError):
    """The board did not answer, or answered wrongly (one-line message)."""


class DeviceTimeout(DeviceError):
    pass


def request_frame(op: str, payload: bytes = b"") -> bytes:
    body = bytes([OPS[op]]) + payload
    return bytes([SYNC_REQ]) + body + bytes([(-sum(body)) & 0xFF])


class SerialTransport:
    def __init__(self, port: str, baud: int, timeout: float = 2.0):
        import serial
        try:
            self.ser = serial.Serial(port, baud, timeout=timeout, write_timeout=timeout)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise DeviceError(f"cannot open {port}: {exc}") from None

    def send(self, data: bytes):
        self.ser.write(data)

    def recv(self, n: int) -> bytes:
        data = self.ser.read(n)
        if len(data) < n:
            raise DeviceTimeout(f"no answer from the board on {self.ser.port} "
                                f"(got {len(data)} of {n} bytes)")
        return data

    def close(self):
        self.ser.close()


class Device:
    def __init__(self, transport):
        self.t = transport
        ident = self.read("ID")
        if field_value("ID", "magic", ident) != ID_MAGIC:
            raise DeviceError(f"not a radix4 board (ID 0x{ident:08x})")
        c0, c1, st = self.read("CONFIG0"), self.read("CONFIG1"), self.read("STREAMS")
        self.rows = field_value("CONFIG0", "rows", c0)
        self.cols = field_value("CONFIG0", "cols", c0)
        self.acc_width = field_value("CONFIG0", "acc_width", c0)
        self.pe_latency = field_value("CONFIG0", "pe_latency", c0)
        self.depth = 1 << field_value("CONFIG1", "depth_log2", c1)
        self.lanes = field_value("CONFIG1", "lanes", c1)
        self.in_bytes = field_value("STREAMS", "s_axis_bytes", st)
        self.out_bytes = field_value("STREAMS", "m_axis_bytes", st)

    def _call(self, op: str, payload: bytes = b"") -> bytes:
        self.t.send(request_frame(op, payload))
        head = self.t.recv(2)
        if head[0] != SYNC_REPLY:
            raise DeviceError(f"the board answered garbage (0x{head[0]:02x})")
        if head[1] == OP_ERROR:
            self.t.recv(1)
            raise DeviceError("the board received a corrupt frame (checksum or unknown op)")
        if head[1] != OPS[op]:
            raise DeviceError(f"reply to {op} has op 0x{head[1]:02x}")
        n = reply_bytes(op, getattr(self, "out_bytes", 0))
        rest = self.t.recv(n + 1)
        if (head[1] + sum(rest)) & 0xFF:
            raise DeviceError(f"corrupt reply to {op} (checksum)")
        return rest[:n]

    def write(self, reg: str, value: int):
        resp = self._call("write", bytes([OFFSET[reg]]) + int(value).to_bytes(4, "little"))
        if resp[0]:
            raise DeviceError(f"bus error writing {reg} (resp {resp[0]})")

    def read(self, reg: str) -> int:
        r = self._call("read", bytes([OFFSET[reg]]))
        if r[4]:
            raise DeviceError(f"bus error reading {reg} (resp {r[4]})")
        return int.from_bytes(r[:4], "little")

    def beat(self, word: int, last: bool):
        self._call("beat", word.to_bytes(self.in_bytes, "little") + bytes([int(last)]))

    def row(self):
        r = self._call("row")
        return bool(r[0]), int.from_bytes(r[1:1 + self.out_bytes], "little"), bool(r[-1])

    def run_job(self, k, a_code, b_code, accumulate, emit, beats, max_polls=10_000):
        """One job (docs/integration.md, programming sequence); its rows as ints."""
        for reg, value in job_start_writes(k, a_code, b_code, accumulate, emit):
            self.write(reg, value)
        for i, w in enumerate(beats):
            self.beat(w, i == k - 1)
        rows = []
        for _ in range(max_polls):
            if not emit or len(rows) == self.rows:
                break
            have, word, last = self.row()
            if have:
                rows.append(word)
        for _ in range(max_polls):
            if not field_value("STATUS", "busy", self.read("STATUS")):
                break
        else:
            raise DeviceError("the board stayed busy")
        if emit and len(rows) != self.rows:
            raise DeviceError(f"{len(rows)} result rows, expected {self.rows}")
        err = self.read("ERR") & ~field_mask("ERR", "overflow")
        if err:
            raise DeviceError(f"the shell flagged ERR 0x{err:02x} (driver bug)")
        return rows


class UartBackend(Backend):
    """GEMMs on a board (or its simulated RTL) through the UART bridge."""

    name = "device"

    def __init__(self, transport):
        self.dev = Device(transport)
        d = self.dev
        # The board says what it is: the plan follows its size, depth and lanes.
        super().__init__(DatapathConfig(rows=d.rows, cols=d.cols, acc_width=d.acc_width,
                                        depth=d.depth, lanes=d.lanes,
                                        pe_latency=d.pe_latency))
        self.transport = transport

    def run_part(self, part):
        d = self.dev
        plan = plan_gemm(part.a, part.b, part.a_format, part.b_format, d.rows, d.cols, d.depth,
                         d.lanes)
        load = load_codec(d.rows, d.cols, d.lanes)
        res = result_codec(d.rows, d.cols, d.acc_width)
        out = np.zeros((plan.m, plan.n), np.int64)
        ovf = np.zeros((plan.m, plan.n), bool)
        a_code, b_code = FORMATS[plan.a_fmt].hw_code, FORMATS[plan.b_fmt].hw_code
        for job in plan.jobs:
            mi, nj = plan.tiles[job.tile]
            words = load.words_to_ints(plan.a_words[mi, job.k0:job.k1]
                                       | plan.b_words[nj, job.k0:job.k1])
            rows = d.run_job(job.k1 - job.k0, a_code, b_code, job.accumulate, job.emit, words)
            if not job.emit:
                continue
            f = res.unpack_words(res.ints_to_words(rows))
            if list(f["row"]) != list(range(d.rows)):
                raise DeviceError("result rows arrived out of order")
            r0, c0 = mi * d.rows, nj * d.cols
            rr, cc = min(d.rows, plan.m - r0), min(d.cols, plan.n - c0)
            out[r0:r0 + rr, c0:c0 + cc] = f["data"][:rr, :cc]
            ovf[r0:r0 + rr, c0:c0 + cc] = f["overflow"][:rr, :cc].astype(bool)
        return out, ovf

    def close(self):
        close = getattr(self.transport, "close", None)
        if close:
            close()


PERIOD = 1e-6     # simulated clock period (s); the line runs asynchronously to it


class SimulatedLine:
    """The board core (``hw.board.BoardCore``) in Amaranth's simulator behind a
    serial-line model: bytes sent become start/data/stop bits on ``rx``, bits
    on ``tx`` are decoded back into bytes.  ``corrupt`` (a set of byte
    indices of the sent stream) flips a bit of those bytes on the line."""

    def __init__(self, config: DatapathConfig, divisor: int = 8, corrupt=(), budget=2_000_000):
        from amaranth.sim import Simulator

        from hw.board import BoardCore
        self.core = BoardCore(config, divisor, timeout=64 * divisor)
        self.divisor, self.budget = divisor, budget
        self.out_q: list[int] = []
        self.in_q: list[int] = []
        self.corrupt, self.sent = set(corrupt), 0
        sim = self.sim = Simulator(self.core)
        sim.add_clock(PERIOD)
        sim.add_testbench(self._drive, background=True)
        sim.add_testbench(self._listen, background=True)
        self.now = 0

    async def _drive(self, ctx):
        core, d = self.core, self.divisor
        ctx.set(core.rx, 1)
        while True:
            if not self.out_q:
                await ctx.delay(d * PERIOD)
                continue
            byte = self.out_q.pop(0)
            if self.sent in self.corrupt:
                byte ^= 0x10
            self.sent += 1
            for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
                ctx.set(core.rx, bit)
                await ctx.delay(d * PERIOD)

    async def _listen(self, ctx):
        core, d = self.core, self.divisor
        while True:
            await ctx.negedge(core.tx)
            await ctx.delay((d + d // 2) * PERIOD)
            byte = 0
            for i in range(8):
                byte |= ctx.get(core.tx) << i
                await ctx.delay(d * PERIOD)
            self.in_q.append(byte)

    def send(self, data: bytes):
        self.out_q.extend(data)

    def idle(self, cycles: int):
        """Let the line stay as it is for ``cycles`` clock cycles."""
        self.now += cycles
        self.sim.run_until(self.now * PERIOD)

    def recv(self, n: int) -> bytes:
        step = 20 * self.divisor
        waited = 0
        while len(self.in_q) < n:
            if waited > self.budget:
                raise DeviceTimeout(f"no answer from the simulated board ({len(self.in_q)} "
                                    f"of {n} bytes in {waited} cycles)")
            self.now += step
            waited += step
            self.sim.run_until(self.now * PERIOD)
        data, self.in_q = bytes(self.in_q[:n]), self.in_q[n:]
        return data
