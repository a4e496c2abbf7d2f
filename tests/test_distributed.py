"""The Dask-sharded RTL backend (sim/distributed.py) on a real 2-worker LocalCluster.

Small Icarus tile (2 x 3, 18-bit accumulator so overflow is cheap to reach,
16-beat banks) and small GEMMs.  One cluster (processes, 2 workers) is shared
by the module; the backends reach it through its scheduler address, i.e. the
``--scheduler`` path.  The CLI tests start their own clusters (``--workers``)
and check that nothing they started is left running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from model.backend import GemmOverflowError, GoldenBackend
from model.formats import FORMATS
from model.gemm import overflow_mask
from sim.dask_session import DaskSession
from sim.distributed import DistributedRtlBackend, shard_blocks

pytestmark = pytest.mark.slow  # real 2-worker Dask clusters and killed workers: minutes; `make test-slow`

REPO = Path(__file__).resolve().parents[1]
TILE = dict(rows=2, cols=3, acc_width=18, depth=16)


def codes(rng, fmt, shape):
    if fmt in ("int8", "uint8"):
        lo, hi = (-128, 127) if fmt == "int8" else (0, 255)
        return rng.integers(lo, hi + 1, shape).astype(np.int8 if fmt == "int8" else np.uint8)
    spec = FORMATS[fmt]
    return rng.integers(spec.code_min, spec.code_max + 1, shape).astype(spec.dtype)


@pytest.fixture(scope="module")
def cluster():
    session = DaskSession(workers=2)
    yield session
    session.close()


@pytest.fixture(scope="module")
def dist(cluster):
    # min_block_macs=1: even tiny GEMMs are cut into several blocks.
    backend = DistributedRtlBackend("icarus", **TILE, scheduler=cluster.cluster.scheduler_address,
                                    min_block_macs=1)
    yield backend
    backend.close()


def outcome(backend, a, b, fa, fb, name):
    try:
        return backend.gemm(a, b, fa, fb, name=name)
    except GemmOverflowError as exc:
        return ("overflow", exc.gemm_name, exc.count)


def test_shard_blocks_cover_c_once_on_tile_boundaries():
    for m, n, unit, s in [(13, 11, 6, 8), (512, 512, 8, 8), (5, 700, 6, 3), (6, 6, 6, 8)]:
        cover = np.zeros((m, n), int)
        blocks = shard_blocks(m, n, unit, s)
        assert 1 <= len(blocks) <= s
        for r0, r1, c0, c1 in blocks:
            cover[r0:r1, c0:c1] += 1
            assert r0 % unit == 0 and c0 % unit == 0
        assert (cover == 1).all(), (m, n, unit, s)
    assert len(shard_blocks(512, 512, 8, 8)) == 8
    assert shard_blocks(0, 5, 6, 4) == []


@pytest.mark.parametrize("fa,fb,shape", [
    ("int4", "int4", (13, 20, 11)), ("uint4", "int4", (7, 33, 9)), ("fp4", "uint4", (9, 6, 14)),
    ("uint4", "fp4", (12, 5, 7)), ("int4", "fp4", (6, 9, 13)), ("int8", "uint4", (9, 5, 7)),
    ("uint8", "int8", (5, 4, 8)), ("int4", "int4", (1, 1, 1))])
def test_sharded_gemm_matches_golden(dist, fa, fb, shape):
    rng = np.random.default_rng(sum(map(ord, fa + fb)) + shape[0])
    m, k, n = shape
    a, b = codes(rng, fa, (m, k)), codes(rng, fb, (k, n))
    want = outcome(GoldenBackend(acc_width=18), a, b, fa, fb, "g")
    got = outcome(dist, a, b, fa, fb, "g")
    if isinstance(want, tuple):
        assert got == want
    else:
        assert got.dtype == np.int64 and np.array_equal(got, want), (fa, fb, shape)
    if m * n > 6:
        assert dist.last_stats["blocks"] > 1     # it really was sharded
    assert dist.last_stats["jobs_done"] > 0


def test_empty_dimensions(dist):
    assert dist.gemm(np.zeros((3, 0), np.int8), np.zeros((0, 4), np.int8),
                     "int4", "int4").shape == (3, 4)


def test_overflow_counts_every_block_and_names_the_gemm(dist):
    # Top FP4 codes on rows {0, 5, 11} x UINT4 15 on columns {1, 7, 8}: 9
    # overflowed outputs (3 x 61440 > 2^17) spread over several blocks.
    a = np.ones((12, 3), np.uint8)
    a[[0, 5, 11]] = 0x7
    b = np.ones((3, 9), np.uint8)
    b[:, [1, 7, 8]] = 15
    assert overflow_mask(a, b, "fp4", "uint4", 18).sum() == 9
    with pytest.raises(GemmOverflowError, match="'fc9.dW'") as info:
        dist.gemm(a, b, "fp4", "uint4", name="fc9.dW")
    assert info.value.count == 9 and dist.last_stats["blocks"] > 3
    # The same on the B side (run transposed on the workers).
    with pytest.raises(GemmOverflowError) as info:
        dist.gemm(b.T.copy(), a.T.copy(), "uint4", "fp4", name="t")
    assert info.value.count == 9


def test_eight_bit_parts_run_at_once_and_overflow_as_in_process(dist):
    # int8 x int8 is 4 part GEMMs (hi.hi, hi.lo, lo.hi, lo.lo), all submitted
    # at once.  A = 0x0F everywhere: hi 0, so parts 1-2 are 0.  B = 127 (hi 7,
    # lo 15) on columns {1, 4}, 15 (hi 0, lo 15) elsewhere.  K = 1300:
    # part 3 (lo x hi) sums 1300 * 15 * 7 = 136500 > 2^17 - 1 on columns
    # {1, 4} only; part 4 (lo x lo) overflows everywhere.  In process the
    # parts run in order and part 3 raises first: 12 rows x 2 columns.  (12
    # rows: two block rows on the 2 x 3 tile, so each part is sharded too.)
    k = 1300
    a = np.full((12, k), 0x0F, np.int8)
    b = np.full((k, 6), 15, np.int8)
    b[:, [1, 4]] = 127
    with pytest.raises(GemmOverflowError, match="'fc1.dW'") as info:
        dist.gemm(a, b, "int8", "int8", name="fc1.dW")
    assert info.value.count == 12 * 2
    assert outcome(GoldenBackend(acc_width=18), a, b, "int8", "int8", "fc1.dW")[2] == 12 * 2
    blocks = dist.last_stats["blocks"]
    assert blocks % 4 == 0 and blocks > 4       # every part's blocks, each part sharded
    # In range (K = 500): exact, and again every part's blocks went out.
    rng = np.random.default_rng(8)
    a, b = codes(rng, "int8", (5, 500)), codes(rng, "int8", (500, 7))
    assert np.array_equal(dist.gemm(a, b, "int8", "int8"),
                          a.astype(np.int64) @ b.astype(np.int64))
    assert dist.last_stats["blocks"] % 4 == 0 and dist.last_stats["blocks"] > 4
    assert dist.last_stats["jobs_done"] > 0


def _long_gemm(rng):
    # 96 tiles x 256 beats: seconds per block on Icarus (2 blocks, see `halves`).
    return codes(rng, "int4", (24, 256)), codes(rng, "int4", (256, 24))


@pytest.fixture
def halves(dist):
    """One block per worker, so each block runs long enough to be hit by a kill."""
    dist.shards_per_worker = 1
    yield dist
    dist.shards_per_worker = 4


def _run_in_thread(fn):
    box = {}

    def target():
        try:
            box["out"] = fn()
        except BaseException as exc:    # noqa: BLE001 - handed to the test
            box["exc"] = exc
    t = threading.Thread(target=target)
    t.start()
    return t, box


def _wait_processing(client, addr, timeout=120):
    deadline = time.monotonic() + timeout
    while not client.processing().get(addr):
        assert time.monotonic() < deadline, "no block reached the worker"
        time.sleep(0.05)


def test_worker_killed_mid_gemm_is_rerun_and_exact(cluster, halves):
    dist = halves
    client = cluster.client
    rng = np.random.default_rng(5)
    a, b = _long_gemm(rng)
    want = GoldenBackend(acc_width=18).gemm(a, b, "int4", "int4")
    victim, (wpid, spid) = sorted(dist.simulator_pids().items())[0]
    t, box = _run_in_thread(lambda: dist.gemm(a, b, "int4", "int4", name="big"))
    _wait_processing(client, victim)
    time.sleep(0.5)
    os.kill(wpid, signal.SIGKILL)
    t.join(timeout=300)
    assert not t.is_alive()
    assert "exc" not in box, box.get("exc")
    assert np.array_equal(box["out"], want)
    assert not psutil.pid_exists(wpid) or psutil.Process(wpid).status() == "zombie"
    # The killed worker's simulator notices (socket closed) and exits.
    _wait_gone([spid], 120)
    client.wait_for_workers(2, timeout=120)      # the nanny restarted the worker


def test_simulator_killed_mid_gemm_is_resubmitted_and_exact(cluster, halves):
    dist = halves
    client = cluster.client
    rng = np.random.default_rng(6)
    a, b = _long_gemm(rng)
    want = GoldenBackend(acc_width=18).gemm(a, b, "int4", "int4")
    dist.gemm(a[:6, :8], b[:8, :6], "int4", "int4")        # every worker has a simulator
    pids = dist.simulator_pids()
    victim = next(addr for addr, (_, spid) in sorted(pids.items()) if spid)
    spid = pids[victim][1]
    t, box = _run_in_thread(lambda: dist.gemm(a, b, "int4", "int4", name="big"))
    _wait_processing(client, victim)
    time.sleep(0.5)
    os.kill(spid, signal.SIGKILL)
    t.join(timeout=300)
    assert "exc" not in box, box.get("exc")
    assert np.array_equal(box["out"], want)
    new = dist.simulator_pids()[victim][1]
    assert new is not None and new != spid          # the worker started a fresh simulator


def test_close_ends_the_simulators_but_not_a_shared_cluster(cluster):
    backend = DistributedRtlBackend("icarus", **TILE, scheduler=cluster.cluster.scheduler_address)
    sims = [s for _, s in backend.simulator_pids().values()]
    assert len(sims) == 2 and all(sims)
    backend.close()
    _wait_gone(sims, 60)
    assert len(cluster.workers()) == 2       # someone else's cluster keeps running


def test_bad_scheduler_address_and_worker_count():
    from sim.dask_session import DaskSetupError
    with pytest.raises(DaskSetupError, match="tcp://HOST:PORT"):
        DaskSession(scheduler="localhost:8786")
    with pytest.raises(DaskSetupError, match="positive"):
        DaskSession(workers=0)


# ---------------------------------------------------------------- the CLI
def _radix4(*args, env=None, **kw):
    return subprocess.Popen([sys.executable, "-m", "scripts.cli", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})}, start_new_session=True, **kw)


def _descendants(pid):
    try:
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def _wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    left = set(pids)
    while left and time.monotonic() < deadline:
        left = {p for p in left if psutil.pid_exists(p)
                and psutil.Process(p).status() != psutil.STATUS_ZOMBIE}
        time.sleep(0.2)
    assert not left, f"still running: {[psutil.Process(p).cmdline()[:3] for p in left]}"


def _watch(proc, until=None):
    """Descendant pids seen while ``proc`` runs (until ``until(pids)`` is true)."""
    seen = set()
    while proc.poll() is None:
        seen |= _descendants(proc.pid)
        if until and until(seen):
            break
        time.sleep(0.1)
    return seen


def _is_sim(pid):
    try:
        return any("vvp" in part for part in psutil.Process(pid).cmdline()[:1])
    except psutil.Error:
        return False


def test_cli_gemm_with_workers_is_exact_and_leaves_nothing(tmp_path):
    rng = np.random.default_rng(3)
    a, b = codes(rng, "fp4", (10, 12)), codes(rng, "uint4", (12, 9))
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    proc = _radix4("gemm", "--a", str(tmp_path / "a.npy"), "--b", str(tmp_path / "b.npy"),
                   "--a-format", "fp4", "--b-format", "uint4", "--sim", "icarus",
                   "--rows", "2", "--cols", "3", "--workers", "2",
                   "-o", str(tmp_path / "c.npy"))
    seen = _watch(proc)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    want = GoldenBackend().gemm(a, b, "fp4", "uint4")
    assert np.array_equal(np.load(tmp_path / "c.npy"), want)
    assert seen       # the worker processes (and their simulators) were there...
    _wait_gone(seen, 60)   # ...and are gone


def test_cli_replay_with_workers_is_bit_exact(tmp_path):
    from model.trace import TraceRecorder
    rng = np.random.default_rng(9)
    rec = TraceRecorder(GoldenBackend())
    for fa, fb, (m, k, n) in [("uint4", "int4", (9, 20, 7)), ("fp4", "int4", (5, 6, 11)),
                              ("uint4", "fp4", (12, 4, 6))]:
        rec.gemm(codes(rng, fa, (m, k)), codes(rng, fb, (k, n)), fa, fb, name=f"fc.{fa}{fb}")
    rec.save(tmp_path / "t.npz")
    proc = _radix4("replay", str(tmp_path / "t.npz"), "--sim", "icarus", "--rows", "2",
                   "--cols", "3", "--workers", "2")
    seen = _watch(proc)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out + err
    assert out.count("bit-exact=yes") == 3 and "3/3 GEMMs bit-exact" in out
    _wait_gone(seen, 60)


def test_cli_train_with_workers_equals_golden_and_leaves_nothing():
    # Two steps and the evaluation with every GEMM on 2 Dask workers'
    # Verilated tiles (the 3 x 4 tile of tests/test_train_rtl.py: one build),
    # against the same command on the golden model: the same test metric to
    # the printed digit (the RTL steps' weights are bit-identical, so are
    # the test logits), and no process left behind.
    args = ("train", "--steps", "2", "--rows", "3", "--cols", "4", "--depth", "16",
            "--no-progress")
    proc = _radix4(*args, "--backend", "verilator", "--workers", "2")
    seen = _watch(proc)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    golden = subprocess.run([sys.executable, "-m", "scripts.cli", *args, "--backend", "golden"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert golden.returncode == 0, golden.stderr[-2000:]
    metric = out.strip().splitlines()[-1]
    assert metric.startswith("test_accuracy=") and metric == golden.stdout.strip().splitlines()[-1]
    assert "steps=2" in err
    assert seen
    _wait_gone(seen, 60)


def test_cli_ctrl_c_leaves_nothing_running(tmp_path):
    rng = np.random.default_rng(4)
    a, b = _long_gemm(rng)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    proc = _radix4("gemm", "--a", str(tmp_path / "a.npy"), "--b", str(tmp_path / "b.npy"),
                   "--a-format", "int4", "--b-format", "int4", "--sim", "icarus",
                   "--rows", "2", "--cols", "3", "--workers", "2",
                   "-o", str(tmp_path / "c.npy"))
    seen = _watch(proc, until=lambda pids: sum(map(_is_sim, pids)) >= 2)
    assert sum(map(_is_sim, seen)) >= 2, "the workers' simulators never started"
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)          # Ctrl-C: the whole process group
    out, err = proc.communicate(timeout=120)
    assert proc.returncode in (130, 1), (proc.returncode, err)
    assert not (tmp_path / "c.npy").exists()
    _wait_gone(seen, 60)


def test_cli_unreachable_scheduler_is_one_line_exit_2(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((2, 2), np.int8))
    proc = _radix4("gemm", "--a", str(tmp_path / "a.npy"), "--b", str(tmp_path / "a.npy"),
                   "--a-format", "int4", "--b-format", "int4", "--sim", "icarus",
                   "--scheduler", "tcp://127.0.0.1:9", "-o", str(tmp_path / "c.npy"),
                   env={"RADIX4_DASK_CONNECT_TIMEOUT": "2"})
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "tcp://127.0.0.1:9" in lines[0], err


def test_cli_worker_build_failure_names_the_worker(tmp_path):
    # A broken Icarus first on PATH (reports version 12, fails to compile) and
    # an empty build cache: every worker's host build really fails.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "iverilog").write_text('#!/bin/sh\nif [ "$1" = "-V" ]; then\n'
                                   '  echo "Icarus Verilog version 12.0 (stable)"; exit 0\nfi\n'
                                   'echo "iverilog: injected failure" >&2; exit 1\n')
    (fake / "iverilog").chmod(0o755)
    np.save(tmp_path / "a.npy", np.zeros((2, 2), np.int8))
    proc = _radix4("gemm", "--a", str(tmp_path / "a.npy"), "--b", str(tmp_path / "a.npy"),
                   "--a-format", "int4", "--b-format", "int4", "--sim", "icarus",
                   "--rows", "2", "--cols", "2", "--workers", "2", "-o", str(tmp_path / "c.npy"),
                   env={"PATH": f"{fake}{os.pathsep}{os.environ['PATH']}",
                        "RADIX4_SIM_BUILD": str(tmp_path / "cache")})
    seen = _watch(proc)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "worker" in lines[0] and "tcp://127.0.0.1:" in lines[0] and "build" in lines[0], err
    _wait_gone(seen, 60)
