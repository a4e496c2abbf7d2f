"""Bit-exact checks of the baseline PEs (hw/baselines/) against NumPy.

The Amaranth designs are converted to Verilog and run on Verilator through a
tiny C++ harness that streams a whole vector file through the model in one
process: Amaranth's Python simulator would need minutes for the ~10^6
vectors below, Verilator needs well under a second once built.

References are NumPy's own IEEE arithmetic: ``np.float32(a16) * np.float32(b16)``
(exact in binary32) and ``np.float32 + np.float32`` (round to nearest even,
subnormals kept).  NaN results must be the documented canonical quiet NaN
0x7FC00000; every other result must match bit for bit (signed zeros included).
"""

# (no `from __future__ import annotations`: Amaranth reads the _Bench annotations)

import fcntl
import hashlib
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from hw.baselines.fp16_pe import CANONICAL_NAN32, Fp16MacPE, Fp32Adder
from hw.baselines.int8_pe import Int8MacPE
from verif.tools import REPO_ROOT, find_simulator, sim_environment

# --------------------------------------------------------------------------
# Verilator vector runner

_HARNESS = """\
#include "Vdut.h"
#include "verilated.h"
#include <cstdint>
#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
    VerilatedContext ctx;
    Vdut dut{&ctx};
    FILE* fin = std::fopen(argv[1], "rb");
    uint64_t n = 0;
    if (!fin || std::fread(&n, 8, 1, fin) != 1) return 3;
    std::vector<uint64_t> in(n * NIN), out(n * NOUT);
    if (std::fread(in.data(), 8, in.size(), fin) != in.size()) return 4;
    std::fclose(fin);
    dut.rst = 1; dut.clk = 0; dut.eval(); dut.clk = 1; dut.eval(); dut.rst = 0;
    for (uint64_t i = 0; i < n; ++i) {
        const uint64_t* v = &in[i * NIN];
        SET_INPUTS
        dut.clk = 0; dut.eval(); dut.clk = 1; dut.eval();
        uint64_t* o = &out[i * NOUT];
        GET_OUTPUTS
    }
    FILE* fout = std::fopen(argv[2], "wb");
    std::fwrite(out.data(), 8, out.size(), fout);
    std::fclose(fout);
    dut.final();
    return 0;
}
"""


class _Bench(wiring.Component):
    """All three designs side by side, so one Verilator build serves every test.

    Ports are prefixed ``add_`` (Fp32Adder), ``fp_`` (Fp16MacPE), ``i8_``
    (Int8MacPE); INT8 operands travel as raw 8-bit patterns.
    """

    add_x: In(32)
    add_y: In(32)
    add_result: Out(32)
    fp_a: In(16)
    fp_b: In(16)
    fp_valid: In(1)
    fp_clear: In(1)
    fp_acc: Out(32)
    i8_a: In(8)
    i8_b: In(8)
    i8_valid: In(1)
    i8_clear: In(1)
    i8_acc: Out(32)

    def elaborate(self, platform):
        m = Module()
        m.submodules.adder = adder = Fp32Adder()
        m.submodules.fp16 = fp16 = Fp16MacPE()
        m.submodules.int8 = int8 = Int8MacPE()
        m.d.comb += [adder.x.eq(self.add_x), adder.y.eq(self.add_y),
                     self.add_result.eq(adder.result)]
        for prefix, pe in (("fp", fp16), ("i8", int8)):
            for port in ("a", "b", "valid", "clear"):
                m.d.comb += getattr(pe, port).eq(getattr(self, f"{prefix}_{port}"))
            m.d.comb += getattr(self, f"{prefix}_acc").eq(pe.acc)
        return m


