"""GEMM traces (model/trace.py) and `radix4 replay` (scripts/cmd_replay.py).

Round trips of GEMMs recorded through the golden backend (every operand
format pair, including FP4 on B and 8-bit operands), every corruption the
loader must reject with a one-line ``TraceError``, the replay CLI's exit 2
on bad input (before any simulator starts), and one short replay through
the Verilated RTL.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from model.backend import GemmOverflowError, GoldenBackend
from model.formats import int_value
from model.record import record_training_step
from model.trace import (TRACE_SCHEMA_VERSION, TraceError, TraceRecorder, format_dtype,
                         load_trace)

FORMATS = ("int4", "uint4", "fp4", "int8", "uint8")
_RANGES = {"int4": (-8, 7), "uint4": (0, 15), "fp4": (0, 15), "fp4r2": (0, 15),
           "int8": (-128, 127), "uint8": (0, 255)}


def random_codes(rng, fmt, shape):
    lo, hi = _RANGES[fmt]
    return rng.integers(lo, hi + 1, shape).astype(format_dtype(fmt))


def reference_gemm(a, b, fa, fb):
    """Exact int64 product from the integer value of each code (8-bit codes are their value)."""
    av = a.astype(np.int64) if fa in ("int8", "uint8") else int_value(a, fa)
    bv = b.astype(np.int64) if fb in ("int8", "uint8") else int_value(b, fb)
    return av @ bv


def record_all_pairs(path, rng=None):
    rng = rng or np.random.default_rng(11)
    rec = TraceRecorder(GoldenBackend(), info={"purpose": "test"})
    calls = []
    for i, fa in enumerate(FORMATS):
        for j, fb in enumerate(FORMATS):
            m, k, n = rng.integers(1, 7, 3)
            a = random_codes(rng, fa, (m, k))
            b = random_codes(rng, fb, (k, n))
            rec.step = i
            scales = (0.5 + j, None) if j % 2 else None
            name = f"L{i}.{fa}x{fb}" if j else f"plain{i}"
            c = rec.gemm(a, b, fa, fb, name=name, scales=scales)
            calls.append((name, fa, fb, a, b, c, i, scales))
    rec.save(path)
    return calls


def test_round_trip_every_format_pair(tmp_path):
    path = tmp_path / "t.npz"
    calls = record_all_pairs(path)
    trace = load_trace(path)
    assert len(trace) == len(calls) == len(FORMATS) ** 2
    assert trace.acc_width == 32
    assert trace.meta["info"] == {"purpose": "test"}
    for r, (name, fa, fb, a, b, c, step, scales) in zip(trace, calls):
        assert (r.name, r.a_format, r.b_format, r.step) == (name, fa, fb, step)
        assert r.layer == (name.split(".")[0] if "." in name else None)
        assert r.a.dtype == format_dtype(fa) and np.array_equal(r.a, a)
        assert r.b.dtype == format_dtype(fb) and np.array_equal(r.b, b)
        assert r.expected.dtype == np.int64
        assert np.array_equal(r.expected, reference_gemm(a, b, fa, fb))
        assert np.array_equal(r.expected, c)           # the golden backend's answer
        assert (r.scale_a, r.scale_b) == (scales if scales else (None, None))
    # Readable by plain NumPy with pickles off.
    with np.load(path, allow_pickle=False) as npz:
        assert int(npz["count"]) == len(calls)
        assert int(npz["schema_version"]) == TRACE_SCHEMA_VERSION
        assert npz["g0003/a"].shape == calls[3][3].shape


class OffByOne(GoldenBackend):
    """A faulty backend: right shape, every output one too large."""

    name = "faulty"

    def run_checked(self, op):
        return super().run_checked(op) + 1


def test_recorder_returns_backend_answer_but_records_golden_truth(tmp_path):
    rng = np.random.default_rng(3)
    a = random_codes(rng, "fp4", (4, 5))
    b = random_codes(rng, "int4", (5, 3))
    rec = TraceRecorder(OffByOne())
    got = rec.gemm(a, b, "fp4", "int4", name="fc.dX")
    truth = reference_gemm(a, b, "fp4", "int4")
    assert np.array_equal(got, truth + 1)
    rec.save(tmp_path / "t.npz")
    (r,) = load_trace(tmp_path / "t.npz")
    assert np.array_equal(r.expected, truth)
    assert load_trace(tmp_path / "t.npz").meta["recorded_on"] == "faulty"


def test_recorder_copies_operands_and_skips_refused_calls(tmp_path):
    rec = TraceRecorder(GoldenBackend(acc_width=18))
    a = np.full((1, 4), 7, np.uint8)          # fp4 e=7: 4096
    b = np.full((4, 1), 15, np.uint8)         # 4 * 4096 * 15 leaves 18 bits
    with pytest.raises(GemmOverflowError):
        rec.gemm(a, b, "fp4", "uint4", name="big")
    assert rec.records == []
    a2 = np.ones((2, 2), np.int8)
    rec.gemm(a2, a2, "int4", "int4", name="small")
    a2[:] = 5                                  # the caller reuses its buffer
    rec.save(tmp_path / "t.npz")
    (r,) = load_trace(tmp_path / "t.npz")
    assert np.array_equal(r.a, np.ones((2, 2))) and r.expected.tolist() == [[2, 2], [2, 2]]
    assert load_trace(tmp_path / "t.npz").acc_width == 18


def test_trace_modules_do_not_import_the_trainer():
    # Layering: the schema, writer and reader sit below the trainer; only
    # model.record (above both) may bring it in.  A fresh interpreter, since
    # this test process has long imported model.train.
    import subprocess
    import sys
    code = ("import sys, model.trace, model.trace_reader, model.trace_schema; "
            "print(sorted(m for m in sys.modules if m in ('model.train', 'model.tasks')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_record_training_step_names_every_gemm(tmp_path):
    trace = record_training_step(tmp_path / "step.npz", "digits-mlp", "4bit-all", seed=0)
    names = [r.name for r in trace]
    assert names == ["fc1.fwd", "fc2.fwd", "fc3.fwd", "fc3.dX", "fc3.dW",
                     "fc2.dX", "fc2.dW", "fc1.dW"]
    assert {r.layer for r in trace} == {"fc1", "fc2", "fc3"}
    for r in trace:
        assert r.step == 0
        assert np.array_equal(r.expected, reference_gemm(r.a, r.b, r.a_format, r.b_format))
        if r.name.endswith(".dW"):
            assert r.b_format == "fp4"                  # FP4 on the B side
    assert trace.meta["info"]["task"] == "digits-mlp"


# --------------------------------------------------------------------------
# Corruption: every case raises a one-line TraceError


def _arrays(path):
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _write(path, arrays, **extra):
    np.savez(path, **arrays, **extra)
    return path


def _with_meta(arrays, edit):
    meta = json.loads(str(arrays["meta"]))
    edit(meta)
    out = dict(arrays)
    out["meta"] = np.array(json.dumps(meta))
    return out


@pytest.fixture(scope="module")
def good_trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("trace") / "good.npz"
    rng = np.random.default_rng(7)
    rec = TraceRecorder(GoldenBackend())
    for fa, fb in (("uint4", "int4"), ("fp4", "int4"), ("uint4", "fp4")):
        rec.gemm(random_codes(rng, fa, (3, 4)), random_codes(rng, fb, (4, 2)), fa, fb,
                 name=f"fc.{fa}")
    rec.save(path)
    return path


def _corruptions(good, tmp):
    arrays = _arrays(good)
    raw = good.read_bytes()

    def put(name, **changes):
        out = dict(arrays)
        for k, v in changes.items():
            if v is None:
                del out[k.replace("__", "/")]
            else:
                out[k.replace("__", "/")] = v
        return _write(tmp / f"{name}.npz", out)

    def meta(name, edit):
        return _write(tmp / f"{name}.npz", _with_meta(arrays, edit))

    cases = {}
    p = tmp / "text.npz"
    p.write_bytes(b"this is not a zip archive at all")
    cases["not a zip"] = (p, "not a trace")
    p = tmp / "single.npz"
    with open(p, "wb") as f:
        np.save(f, np.zeros(3))
    cases["an .npy, not an archive"] = (p, "not a trace")
    p = tmp / "truncated.npz"
    p.write_bytes(raw[:len(raw) * 2 // 3])
    cases["truncated"] = (p, "truncated")
    # Flip bytes inside the first member's data: the zip directory is intact.
    info = zipfile.ZipFile(io.BytesIO(raw)).infolist()[0]
    h = info.header_offset     # local header: name and extra lengths at +26, +28
    start = h + 30 + int.from_bytes(raw[h + 26:h + 28], "little") \
        + int.from_bytes(raw[h + 28:h + 30], "little") + 4
    flipped = bytearray(raw)
    for i in range(start, start + 8):
        flipped[i] ^= 0xFF
    p = tmp / "flipped.npz"
    p.write_bytes(bytes(flipped))
    cases["corrupt member data"] = (p, "corrupt|unreadable|CRC")
    cases["missing operand"] = (put("missing", g0001__b=None), "missing key 'g0001/b'")
    cases["missing meta"] = (put("nometa", meta=None), "missing key 'meta'")
    cases["extra key"] = (put("extra", g0009__a=np.zeros((1, 1), np.int8)),
                          "unexpected key 'g0009/a'")
    cases["schema version"] = (put("version", schema_version=np.array(99, np.int64)),
                               "schema version 99")
    cases["schema version dtype"] = (put("vdtype", schema_version=np.array(1.0)),
                                     "0-d int64")
    cases["count disagrees"] = (put("count", count=np.array(2, np.int64)), "count")
    cases["meta not JSON"] = (put("json", meta=np.array("{not json")), "not valid JSON")
    cases["meta wrong schema"] = (meta("schema", lambda m: m.update(schema="other")),
                                  "schema")
    cases["unknown format"] = (meta("fmt", lambda m: m["gemms"][1].update(a_format="int3")),
                               "unknown format 'int3'")
    cases["metadata shape disagrees"] = (meta("mshape", lambda m: m["gemms"][0].update(k=5)),
                                         "shape mismatch")
    cases["negative dimension"] = (meta("neg", lambda m: m["gemms"][0].update(m=-1)),
                                   "non-negative")
    cases["A/B inner dims differ"] = (put("inner", g0000__b=arrays["g0000/b"][:3]),
                                      "shape mismatch")
    cases["result shape"] = (put("cshape", g0002__c=arrays["g0002/c"][:, :1]),
                             "shape mismatch")
    cases["result not 2-D"] = (put("c1d", g0002__c=arrays["g0002/c"].ravel()), "2-D")
    bad_int4 = arrays["g0000/b"].copy()
    bad_int4[0, 0] = 9
    cases["int4 code out of range"] = (put("range", g0000__b=bad_int4),
                                       "code 9 out of range for int4")
    bad_fp4 = arrays["g0001/a"].copy()
    bad_fp4[1, 1] = 16
    cases["fp4 code out of range"] = (put("range4", g0001__a=bad_fp4),
                                      "code 16 out of range for fp4")
    cases["operand dtype"] = (put("dtype", g0000__a=arrays["g0000/a"].astype(np.int16)),
                              "dtype int16")
    cases["result dtype"] = (put("cdtype", g0001__c=arrays["g0001/c"].astype(np.int32)),
                             "dtype int32")
    off = arrays["g0002/c"].copy()
    off[0, 0] += 1
    cases["mismatched result"] = (put("mismatch", g0002__c=off), "mismatched trace")
    obj = np.empty((3, 4), dtype=object)
    obj[:] = 1
    cases["pickled object array"] = (put("pickle", g0000__a=obj), "pickled")
    return cases


def test_every_corruption_is_a_one_line_trace_error(good_trace, tmp_path):
    load_trace(good_trace)              # the base file itself is fine
    cases = _corruptions(good_trace, tmp_path)
    for label, (path, fragment) in cases.items():
        try:
            load_trace(path)
        except TraceError as exc:
            msg = str(exc)
        else:
            pytest.fail(f"{label}: loaded without a TraceError")
        assert "\n" not in msg, f"{label}: multi-line message {msg!r}"
        assert re.search(fragment, msg), f"{label}: {msg!r} lacks {fragment!r}"


def test_missing_file_is_a_trace_error(tmp_path):
    with pytest.raises(TraceError, match="no such file"):
        load_trace(tmp_path / "absent.npz")


# --------------------------------------------------------------------------
# `radix4 replay`


def radix4(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "scripts.cli", *args],
                          capture_output=True, text=True, timeout=timeout)


def _assert_one_line_exit_2(r):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0].startswith("radix4 replay: error:")
    return lines[0]


def test_replay_cli_rejects_bad_input_with_one_line(good_trace, tmp_path):
    line = _assert_one_line_exit_2(radix4("replay", str(tmp_path / "absent.npz")))
    assert "no such file" in line
    arrays = _arrays(good_trace)
    off = arrays["g0001/c"].copy()
    off[2, 1] -= 3
    arrays["g0001/c"] = off
    bad = _write(tmp_path / "mismatch.npz", arrays)
    line = _assert_one_line_exit_2(radix4("replay", str(bad)))
    assert "mismatched trace" in line and "GEMM 1" in line
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 truncated")
    _assert_one_line_exit_2(radix4("replay", str(junk)))
    # A format the datapath does not implement is refused before simulation.
    rec = TraceRecorder(GoldenBackend())
    rec.gemm(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.int8), "fp4r2", "int4", name="r2")
    rec.save(tmp_path / "r2.npz")
    line = _assert_one_line_exit_2(radix4("replay", str(tmp_path / "r2.npz")))
    assert "fp4r2" in line


def test_replay_exits_1_and_names_the_gemm_a_backend_gets_wrong(good_trace, monkeypatch,
                                                                   capsys):
    import argparse

    import sim.factory
    from scripts import cmd_replay
    monkeypatch.setattr(sim.factory, "make_backend", lambda *a, **k: OffByOne())
    args = argparse.Namespace(trace=str(good_trace), sim="verilator", rows=8, cols=8,
                              acc_width=None)
    assert cmd_replay.run(args) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert sum("bit-exact=NO" in line for line in out) == 3
    assert out[-1].startswith("MISMATCH in 3 GEMM(s): 0:fc.uint4, 1:fc.fp4, 2:fc.uint4")


def test_replay_on_verilator_is_bit_exact(tmp_path):
    rng = np.random.default_rng(21)
    rec = TraceRecorder(GoldenBackend())
    rec.gemm(random_codes(rng, "uint4", (9, 20)), random_codes(rng, "int4", (20, 10)),
             "uint4", "int4", name="fc1.fwd")
    rec.gemm(random_codes(rng, "uint4", (12, 7)), random_codes(rng, "fp4", (7, 5)),
             "uint4", "fp4", name="fc1.dW")
    rec.save(tmp_path / "two.npz")
    # The small tile of tests/test_rtl_backend.py: the simulator build is shared.
    r = radix4("replay", str(tmp_path / "two.npz"), "--sim", "verilator",
               "--rows", "3", "--cols", "4", "--depth", "16")
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 3
    assert "fc1.fwd" in lines[0] and "bit-exact=yes" in lines[0]
    assert "fc1.dW" in lines[1] and "bit-exact=yes" in lines[1]
    assert lines[2].startswith("summary: 2/2 GEMMs bit-exact")
