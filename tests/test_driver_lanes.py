"""The driver with k-lane PEs (SPEC 2, ``--lanes K``): padding, lane packing,
the RTL against the golden model (mutation layer ``driver:lanes``).

* ``plan_gemm(..., lanes=k)``: every beat's A lane ``r*k + j`` holds
  ``A[r, g*k + j]`` and B lane ``c*k + j`` holds ``B[g*k + j, c]`` (read back
  through the load layout's codec), K is zero-padded to a multiple of ``k``
  and jobs count beats;
* ``radix4 gemm --lanes K --sim icarus`` equals ``--sim golden`` (int64,
  bit for bit) for K not a multiple of ``k``, FP4 on either side, 8-bit
  operands (nibble decomposition) and GEMMs spanning several tiles, jobs and
  batches; utilisation is reported against ``R*C*k`` MACs a cycle;
* an output whose sum leaves the range only inside a group is exact and
  unflagged, one that ends a group outside it raises ``GemmOverflowError``
  (the lanes overflow rule through the tile, its driver and the model);
* Verilator: the same, in ``make test-slow`` (its build of a k-lane tile
  takes minutes), and so are k = 2 and the CLI run on Icarus (make test keeps
  the default k = 8 tile on Icarus).
"""

import subprocess
import sys

import numpy as np
import pytest

from model.backend import GemmOverflowError, GoldenBackend
from model.config import DatapathConfig
from model.formats import to_nibbles
from model.gemm import gemm_exact
from sim.driver import load_codec, plan_gemm
from sim.factory import make_backend

ROWS, COLS, W, DEPTH = 2, 3, 18, 8
CODES = {"int4": (-8, 8, np.int8), "uint4": (0, 16, np.uint8), "fp4": (0, 16, np.uint8),
         "int8": (-128, 128, np.int16)}


def codes(rng, fmt, shape):
    lo, hi, dtype = CODES[fmt]
    return rng.integers(lo, hi, shape).astype(dtype)


