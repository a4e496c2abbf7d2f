"""GEMM backends that run on the simulated RTL (``verilator``, ``icarus``).

``RtlBackend`` implements ``model.backend.GemmBackend``: the training loop,
``radix4 gemm`` and ``radix4 replay`` call ``backend.gemm(...)`` on it exactly
as on the golden model.  The simulation is built once (cached by its
parameters), started once, and fed batches of jobs over a Unix socket (see
``sim.host`` and ``sim.host_server``); it is not rebuilt or restarted per
GEMM.

On top of the 4-bit tile GEMM it handles what the datapath does not: FP4 on
the B side (the transposed product ``(B^T A^T)^T``), 8-bit operands (nibble
decomposition, SPEC 1.6) and overflow (the tile's sticky per-output flags
raise ``GemmOverflowError`` naming the GEMM).
"""

from __future__ import annotations

import os
import select
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from model.backend import GemmOverflowError
from model.hw_vocab import hardware_orientation, side_formats
from model.gemm import check_gemm_operands
from model.quant import WIDE_FORMATS, decompose, nibble_gemm

from .driver import batch_files, batches, parse_results, plan_gemm
from .host import HostConfig, build_host

__all__ = ["RtlBackend", "SimulationError"]

_STATS = ("cycles", "busy_cycles", "mac_pe_cycles", "stall_cycles", "jobs_done")


class SimulationError(RuntimeError):
    """The simulator died, timed out or answered nonsense."""


