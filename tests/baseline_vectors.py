"""Verilator vector runner and FP helpers shared by the baseline PE tests.

The Amaranth designs are converted to Verilog and run on Verilator through a
tiny C++ harness that streams a whole vector file through the model in one
process: Amaranth's Python simulator would need minutes for the ~10^6
vectors of tests/test_baselines*.py, Verilator needs well under a second
once built.
"""

import fcntl
import hashlib
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from amaranth.back import verilog
from amaranth.lib import wiring

from hw.baselines.fp16_pe import CANONICAL_NAN32
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


class VectorRunner:
    """The Verilated bench: one row of inputs per clock, outputs read after the edge.

    The build is cached under ``build/test_baselines/<hash>`` (hash of the
    Verilog and the harness), locked so that pytest-xdist workers share it.
    """

    def __init__(self, dut: wiring.Component, inputs: list, outputs: list):
        self.INPUTS, self.OUTPUTS = list(inputs), list(outputs)
        text = verilog.convert(dut, name="dut", emit_src=False)
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


class Unit:
    """One design of the bench, addressed with its own port names."""

    def __init__(self, runner: VectorRunner, prefix: str):
        self.runner, self.prefix = runner, prefix

    def run(self, **vectors) -> dict:
        out = self.runner.run(**{f"{self.prefix}_{k}": v for k, v in vectors.items()})
        return {k[len(self.prefix) + 1:]: v for k, v in out.items() if k.startswith(self.prefix)}


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
