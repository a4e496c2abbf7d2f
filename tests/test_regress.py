"""``radix4 regress`` on a real 2-worker LocalCluster: pass, fail with replay, bad input, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from sim.regress import Bench, collect, plan_runs, replay_command

pytestmark = pytest.mark.slow  # runs cocotb benches through radix4 regress: minutes; `make test-slow`

REPO = Path(__file__).resolve().parents[1]


def radix4(*args, **kw):
    return subprocess.run([sys.executable, "-m", "scripts.cli", "regress", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=600, **kw)


def test_collects_the_cocotb_benches_of_each_simulator():
    both = collect()
    icarus = [b for b in both if b.sim == "icarus"]
    verilator = [b for b in both if b.sim == "verilator"]
    names = {b.nodeid for b in icarus}
    assert "verif/test_array.py::test_array[icarus-2x3w18]" in names
    assert all(b.sim == "verilator" and "verilator" in b.test for b in verilator)
    assert {b.nodeid for b in verilator} & names == set()
    assert any(b.path == "verif/test_pe.py" for b in verilator)


def test_plan_groups_by_seed_file_and_simulator():
    benches = [Bench("verif/test_pe.py", "test_pe[icarus-w18]", "icarus"),
               Bench("verif/test_pe.py", "test_pe[icarus-w32]", "icarus"),
               Bench("verif/test_pe.py", "test_pe[verilator-w18]", "verilator")]
    plan = plan_runs(benches, [1, 2])
    assert [(s, len(g)) for s, g in plan] == [(1, 2), (1, 1), (2, 2), (2, 1)]


def test_a_failing_seed_exits_1_with_a_replay_command_that_reproduces_it(tmp_path):
    bench = tmp_path / "test_injected.py"
    bench.write_text("import os\n\n\ndef test_seeded():\n"
                     "    assert os.environ['RADIX4_SEED'] != '2', 'injected failure for seed 2'\n")
    r = radix4("--seeds", "3", "--tests", str(bench), "--workers", "2", "--no-progress")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "seed 1: 1/1 passed" in r.stdout and "seed 3: 1/1 passed" in r.stdout
    assert "seed 2: 0/1 passed; FAILED" in r.stdout
    replays = [line.strip() for line in r.stdout.splitlines() if "RADIX4_SEED=" in line]
    assert len(replays) == 1 and "injected failure for seed 2" in replays[0]
    cmd = replays[0].split("    #")[0]
    assert cmd == replay_command(2, Bench(str(bench), "test_seeded", "icarus"))
    # The printed command, run by a shell from the repo root, fails the same way...
    again = subprocess.run(cmd, shell=True, cwd=REPO, capture_output=True, text=True)
    assert again.returncode == 1 and "injected failure for seed 2" in again.stdout
    # ...and passes with a seed that passed.
    ok = subprocess.run(cmd.replace("RADIX4_SEED=2", "RADIX4_SEED=3"), shell=True, cwd=REPO,
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout


def test_a_real_bench_over_two_seeds_passes():
    r = radix4("--seeds", "2", "--first-seed", "7", "--tests",
               "verif/test_pe.py::test_pe[icarus-w18]", "--workers", "2", "--no-progress")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "seed 7: 1/1 passed" in r.stdout and "seed 8: 1/1 passed" in r.stdout
    assert "summary: 2/2 runs passed" in r.stdout


def test_bad_input_is_one_line_exit_2(tmp_path):
    for args, text in [(["--seeds", "0"], "--seeds"),
                       (["--tests", str(tmp_path / "nope.py")], "no such file"),
                       (["--workers", "0"], "--workers"),
                       (["--scheduler", "nonsense"], "tcp://HOST:PORT")]:
        r = radix4(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and text in r.stderr, (args, r.stderr)


def test_ctrl_c_leaves_nothing_running():
    proc = subprocess.Popen([sys.executable, "-m", "scripts.cli", "regress", "--seeds", "4",
                             "--tests", "verif/test_pe.py", "--sim", "icarus", "--workers", "2",
                             "--no-progress"], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    seen, deadline = set(), time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            kids = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            break
        seen |= {p.pid for p in kids}
        if sum("vvp" in " ".join(_cmd(p)[:1]) for p in kids) >= 2:
            break
        time.sleep(0.1)
    assert proc.poll() is None, "regress ended before both workers ran a simulator"
    os.killpg(proc.pid, signal.SIGINT)
    proc.communicate(timeout=120)
    assert proc.returncode in (1, 130)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        alive = [p for p in seen if psutil.pid_exists(p)
                 and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
        if not alive:
            break
        time.sleep(0.2)
    assert not alive, [_cmd(psutil.Process(p))[:3] for p in alive]


def _cmd(p):
    try:
        return p.cmdline()
    except psutil.Error:
        return []
