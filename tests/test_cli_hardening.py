"""Issue 15: output files (exact path, atomic, refused before any work), one-line errors.

Every case asserts the exit status, a single stderr line and that inputs and
existing outputs are byte-identical afterwards.  Golden model only; the
RTL-flag cases stop before anything is built.  Argument validation and
feedback: tests/test_cli_validation.py.
"""

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from model import fileio
from scripts.cli import main


def radix4(*args, **env):
    return subprocess.run([sys.executable, "-m", "scripts.cli", *map(str, args)],
                          capture_output=True, text=True, env={**os.environ, **env})


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "Traceback" not in err, err
    return lines[0]


def snapshot(d: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()}


@pytest.fixture
def ab(tmp_path):
    np.save(tmp_path / "A.npy", np.arange(6, dtype=np.int8).reshape(2, 3) - 3)
    np.save(tmp_path / "B.npy", np.ones((3, 2), np.int8))
    np.save(tmp_path / "C.npy", np.full((2, 2), 7, np.int64))    # an existing output
    return tmp_path


def gemm_args(d, out):
    return ["gemm", "--a", str(d / "A.npy"), "--b", str(d / "B.npy"), "--a-format", "int4",
            "--b-format", "int4", "-o", str(out)]


def test_o_is_exactly_the_path_written(ab, capsys):
    assert main(gemm_args(ab, ab / "A")) == 0
    assert (ab / "A").is_file() and not (ab / "A.npy.npy").exists()
    c = np.load(ab / "A")
    assert c.dtype == np.int64 and np.array_equal(c, np.load(ab / "A.npy").astype(np.int64)
                                                  @ np.ones((3, 2), np.int64))
    assert capsys.readouterr().err == ""
    assert not [p for p in ab.iterdir() if p.name.startswith(".")]   # no temp file left


@pytest.mark.parametrize("out,why", [
    ("A.npy", "same file as --a"), ("./sub/../B.npy", "same file as --b"),
    (".", "is a directory"), ("/dev/full", "not a regular file"),
    ("A.npy/x.npy", "is not a directory"), ("nodir/x.npy", "does not exist")])
def test_bad_output_refused_before_work(ab, capsys, monkeypatch, out, why):
    (ab / "sub").mkdir()
    monkeypatch.chdir(ab)
    before = snapshot(ab)
    assert main(gemm_args(Path("."), out)) == 2
    line = one_line(capsys.readouterr().err)
    assert line.startswith("radix4 gemm: error: -o ") and why in line
    assert snapshot(ab) == before


def test_symlinked_input_is_the_same_file(ab, capsys):
    os.symlink(ab / "A.npy", ab / "link.npy")
    before = snapshot(ab)
    assert main(gemm_args(ab, ab / "link.npy")) == 2
    assert "same file as --a" in one_line(capsys.readouterr().err)
    assert snapshot(ab) == before


def _disk_full(*_a, **_k):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_keeps_the_existing_output(ab, capsys, monkeypatch):
    monkeypatch.setattr(fileio.os, "fsync", _disk_full)
    before = snapshot(ab)
    assert main(gemm_args(ab, ab / "C.npy")) == 2
    line = one_line(capsys.readouterr().err)
    assert line == f"radix4 gemm: error: -o {ab / 'C.npy'}: cannot write: No space left on device"
    assert snapshot(ab) == before
    assert sorted(p.name for p in ab.iterdir()) == ["A.npy", "B.npy", "C.npy"]


def test_verilog_full_disk_and_bad_paths(tmp_path, capsys, monkeypatch):
    v = tmp_path / "pe.v"
    v.write_text("old\n")
    monkeypatch.setattr(fileio.os, "fsync", _disk_full)
    assert main(["verilog", "--top", "pe", "-o", str(v)]) == 2
    assert "cannot write: No space left on device" in one_line(capsys.readouterr().err)
    assert v.read_text() == "old\n" and os.listdir(tmp_path) == ["pe.v"]
    monkeypatch.undo()
    for out, why in (("/dev/full", "not a regular file"), (tmp_path, "is a directory"),
                     (v / "x.v", "is not a directory")):
        assert main(["verilog", "--top", "pe", "-o", str(out)]) == 2
        assert why in one_line(capsys.readouterr().err)
    assert v.read_text() == "old\n"


