"""`radix4 gemm --sim golden`: results and one-line errors with exit 2."""

import subprocess
import sys

import numpy as np
import pytest

from model.gemm import gemm_exact


def radix4(*args):
    return subprocess.run([sys.executable, "-m", "scripts.cli", *args],
                          capture_output=True, text=True)


@pytest.mark.parametrize("fa,fb", [("int4", "int4"), ("uint4", "uint4"), ("fp4", "int4"),
                                   ("fp4", "uint4"), ("int4", "uint4"), ("uint4", "int4")])
def test_gemm_cli_matches_model(tmp_path, fa, fb):
    rng = np.random.default_rng(5)
    lim = {"int4": (-8, 8, np.int8), "uint4": (0, 16, np.uint8), "fp4": (0, 16, np.uint8)}
    a = rng.integers(lim[fa][0], lim[fa][1], (5, 9)).astype(lim[fa][2])
    b = rng.integers(lim[fb][0], lim[fb][1], (9, 3)).astype(lim[fb][2])
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    r = radix4("gemm", "--a", str(tmp_path / "a.npy"), "--b", str(tmp_path / "b.npy"),
               "--a-format", fa, "--b-format", fb, "-o", str(tmp_path / "c.npy"))
    assert r.returncode == 0, r.stderr
    c = np.load(tmp_path / "c.npy")
    assert c.dtype == np.int64
    assert np.array_equal(c, gemm_exact(a, b, fa, fb))


def _bad_cases(tmp):
    good_a = tmp / "a.npy"
    np.save(good_a, np.zeros((2, 3), np.int8))
    good_b = tmp / "b.npy"
    np.save(good_b, np.zeros((3, 2), np.uint8))
    floats = tmp / "f.npy"
    np.save(floats, np.zeros((2, 3)))
    big = tmp / "big.npy"
    np.save(big, np.full((2, 3), 9, np.int16))
    wrong = tmp / "wrong.npy"
    np.save(wrong, np.zeros((4, 2), np.uint8))
    corrupt = tmp / "corrupt.npy"
    corrupt.write_bytes(b"not an npy file")
    base = ["--a-format", "int4", "--b-format", "uint4", "-o", str(tmp / "c.npy")]
    return {
        "wrong dtype": ["--a", str(floats), "--b", str(good_b), *base],
        "code out of range": ["--a", str(big), "--b", str(good_b), *base],
        "shape mismatch": ["--a", str(good_a), "--b", str(wrong), *base],
        "missing file": ["--a", str(tmp / "nope.npy"), "--b", str(good_b), *base],
        "corrupt file": ["--a", str(corrupt), "--b", str(good_b), *base],
        "unknown format": ["--a", str(good_a), "--b", str(good_b), "--a-format", "int5",
                           "--b-format", "uint4", "-o", str(tmp / "c.npy")],
        "fp4 on b": ["--a", str(good_a), "--b", str(good_b), "--a-format", "int4",
                     "--b-format", "fp4", "-o", str(tmp / "c.npy")],
        "missing argument": ["--a", str(good_a)],
    }


BAD_CASES = [
    "wrong dtype", "code out of range", "shape mismatch", "missing file", "corrupt file",
    "unknown format", "fp4 on b", "missing argument"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_gemm_cli_bad_input_is_one_line_exit_2(tmp_path, case):
    r = radix4("gemm", *_bad_cases(tmp_path)[case])
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "error" in lines[0] and "Traceback" not in r.stderr
    assert not (tmp_path / "c.npy").exists()


def test_every_subcommand_answers_help():
    from scripts.cli import COMMANDS, _available
    available = [n for n, _ in _available()]
    assert "gemm" in available
    for name in available:
        r = radix4(name, "--help")
        assert r.returncode == 0, (name, r.stderr)
        assert "usage" in r.stdout


@pytest.mark.parametrize("width,ok", [(17, False), (18, True), (64, True), (65, False)])
def test_gemm_cli_acc_width_range_is_the_spec_range(tmp_path, width, ok):
    """SPEC 2: 18..64 on every backend; the golden model used to stop at 63."""
    a = np.full((1, 3), 0x7, np.uint8)
    b = np.full((3, 1), 15, np.uint8)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    out = tmp_path / "c.npy"
    r = radix4("gemm", "--a", str(tmp_path / "a.npy"), "--b", str(tmp_path / "b.npy"),
               "--a-format", "fp4", "--b-format", "uint4", "--acc-width", str(width),
               "-o", str(out))
    if ok and width == 18:   # 3 * 61440 leaves 18 bits: a named overflow error
        assert r.returncode != 0 and "overflow" in r.stderr and not out.exists()
    elif ok:
        assert r.returncode == 0, r.stderr
        assert np.load(out).tolist() == [[3 * 4096 * 15]]
    else:
        assert r.returncode == 2 and "18..64" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and not out.exists()