@pytest.mark.parametrize("lanes,k", [(8, 13), (8, 8), (2, 5), (4, 1)])
def test_plan_packs_k_codes_per_pe_input_and_pads_k(lanes, k):
    rng = np.random.default_rng(k)
    a, b = codes(rng, "int4", (5, k)), codes(rng, "uint4", (k, 4))
    plan = plan_gemm(a, b, "int4", "uint4", ROWS, COLS, 2, lanes)
    beats = -(-k // lanes)
    assert plan.beats == beats and plan.k == k
    assert [(j.k0, j.k1) for j in plan.jobs if j.tile == 0] == \
        [(s, min(beats, s + 2)) for s in range(0, beats, 2)]
    codec = load_codec(ROWS, COLS, lanes)
    an, bn = to_nibbles(a, "int4"), to_nibbles(b, "uint4")
    for mi in range(plan.a_words.shape[0]):
        for nj in range(plan.b_words.shape[0]):
            f = codec.unpack_words(plan.a_words[mi] | plan.b_words[nj])
            for g in range(beats):
                for r in range(ROWS):
                    for j in range(lanes):
                        kk, rr = g * lanes + j, mi * ROWS + r
                        want = an[rr, kk] if kk < k and rr < 5 else 0
                        assert f["a"][g, r * lanes + j] == want, (g, r, j)
                for c in range(COLS):
                    for j in range(lanes):
                        kk, cc = g * lanes + j, nj * COLS + c
                        want = bn[kk, cc] if kk < k and cc < 4 else 0
                        assert f["b"][g, c * lanes + j] == want, (g, c, j)


def _radix4(*args):
    return subprocess.run([sys.executable, "-m", "scripts.cli", *args], capture_output=True,
                          text=True, timeout=1200)


def _cli_matches_golden(tmp_path, sim, lanes):
    rng = np.random.default_rng(lanes)
    a, b = codes(rng, "fp4", (5, 21)), codes(rng, "int4", (21, 4))   # K = 21: padded
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    out = {}
    for where in ("golden", sim):
        r = _radix4("gemm", "--a", str(tmp_path / "a.npy"), "--b", str(tmp_path / "b.npy"),
                    "--a-format", "fp4", "--b-format", "int4", "--sim", where,
                    "--rows", str(ROWS), "--cols", str(COLS), "--depth", str(DEPTH),
                    "--acc-width", str(W), "--lanes", str(lanes),
                    "-o", str(tmp_path / f"{where}.npy"))
        assert r.returncode == 0, r.stderr
        out[where] = np.load(tmp_path / f"{where}.npy")
    assert np.array_equal(out[sim], out["golden"])
    assert np.array_equal(out[sim], gemm_exact(a, b, "fp4", "int4"))


def _backend_matches_golden(backend, lanes):
    golden = GoldenBackend(config=DatapathConfig(acc_width=W, lanes=lanes))
    rng = np.random.default_rng(100 + lanes)
    cases = [("int4", "int4", 3, 7, 2), ("uint4", "fp4", 4, lanes + 1, 5),
             ("fp4", "uint4", 5, 3 * lanes + 3, 7), ("int8", "int4", 3, 2 * lanes - 1, 3),
             ("uint4", "int4", 7, 40, 8)]          # 40 beats at k = 1: several jobs, batches
    exact = 0
    for fa, fb, m, k, n in cases:
        a, b = codes(rng, fa, (m, k)), codes(rng, fb, (k, n))
        if "fp4" in (fa, fb):       # small FP4 values: 18-bit sums stay in range
            fp = a if fa == "fp4" else b
            fp &= 0b1011            # exponents 0..3, both signs
        outcome = []
        for be in (backend, golden):
            try:
                outcome.append(be.gemm(a, b, fa, fb, name=f"{fa}x{fb}"))
            except GemmOverflowError as exc:
                outcome.append(str(exc))
        assert type(outcome[0]) is type(outcome[1]), (fa, fb, outcome)
        if isinstance(outcome[1], str):
            continue
        exact += 1
        assert np.array_equal(outcome[0], outcome[1]), (fa, fb, m, k, n)
        st = backend.last_stats
        assert st["macs"] == st["mac_pe_cycles"] * lanes
        assert 0 < st["utilisation"] == st["macs"] / (ROWS * COLS * lanes * st["cycles"])
    assert exact >= 4
    # The lanes overflow rule: +max then -max inside one group after a sum at
    # the top of the range is not flagged; ending a group above it is.
    hi = (1 << (W - 1)) - 1
    fill = [-8] * (hi // 64) + [0] * (-(hi // 64) % lanes)      # -8 * -8 = 64 each
    a = np.array([fill + [-8, -8] + [0] * (lanes - 2)], np.int8) if lanes >= 2 else None
    if a is not None:
        b = np.array([[-8] * len(fill) + [-8, 8 - 1] + [0] * (lanes - 2)], np.int8).T
        # the group: +64 then -56: the sum peaks at hi // 64 * 64 + 64 > hi, ends below
        assert hi // 64 * 64 + 64 > hi >= hi // 64 * 64 + 8
        got = backend.gemm(a, b, "int4", "int4", name="excursion")
        assert np.array_equal(got, gemm_exact(a, b, "int4", "int4"))
        b2 = b.copy()
        b2[len(fill) + 1] = -8                                  # ends the group at +128
        with pytest.raises(GemmOverflowError):
            backend.gemm(a, b2, "int4", "int4", name="over")
        with pytest.raises(GemmOverflowError):
            golden.gemm(a, b2, "int4", "int4", name="over")


@pytest.mark.parametrize("lanes", [8, pytest.param(2, marks=pytest.mark.slow)])
def test_icarus_tile_with_lanes_equals_golden(lanes):
    with make_backend("icarus", rows=ROWS, cols=COLS, acc_width=W, depth=DEPTH, lanes=lanes,
                      batch_beats=16, gap_permille=200, stall_permille=300, seed=3) as backend:
        _backend_matches_golden(backend, lanes)


@pytest.mark.slow  # the same tile through the CLI (~10 s): make test-slow
def test_cli_gemm_lanes_icarus_equals_golden(tmp_path):
    _cli_matches_golden(tmp_path, "icarus", 8)


@pytest.mark.slow
def test_verilator_tile_with_lanes_equals_golden(tmp_path):
    with make_backend("verilator", rows=ROWS, cols=COLS, acc_width=W, depth=DEPTH, lanes=8,
                      batch_beats=16, seed=3) as backend:
        _backend_matches_golden(backend, 8)
    _cli_matches_golden(tmp_path, "verilator", 8)


def test_cli_refuses_unsupported_lanes_in_one_line(tmp_path):
    for bad in ("3", "0", "32", "x"):
        r = _radix4("gemm", "--a", "a.npy", "--b", "b.npy", "--a-format", "int4",
                    "--b-format", "int4", "--lanes", bad, "-o", str(tmp_path / "c.npy"))
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert "--lanes must be one of 1, 2, 4, 8, 16" in r.stderr
    r = _radix4("verilog", "--top", "array", "--lanes", "8", "--pe-latency", "2",
                "-o", str(tmp_path / "x.v"))
    assert r.returncode == 2 and "--pe-latency must be one of 3, 4, 5, 6, 7 for 8 lanes" \
        in r.stderr and r.stderr.count("\n") == 1, r.stderr
