"""``radix4 regress`` on a real 2-worker LocalCluster: seed batches (a failing seed among them
reported and replayed alone, stimulus as in a one-seed run, coverage merged over seeds),
pass, bad input, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from sim.regress import MAX_CHUNK, Bench, chunk_size, collect, plan_runs, replay_command

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


def test_plan_groups_by_chunk_file_and_simulator():
    benches = [Bench("verif/test_pe.py", "test_pe[icarus-w18]", "icarus"),
               Bench("verif/test_pe.py", "test_pe[icarus-w32]", "icarus"),
               Bench("verif/test_pe.py", "test_pe[verilator-w18]", "verilator")]
    plan = plan_runs(benches, [1, 2, 3], chunk=2)
    assert [(s, len(g)) for s, g in plan] == [([1, 2], 2), ([1, 2], 1), ([3], 2), ([3], 1)]
    # chunks: at least 3 tasks per worker when the seeds allow, at most MAX_CHUNK seeds
    assert chunk_size(200, 7, 2) == MAX_CHUNK
    assert chunk_size(200, 7, 100) == 4
    assert chunk_size(2, 7, 2) == 2 and chunk_size(4, 1, 2) == 1


INJECTED_BENCH = r"""
import os

import cocotb
from verif.kit import Coverage, get_seed

COV = Coverage("injected")
COV.declare("seed", ["even", "odd"])      # one seed hits one bin: closure needs the merge


@cocotb.test()
async def seeded(dut):
    COV.hit("seed", "even" if get_seed() % 2 == 0 else "odd")
    COV.save()
    with open(os.environ["INJECTED_PIDS"], "a") as f:       # which simulator ran which seed
        f.write(f"{get_seed()} {os.getpid()}\n")
    assert get_seed() != 2, "injected failure for seed 2"
"""

INJECTED_TEST = """
import pytest

from verif.harness import run_bench


@pytest.mark.cocotb
def test_injected():
    run_bench("injected_tb", "pe", {"acc_width": 18}, "icarus")
"""


def test_a_failing_seed_in_a_batch_is_reported_alone_and_replays_alone(tmp_path):
    (tmp_path / "injected_tb.py").write_text(INJECTED_BENCH)
    test = tmp_path / "test_injected.py"
    test.write_text(INJECTED_TEST)
    pids = tmp_path / "pids"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "INJECTED_PIDS": str(pids)}
    r = radix4("--seeds", "3", "--chunk", "3", "--tests", str(test), "--workers", "2",
               "--no-progress", env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "seed 1: 1/1 passed" in r.stdout and "seed 3: 1/1 passed" in r.stdout
    assert "seed 2: 0/1 passed; FAILED" in r.stdout
    # one simulation ran the three seeds in turn
    runs = [line.split() for line in pids.read_text().splitlines()]
    assert [s for s, _ in runs] == ["1", "2", "3"] and len({p for _, p in runs}) == 1
    # seed by seed coverage misses a bin; merged over the seeds it closes
    assert "coverage: 1/1 benches hit every bin" in r.stdout, r.stdout
    replays = [line.strip() for line in r.stdout.splitlines() if "RADIX4_SEED=" in line]
    assert len(replays) == 1 and "injected failure for seed 2" in replays[0], r.stdout
    cmd = replays[0].split("    #")[0]
    assert cmd == replay_command(2, Bench(str(test), "test_injected", "icarus"))
    assert cmd.startswith("RADIX4_REGRESS=1 RADIX4_SEED=2 ")
    # The printed command, run by a shell from the repo root, fails the same way alone...
    pids.unlink()
    again = subprocess.run(cmd, shell=True, cwd=REPO, capture_output=True, text=True,
                           env=env)
    assert again.returncode == 1 and "injected failure for seed 2" in again.stdout
    assert [line.split()[0] for line in pids.read_text().splitlines()] == ["2"]
    # ...and passes with a seed that passed.
    ok = subprocess.run(cmd.replace("RADIX4_SEED=2", "RADIX4_SEED=3"), shell=True, cwd=REPO,
                        capture_output=True, text=True, env=env)
    assert ok.returncode == 0, ok.stdout


def test_a_plain_pytest_test_fails_for_its_seed_only(tmp_path):
    bench = tmp_path / "test_plain.py"
    bench.write_text("import os\n\n\ndef test_seeded():\n"
                     "    assert os.environ['RADIX4_SEED'] != '5', 'injected failure for seed 5'\n")
    r = radix4("--seeds", "3", "--first-seed", "4", "--tests", str(bench), "--workers", "2",
               "--no-progress")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "seed 4: 1/1 passed" in r.stdout and "seed 6: 1/1 passed" in r.stdout
    assert "seed 5: 0/1 passed; FAILED" in r.stdout and r.stdout.count("RADIX4_SEED=") == 1


def test_a_seed_in_a_batch_has_the_stimulus_of_its_one_seed_run(tmp_path, monkeypatch):
    """Seed 5 after seed 4 in one simulation == seed 5 alone: the same coverage counts
    and the same per-test statistics (rows, beats, gaps, stalls, checked cycles)."""
    import json
    import re

    from verif import toolchain as tools
    from verif.kit.batch import _split_log
    from verif.kit.multiseed import seed_file
    params = {"rows": 2, "cols": 3, "acc_width": 18}
    b = tools.build("array", params, "icarus")
    monkeypatch.delenv("RADIX4_SEED", raising=False)     # the simulator inherits os.environ
    monkeypatch.setenv("RADIX4_REGRESS", "1")
    env = {"RADIX4_PARAMS": json.dumps(params)}
    batch_cov, one_cov = tmp_path / "batch.json", tmp_path / "one.json"
    logs = []
    for module, extra in (("verif.kit.multiseed",
                           {"RADIX4_BENCH_MODULE": "verif.benches.array_tb",
                            "RADIX4_BATCH_SEEDS": "4,5", "RADIX4_COVERAGE_FILE": str(batch_cov)}),
                          ("verif.benches.array_tb",
                           {"RADIX4_SEED": "5", "RADIX4_COVERAGE_FILE": str(one_cov)})):
        proc, results = tools.launch(module, b, extra_env={**env, **extra},
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0 and not tools.read_results(results)[1]
        logs.append(out.decode())
    per_seed = {s: json.loads(Path(seed_file(str(batch_cov), s)).read_text()) for s in (4, 5)}
    assert per_seed[5][0]["groups"] == json.loads(one_cov.read_text())["groups"]
    assert per_seed[4][0]["groups"] != per_seed[5][0]["groups"]
    stats = re.compile(r"\w+: \d+ rows matched.*$", re.M)
    in_batch = stats.findall(_split_log(logs[0])[5])
    assert len(in_batch) >= 5 and in_batch == stats.findall(logs[1])     # one line per test


def test_a_real_bench_over_two_seeds_passes():
    r = radix4("--seeds", "2", "--first-seed", "7", "--tests",
               "verif/test_pe.py::test_pe[icarus-w18]", "--workers", "2", "--no-progress")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "seed 7: 1/1 passed" in r.stdout and "seed 8: 1/1 passed" in r.stdout
    assert "coverage: 1/1 benches hit every bin" in r.stdout
    assert "summary: 2/2 runs passed" in r.stdout


def test_bad_input_is_one_line_exit_2(tmp_path):
    for args, text in [(["--seeds", "0"], "--seeds"),
                       (["--tests", str(tmp_path / "nope.py")], "no such file"),
                       (["--workers", "0"], "--workers"),
                       (["--chunk", "0"], "--chunk"),
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
