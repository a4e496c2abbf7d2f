"""GEMM backends that run on the simulated RTL (``verilator``, ``icarus``).

``RtlBackend`` is a ``model.backend.Backend``: the training loop,
``radix4 gemm`` and ``radix4 replay`` call ``backend.gemm(...)`` on it exactly
as on the golden model.  The simulation is built once (cached by its
parameters), started once, and fed batches of jobs over a Unix socket (see
``sim.host`` and ``sim.host_server``); it is not rebuilt or restarted per
GEMM.

The base class checks the operands once and handles what the datapath does
not: FP4 on the B side (the transposed product ``(B^T A^T)^T``), 8-bit
operands (nibble decomposition, SPEC 1.6) and overflow (the tile's sticky
per-output flags raise ``GemmOverflowError`` naming the GEMM).  This class
runs one checked 4-bit part on the tile (``run_part``), or, on a tile of
block-scaled PEs (``config.pe`` ``mxfp4`` / ``nvfp4``), one rebiased
block-scaled GEMM (``run_block_lines``; the steps around it are
``model.block_backend``'s).
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

from hw.accel import COUNTERS
from model.backend import Backend, GemmPart
from model.config import DatapathConfig
from model.recipes import RTL_BACKENDS

from .driver import batch_files, batches, parse_results, plan_block_gemm, plan_gemm
from .host import HostConfig, build_host

__all__ = ["RtlBackend", "SimulationError", "SIMULATORS", "add_utilisation"]

SIMULATORS = RTL_BACKENDS      # the simulators an RtlBackend runs on


def add_utilisation(stats: dict, cfg: DatapathConfig) -> None:
    """``stats["macs"]`` and ``stats["utilisation"]`` from the tile's counters:
    utilisation against ``R*C*k`` MACs per cycle (a PE of ``k`` lanes does
    ``k`` MACs a beat; the lanes of K's zero padding count as issued)."""
    stats["macs"] = stats["mac_pe_cycles"] * cfg.lanes
    peak = cfg.rows * cfg.cols * cfg.lanes * stats["cycles"]
    stats["utilisation"] = stats["macs"] / peak if peak else 0.0


class SimulationError(RuntimeError):
    """The simulator died, timed out or answered nonsense."""


class RtlBackend(Backend):
    """The accelerator tile in a long-lived cocotb simulation.

    ``config`` (a ``model.config.DatapathConfig``, or its fields as keyword
    arguments: ``rows``, ``cols``, ``acc_width``, ``depth``, ``pe_latency``,
    ``lanes``, and the host memory sizes of ``sim.host.HostConfig``) says
    what is built.  ``last_stats``: the tile's counters of the last GEMM.
    """

    STATS = COUNTERS
    # What a subclass (``sim.quant_backend``: the tile with the quantization
    # unit) changes: the host configuration, its build and the cocotb server.
    _SERVER = "sim.host_server"
    _host_config = HostConfig
    _build_fn = staticmethod(build_host)

    def __init__(self, sim: str = "verilator", config: DatapathConfig | None = None, *,
                 gap_permille: int = 0, stall_permille: int = 0, seed: int = 1,
                 batch_beats: int | None = None, log: str | os.PathLike | None = None,
                 **fields):
        if sim not in SIMULATORS:
            raise ValueError(f"unknown RTL simulator {sim!r}; expected {' or '.join(SIMULATORS)}")
        for label, v in (("gap_permille", gap_permille), ("stall_permille", stall_permille)):
            if not 0 <= v < 1000:
                raise ValueError(f"{label} must be in [0, 1000), got {v}")
        super().__init__(self._host_config.of(config, **fields))
        self.name = sim
        self.cfg = self.config      # the host configuration (sim.host.HostConfig)
        # Beats per batch: at most the host memory; smaller values (tests) only
        # make more batches, they do not change the build.
        self.batch_beats = self.cfg.host_beats if batch_beats is None else batch_beats
        if not 1 <= self.batch_beats <= self.cfg.host_beats:
            raise ValueError(f"batch_beats must be in [1, {self.cfg.host_beats}]")
        self.gap_permille, self.stall_permille, self.seed = gap_permille, stall_permille, seed
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
            extra_env={"RADIX4_HOST_SOCKET": sock_path, **self._server_env()},
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

    def _server_env(self) -> dict:
        """Extra environment of the cocotb server (a subclass's parameters)."""
        return {}

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

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    # ---------------------------------------------------------------- GEMMs
    def finish_stats(self):
        add_utilisation(self.last_stats, self.cfg)

    def tile_gemm(self, a, b, a_format: str, b_format: str, *, name: str = "gemm"):
        """One 4-bit GEMM on the tile: ``(result int64, overflow bool)``, both
        M x N, without raising on overflow (``sim.soak`` compares the flags
        with the golden model's).  ``last_stats`` then holds its counters."""
        op = self.check(a, b, a_format, b_format, name)
        if len(op.parts) != 1:
            raise ValueError(f"GEMM {name!r}: tile_gemm takes 4-bit operands, "
                             f"got {a_format} x {b_format}")
        self.reset_last_stats()
        return self.run_user_part(op.parts[0])

    def run_part(self, part: GemmPart):
        cfg = self.cfg
        return self._run_plan(plan_gemm(part.a, part.b, part.a_format, part.b_format, cfg.rows,
                                        cfg.cols, cfg.depth, cfg.lanes))

    def run_block_lines(self, la, lb, idx):
        """One block-scaled GEMM (``model.block_backend``) on a tile of
        block-scaled PEs: the rebiased codes and per-beat scale fields
        (``model.block_hw.HwLines``) tiled by ``sim.driver.plan_block_gemm``;
        the raw 64-bit accumulators and flags come back."""
        cfg = self.cfg
        plan = plan_block_gemm(la.codes[idx], la.scale_fields(cfg.lanes)[idx], lb.codes[idx],
                               lb.scale_fields(cfg.lanes)[idx], la.fmt, cfg.rows, cfg.cols,
                               cfg.depth, cfg.lanes, cfg.pe)
        return self._run_plan(plan)

    def _run_plan(self, plan):
        """``(sums int64, overflow bool)``, M x N, of a tile plan, batch by batch."""
        cfg = self.cfg
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
        counters = dict(zip(self.STATS, map(int, words[:len(self.STATS)])))
        if int(words[len(self.STATS)]):
            raise SimulationError("the tile flagged a malformed command (driver bug)")
        if counters["jobs_done"] != len(jobs) or counters["mac_pe_cycles"] != \
                n_beats * cfg.rows * cfg.cols:
            raise SimulationError(f"tile counters disagree with the batch: {counters}, "
                                  f"{len(jobs)} jobs, {n_beats} beats")
        self.add_stats(counters)
        if n_res == 0:
            return []
        data, ovf, row, last = parse_results(res_file.read_text(), n_res, cfg.cols,
                                             cfg.acc_width, cfg.rows)
        expect_row = np.tile(np.arange(cfg.rows), n_res // cfg.rows)
        if not np.array_equal(row, expect_row) or not np.array_equal(last, expect_row == cfg.rows - 1):
            raise SimulationError("result rows arrived out of order")
        return [(data[i:i + cfg.rows], ovf[i:i + cfg.rows]) for i in range(0, n_res, cfg.rows)]