def test_trace_save_is_atomic(tmp_path, monkeypatch):
    from model.backend import GoldenBackend
    from model.trace import TraceRecorder, load_trace
    rec = TraceRecorder(GoldenBackend())
    rec.gemm(np.ones((2, 3), np.int8), np.ones((3, 2), np.int8), "int4", "int4", name="g")
    path = tmp_path / "t"                       # no .npz appended
    assert rec.save(path) == path and len(load_trace(path)) == 1
    old = path.read_bytes()
    rec.gemm(np.ones((2, 3), np.int8), np.ones((3, 2), np.int8), "int4", "int4", name="h")
    monkeypatch.setattr(fileio.os, "fsync", _disk_full)
    with pytest.raises(OSError):
        rec.save(path)
    assert path.read_bytes() == old and os.listdir(tmp_path) == ["t"]


def test_demo_trace_path_refused_before_training(tmp_path):
    (tmp_path / "somefile").write_text("x")
    r = radix4("demo", "--trace", tmp_path / "somefile" / "t.npz")
    assert r.returncode == 2 and r.stdout == ""          # "[1/3] training" never printed
    assert "--trace" in one_line(r.stderr) and "is not a directory" in r.stderr
    assert (tmp_path / "somefile").read_text() == "x"


@pytest.mark.parametrize("doc", ["{}", "[1]", '{"designs": 3}', '{"designs": {"x": 1}}',
                                 '{"designs": {}}', "not json"])
def test_synth_from_json_wrong_shape(tmp_path, capsys, doc):
    (tmp_path / "r.json").write_text(doc)
    (tmp_path / "rep.md").write_text("old report\n")
    before = snapshot(tmp_path)
    assert main(["synth", "--from-json", str(tmp_path / "r.json"),
                 "--out", str(tmp_path / "rep.md")]) == 2
    assert one_line(capsys.readouterr().err).startswith("radix4 synth: error: --from-json")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", ["/dev/zero", "fifo", "directory", "oversized"])
