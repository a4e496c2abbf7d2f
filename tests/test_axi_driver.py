"""The driver through the bus (issue 26): ``sim.axi_backend`` programs every
job over the AXI shell's ports (``--bus axi``); results bit-exact against the
golden model, overflow reported, CLI flags checked, and `radix4 train --bus
axi` run to the end on both tiles and both simulators."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from model.backend import GemmOverflowError
from model.gemm import gemm_exact
from model.hw_vocab import side_formats
from sim.factory import make_backend

pytestmark = pytest.mark.cocotb

SMALL = dict(rows=2, cols=3, depth=8)


def _codes(rng, fmt, shape):
    from model.formats import FORMATS
    spec = FORMATS[fmt]
    return rng.integers(spec.code_min, spec.code_max + 1, size=shape)


def test_gemm_through_the_bus_is_bit_exact():
    rng = np.random.default_rng(26)
    with make_backend("icarus", acc_width=32, bus="axi", gap_permille=250,
                      stall_permille=250, seed=5, **SMALL) as be:
        for af in side_formats("a"):
            for bf in side_formats("b"):
                m, k, n = rng.integers(1, 6), rng.integers(1, 20), rng.integers(1, 8)
                a, b = _codes(rng, af, (m, k)), _codes(rng, bf, (k, n))
                np.testing.assert_array_equal(be.gemm(a, b, af, bf), gemm_exact(a, b, af, bf))
        stats = be.last_stats
        assert stats["jobs_done"] > 0 and stats["mac_pe_cycles"] > 0


@pytest.mark.slow
def test_overflow_through_the_bus_raises():
    a = np.full((2, 40), 7)
    b = np.full((40, 3), 7)
    with make_backend("icarus", acc_width=18, bus="axi", **SMALL) as be:
        # int4: 40 * 7 * 7 = 1960 fits in 18 bits; FP4 code 15 times 7, 40 times, does not.
        np.testing.assert_array_equal(be.gemm(a, b, "int4", "int4"),
                                      gemm_exact(a, b, "int4", "int4"))
        big = np.full((2, 40), 15)
        with pytest.raises(GemmOverflowError):
            be.gemm(big, b, "fp4", "int4")


def _cli(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "scripts.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_cli_gemm_bus_axi(tmp_path):
    rng = np.random.default_rng(3)
    a, b = _codes(rng, "int4", (3, 11)), _codes(rng, "uint4", (11, 4))
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    common = ["gemm", "--a", str(tmp_path / "a.npy"), "--b", str(tmp_path / "b.npy"),
              "--a-format", "int4", "--b-format", "uint4"]
    proc = _cli(*common, "--sim", "icarus", "--bus", "axi", "--rows", "2", "--cols", "3",
                "--depth", "8", "-o", str(tmp_path / "c.npy"))
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "c.npy"), gemm_exact(a, b, "int4", "uint4"))
    bad = _cli(*common, "--bus", "axi", "-o", str(tmp_path / "d.npy"))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "--bus axi" in bad.stderr


TRAIN = ["train", "--dataset", "digits-mlp", "--steps", "1", "--batch-size", "8",
         "--rows", "4", "--cols", "4", "--eval-samples", "16", "--no-progress"]


# The plain recipe on radix4_axi, the on-chip one on radix4_axi_qtile (its unit's
# streams on their own ports).  One step: on Icarus a step through the bus is
# minutes (its weight-gradient GEMMs are ~1,000 short jobs each, each waiting for
# the previous one); the first 16 test digits (--eval-samples): the whole test
# set is 29,700 tile jobs on this tile, about 24 min of Icarus even on the direct
# path (docs/integration.md, "The driver through the bus").
@pytest.mark.slow
@pytest.mark.parametrize("sim", ["icarus", "verilator"])
@pytest.mark.parametrize("recipe", ["4bit", "4bit-onchip"])
def test_train_through_the_bus_equals_golden(recipe, sim):
    """`radix4 train --bus axi` runs to completion (a step and the evaluation,
    every GEMM and unit job over AXI) and prints golden's metric.  The metric
    after two steps is a coarse check (an accuracy over 16 digits); the results
    of every job through the bus are compared bit for bit by this file's GEMM
    tests, tests/test_quant_tile.py (icarus-axi) and
    tests/test_axi_quant.py (two on-chip steps, weights)."""
    gold = _cli(*TRAIN, "--recipe", recipe, "--backend", "golden")
    assert gold.returncode == 0, gold.stderr
    bus = _cli(*TRAIN, "--recipe", recipe, "--backend", sim, "--depth", "64", "--bus", "axi",
               timeout=1800)
    assert bus.returncode == 0, bus.stderr
    assert bus.stdout == gold.stdout and bus.stdout.startswith("test_accuracy=")
    assert "eval_samples=16/" in bus.stderr and "steps=1" in bus.stderr
