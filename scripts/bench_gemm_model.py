"""Golden-model GEMM speed against plain float64 BLAS in the same run."""

from __future__ import annotations

import statistics
import time

import numpy as np

from model.gemm import gemm_exact

TITLE = "Golden model: gemm_exact 1024x1024x1024"


def _median_time(fn, repeats=5):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run() -> str:
    rng = np.random.default_rng(0)
    n = 1024
    rows = []
    ref_a = rng.standard_normal((n, n))
    ref_b = rng.standard_normal((n, n))
    t_ref = _median_time(lambda: ref_a @ ref_b)
    for fa, fb in [("int4", "int4"), ("uint4", "uint4"), ("fp4", "uint4"), ("fp4", "int4")]:
        lo_a, hi_a = (-8, 8) if fa == "int4" else (0, 16)
        lo_b, hi_b = (-8, 8) if fb == "int4" else (0, 16)
        a = rng.integers(lo_a, hi_a, (n, n)).astype(np.int8 if fa == "int4" else np.uint8)
        b = rng.integers(lo_b, hi_b, (n, n)).astype(np.int8 if fb == "int4" else np.uint8)
        t = _median_time(lambda: gemm_exact(a, b, fa, fb))
        rows.append(f"| {fa} x {fb} | {t * 1e3:.0f} ms | {t / t_ref:.2f} |")
    return ("| formats | median time | ratio to float64 `A @ B` "
            f"({t_ref * 1e3:.0f} ms) |\n|---|---|---|\n" + "\n".join(rows))
