"""The k-lane baseline PEs in the array generator (``SystolicArray(pe_class=...)``):
INT8, FP8 and FP16 dot-product PEs at 2 lanes compute their golden model's
GEMMs through the same stream interface as the radix-4 array (issue 27 item 4)."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.array import SystolicArray
from hw.baselines.fp_dot import Fp8DotPE, Fp16DotPE
from hw.baselines.int8_dot import Int8DotPE
from model.config import DatapathConfig
from model.dot_baselines import fp_dot, int8_dot
from scripts.measure_dot_baselines import array_config
from verif.kit.sim_stream import stream_get, stream_put


def _two_gemms(dut, a, b, lanes: int, bits: int, limit: int) -> list[list[int]]:
    """Stream the GEMM ``a @ b`` (codes of ``bits`` bits; K a multiple of
    ``lanes``) through ``dut`` twice back to back; the 32-bit words of every
    result row, in arrival order."""
    rows, cols = a.shape[0], b.shape[1]
    beats = a.shape[1] // lanes
    mask = (1 << bits) - 1

    def pack(values):
        return sum((int(v) & mask) << (bits * i) for i, v in enumerate(values))

    got = []

    async def bench(ctx):
        for _ in range(2):
            for t in range(beats):
                ks = slice(t * lanes, (t + 1) * lanes)
                await stream_put(ctx, dut.i, {
                    "a": pack(a[:, ks].ravel()),        # row r: lanes t*k .. t*k+k-1
                    "b": pack(b[ks, :].T.ravel()),      # column c likewise
                    "first": int(t == 0), "last": int(t == beats - 1)})
        for _ in range(2 * rows):
            row = await stream_get(ctx, dut.o, limit=limit)
            got.append([(row.data >> (32 * c)) & 0xFFFFFFFF for c in range(cols)])

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got


def test_int8_dot_array_gemm():
    rows, cols, lanes, K = 2, 3, 2, 7            # K padded to 8: 4 beats
    cfg = DatapathConfig(rows=rows, cols=cols, acc_width=32, lanes=lanes, pe_latency=3)
    dut = SystolicArray(config=cfg, pe_class=Int8DotPE)
    assert dut.pe_signature.lanes == lanes and dut.pe_signature.lane_shape.width == 8
    rng = np.random.default_rng(9)
    a = rng.integers(-128, 128, (rows, K))
    b = rng.integers(-128, 128, (K, cols))
    a[0, :] = -128                               # extremes in one row and column
    b[:, 0] = -128
    pad = -K % lanes
    ap = np.pad(a, ((0, 0), (0, pad)))
    bp = np.pad(b, ((0, pad), (0, 0)))
    got = _two_gemms(dut, ap, bp, lanes, 8, limit=200)
    want = [[int8_dot(a[r], b[:, c], lanes)[0] & 0xFFFFFFFF for c in range(cols)]
            for r in range(rows)]
    assert want == ((a @ b) & 0xFFFFFFFF).tolist()
    assert got == want + want


@pytest.mark.parametrize("cls,fmt,bits", [(Fp8DotPE, "fp8_e4m3", 8), (Fp16DotPE, "fp16", 16)])
def test_fp_dot_array_gemm(cls, fmt, bits):
    """The FP baselines in a 2x3 array at 2 lanes: two GEMMs back to back, each
    output the golden model's FP32 dot product.  The configuration comes from
    ``scripts.measure_dot_baselines.array_config``, as for synthesis: its
    latency (8) is validated by the PE class (``DatapathConfig(pe=...)``)."""
    rows, cols, lanes, K = 2, 3, 2, 6
    probe = cls(lanes=lanes)
    probe._MustUse__silence = True
    cfg = array_config({Fp8DotPE: "fp8", Fp16DotPE: "fp16"}[cls], lanes, probe.latency, rows, cols)
    dut = SystolicArray(config=cfg, pe_class=cls)
    rng = np.random.default_rng(1)
    a = rng.integers(0, 1 << bits, (rows, K)) & ~(1 << (bits - 2))    # finite, wide range
    b = rng.integers(0, 1 << bits, (K, cols)) & ~(1 << (bits - 2))
    a[0, 0], b[0, 0] = 1, 1 << (bits - 1)                              # a subnormal, -0
    got = _two_gemms(dut, a, b, lanes, bits, limit=300)
    want = [[fp_dot(a[r], b[:, c], fmt, lanes)[0] for c in range(cols)] for r in range(rows)]
    assert got == want + want


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["int8", "fp8", "fp16"])
def test_baseline_array_verilog_is_lint_clean(kind):
    """The baseline arrays' Verilog passes ``verilator --lint-only -Wall`` with
    the project's waivers (2x2, 2 lanes: the same generator and PE code as
    the 8x8 arrays of the cost comparison)."""
    from amaranth.back import verilog

    from hw.pe_kinds import pe_class_for
    from verif.lint import lint_verilog
    cls = pe_class_for(kind, 2)
    cfg = array_config(kind, 2, cls.default_latency(2), rows=2, cols=2)
    text = verilog.convert(SystolicArray(config=cfg, pe_class=cls), name="top", emit_src=False)
    result = lint_verilog(text, "top")
    assert result.returncode == 0, result.stderr[-3000:]
