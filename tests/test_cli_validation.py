"""Issue 15: argument validation naming the flag, and feedback (eval progress, replay positions).

Output files and builds: tests/test_cli_hardening.py.  Golden model only.
"""

import argparse
import subprocess
import sys

import numpy as np
import pytest

from model.backend import GoldenBackend
from scripts.cli import main


def radix4(*args):
    return subprocess.run([sys.executable, "-m", "scripts.cli", *map(str, args)],
                          capture_output=True, text=True)


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("argv,msg", [
    (["train", "--lr", "inf"], "--lr must be a finite number > 0, got inf"),
    (["train", "--lr", "nan"], "--lr must be a finite number > 0, got nan"),
    (["train", "--lr", "0"], "--lr must be a finite number > 0, got 0"),
    (["train", "--lr", "x"], "--lr must be a number, got 'x'"),
    (["train", "--epochs", "0"], "--epochs must be a positive integer, got 0"),
    (["train", "--steps", "-2"], "--steps must be a positive integer, got -2"),
    (["train", "--batch-size", "0"], "--batch-size must be a positive integer, got 0"),
    (["train", "--seed", "-1"], "--seed must be a non-negative integer, got -1"),
    (["train", "--eval-samples", "0"], "--eval-samples must be a positive integer, got 0"),
    (["train", "--backend", "icarus", "--rows", "0"], "--rows must be in 1..64, got 0"),
    (["train", "--recipe", "4bit-onchip", "--cols", "99"], "--cols must be in 1..64, got 99"),
    (["demo", "--epochs", "0"], "--epochs must be a positive integer, got 0"),
    (["demo", "--seed", "-1"], "--seed must be a non-negative integer, got -1"),
    (["demo", "--rows", "65"], "--rows must be in 1..64, got 65"),
    (["replay", "t.npz", "--rows", "0"], "--rows must be a positive integer, got 0"),
    (["replay", "t.npz", "--cols", "65"], "--cols must be in 1..64, got 65"),
    (["replay", "t.npz", "--acc-width", "7"], "--acc-width must be in"),
    (["regress", "--seeds", "0"], "--seeds must be a positive integer <= 100,000, got 0"),
    # Issue 24: a billion seeds was a MemoryError traceback, 10^20 an internal message.
    (["regress", "--seeds", "1000000000"], "--seeds must be a positive integer <= 100,000, got "
                                           "1000000000"),
    (["regress", "--seeds", "99999999999999999999"], "--seeds must be a positive integer <= "
                                                     "100,000, got 99999999999999999999"),
    (["regress", "--first-seed", "-1"], "--first-seed must be a non-negative integer <= "
                                        "4,294,867,295, got -1"),
    (["regress", "--timeout", "inf"], "--timeout must be a finite number > 0, got inf"),
    (["synth", "--pnr-timeout", "0"], "--pnr-timeout must be a finite number > 0, got 0"),
    (["verilog", "--top", "array", "--rows", "65", "-o", "x.v"], "--rows must be in 1..64"),
    (["verilog", "--top", "quant", "--cols", "0", "-o", "x.v"], "--cols must be in 1..64"),
])
def test_bad_values_name_the_flag(argv, msg, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        raise SystemExit(main(argv))
    assert e.value.code == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith(f"radix4 {argv[0]}: error: {msg}"), line
    assert list(tmp_path.iterdir()) == []


def test_verilog_pe_has_no_rows(tmp_path, capsys):
    out = tmp_path / "pe.v"
    assert main(["verilog", "--top", "pe", "-o", str(out)]) == 0
    assert "module radix4_pe" in out.read_text() and capsys.readouterr().err == ""


@pytest.mark.parametrize("top,flag", [("pe", "--rows"), ("pe", "--cols"), ("array", "--depth"),
                                      ("array", "--quant-lanes"), ("accel", "--quant-lanes"),
                                      ("quant", "--pe-latency"), ("quant", "--rows")])
def test_verilog_refuses_a_flag_its_top_lacks(top, flag, tmp_path, capsys):
    """Issue 24: `--top array --quant-lanes 2` was silently ignored."""
    out = tmp_path / "x.v"
    value = "2" if flag != "--depth" else "256"
    assert main(["verilog", "--top", top, flag, value, "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{flag}: the {top} top has no such parameter" in err[0], err
    assert not out.exists()


def test_absurd_lr_is_one_line_without_warnings():
    r = radix4("train", "--lr", "1e30", "--steps", "2", "--no-progress")
    assert r.returncode == 2 and r.stdout == ""
    line = one_line(r.stderr)       # no RuntimeWarning lines before it
    assert "training diverged at step 1" in line and "1e+30 too large" in line


def test_train_reports_eval_time_and_eval_progress(capsys):
    assert main(["train", "--steps", "1"]) == 0
    out, err = capsys.readouterr()
    assert out.strip().splitlines()[-1].startswith("test_accuracy=")
    summary = [x for x in err.splitlines() if x.startswith("# task=")]
    assert "train_time=" in summary[0] and "eval_time=" in summary[0]
    assert "evaluate (golden)" in err and "GEMM 1: fc1.fwd" in err
    assert main(["train", "--steps", "1", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "evaluate" not in err and len(err.strip().splitlines()) == 1


def _eval_run(capsys, *extra):
    assert main(["train", "--steps", "1", "--no-progress", *extra]) == 0
    out, err = capsys.readouterr()
    summary = err.strip().splitlines()[-1]
    return out.strip(), summary.split("eval_samples=")[1].split()[0]


def test_eval_samples_takes_the_first_n_and_defaults_to_the_whole_set(capsys):
    from model.tasks import make_task
    n_test = len(make_task("digits-mlp", 0).X_test)
    full, full_count = _eval_run(capsys)
    assert full_count == f"{n_test}/{n_test}"
    # N at or past the set's size is the whole set: the default's output exactly
    assert _eval_run(capsys, "--eval-samples", str(n_test + 5)) == (full, full_count)
    few, few_count = _eval_run(capsys, "--eval-samples", "7")
    assert few_count == f"7/{n_test}" and few.startswith("test_accuracy=")
    correct = float(few.split("=")[1]) * 7       # an accuracy over 7 samples: k / 7
    assert abs(correct - round(correct)) < 1e-5 and few != full


class _WrongAt(GoldenBackend):
    """A golden backend that gets outputs (1, 2) and (2, 0) of every GEMM wrong."""
    name = "faulty"

    def run_checked(self, op):
        c = super().run_checked(op)
        c[1, 2] += 1
        c[2, 0] -= 1
        return c


def test_replay_names_the_wrong_outputs(tmp_path, monkeypatch, capsys):
    import sim.factory
    from model.backend import GoldenBackend
    from model.trace import TraceRecorder
    from scripts import cmd_replay
    rng = np.random.default_rng(3)
    rec = TraceRecorder(GoldenBackend())
    rec.gemm(rng.integers(0, 16, (4, 5)).astype(np.uint8),
             rng.integers(-8, 8, (5, 3)).astype(np.int8), "uint4", "int4", name="fc1.fwd")
    rec.save(tmp_path / "t.npz")
    before = (tmp_path / "t.npz").read_bytes()
    monkeypatch.setattr(sim.factory, "make_backend", lambda *a, **k: _WrongAt())
    args = argparse.Namespace(trace=str(tmp_path / "t.npz"), sim="verilator", rows=8, cols=8,
                              depth=512, acc_width=None, workers=None, scheduler=None)
    assert cmd_replay.run(args) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert "bit-exact=NO" in out[0] and "2 of 12 outputs differ, first at (1, 2), (2, 0)" in out[0]
    assert out[-1] == ("MISMATCH in 1 GEMM(s): 0:fc1.fwd; first: GEMM 0 fc1.fwd: "
                       "(2 of 12 outputs differ, first at (1, 2), (2, 0))")
    assert (tmp_path / "t.npz").read_bytes() == before


def test_mismatch_lists_at_most_three_positions():
    from model.trace_schema import TraceRecord
    r = TraceRecord(0, "g", None, 0, "int4", "int4", np.zeros((2, 2), np.int8),
                    np.zeros((2, 3), np.int8), np.zeros((2, 3), np.int64))
    assert r.mismatch(np.zeros((2, 3))) is None
    assert r.mismatch(np.ones((2, 3))) == "6 of 6 outputs differ, first at (0, 0), (0, 1), (0, 2), ..."
    assert r.mismatch(np.zeros((3, 2))) == "result shape (3, 2), expected (2, 3)"
