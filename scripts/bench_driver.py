"""Driver benchmark: array utilisation and driver throughput on the Verilated tile.

(a) Utilisation = mac_pe_cycles / (R * C * cycles), from the tile's own
    performance counters (``backend.last_stats``), on a 512x512x512 INT4 GEMM,
    on M = N = 64 with K in {64, 256, 512, 1024}, and on every GEMM of one
    digits-mlp training step (recorded with ``model.trace``).
(b) Driver throughput: simulated MACs (M*N*K) per wall second of
    ``backend.gemm`` -- the whole Python path: planning, operand packing,
    the simulation and unpacking -- against the free-running C++ harness of
    the same array (``sim.reference``) measured in the same run.  The ratio
    is the figure of merit (target >= 0.25).

Medians of 3 repeats.  Run alone with ``python -m scripts.bench driver``.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

TITLE = "Driver: array utilisation and throughput on the Verilated tile (8x8)"

ROWS = COLS = 8
REPEATS = 3
K_SWEEP = (64, 256, 512, 1024)
REF_K = 512
REF_CYCLES = 500_000


def _int4(rng, shape):
    return rng.integers(-8, 8, shape).astype(np.int8)


def _timed_gemm(backend, a, b, fa, fb, name):
    """(wall seconds, stats) of one backend.gemm; checks the result bit-exact."""
    from model.gemm import gemm_exact
    t0 = time.perf_counter()
    c = backend.gemm(a, b, fa, fb, name=name)
    dt = time.perf_counter() - t0
    if not np.array_equal(np.asarray(c), gemm_exact(a, b, fa, fb)):
        raise AssertionError(f"benchmark GEMM {name} is not bit-exact on the RTL")
    return dt, dict(backend.last_stats)


def _utilisation(stats) -> float:
    cycles = stats.get("cycles", 0)
    return stats.get("mac_pe_cycles", 0) / (ROWS * COLS * cycles) if cycles else float("nan")


def _median(xs):
    return statistics.median(xs)


def run() -> str:
    from sim.factory import make_backend
    from sim.reference import run_reference

    rng = np.random.default_rng(0)
    lines = []
    cases = [("512x512x512", 512, 512, 512)] + [(f"64x{k}x64", 64, k, 64) for k in K_SWEEP]
    rows_a, rows_b = [], []
    with make_backend("verilator", rows=ROWS, cols=COLS, acc_width=32) as backend:
        # Warm up: the first call starts the simulation (and builds it if needed).
        a0, b0 = _int4(rng, (8, 16)), _int4(rng, (16, 8))
        _timed_gemm(backend, a0, b0, "int4", "int4", "warmup")

        refs = []
        for label, m, k, n in cases:
            a, b = _int4(rng, (m, k)), _int4(rng, (k, n))
            times, utils, cycles = [], [], []
            for rep in range(REPEATS):
                dt, st = _timed_gemm(backend, a, b, "int4", "int4", f"bench.{label}")
                times.append(dt)
                utils.append(_utilisation(st))
                cycles.append(st.get("cycles", 0))
            macs = m * k * n
            rows_a.append((label, _median(utils), int(_median(cycles)),
                           macs / (ROWS * COLS)))
            rows_b.append((label, macs, _median(times), macs / _median(times)))
            # The reference runs between driver measurements, so both see the
            # same machine load.
            refs.append(run_reference(ROWS, COLS, k=REF_K, cycles=REF_CYCLES))

        layer_rows, layer_note = _training_step_layers(backend)

    ref_macs = _median([r["macs_per_s"] for r in refs])
    ref_cps = _median([r["cycles_per_s"] for r in refs])

    lines.append("### (a) Utilisation (MAC-active PE-cycles / (R*C*cycles), tile counters)\n")
    lines.append("| GEMM (MxKxN, INT4) | utilisation | cycles | ideal cycles (MNK/RC) |")
    lines.append("|---|---|---|---|")
    for label, u, cyc, ideal in rows_a:
        lines.append(f"| {label} | {u:.3f} | {cyc} | {ideal:.0f} |")
    lines.append("")
    lines.append("Digits-MLP, one `4bit-all` training step (batch 32), every GEMM:\n")
    lines += layer_rows if layer_rows else [layer_note]
    lines.append("")
    lines.append("### (b) Driver throughput: simulated MACs per wall second of `backend.gemm`\n")
    lines.append(f"Reference: free-running C++ harness of the same Verilated 8x8 array "
                 f"(`sim/cxx/array_harness.cpp`, K={REF_K}, {REF_CYCLES} cycles, "
                 f"median of {len(refs)} runs interleaved with the driver runs): "
                 f"{ref_cps / 1e3:.1f} kcycles/s, {ref_macs / 1e6:.2f} MMAC/s.\n")
    lines.append("| GEMM | MACs | median wall time | MAC/s | ratio to C++ reference |")
    lines.append("|---|---|---|---|---|")
    for label, macs, t, rate in rows_b:
        lines.append(f"| {label} | {macs} | {t:.3f} s | {rate / 1e6:.2f} M | "
                     f"{rate / ref_macs:.2f} |")
    best = max(rate for *_, rate in rows_b)
    lines.append("")
    lines.append(f"Best ratio {best / ref_macs:.2f} (target >= 0.25). Medians of "
                 f"{REPEATS} repeats; every driver result checked bit-exact against "
                 f"`gemm_exact`.")
    return "\n".join(lines)


def _training_step_layers(backend):
    """Rows for every GEMM of one digits-mlp training step, replayed on ``backend``."""
    import tempfile
    from pathlib import Path

    try:
        from model.record import record_training_step
    except ImportError as exc:          # pragma: no cover - depends on model.train
        return [], f"(no training-step trace: {exc})"
    with tempfile.TemporaryDirectory() as d:
        trace = record_training_step(Path(d) / "step.npz", "digits-mlp", "4bit-all", seed=0)
    rows = ["| GEMM | MxKxN | formats | utilisation | cycles | bit-exact |",
            "|---|---|---|---|---|---|"]
    total_pe = total_cycles = 0
    for r in trace:
        c = backend.gemm(r.a, r.b, r.a_format, r.b_format, name=r.name)
        st = backend.last_stats
        ok = np.array_equal(np.asarray(c), r.expected)
        m, k, n = r.shape
        total_pe += st.get("mac_pe_cycles", 0)
        total_cycles += st.get("cycles", 0)
        rows.append(f"| {r.name} | {m}x{k}x{n} | {r.a_format} x {r.b_format} | "
                    f"{_utilisation(st):.3f} | {st.get('cycles', 0)} | {'yes' if ok else 'NO'} |")
    overall = total_pe / (ROWS * COLS * total_cycles) if total_cycles else float("nan")
    rows.append(f"| whole step | | | {overall:.3f} | {total_cycles} | |")
    return rows, ""