class VectorRunner:
    """The Verilated bench: one row of inputs per clock, outputs read after the edge.

    The build is cached under ``build/test_baselines/<hash>`` (hash of the
    Verilog and the harness), locked so that pytest-xdist workers share it.
    """

    INPUTS = ["add_x", "add_y", "fp_a", "fp_b", "fp_valid", "fp_clear",
              "i8_a", "i8_b", "i8_valid", "i8_clear"]
    OUTPUTS = ["add_result", "fp_acc", "i8_acc"]

    def __init__(self):
        text = verilog.convert(_Bench(), name="dut", emit_src=False)
        sets = " ".join(f"dut.{p} = v[{i}];" for i, p in enumerate(self.INPUTS))
        gets = " ".join(f"o[{i}] = (uint64_t)dut.{p};" for i, p in enumerate(self.OUTPUTS))
        harness = (f"#define NIN {len(self.INPUTS)}\n#define NOUT {len(self.OUTPUTS)}\n"
                   f"#define SET_INPUTS {sets}\n"
                   f"#define GET_OUTPUTS {gets}\n" + _HARNESS)
        sim = find_simulator("verilator")
        key = hashlib.sha256(f"{sim.version}\0{text}\0{harness}".encode()).hexdigest()[:16]
        self.workdir = REPO_ROOT / "build" / "test_baselines" / key
        self.exe = self.workdir / "obj" / "Vdut"
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.workdir / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (self.workdir / ".built").exists():
                (self.workdir / "dut.v").write_text(text)
                (self.workdir / "harness.cpp").write_text(harness)
                with sim_environment(sim):
                    # -O0 everywhere: the build dominates; a million vectors
                    # still run in about a second.
                    subprocess.run(
                        [str(sim.bin_dir / "verilator"), "--cc", "--exe", "--build",
                         "-j", "1", "--top-module", "dut", "--prefix", "Vdut",
                         "-Wno-fatal", "-Mdir", "obj", "-MAKEFLAGS",
                         "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0",
                         "dut.v", "harness.cpp"],
                        cwd=self.workdir, check=True, capture_output=True)
                (self.workdir / ".built").touch()

    def run(self, **vectors) -> dict:
        n = len(next(iter(vectors.values())))
        data = np.zeros((n, len(self.INPUTS)), np.uint64)
        for name, values in vectors.items():
            data[:, self.INPUTS.index(name)] = np.asarray(values).astype(np.int64).astype(np.uint64)
        with tempfile.TemporaryDirectory() as tmp:
            fin, fout = Path(tmp) / "in.bin", Path(tmp) / "out.bin"
            fin.write_bytes(np.uint64(n).tobytes() + data.tobytes())
            subprocess.run([str(self.exe), str(fin), str(fout)], check=True)
            out = np.frombuffer(fout.read_bytes(), dtype=np.uint64).reshape(n, len(self.OUTPUTS))
        return {p: out[:, i] for i, p in enumerate(self.OUTPUTS)}


class _Unit:
    """One design of the bench, addressed with its own port names."""

    def __init__(self, runner: VectorRunner, prefix: str):
        self.runner, self.prefix = runner, prefix

    def run(self, **vectors) -> dict:
        out = self.runner.run(**{f"{self.prefix}_{k}": v for k, v in vectors.items()})
        return {k[len(self.prefix) + 1:]: v for k, v in out.items() if k.startswith(self.prefix)}


@pytest.fixture(scope="module")
def bench():
    return VectorRunner()


@pytest.fixture(scope="module")
def adder(bench):
    return _Unit(bench, "add")


@pytest.fixture(scope="module")
def fp16_pe(bench):
    return _Unit(bench, "fp")


@pytest.fixture(scope="module")
def int8_pe(bench):
    return _Unit(bench, "i8")


# --------------------------------------------------------------------------
# Helpers

def f32_bits(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32).view(np.uint32)


def f16_bits(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float16).view(np.uint16)


