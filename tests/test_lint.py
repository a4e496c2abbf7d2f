"""``python -m verif.lint``: the project's Verilator, waivers, exit statuses."""

import os
import subprocess
import sys

import pytest

from hw.verilog import lint_waiver_paths
from verif import lint
from verif import toolchain as tc
from verif.toolchain import discovery

CLEAN = """module clean (input wire clk, input wire [3:0] d, output reg [3:0] q);
  always @(posedge clk) q <= d;
endmodule
"""
# A width mismatch: -Wall reports WIDTHTRUNC.
DIRTY = """module dirty (input wire clk, input wire [7:0] d, output reg [3:0] q);
  always @(posedge clk) q <= d;
endmodule
"""


@pytest.fixture
def old_verilator_first(tmp_path, monkeypatch):
    """A Debian-5.006-like ``verilator`` first on PATH that fails any lint."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "verilator"
    fake.write_text('#!/bin/sh\necho "Verilator 5.006 2023-01-22"; exit 3\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(discovery, "_found", {})


def _write(tmp_path, name, text):
    path = tmp_path / f"{name}.v"
    path.write_text(text)
    return str(path)


def test_clean_file_passes_with_the_project_verilator(tmp_path, old_verilator_first, capsys):
    assert lint.main(["--file", _write(tmp_path, "clean", CLEAN), "--top-module", "clean"]) == 0
    assert "lint clean" in capsys.readouterr().out


def test_warnings_fail_and_are_printed(tmp_path, old_verilator_first, capsys):
    assert lint.main(["--file", _write(tmp_path, "dirty", DIRTY), "--top-module", "dirty"]) == 1
    out = capsys.readouterr().out
    assert "lint FAILED" in out and "WIDTH" in out


def test_the_waivers_are_passed(tmp_path, monkeypatch):
    seen = {}
    real_run = subprocess.run

    def spy(cmd, **kw):
        seen["cmd"] = cmd
        return real_run(cmd, **kw)

    monkeypatch.setattr(lint.subprocess, "run", spy)
    lint.lint_verilog(CLEAN, "clean")
    assert seen["cmd"][0] == str(tc.find_simulator("verilator").executable)
    with lint_waiver_paths() as waivers:
        assert waivers and all(w in seen["cmd"] for w in waivers)


@pytest.mark.parametrize("argv, words", [
    (["--top", "array", "--rows", "0"], "rows"),
    (["--top", "pe", "--acc-width", "17"], "acc_width"),
    (["--file", "/nonexistent/x.v", "--top-module", "x"], "/nonexistent/x.v"),
    (["--file", "/nonexistent/x.v"], "--top-module"),
    (["--top-module", "x"], "--file"),
])
def test_bad_arguments_are_one_line_exit_2(argv, words):
    proc = subprocess.run([sys.executable, "-m", "verif.lint", *argv], capture_output=True,
                          text=True, cwd=tc.REPO_ROOT, timeout=120)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and words in proc.stderr
