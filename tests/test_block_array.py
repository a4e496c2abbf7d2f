"""The block-scaled PEs in the array generator (issue 25 item 3): a 2x3 array
of MXFP4 / NVFP4 PEs at 2 lanes streams two GEMMs back to back; the raw
accumulators, converted by ``model.block_hw``, equal the golden
``model.block_gemm.block_gemm`` bit for bit."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.array import SystolicArray, input_layout
from model.block_gemm import block_gemm
from model.block_hw import BLOCK_ACC_WIDTH, convert, hw_accumulators, rebias
from model.block_quant import quantize
from model.config import DatapathConfig
from verif.kit.sim_stream import stream_get, stream_put


def _pack(values, bits):
    return sum((int(v) & ((1 << bits) - 1)) << (bits * i) for i, v in enumerate(values))


def stream_block_gemms(dut, gemms, lanes: int, limit: int = 400) -> list[np.ndarray]:
    """Stream each ``(HwLines a, HwLines b)`` through ``dut``, back to back; the
    raw accumulators of each GEMM as a signed (rows, cols) int array."""
    sig = dut.pe_signature
    w, W = sig.a_scale_width, sig.acc_width
    rows, cols = dut.rows, dut.cols
    got = []

    async def bench(ctx):
        for la, lb in gemms:
            beats = la.codes.shape[-1] // lanes
            fa, fb = la.scale_fields(lanes), lb.scale_fields(lanes)
            for t in range(beats):
                ks = slice(t * lanes, (t + 1) * lanes)
                await stream_put(ctx, dut.i, {
                    "a": _pack(la.codes[:, ks].ravel(), 4),     # row r: lanes t*k .. t*k+k-1
                    "b": _pack(lb.codes[:, ks].ravel(), 4),     # column c likewise
                    "a_scale": _pack(fa[:, t], w), "b_scale": _pack(fb[:, t], w),
                    "first": int(t == 0), "last": int(t == beats - 1)})
        for _ in range(len(gemms)):
            out = np.zeros((rows, cols), dtype=np.int64)
            for r in range(rows):
                row = await stream_get(ctx, dut.o, limit=limit)
                for c in range(cols):
                    v = (row.data >> (W * c)) & ((1 << W) - 1)
                    out[r, c] = v - (1 << W) if v >> (W - 1) else v
                assert not row.overflow
            got.append(out)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return got


def _operands(fmt, rng, rows, cols, k_blocks, tile=False):
    from model.block_formats import get_block_format
    bk = get_block_format(fmt).block
    K = bk * k_blocks
    x = rng.standard_normal((rows, K)) * np.exp2(rng.integers(-4, 5, (rows, K)))
    y = rng.standard_normal((K, cols)) * np.exp2(rng.integers(-4, 5, (K, cols)))
    x[0, :bk] = 0                                   # an all-zero block
    return quantize(x, fmt, axis=-1), quantize(y, fmt, axis=-2, tile=tile)


@pytest.mark.parametrize("fmt", ["mxfp4", "nvfp4"])
def test_block_array_two_gemms(fmt):
    rows, cols, lanes = 2, 3, 2
    import hw.pe_kinds  # noqa: F401  (registers the kinds)
    cfg = DatapathConfig(rows=rows, cols=cols, lanes=lanes, pe=fmt)
    assert cfg.acc_width == BLOCK_ACC_WIDTH
    dut = SystolicArray(config=cfg)
    assert set(input_layout(rows, cols, dut.pe_signature).members) == {
        "a", "b", "a_scale", "b_scale", "a_fmt", "b_fmt", "first", "last"}
    rng = np.random.default_rng(25)
    operands = [_operands(fmt, rng, rows, cols, k_blocks) for k_blocks in (2, 1)]
    lines = [(rebias(a, "a"), rebias(b, "b")) for a, b in operands]
    got = stream_block_gemms(dut, lines, lanes)
    for (a, b), (la, lb), acc in zip(operands, lines, got):
        assert np.array_equal(acc, hw_accumulators(la, lb, lanes)[0])   # the model's integers
        c = convert(acc, la.top, lb.top, a.tensor_scale * b.tensor_scale, fmt)
        want = block_gemm(a, b) + 0.0                                    # one zero: +0
        assert np.array_equal(c.view(np.int64), want.view(np.int64))


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["mxfp4", "nvfp4"])
def test_block_array_verilog_is_lint_clean(fmt):
    """``radix4 verilog --top array --pe FMT`` passes ``verilator --lint-only
    -Wall`` with the project's waivers (2x3, 8 lanes; ``make lint`` does 8x8)."""
    from hw.verilog import TOPS, generate
    from verif.lint import lint_verilog
    text = generate("array", rows=2, cols=3, lanes=8, pe=fmt)
    result = lint_verilog(text, TOPS["array"])
    assert result.returncode == 0 and "%Warning" not in result.stderr, result.stderr[-3000:]
