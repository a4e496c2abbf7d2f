"""Lanes benchmark: utilisation and Verilated throughput with k-lane PEs (issue 27).

The 8x8 tile with PEs of ``k = hw.dot_pe.DEFAULT_LANES`` lanes (8, the
measured design default of docs/lanes.md), on Verilator:

(a) Utilisation against ``R*C*k`` MACs per cycle, from the tile's counters
    (``macs / (R*C*k*cycles)``, ``sim.backends.add_utilisation``), on a
    512x512x512 INT4 GEMM and on M = N = 64 with K in {64, 100, 512, 1024}
    (100: not a multiple of k, zero-padded); beside it the useful fraction
    ``M*N*K / (R*C*k*cycles)``, which also counts the padding as lost.
(b) Simulated MACs per wall second of ``backend.gemm`` (planning, packing,
    simulation, unpacking) on the tile whose PEs are the proved word-level
    model (``pe_model="proved"``, ``hw.dot_pe_model``), against the
    free-running C++ harness of the same array (``sim.reference``) in the
    same run, beside the harness of the one-lane array (per-process MMAC/s,
    the issue's target >= 100), with each array's Verilog size, generation
    and harness build time; the gate-level k-lane array is generated (timed)
    and its harness figures quoted from the run that built it.

Medians of 3 repeats; every result checked bit-exact against ``gemm_exact``.
Run alone with ``python -m scripts.bench lanes``.
"""

from __future__ import annotations

import os
import statistics
import time

import numpy as np

ROWS = COLS = 8
REPEATS = 3
CASES = [("512x512x512", 512, 512, 512)] + [(f"64x{k}x64", 64, k, 64)
                                            for k in (64, 100, 512, 1024)]
REF_CODES = 512          # K of each harness GEMM, in codes (beats = codes / k)
# What the driver's tile is built of at k lanes (model.config.PE_MODELS): the
# word-level model that `make formal` proves equal to the PE (W = 32 at the
# default latency is a proved configuration).  The harness runs it and the
# one-lane array side by side; the gate-level k-lane array's Verilog is
# generated (timed) but not built: its Verilator build takes 5-25 min.
PE_MODEL = "proved"


def _harnesses(k: int) -> dict:
    """(lanes, pe_model) of each harness run -> clock cycles per run (~10 s idle)."""
    return {(k, PE_MODEL): 300_000, (1, "rtl"): 300_000}


def _lanes() -> int:
    from hw.dot_pe import DEFAULT_LANES
    return DEFAULT_LANES


# The gate-level k = 8 array's harness, measured by this section before the
# model existed (not rebuilt in every run: docs/bench.md says so beside it).
GATE_BUILD = "~25 min at load ~19, 2026-12-06"
GATE_SPEED = "4.7 | 2.40 (2026-12-06, load ~15; k = 1 in that run: 26.7 kcycles/s, 1.71 MMAC/s)"
TITLE = "Lanes: utilisation and Verilated throughput, 8x8 tile of k-lane PEs"
NOTE = ("The gate-level row's build and speed are quoted from the previous run of this section (marked with its date), not measured in this run. How the model is allowed in: `hw.dot_pe_model` is one Verilog text, the reference of the SymbiYosys proof `dot_pe_k8_w32` (k-induction, every input free every cycle; 600 CPU s) that `hw.dot_pe.DotProductPE`'s `acc` and `overflow` equal it cycle for cycle, and what the simulator builds run in the PE's place with `pe_model=\"proved\"` (`--pe-model proved`), only in the configurations a `make formal` task proves (`model.config.PROVED_PE_MODELS`). Where the model's time goes (`perf record` of the harness, 30,000 cycles): 44 % in the root's clocked block, where Verilator hoists each lane's table lookups and multiply (512 lanes a cycle), 30 % in the 64 PE instances' registers and accumulators, 19 % in the harness's own input packing (`set_field` writes 512 operand bits a beat one bit at a time: a cost of the measuring loop that grows with k), the rest the array. Before the value tables became constant vectors, Verilator compiled them to branches on the operands: 40 % of the time and 48 kcycles/s per CPU second (70.8 after). The next levers, not taken: word-wise `set_field` in the harness, and a model that forms the group sum once per PE rather than delaying every lane's product (a different reference, so a new proof). What the figures do not capture: the gate-level PE's own speed in the driver (its 8x8 tile builds for 5-25 min; docs/bench.md of the previous stop: 1.25-1.70 MMAC/s); every result above is bit-exact against `gemm_exact` either way.")