def assert_fp32_equal(got_bits, want_bits, context=None):
    """Bit equality, except that a NaN result must be the canonical NaN."""
    got = np.asarray(got_bits, dtype=np.uint64).astype(np.uint32)
    want = np.asarray(want_bits, dtype=np.uint32)
    want_nan = np.isnan(want.view(np.float32))
    expected = np.where(want_nan, np.uint32(CANONICAL_NAN32), want)
    bad = np.flatnonzero(got != expected)
    if bad.size:
        i = bad[0]
        where = "" if context is None else " " + ", ".join(
            f"{k}=0x{int(v[i]):x}" for k, v in context.items())
        raise AssertionError(
            f"{bad.size} of {got.size} mismatch; first at {i}:{where} "
            f"got 0x{int(got[i]):08x}, want 0x{int(expected[i]):08x}")


FP32_SPECIALS = np.array([
    0x00000000, 0x80000000,              # +-0
    0x7F800000, 0xFF800000,              # +-inf
    0x7FC00000, 0xFFC00001, 0x7F800001,  # quiet / signalling NaNs
    0x7F7FFFFF, 0xFF7FFFFF,              # +-max normal
    0x7F7FFFFE, 0x7F000000,              # near max, 2^127
    0x00800000, 0x80800000,              # +-min normal
    0x00800001, 0x00FFFFFF,
    0x00000001, 0x80000001,              # +-min subnormal
    0x007FFFFF, 0x807FFFFF,              # +-max subnormal
    0x00400000, 0x00000003,
    0x3F800000, 0xBF800000,              # +-1
    0x3F800001, 0x3FFFFFFF, 0x33800000,  # 1+ulp, 2-ulp, 2^-24
    0x33800001, 0xB3800000, 0x33000000,  # 2^-24(1+ulp), -2^-24, 2^-25
    0x4B800000, 0x4B7FFFFF, 0x3F000000,
], dtype=np.uint32)

FP16_SPECIALS = np.array([
    0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E00, 0xFE01, 0x7C01,  # zeros, infs, NaNs
    0x7BFF, 0xFBFF, 0x0400, 0x8400,                          # max / min normal
    0x0001, 0x8001, 0x03FF, 0x83FF, 0x0200,                  # subnormals
    0x3C00, 0xBC00, 0x3C01, 0x3BFF, 0x4000, 0x5BFF, 0x1400,
], dtype=np.uint16)


# --------------------------------------------------------------------------
# FP32 adder (the accumulate step), combinational

def _adder_vectors(rng):
    xs, ys = [], []
    # Every pair of special values, both orders.
    sx, sy = np.meshgrid(FP32_SPECIALS, FP32_SPECIALS)
    xs.append(sx.ravel()); ys.append(sy.ravel())
    # Uniform random bit patterns (NaNs, infs, subnormals all occur).
    n = 60_000
    xs.append(rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32))
    ys.append(rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32))
    # Close exponents, random signs: cancellation, carries, all roundings.
    n = 200_000
    for exp_lo, exp_hi in ((0, 256), (0, 6), (245, 255)):  # all, subnormal edge, overflow edge
        ex = rng.integers(exp_lo, exp_hi, n)
        ey = np.clip(ex - rng.integers(-30, 31, n), 0, 254)
        ex = np.minimum(ex, 254)
        fx = rng.integers(0, 2**23, n)
        fy = rng.integers(0, 2**23, n)
        # Short significands make exact ties and exact cancellations frequent.
        short = rng.random(n) < 0.4
        fy = np.where(short, fy & ~((1 << rng.integers(10, 23, n)) - 1), fy)
        x = (rng.integers(0, 2, n) << 31) | (ex << 23) | fx
        y = (rng.integers(0, 2, n) << 31) | (ey << 23) | fy
        xs.append(x.astype(np.uint32)); ys.append(y.astype(np.uint32))
    # Exact negations (x + -x = +0) and near-negations (one ulp apart).
    x = rng.integers(0, 2**31, 5_000).astype(np.uint32)
    for delta in (0, 1):
        xs.append(x); ys.append(((x + delta) & 0x7FFFFFFF) | 0x80000000)
    # Ties: 1.f + 2^-24 (half an ulp) with f even and odd; and 1.5 ulp.
    f = rng.integers(0, 2**23, 5_000)
    for exp in (1, 100, 127, 253):
        base = ((exp << 23) | f).astype(np.uint32)
        for tie in (((exp - 24) << 23), ((exp - 24) << 23) | (1 << 22)):
            if exp - 24 >= 1:
                xs.append(base); ys.append(np.full_like(base, tie))
                xs.append(base | 0x80000000); ys.append(np.full_like(base, tie | 0x80000000))
    return np.concatenate(xs), np.concatenate(ys)


