"""The RTL backend on a Dask cluster: a GEMM's output tiles sharded over workers.

``DistributedRtlBackend`` is a ``model.backend.Backend`` like
``sim.backends.RtlBackend`` and returns the same exact int64 result.  Each
Dask worker holds ONE long-lived ``RtlBackend`` (one simulator process),
started the first time the worker needs it -- at construction, by a warm-up
task on every worker -- and reused by every later GEMM and training step.
The simulator model comes from the build cache (``sim.host.build_host``,
cached and locked), so each machine builds it once whatever its worker count.

Sharding.  The operands are checked and split into 4-bit parts here, once
(``model.backend.check_gemm``: 8-bit operands into nibble parts, FP4 on B
transposed), and all parts go out at once; each part's output is cut into a
grid of blocks of whole tiles (block edges at multiples of lcm(R, C)), and
block (i, j) runs as ``RtlBackend.run_part`` of the part's rows i and
columns j on some worker: every output tile keeps its whole K chain on one
worker.  The blocks are pasted back in place; bit-exactness is the worker
backend's.

Overflow.  A block returns its sums and sticky flags; the base class raises
``GemmOverflowError`` naming the GEMM for the first part (in order) with
flagged outputs, with their count over all its blocks -- the same count as
the in-process backend, which runs the parts in order and stops at that one.

Faults.  A worker process that dies mid-GEMM: the scheduler reruns its
blocks on the other workers (up to ``distributed.scheduler.allowed-failures``
deaths per block, then ``SimulationError`` naming the GEMM and block).  A
simulator that dies inside a live worker: that worker drops it (the next
block there starts a fresh one) and the block is resubmitted, up to
``MAX_RESUBMITS`` times.  A simulator that fails to build or start raises
``WorkerStartError`` naming the worker, at once.  ``close()`` removes the
simulators from every worker (the worker plugin's teardown) and closes the
cluster if this backend started it.
"""

from __future__ import annotations

import math
import os
import threading
import uuid

import numpy as np

from hw.accel import COUNTERS
from model.backend import Backend, GemmOverflowError
from model.config import DatapathConfig

from .backends import SIMULATORS, RtlBackend, SimulationError, add_utilisation
from .dask_session import DaskSession
from .host import HostConfig

__all__ = ["DistributedRtlBackend", "WorkerStartError", "shard_blocks", "MAX_RESUBMITS"]

MAX_RESUBMITS = 2          # reruns of a block whose simulator died (worker alive)
SHARDS_PER_WORKER = 4      # blocks per worker for a large GEMM (load balance, fault granularity)
MIN_SHARD_MACS = 1 << 21   # no block smaller than this: a task costs milliseconds
PROGRESS_MACS = 1 << 26    # GEMMs at least this large show a progress bar (on a terminal)


class WorkerStartError(RuntimeError):
    """A worker's simulator failed to build or start; the first line names the worker."""


# ---------------------------------------------------------------- worker side
try:
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:        # dask not installed: the module still imports (in-process use)
    WorkerPlugin = object


class RtlWorkerPlugin(WorkerPlugin):
    """Holds one worker's ``RtlBackend``; its teardown ends the simulator.

    Registered under a name unique to one ``DistributedRtlBackend``, so two
    clients sharing a cluster do not close each other's simulators.
    """

    def __init__(self, spec: dict):
        self.spec = dict(spec)

    def setup(self, worker):
        self.worker = worker
        self.backend = None
        self.lock = threading.Lock()

    def teardown(self, worker):
        backend, self.backend = self.backend, None
        if backend is None:
            return
        if not self.lock.acquire(timeout=0):
            # A block is still running (cancelled on the client): do not wait
            # for its batch; the worker thread then sees a dead simulator.
            proc = getattr(backend, "_proc", None)
            if proc is not None:
                proc.kill()
        else:
            self.lock.release()
        backend.close()

    def label(self) -> str:
        w = self.worker
        return f"worker {w.name} ({w.address})"

    def get_backend(self) -> RtlBackend:
        """The worker's backend (started on first use; caller holds ``self.lock``)."""
        if self.backend is None:
            try:
                self.backend = RtlBackend(**self.spec)
            except Exception as exc:
                text = str(exc).strip() or type(exc).__name__
                first, _, rest = text.partition("\n")
                raise WorkerStartError(f"{self.label()}: the {self.spec['sim']} simulator "
                                       f"failed to build or start: {first}\n{rest}") from None
        return self.backend

    def drop(self):
        backend, self.backend = self.backend, None
        if backend is not None:
            try:
                backend.close()
            except Exception:
                pass


def _plugin(name: str) -> RtlWorkerPlugin:
    from distributed import get_worker
    try:
        return get_worker().plugins[name]
    except KeyError:
        raise RuntimeError(f"worker plugin {name!r} is not installed on this worker") from None