def _int4(rng, shape):
    return rng.integers(-8, 8, shape).astype(np.int8)


def run() -> str:
    from model.gemm import gemm_exact
    from sim.factory import make_backend
    from sim.reference import array_params, build_reference, run_reference
    from verif import toolchain as tc

    k = _lanes()
    harnesses = _harnesses(k)
    med = statistics.median
    # Generation (Amaranth elaboration and Verilog, the first in this process)
    # and the harness builds (or cache hits) of each array, timed one by one.
    made = {}
    for lanes, pe_model in [*harnesses, (k, "rtl")]:
        t0 = time.perf_counter()
        text = tc.generate_verilog("array", array_params(ROWS, COLS, 32, lanes, pe_model))
        gen_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        if (lanes, pe_model) in harnesses:
            build_reference(ROWS, COLS, 32, lanes, pe_model)
        made[lanes, pe_model] = (len(text), gen_s, time.perf_counter() - t0)
    rng = np.random.default_rng(0)
    rows_a, rows_b, refs = [], [], {h: [] for h in harnesses}
    t_start = time.perf_counter()
    with make_backend("verilator", rows=ROWS, cols=COLS, acc_width=32, lanes=k,
                      pe_model=PE_MODEL) as backend:
        start_s = time.perf_counter() - t_start
        a0, b0 = _int4(rng, (8, 16)), _int4(rng, (16, 8))
        backend.gemm(a0, b0, "int4", "int4", name="warmup")
        for label, m, kk, n in CASES:
            a, b = _int4(rng, (m, kk)), _int4(rng, (kk, n))
            want = gemm_exact(a, b, "int4", "int4")
            times, utils, useful, cycles = [], [], [], []
            for _ in range(REPEATS):
                t0 = time.perf_counter()
                c = backend.gemm(a, b, "int4", "int4", name=f"bench.{label}")
                times.append(time.perf_counter() - t0)
                if not np.array_equal(np.asarray(c), want):
                    raise AssertionError(f"{label} at k={k} is not bit-exact on the RTL")
                st = backend.last_stats
                utils.append(st["utilisation"])
                cycles.append(st["cycles"])
                useful.append(m * kk * n / (ROWS * COLS * k * st["cycles"]))
            rows_a.append((label, med(utils), med(useful), int(med(cycles)),
                           m * kk * n / (ROWS * COLS * k)))
            rows_b.append((label, m * kk * n, med(times), m * kk * n / med(times)))
            for (lanes, pe_model), n_cycles in harnesses.items():   # interleaved: same load
                refs[lanes, pe_model].append(run_reference(
                    ROWS, COLS, k=REF_CODES // lanes, cycles=n_cycles, lanes=lanes,
                    pe_model=pe_model))
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    ref = {h: (med(r["macs_per_s"] for r in rs), med(r["cycles_per_s"] for r in rs))
           for h, rs in refs.items()}
    cpu = {h: (med(r["macs_per_cpu_s"] for r in rs), med(r["cycles_per_cpu_s"] for r in rs))
           for h, rs in refs.items()}
    fast, gate, one = (k, PE_MODEL), (k, "rtl"), (1, "rtl")
    out = [f"k = {k} lanes per PE (latency {backend.cfg.pe_latency}), {ROWS}x{COLS} tile, "
           f"depth {backend.cfg.depth}, every PE the proved word-level model (`pe_model="
           f"\"{PE_MODEL}\"`); simulator start (build or cache, elaboration) "
           f"{start_s:.0f} s; load average after the run {load} on {os.cpu_count()} cores.\n",
           "### (a) Utilisation against R*C*k MACs per cycle (tile counters)\n",
           "| GEMM (MxKxN, INT4) | utilisation (MACs issued / R*C*k*cycles) | useful "
           "(M*N*K / R*C*k*cycles) | cycles | ideal cycles (MNK / R*C*k) |",
           "|---|---|---|---|---|"]
    for label, u, useful, cyc, ideal in rows_a:
        out.append(f"| {label} | {u:.3f} | {useful:.3f} | {cyc} | {ideal:.0f} |")
    out += ["", f"Target: utilisation >= 0.98 on 512^3 at the default k "
                f"({'met' if rows_a[0][1] >= 0.98 else 'missed'}: {rows_a[0][1]:.3f}). "
                "K = 100 is padded to 104 (3.8 % of the issued MACs are zeros).", "",
            "### (b) Verilated throughput per process\n",
            f"C++ harness (`sim/cxx/array_harness.cpp`, free-running, GEMMs of {REF_CODES} codes, "
            f"median of {len(refs[fast])} runs of each array interleaved with the driver runs; "
            "generation: Amaranth elaboration and Verilog text, first in the process; build: "
            "Verilator and g++ of the harness, or a cache hit (a few seconds) when it was "
            "built before):\n",
            "| 8x8 array | Verilog | generation | harness build | kcycles/s | MMAC/s | "
            "per CPU second: kcycles/s, MMAC/s |",
            "|---|---|---|---|---|---|---|"]
    names = {fast: f"k = {k}, proved model", gate: f"k = {k}, gate-level PE", one: "k = 1"}
    for h in (fast, gate, one):
        size, gen_s, build_s = made[h]
        if h not in ref:
            out.append(f"| {names[h]} | {size / 1e6:.2f} MB | {gen_s:.1f} s | not built "
                       f"({GATE_BUILD}) | {GATE_SPEED} | |")
            continue
        out.append(f"| {names[h]} | {size / 1e6:.2f} MB | {gen_s:.1f} s | {build_s:.0f} s | "
                   f"{ref[h][1] / 1e3:.1f} | {'**' if h == fast else ''}{ref[h][0] / 1e6:.2f}"
                   f"{'**' if h == fast else ''} | {cpu[h][1] / 1e3:.1f}, {cpu[h][0] / 1e6:.2f} |")
    out += ["", f"k = {k} with the model against k = 1 in the same run: "
                f"{ref[fast][0] / ref[one][0]:.1f}x MAC/s, "
                f"{ref[fast][1] / ref[one][1]:.2f}x the cycles per second (per CPU second: "
                f"{cpu[fast][0] / cpu[one][0]:.1f}x, {cpu[fast][1] / cpu[one][1]:.2f}x).\n",
            "| GEMM | MACs | median wall time | MMAC/s (driver, model) | ratio to the model's "
            "C++ harness |", "|---|---|---|---|---|"]
    for label, macs, t, rate in rows_b:
        out.append(f"| {label} | {macs} | {t:.3f} s | {rate / 1e6:.2f} | {rate / ref[fast][0]:.2f} |")
    best = max(r[3] for r in rows_b)
    out += ["", f"Target: >= 100 MMAC/s per process at the default k; measured "
                f"{ref[fast][0] / 1e6:.2f} per wall second and {cpu[fast][0] / 1e6:.2f} per CPU "
                f"second (harness, model; {'met' if cpu[fast][0] >= 100e6 else 'missed'}) and "
                f"{best / 1e6:.2f} (driver, best, wall). Medians of 3 repeats, every result "
                "bit-exact.", "",
            NOTE]
    return "\n".join(out)