def test_synth_from_json_reads_only_a_bounded_regular_file(tmp_path, kind):
    """Issue 24: `--from-json /dev/zero` read forever.  A subprocess with a
    timeout, so a regression fails instead of hanging the suite."""
    if kind == "/dev/zero":
        path = "/dev/zero"
    elif kind == "fifo":
        path = tmp_path / "f"
        os.mkfifo(path)
    elif kind == "directory":
        path = tmp_path
    else:
        path = tmp_path / "big.json"
        with open(path, "wb") as f:
            f.truncate((16 << 20) + 1)
    r = subprocess.run([sys.executable, "-m", "scripts.cli", "synth", "--from-json", str(path),
                        "--out", str(tmp_path / "rep.md")], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2
    line = one_line(r.stderr)
    assert ("not a regular file" in line) if kind != "oversized" else ("16 MiB" in line), line
    assert not (tmp_path / "rep.md").exists()


def test_synth_out_may_not_be_its_input(tmp_path, capsys):
    (tmp_path / "r.json").write_text('{"designs": {}}')
    assert main(["synth", "--from-json", str(tmp_path / "r.json"),
                 "--out", str(tmp_path / "r.json")]) == 2
    assert "same file as --from-json" in one_line(capsys.readouterr().err)
    assert (tmp_path / "r.json").read_text() == '{"designs": {}}'


def test_atomic_helpers(tmp_path):
    p = tmp_path / "x.npy"
    fileio.atomic_save_npy(p, np.arange(3))
    assert np.array_equal(np.load(p), np.arange(3))
    os.chmod(p, 0o640)
    fileio.atomic_write_bytes(p, b"abc")          # keeps the file's permission bits
    assert p.read_bytes() == b"abc" and (p.stat().st_mode & 0o777) == 0o640
    os.symlink(p, tmp_path / "ln")
    fileio.atomic_write_text(tmp_path / "ln", "via link")   # written through, link kept
    assert (tmp_path / "ln").is_symlink() and p.read_text() == "via link"
    fileio.atomic_savez(tmp_path / "z", compressed=False, a=np.ones(2))
    assert list(np.load(tmp_path / "z")) == ["a"]
    with pytest.raises(RuntimeError), fileio.atomic_open(p) as f:
        f.write(b"partial")
        raise RuntimeError("writer failed")
    assert p.read_text() == "via link"
    assert sorted(os.listdir(tmp_path)) == ["ln", "x.npy", "z"]


def test_coverage_save_is_atomic(tmp_path, monkeypatch):
    from verif.kit.coverage import Coverage
    cov = Coverage("t")
    cov.declare("g", ["a"])
    cov.save(tmp_path / "cov.json")
    assert Coverage.load(tmp_path / "cov.json").groups == {"g": {"a": 0}}
    monkeypatch.setattr(fileio.os, "fsync", _disk_full)
    cov.hit("g", "a")
    with pytest.raises(OSError):
        cov.save(tmp_path / "cov.json")
    assert Coverage.load(tmp_path / "cov.json").groups == {"g": {"a": 0}}


def test_failed_build_leaves_no_directory_or_lock(tmp_path):
    from verif.toolchain import cached_build

    def fails(build_dir):
        (build_dir / "half.o").write_text("")
        raise RuntimeError("compiler refused")

    with pytest.raises(RuntimeError):
        cached_build(tmp_path, "host", {"k": 1}, fails)
    assert os.listdir(tmp_path) == []

    def fails_with_log(build_dir):
        (build_dir / "build.log").write_text("the reason")
        (build_dir / "obj").mkdir()
        raise RuntimeError("see build.log")

    with pytest.raises(RuntimeError):
        cached_build(tmp_path, "host", {"k": 1}, fails_with_log)
    (d,) = tmp_path.iterdir()                           # only the log the error names
    assert os.listdir(d) == ["build.log"] and not list(tmp_path.glob("*.lock"))
    d2, built = cached_build(tmp_path, "host", {"k": 1}, lambda b: (b / "ok").write_text(""))
    assert built and d2 == d and (d / "ok").exists() and not (d / "build.log").exists()


@pytest.mark.parametrize("flags,msg", [(["--rows", "0"], "--rows must be in 1..64, got 0"),
                                       (["--cols", "65"], "--cols must be in 1..64, got 65"),
                                       (["--depth", "3"], "--depth must be a power of two")])
def test_rtl_dims_refused_before_any_build(ab, flags, msg):
    build = ab / "simbuild"
    r = radix4(*gemm_args(ab, ab / "C.npy"), "--sim", "icarus", *flags,
               RADIX4_SIM_BUILD=str(build))
    assert r.returncode == 2 and msg in one_line(r.stderr)
    assert not build.exists()
    assert np.array_equal(np.load(ab / "C.npy"), np.full((2, 2), 7))


def test_gemm_checks_operands_before_building_a_backend(tmp_path, capsys, monkeypatch):
    """Issue 24: `gemm --workers 2` started a Dask cluster (10-16 s) before it
    refused operands out of their format's range."""
    import sim.factory

    def no_backend(*a, **k):
        raise AssertionError("a backend was built before the operands were checked")
    monkeypatch.setattr(sim.factory, "make_backend", no_backend)
    np.save(tmp_path / "A.npy", np.full((2, 3), 9, np.int8))      # 9 is not an int4 code
    np.save(tmp_path / "B.npy", np.ones((3, 2), np.int8))
    for extra in (["--workers", "2"], []):
        assert main(["gemm", "--a", str(tmp_path / "A.npy"), "--b", str(tmp_path / "B.npy"),
                     "--a-format", "int4", "--b-format", "int4", "--sim", "icarus", *extra,
                     "-o", str(tmp_path / "C.npy")]) == 2
        assert "int4" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "C.npy").exists()