class RtlBackend:
    """The accelerator tile in a long-lived cocotb simulation."""

    # What a subclass (``sim.quant_backend``: the tile with the quantization
    # unit) changes: the host configuration, its build and the cocotb server.
    _SERVER = "sim.host_server"
    _host_config = HostConfig
    _build_fn = staticmethod(build_host)

    def __init__(self, sim: str = "verilator", rows: int = 8, cols: int = 8,
                 acc_width: int = 32, depth: int = 512, *, gap_permille: int = 0,
                 stall_permille: int = 0, seed: int = 1, batch_beats: int | None = None,
                 log: str | os.PathLike | None = None):
        for label, v in (("gap_permille", gap_permille), ("stall_permille", stall_permille)):
            if not 0 <= v < 1000:
                raise ValueError(f"{label} must be in [0, 1000), got {v}")
        self.name = sim
        self.cfg = self._host_config(rows=rows, cols=cols, acc_width=acc_width, depth=depth)
        # Beats per batch: at most the host memory; smaller values (tests) only
        # make more batches, they do not change the build.
        self.batch_beats = self.cfg.host_beats if batch_beats is None else batch_beats
        if not 1 <= self.batch_beats <= self.cfg.host_beats:
            raise ValueError(f"batch_beats must be in [1, {self.cfg.host_beats}]")
        self.acc_width = acc_width
        self.gap_permille, self.stall_permille, self.seed = gap_permille, stall_permille, seed
        self.last_stats: dict = {}
        self.total_stats = {k: 0 for k in _STATS}
        self.total_stats["gemms"] = 0
        self._proc = None
        self._sock = None
        self._build = self._build_fn(self.cfg, sim)
        self._start(log)

    # ---------------------------------------------------------------- process
    def _start(self, log):
        from verif import tools

        self._tmp = tempfile.TemporaryDirectory(prefix="radix4-")
        sock_path = os.path.join(self._tmp.name, "host.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(sock_path)
        server.listen(1)
        server.settimeout(0.5)
        self._log_path = Path(log) if log else Path(self._tmp.name) / "sim.log"
        self._log = open(self._log_path, "wb")
        self._proc, results = tools.launch(
            self._SERVER, self._build, name="host",
            extra_env={"RADIX4_HOST_SOCKET": sock_path},
            stdout=self._log, stderr=subprocess.STDOUT)
        self.run_dir = Path(results).parent
        deadline = time.monotonic() + 120
        try:
            while True:
                try:
                    conn, _ = server.accept()
                    break
                except socket.timeout:
                    if self._proc.poll() is not None:
                        raise SimulationError(self._died("before connecting"))
                    if time.monotonic() > deadline:
                        raise SimulationError("the simulator did not connect within 120 s")
        finally:
            server.close()
        self._sock = conn
        self._sock.settimeout(None)
        self._rfile = conn.makefile("r")

    def _died(self, when):
        self._log.flush()
        tail = self._log_path.read_text(errors="replace")[-2000:]
        return f"{self.name} simulation exited {when} (status {self._proc.poll()}):\n{tail}"

    def _request(self, line: str, timeout: float = 3600) -> list[str]:
        if self._sock is None:
            raise SimulationError("the backend is closed")
        self._sock.sendall(line.encode() + b"\n")
        deadline = time.monotonic() + timeout
        # Wait with select (the simulator may run for minutes), checking that
        # it is still alive; then read the whole reply line.
        while not select.select([self._sock], [], [], 1.0)[0]:
            if self._proc.poll() is not None:
                raise SimulationError(self._died("mid-request"))
            if time.monotonic() > deadline:
                raise SimulationError(f"no reply to {line.split()[0]!r} in {timeout} s")
        reply = self._rfile.readline()
        if not reply:
            raise SimulationError(self._died("mid-request"))
        words = reply.split()
        if words[0] != "ok":
            raise SimulationError(f"simulator answered {reply.strip()!r} to {line.strip()!r}")
        return words[1:]

    def close(self):
        if self._sock is not None:
            try:
                self._sock.sendall(b"quit\n")
            except OSError:
                pass
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None
        if getattr(self, "_log", None):
            self._log.close()
        if getattr(self, "_tmp", None):
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # ---------------------------------------------------------------- GEMMs
    def gemm(self, a, b, a_format: str, b_format: str, *, name: str = "gemm", **_):
        """Exact int64 ``A @ B`` on the RTL (any shapes; formats per SPEC 2 + 8-bit)."""
        supported = sorted(set(side_formats("a")) | set(side_formats("b")) | set(WIDE_FORMATS))
        for side, fmt in (("A", a_format), ("B", b_format)):
            if fmt not in supported:
                raise ValueError(f"GEMM {name!r}: format {fmt!r} on {side} is not supported "
                                 f"by the RTL ({', '.join(supported)})")
        decompose(a, a_format, "A")   # validates codes of every format, incl. 8-bit
        decompose(b, b_format, "B")
        a = np.asarray(a)
        b = np.asarray(b)
        if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
            raise ValueError(f"GEMM {name!r}: shape mismatch A {a.shape} x B {b.shape}")
        self.last_stats = {k: 0 for k in _STATS}
        out = nibble_gemm(a, b, a_format, b_format,
                          gemm=lambda x, y, fx, fy: self._gemm4(x, y, fx, fy, name))
        st = self.last_stats
        st["utilisation"] = (st["mac_pe_cycles"] / (self.cfg.rows * self.cfg.cols * st["cycles"])
                             if st["cycles"] else 0.0)
        self.total_stats["gemms"] += 1
        return out

    def _gemm4(self, a, b, fa, fb, name):
        out, overflow = self._tile_gemm(a, b, fa, fb, name)
        if overflow.any():
            raise GemmOverflowError(name, int(overflow.sum()), self.acc_width)
        return out

    def tile_gemm(self, a, b, a_format: str, b_format: str, *, name: str = "gemm"):
        """One 4-bit GEMM on the tile: ``(result int64, overflow bool)``, both
        M x N, without raising on overflow (``sim.soak`` compares the flags
        with the golden model's).  ``last_stats`` then holds its counters."""
        self.last_stats = {k: 0 for k in _STATS}
        return self._tile_gemm(a, b, a_format, b_format, name)

    def _tile_gemm(self, a, b, fa, fb, name):
        # The format table's side rule: run as is, transposed, or not at all.
        try:
            transposed = hardware_orientation(fa, fb)
        except ValueError:
            raise ValueError(f"GEMM {name!r}: {fa} x {fb} is not a datapath format pair") from None
        if transposed:
            out, overflow = self._tile_gemm(np.asarray(b).T, np.asarray(a).T, fb, fa, name)
            return out.T, overflow.T
        check_gemm_operands(a, b, fa, fb)
        cfg = self.cfg
        plan = plan_gemm(a, b, fa, fb, cfg.rows, cfg.cols, cfg.depth)
        m, n = plan.m, plan.n
        out = np.zeros((m, n), np.int64)
        overflow = np.zeros((m, n), bool)
        results = []
        for jobs in batches(plan, self.batch_beats, cfg.host_cmds, cfg.host_rows):
            results.extend(self._run_batch(plan, jobs))
        emitted = [j for j in plan.jobs if j.emit]
        for job, (data, ovf) in zip(emitted, results):
            mi, nj = plan.tiles[job.tile]
            r0, c0 = mi * cfg.rows, nj * cfg.cols
            rr, cc = min(cfg.rows, m - r0), min(cfg.cols, n - c0)
            out[r0:r0 + rr, c0:c0 + cc] = data[:rr, :cc]
            overflow[r0:r0 + rr, c0:c0 + cc] = ovf[:rr, :cc]
        return out, overflow

    def _run_batch(self, plan, jobs):
        cfg = self.cfg
        cmd_text, load_text, n_beats = batch_files(plan, jobs, cfg.depth)
        n_res = cfg.rows * sum(j.emit for j in jobs)
        (self.run_dir / "cmd.hex").write_bytes(cmd_text)
        (self.run_dir / "load.hex").write_bytes(load_text)
        res_file = self.run_dir / "res.hex"
        if res_file.exists():
            res_file.unlink()
        # Generous cycle budget: every beat, fill/drain per job, and stalls.
        slack = 1000 / (1000 - max(self.gap_permille, self.stall_permille))
        max_cycles = int((n_beats + len(jobs) * (2 * cfg.rows + cfg.cols + 8)) * 4 * slack) + 1000
        words = self._request(f"run {len(jobs)} {n_beats} {n_res} {self.gap_permille} "
                              f"{self.stall_permille} {self.seed} {max_cycles}")
        counters = dict(zip(_STATS, map(int, words[:5])))
        if int(words[5]):
            raise SimulationError("the tile flagged a malformed command (driver bug)")
        if counters["jobs_done"] != len(jobs) or counters["mac_pe_cycles"] != \
                n_beats * cfg.rows * cfg.cols:
            raise SimulationError(f"tile counters disagree with the batch: {counters}, "
                                  f"{len(jobs)} jobs, {n_beats} beats")
        for k, v in counters.items():
            self.last_stats[k] += v
            self.total_stats[k] += v
        if n_res == 0:
            return []
        data, ovf, row, last = parse_results(res_file.read_text(), n_res, cfg.cols,
                                             cfg.acc_width, cfg.rows)
        expect_row = np.tile(np.arange(cfg.rows), n_res // cfg.rows)
        if not np.array_equal(row, expect_row) or not np.array_equal(last, expect_row == cfg.rows - 1):
            raise SimulationError("result rows arrived out of order")
        return [(data[i:i + cfg.rows], ovf[i:i + cfg.rows]) for i in range(0, n_res, cfg.rows)]
