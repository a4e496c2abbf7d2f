"""The host testbench's build cache follows the generated Verilog (issue 11):
any hw change -- including a newly added, instantiated module -- gives a new
key and a new build; nothing changed gives the same build, not rebuilt.
Bad array sizes are refused before a directory or lock exists (issue 15)."""

import subprocess
import sys

import pytest
from amaranth.hdl import Elaboratable, Module, Signal

import hw.accel
from sim.host import HostConfig, build_host, host_key, host_sources
from verif import toolchain as tc

# Smallest tile and host memories: the Icarus build takes about a second.
TINY = HostConfig(rows=1, cols=1, acc_width=18, depth=2, host_beats=8, host_cmds=4, host_rows=4)


class _AddedModule(Elaboratable):
    """Stands in for a new hw module a future change instantiates in the tile."""

    def __init__(self):
        self.o = Signal(4)

    def elaborate(self, platform):
        m = Module()
        count = Signal(4)
        m.d.sync += count.eq(count + 1)
        m.d.comb += self.o.eq(count)
        return m


def _add_module(monkeypatch):
    """From now on the tile instantiates ``_AddedModule`` (no file under hw/
    changes: a hand-written source list could not notice)."""
    original = hw.accel.AcceleratorTile.elaborate

    def elaborate(self, platform):
        m = original(self, platform)
        m.submodules.added_module = _AddedModule()
        return m

    monkeypatch.setattr(hw.accel.AcceleratorTile, "elaborate", elaborate)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RADIX4_SIM_BUILD", str(tmp_path / "sim"))
    return tmp_path / "sim"


def _key(cfg, sim="icarus"):
    return host_key(cfg, tc.find_simulator(sim), host_sources(cfg), waves=False)


def test_key_is_stable_and_follows_the_verilog():
    key = _key(TINY)
    assert key == _key(TINY)
    # The key holds the hash of exactly the Verilog that is built, per file.
    assert key["verilog_sha256"] == {n: tc.sha256_text(t)
                                     for n, t in host_sources(TINY).items()}
    assert _key(HostConfig(rows=1, cols=2, acc_width=18, depth=2, host_beats=8,
                           host_cmds=4, host_rows=4)) != key


def test_key_differs_with_and_without_the_new_module(monkeypatch):
    plain = _key(TINY)
    _add_module(monkeypatch)
    assert "added_module" in host_sources(TINY)["radix4_accel.v"]
    changed = _key(TINY)
    assert changed["verilog_sha256"]["radix4_accel.v"] != plain["verilog_sha256"]["radix4_accel.v"]
    assert tc.key_digest(changed) != tc.key_digest(plain)
    # Verilator builds are keyed the same way (checked on the key: no second C++ build).
    assert tc.key_digest(_key(TINY, "verilator")) != tc.key_digest(changed)


def test_icarus_host_is_rebuilt_after_a_hw_change_and_reused_otherwise(cache, monkeypatch):
    first = build_host(TINY, "icarus")
    marker = first.build_dir / tc.MARKER
    stamp = marker.stat().st_mtime_ns
    again = build_host(TINY, "icarus")
    assert again.build_dir == first.build_dir
    assert marker.stat().st_mtime_ns == stamp, "an unchanged design was rebuilt"

    _add_module(monkeypatch)
    changed = build_host(TINY, "icarus")
    assert changed.build_dir != first.build_dir
    assert (changed.build_dir / tc.MARKER).is_file()
    assert "added_module" in (changed.build_dir / "radix4_accel.v").read_text()
    assert "added_module" not in (first.build_dir / "radix4_accel.v").read_text()


@pytest.mark.parametrize("bad", [dict(rows=0), dict(cols=65), dict(rows=True),
                                 dict(cols=2.0), dict(acc_width=17), dict(depth=3)])
@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_bad_size_leaves_no_directory_or_lock(cache, bad, sim):
    from sim.factory import make_backend
    with pytest.raises(ValueError):
        make_backend(sim, **bad)
    assert not cache.exists() or not any(cache.rglob("*"))


def test_bad_rows_on_the_cli_is_one_line_and_leaves_nothing(cache, tmp_path):
    import numpy as np
    np.save(tmp_path / "a.npy", np.zeros((2, 2), np.int8))
    np.save(tmp_path / "b.npy", np.zeros((2, 2), np.int8))
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.cli", "gemm", "--a", str(tmp_path / "a.npy"),
         "--b", str(tmp_path / "b.npy"), "--a-format", "int4", "--b-format", "int4",
         "--sim", "icarus", "--rows", "0", "-o", str(tmp_path / "c.npy")],
        capture_output=True, text=True, cwd=tc.REPO_ROOT, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "rows" in proc.stderr
    assert not cache.exists() or not any(cache.rglob("*"))