def test_fp32_adder_matches_numpy(adder):
    rng = np.random.default_rng(20240607)
    x, y = _adder_vectors(rng)
    with np.errstate(all="ignore"):
        want = f32_bits(x.view(np.float32) + y.view(np.float32))
    got = adder.run(x=x, y=y)["result"]
    assert_fp32_equal(got, want, {"x": x, "y": y})
    # The vectors did reach the interesting cases.
    wf = want.view(np.float32)
    assert np.sum(want == 0) > 1000 and np.sum(want == 0x80000000) > 0
    assert np.sum(np.isinf(wf)) > 1000 and np.sum(np.isnan(wf)) > 100
    assert np.sum((want & 0x7F800000) == 0) > 5000  # subnormal or zero results


def test_fp32_adder_signed_zero_rules(adder):
    x = np.array([0x00000000, 0x80000000, 0x00000000, 0x80000000, 0x3F800000], np.uint32)
    y = np.array([0x80000000, 0x00000000, 0x00000000, 0x80000000, 0xBF800000], np.uint32)
    got = adder.run(x=x, y=y)["result"].astype(np.uint32)
    assert got.tolist() == [0, 0, 0, 0x80000000, 0]


# --------------------------------------------------------------------------
# FP16 MAC PE, clocked

def _fp16_reference(a, b, valid, clear) -> np.ndarray:
    """acc after each clock, by the documented valid/clear rules."""
    with np.errstate(all="ignore"):
        products = a.view(np.float16).astype(np.float32) * b.view(np.float16).astype(np.float32)
        acc = np.float32(0.0)
        out = np.empty(len(a), np.float32)
        for i in range(len(a)):
            if valid[i]:
                acc = (np.float32(-0.0) if clear[i] else acc) + products[i]
            elif clear[i]:
                acc = np.float32(0.0)
            out[i] = acc
    return out.view(np.uint32)


def test_fp16_products_exact(fp16_pe):
    """clear & valid loads one product: every special pair plus random bit patterns."""
    rng = np.random.default_rng(7)
    sa, sb = np.meshgrid(FP16_SPECIALS, FP16_SPECIALS)
    a = np.concatenate([sa.ravel(), rng.integers(0, 2**16, 300_000).astype(np.uint16)])
    b = np.concatenate([sb.ravel(), rng.integers(0, 2**16, 300_000).astype(np.uint16)])
    with np.errstate(all="ignore"):
        want = f32_bits(a.view(np.float16).astype(np.float32) * b.view(np.float16).astype(np.float32))
    ones = np.ones(len(a), np.uint8)
    got = fp16_pe.run(a=a, b=b, valid=ones, clear=ones)["acc"]
    assert_fp32_equal(got, want, {"a": a, "b": b})
    assert np.sum(want == 0x80000000) > 20  # -0 products kept their sign


def test_fp16_accumulate_sequences(fp16_pe):
    """Random streams with clears, bubbles and cancellation, vs the NumPy MAC."""
    rng = np.random.default_rng(11)
    n = 60_000
    kind = rng.integers(0, 4, n)
    # Mix: raw bit patterns; moderate normals; subnormals; values of either sign
    # around 1 (long sums, ties and cancellation).
    raw = rng.integers(0, 2**16, (2, n)).astype(np.uint16)
    moderate = f16_bits(rng.normal(0, 4, (2, n)))
    subnormal = (rng.integers(0, 2, (2, n)) << 15 | rng.integers(0, 0x400, (2, n))).astype(np.uint16)
    around_one = f16_bits(rng.choice([-1, 1], (2, n)) * (1 + rng.integers(0, 8, (2, n)) / 1024))
    ab = np.select([kind == 0, kind == 1, kind == 2], [raw, moderate, subnormal], around_one)
    a, b = ab[0], ab[1]
    # Exact cancellation: a product followed by its negation.
    idx = rng.choice(n - 1, 2_000, replace=False)
    a[idx + 1], b[idx + 1] = a[idx] ^ 0x8000, b[idx]
    valid = (rng.random(n) < 0.9).astype(np.uint8)
    clear = (rng.random(n) < 0.05).astype(np.uint8)
    want = _fp16_reference(a, b, valid, clear)
    got = fp16_pe.run(a=a, b=b, valid=valid, clear=clear)["acc"]
    assert_fp32_equal(got, want, {"a": a, "b": b, "valid": valid, "clear": clear})


