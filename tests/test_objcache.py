"""verif/toolchain/objcache.py: Verilator's runtime objects compiled once.

A fake compiler (a script that writes its ``-o`` file and counts its calls)
stands in for ``c++``, so these tests check the cache's decisions, not g++.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from verif.toolchain import objcache, tool_env
from verif.toolchain.discovery import find_simulator

FAKE_CXX = """import pathlib, sys
args = sys.argv[1:]
out = pathlib.Path(args[args.index("-o") + 1])
out.write_text("object of " + " ".join(args))
out.with_suffix(".d").write_text(f"{out.name}: {args[-1]}\\n")
with open(pathlib.Path(__file__).with_name("calls"), "a") as f:
    f.write(out.name + "\\n")
"""


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """A runtime source outside the build directory, a build directory, a store."""
    include = tmp_path / "include"
    include.mkdir()
    (include / "verilated.cpp").write_text("// runtime")
    (tmp_path / "tools").mkdir()
    cxx = tmp_path / "tools" / "cxx.py"
    cxx.write_text(FAKE_CXX)
    build = tmp_path / "build"
    build.mkdir()
    (build / "Vtop__ALL.cpp").write_text("// design")
    monkeypatch.chdir(build)
    monkeypatch.setenv(objcache.STORE_ENV, str(tmp_path / "store"))
    calls = tmp_path / "tools" / "calls"

    def compile_(source, out, *flags):
        return objcache.main([sys.executable, str(cxx), "-Os", *flags, "-c", "-o", out,
                              str(source)])
    return include / "verilated.cpp", build, compile_, lambda: (
        calls.read_text().split() if calls.exists() else [])


def test_a_runtime_object_is_compiled_once_then_copied(setup):
    source, build, compile_, calls = setup
    assert compile_(source, "verilated.o") == 0
    first = (build / "verilated.o").read_text()
    (build / "verilated.o").unlink()
    (build / "verilated.d").unlink()
    assert compile_(source, "verilated.o") == 0
    assert calls() == ["verilated.o"]                  # the second came from the store
    assert (build / "verilated.o").read_text() == first
    assert (build / "verilated.d").read_text().startswith("verilated.o:")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((build / "verilated.o").stat().st_mode) == 0o666 & ~umask


def test_other_flags_or_a_touched_source_compile_again(setup):
    source, build, compile_, calls = setup
    compile_(source, "verilated.o")
    compile_(source, "verilated.o", "-DVM_TRACE=1")     # another flag set
    st = source.stat()
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    compile_(source, "verilated.o")
    assert calls() == ["verilated.o"] * 3


def test_design_sources_always_compile(setup):
    _, build, compile_, calls = setup
    for _ in range(2):
        assert compile_(build / "Vtop__ALL.cpp", "Vtop__ALL.o") == 0
    assert calls() == ["Vtop__ALL.o"] * 2


def test_a_failed_compile_is_not_stored(setup, tmp_path):
    source, build, _, calls = setup
    fail = [sys.executable, "-c", "import sys; sys.exit(3)", "-c", "-o", "verilated.o",
            str(source)]
    assert objcache.main(fail) == 3
    assert not any((tmp_path / "store").glob("*/object"))


def test_verilator_builds_get_the_hook():
    env = tool_env(find_simulator("verilator"))
    assert "OBJCACHE=" in env["MAKEFLAGS"] and "objcache.py" in env["MAKEFLAGS"]
    assert Path(env[objcache.STORE_ENV]).name.startswith("objects-")