def _warm(plugin_name: str) -> dict:
    """Start this worker's simulator (a warm-up task pinned to each worker)."""
    p = _plugin(plugin_name)
    with p.lock:
        b = p.get_backend()
        return {"pid": os.getpid(), "sim_pid": b._proc.pid if b._proc else None}


def _run_block(plugin_name, part):
    """One block (a checked ``GemmPart``) on this worker's simulator:
    ``(sums, overflow flags, stats)``."""
    p = _plugin(plugin_name)
    with p.lock:
        backend = p.get_backend()
        backend.reset_last_stats()
        try:
            out, overflow = backend.run_part(part)
        except SimulationError as exc:
            p.drop()      # the next block on this worker starts a fresh simulator
            raise SimulationError(f"{p.label()}: {exc}") from None
        stats = {k: backend.last_stats.get(k, 0) for k in COUNTERS}
    return out, overflow, stats


def _sim_pids(dask_worker, plugin_name):
    """``(worker pid, simulator pid or None)`` (``client.run`` helper for tests)."""
    p = dask_worker.plugins.get(plugin_name)
    proc = getattr(getattr(p, "backend", None), "_proc", None)
    return os.getpid(), (proc.pid if proc is not None else None)


# ---------------------------------------------------------------- sharding
def shard_blocks(m: int, n: int, unit: int, shards: int) -> list[tuple[int, int, int, int]]:
    """``[(r0, r1, c0, c1)]``: at most ``shards`` blocks of C (M x N) on a grid
    whose cuts fall on multiples of ``unit``; together they cover C once."""
    bm, bn = -(-m // unit), -(-n // unit)
    if bm == 0 or bn == 0:
        return []
    p = max(1, min(bm, shards))
    q = max(1, min(bn, shards // p))

    def cuts(units, parts, size):
        edges = [round(i * units / parts) * unit for i in range(parts + 1)]
        return [(min(e0, size), min(e1, size)) for e0, e1 in zip(edges, edges[1:]) if e1 > e0]

    return [(r0, r1, c0, c1) for r0, r1 in cuts(bm, p, m) for c0, c1 in cuts(bn, q, n)]


# ---------------------------------------------------------------- client side
class DistributedRtlBackend(Backend):
    """``gemm()`` on the RTL, sharded over the workers of a Dask cluster.

    ``workers=N`` starts a ``LocalCluster`` of N processes; ``scheduler=URL``
    uses a running cluster; ``client=`` an existing ``distributed.Client``
    (not closed here).  ``config`` and keyword arguments naming its fields
    (``rows``, ``acc_width``...) say what each worker builds; other keyword
    arguments go to each worker's ``RtlBackend`` (``gap_permille``,
    ``stall_permille``, ``seed``...).
    """

    STATS = COUNTERS

    def __init__(self, sim: str = "verilator", config: DatapathConfig | None = None, *,
                 workers: int | None = None, scheduler: str | None = None, client=None,
                 env: dict | None = None, shards_per_worker: int = SHARDS_PER_WORKER,
                 min_block_macs: int = MIN_SHARD_MACS, progress: bool = True, **kwargs):
        if sim not in SIMULATORS:
            raise ValueError(f"unknown RTL simulator {sim!r}; expected verilator or icarus")
        fields = {f: kwargs.pop(f) for f in HostConfig.__dataclass_fields__ if f in kwargs}
        super().__init__(HostConfig.of(config, **fields))
        self.name = sim
        self.cfg = self.config
        self.shards_per_worker = shards_per_worker
        self.min_block_macs = max(1, int(min_block_macs))
        self.progress = progress
        self._session = None
        self._plugin_name = None
        spec = dict(sim=sim, config=self.config, **kwargs)
        try:
            if client is None:
                self._session = DaskSession(workers=workers, scheduler=scheduler, env=env)
                client = self._session.client
            self.client = client
            self._plugin_name = f"radix4-rtl-{uuid.uuid4().hex[:12]}"
            client.register_plugin(RtlWorkerPlugin(spec), name=self._plugin_name)
            self._warm_up()
        except BaseException:
            self.close()
            raise

    def _warm_up(self):
        """Start every worker's simulator now: build errors surface here, named."""
        addrs = list(self.client.scheduler_info(n_workers=-1)["workers"])
        futs = [self.client.submit(_warm, self._plugin_name, workers=[a], pure=False,
                                   allow_other_workers=False) for a in addrs]
        self.worker_pids = {}
        for addr, fut in zip(addrs, futs):
            try:
                self.worker_pids[addr] = fut.result()
            except WorkerStartError:
                raise
            except Exception as exc:
                raise WorkerStartError(f"worker {addr}: the {self.name} simulator failed to "
                                       f"start: {str(exc).strip().splitlines()[0]}") from None

    @property
    def n_workers(self) -> int:
        return len(self.client.scheduler_info(n_workers=-1)["workers"])

    def simulator_pids(self) -> dict:
        """``{worker address: (worker pid, simulator pid)}`` of the workers now."""
        return self.client.run(_sim_pids, plugin_name=self._plugin_name)

    # ------------------------------------------------------------ GEMMs
    def run_parts(self, parts):
        """Every part's blocks at once; ``[(sums, overflow)]`` in part order
        (the base class raises for the first overflowing part, as in process)."""
        if not parts:
            return []
        m, k, n = parts[0].shape
        # Every part's blocks go out at once: the 2 or 4 part GEMMs of an
        # 8-bit GEMM are independent and run side by side on the workers.
        shards = self._shards(m, k, n)
        unit = math.lcm(self.cfg.rows, self.cfg.cols)
        blocks = [(p, blk) for p, part in enumerate(parts)
                  for blk in shard_blocks(part.shape[0], part.shape[2], unit, shards)] \
            if m * k * n else []
        large = len(parts) * m * n * k >= PROGRESS_MACS
        results = self._run_blocks(parts, blocks, parts[0].name, show=self.progress and large)
        out = [(np.zeros((part.shape[0], part.shape[2]), np.int64),
                np.zeros((part.shape[0], part.shape[2]), bool)) for part in parts]
        for (p, (r0, r1, c0, c1)), (data, overflow, stats) in zip(blocks, results):
            out[p][0][r0:r1, c0:c1] = data
            out[p][1][r0:r1, c0:c1] = overflow
            self.add_stats(stats)
        self.last_stats["blocks"] = self.last_stats.get("blocks", 0) + len(blocks)
        return out

    def run_part(self, part):
        return self.run_parts([part])[0]

    def finish_stats(self):
        st = self.last_stats
        st.setdefault("blocks", 0)
        add_utilisation(st, self.cfg)

    def _shards(self, m: int, k: int, n: int) -> int:
        """Blocks per part GEMM: about ``shards_per_worker`` per worker, none
        below ``min_block_macs``."""
        by_size = max(1, (m * n * k) // self.min_block_macs)
        # (The worker count costs a scheduler round trip: asked only when it matters.)
        return 1 if by_size == 1 else min(max(1, self.n_workers) * self.shards_per_worker,
                                          by_size)

    def _run_blocks(self, parts, blocks, name, show=False):
        """Run ``blocks`` (``(part index, (r0, r1, c0, c1))``) on the workers:
        their ``(sums, overflow flags, stats)`` in the same order."""
        from distributed import as_completed
        from distributed.scheduler import KilledWorker

        def submit(i):
            p, blk = blocks[i]
            return self.client.submit(_run_block, self._plugin_name, parts[p].block(*blk),
                                      pure=False)

        pending = {submit(i): (i, 0) for i in range(len(blocks))}
        results = [None] * len(blocks)
        bar = None
        if show and len(blocks) > 1:
            from tqdm import tqdm
            bar = tqdm(total=len(blocks), desc=f"{name} on {self.name} workers",
                       unit="block", leave=False, disable=None)
        try:
            done = as_completed(list(pending))
            for fut in done:
                i, tries = pending.pop(fut)
                if fut.status != "error":
                    results[i] = fut.result()
                    if bar is not None:
                        bar.update()
                    continue
                exc = fut.exception()
                p, blk = blocks[i]
                where = "block rows {}:{} cols {}:{}".format(*blk)
                if len(parts) > 1:
                    where += (f" of part {p + 1}/{len(parts)} "
                              f"({parts[p].a_format} x {parts[p].b_format})")
                if isinstance(exc, KilledWorker):
                    raise SimulationError(f"GEMM {name!r}: {where} lost its worker on every "
                                          f"attempt ({exc}); giving up") from None
                if isinstance(exc, SimulationError) and tries < MAX_RESUBMITS:
                    new = submit(i)
                    pending[new] = (i, tries + 1)
                    done.add(new)
                    continue
                if isinstance(exc, SimulationError):
                    raise SimulationError(f"GEMM {name!r}: {where} failed {tries + 1} times; "
                                          f"last: {exc}") from None
                raise exc
        finally:
            if bar is not None:
                bar.close()
            if pending:
                self.client.cancel(list(pending))
        return results

    # ------------------------------------------------------------ lifetime
    def close(self):
        """End the workers' simulators (plugin teardown) and our cluster, if any."""
        client = getattr(self, "client", None)
        name, self._plugin_name = self._plugin_name, None
        try:
            if client is not None and name is not None and client.status == "running":
                client.unregister_worker_plugin(name)
        except Exception:
            pass
        finally:
            session, self._session = self._session, None
            if session is not None:
                session.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