def test_fp16_overflow_to_inf_then_clear(fp16_pe):
    # 65504^2 ~ 4.3e9 per product: 2^128 / 2^32 = 2^96 products would be needed,
    # so overflow is reached through inf operands; then clear recovers.
    a = f16_bits([65504, 65504, np.inf, 1, 1, -np.inf, 2, 0, 1])
    b = f16_bits([65504, -65504, 1, 1, 1, 1, 3, 0, np.inf])
    valid = np.array([1, 1, 1, 1, 0, 1, 1, 0, 1], np.uint8)
    clear = np.array([1, 0, 0, 0, 1, 0, 1, 0, 0], np.uint8)
    got = fp16_pe.run(a=a, b=b, valid=valid, clear=clear)["acc"].astype(np.uint32)
    want = _fp16_reference(a, b, valid, clear)
    assert_fp32_equal(got, want)
    assert got[2] == 0x7F800000 and got[4] == 0 and got[5] == 0xFF800000
    assert got[6] == f32_bits(6.0) and got[8] == 0x7F800000


# --------------------------------------------------------------------------
# INT8 MAC PE, clocked

def _int8_reference(a, b, valid, clear) -> np.ndarray:
    acc = 0
    out = np.empty(len(a), np.int64)
    for i in range(len(a)):
        if valid[i]:
            acc = (0 if clear[i] else acc) + int(a[i]) * int(b[i])
            acc = (acc + 2**31) % 2**32 - 2**31   # documented wrap
        elif clear[i]:
            acc = 0
        out[i] = acc
    return out


def _as_int32(raw) -> np.ndarray:
    return np.asarray(raw, dtype=np.uint64).astype(np.uint32).view(np.int32).astype(np.int64)


def test_int8_all_products(int8_pe):
    a, b = np.meshgrid(np.arange(-128, 128), np.arange(-128, 128))
    a, b = a.ravel(), b.ravel()
    ones = np.ones(a.size, np.uint8)
    got = _as_int32(int8_pe.run(a=a & 0xFF, b=b & 0xFF, valid=ones, clear=ones)["acc"])
    np.testing.assert_array_equal(got, a.astype(np.int64) * b)


def test_int8_accumulate_and_wrap(int8_pe):
    rng = np.random.default_rng(3)
    n = 20_000
    a = rng.integers(-128, 128, n)
    b = rng.integers(-128, 128, n)
    valid = (rng.random(n) < 0.9).astype(np.uint8)
    clear = (rng.random(n) < 0.01).astype(np.uint8)
    # Then a long run of the largest product, which wraps past +2^31 - 1.
    m = 140_000
    a = np.concatenate([a, np.full(m, -128)])
    b = np.concatenate([b, np.full(m, -128)])
    valid = np.concatenate([valid, np.ones(m, np.uint8)])
    clear = np.concatenate([clear, np.zeros(m, np.uint8)])
    clear[n] = 1
    got = _as_int32(int8_pe.run(a=a & 0xFF, b=b & 0xFF, valid=valid, clear=clear)["acc"])
    want = _int8_reference(a, b, valid, clear)
    np.testing.assert_array_equal(got, want)
    assert want[-1] < 0 < want[n + 131_070]  # the wrap really happened
