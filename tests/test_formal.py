"""SymbiYosys proofs (verif.formal): the quick ones pass, and seeded bugs make them fail.

The PE proofs (k-induction, unbounded) take seconds, so some run here, in
``make test`` (latency 1 and the 2-lane PE, and one seeded bug of each kind),
the rest in ``make test-slow``; ``make formal`` (.ci/run) proves every task,
the array and tile BMC included.  The
failing runs use mutants of the mutation catalogue, applied to a temporary
copy of the sources (the work tree is never touched), and run the same
``python -m verif.formal`` entry point from that copy.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from verif import mutate
from verif.formal import run as formal
from verif.mutants import CATALOGUE

BY_NAME = {m.name: m for m in CATALOGUE}


# `make formal` (.ci/run) proves every task; make test keeps one latency of the
# one-MAC PE and the 2-lane PE, the other latencies run in make test-slow.
SLOW_PROOFS = ("pe_l2", "pe_l3")


@pytest.mark.parametrize("task", [pytest.param(t, marks=pytest.mark.slow) if t in SLOW_PROOFS
                                  else t for t in formal.QUICK])
def test_pe_proofs_pass(task, tmp_path):
    result = formal.run(task, workroot=tmp_path)
    assert result.status == "PASS", result.log[-3000:]
    assert "successful proof by k-induction" in result.log


def _formal_on_mutant(mutant_name, task, depth=None):
    with tempfile.TemporaryDirectory(dir=mutate.ROOT / "build") as tmp:
        root = Path(tmp)
        mutate._copy_tree(root)
        mutate.apply(BY_NAME[mutant_name], root)
        cmd = [sys.executable, "-m", "verif.formal", task]
        if depth:
            cmd += ["--depth", str(depth)]
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=900,
                              env={**mutate.os.environ, "PYTHONPATH": str(root)})
    return proc


@pytest.mark.parametrize("mutant,assertion", [
    ("pe_fp4_shift", "product"),          # the combinational product proof
    ("pe_overflow_not_sticky", "overflow"),
])
def test_seeded_pe_bug_fails_the_proof(mutant, assertion):
    proc = _formal_on_mutant(mutant, "pe")
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "formal pe: FAIL" in proc.stdout
    assert "failed assertion" in proc.stdout or "Assert failed" in proc.stdout


@pytest.mark.parametrize("mutant", [
    "dot_lane_pairing",
    # make test-slow: each is also killed by the Amaranth and cocotb layers in make mutate
    pytest.param("dot_fits_sign_only", marks=pytest.mark.slow),
    pytest.param("tree_lane_term_dropped", marks=pytest.mark.slow)])
def test_seeded_dot_pe_bug_fails_the_proof(mutant):
    """The k-lane PE proof (2 lanes) fails on a lane-pairing, an overflow and a tree bug."""
    proc = _formal_on_mutant(mutant, "dot_pe_k2")
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "formal dot_pe_k2: FAIL" in proc.stdout
    assert "failed assertion" in proc.stdout or "Assert failed" in proc.stdout


def test_seeded_array_bug_fails_the_bmc():
    """A row index sequence broken in the drain (``last`` on row 0) is found."""
    proc = _formal_on_mutant("drain_last_flag", "array", depth=12)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "formal array: FAIL" in proc.stdout


def test_jobs_below_one_is_refused_in_one_line(capsys):
    assert formal.main(["--jobs", "0", "pe"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "verif.formal: --jobs must be at least 1, got 0"
