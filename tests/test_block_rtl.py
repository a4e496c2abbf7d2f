"""Block-scaled GEMMs (MXFP4, NVFP4) through the simulated tile, against the golden model.

One long-lived simulation per (simulator, format): a 2 x 3 tile of 2-lane
block PEs with 16-beat banks and 40-beat batches, so a GEMM of a few blocks
spans several jobs and batches, and random valid gaps and ready stalls in the
host testbench.  Results must equal ``model.block_gemm.block_gemm`` bit for
bit (a zero as +0).  Icarus at NVFP4 runs in `make test`; the rest (both
formats on Verilator, MXFP4 on Icarus) in `make test-slow`.
"""

import numpy as np
import pytest

import hw.pe_kinds  # noqa: F401  (registers the PE kinds)
from model.block_formats import get_block_format
from model.block_gemm import block_gemm
from model.block_hw import BlockWindowError, hw_format
from model.block_quant import quantize
from sim.backends import RtlBackend

SMALL = dict(rows=2, cols=3, depth=16, lanes=2, batch_beats=40)
CASES = [("icarus", "nvfp4", False), ("icarus", "mxfp4", True), ("verilator", "nvfp4", True),
         ("verilator", "mxfp4", True)]


def _same(x, y) -> bool:
    return x.shape == y.shape and np.array_equal((x + 0.0).view(np.int64),
                                                 (y + 0.0).view(np.int64))


@pytest.fixture(scope="module", params=[pytest.param(c[:2], marks=[pytest.mark.slow] if c[2]
                                                      else [], id=f"{c[0]}-{c[1]}")
                                        for c in CASES])
def tile(request):
    sim, fmt = request.param
    backend = RtlBackend(sim, **SMALL, pe=fmt, gap_permille=200, stall_permille=300, seed=5)
    yield backend, fmt
    backend.close()


def test_block_gemms_equal_the_golden_model(tile):
    rtl, fmt = tile
    rng = np.random.default_rng(25)
    bk = get_block_format(fmt).block
    shapes = [(1, 1, 1), (5, 2 * bk + 3, 4), (3, 3 * bk, 7)]
    for m, k, n in shapes:
        x = rng.standard_normal((m, k)) * np.exp2(rng.integers(-6, 7, (m, k)))
        w = rng.standard_normal((k, n))
        x[0, :bk] = 0                                     # an all-zero block
        a, b = quantize(x, fmt), quantize(w, fmt, axis=-2)
        assert _same(rtl.block_gemm(a, b, name="t"), block_gemm(a, b)), (m, k, n)
        beats = a.codes.shape[1] // SMALL["lanes"]
        tiles = -(-m // SMALL["rows"]) * -(-n // SMALL["cols"])
        assert rtl.last_stats["mac_pe_cycles"] == beats * tiles * SMALL["rows"] * SMALL["cols"]
    # Stacked operands (attention products) and, for NVFP4, 16 x 16 weight tiles.
    a = quantize(rng.standard_normal((2, 3, bk)), fmt)
    b = quantize(rng.standard_normal((2, bk, 4)), fmt, axis=-2)
    assert _same(rtl.block_gemm(a, b), block_gemm(a, b))
    if fmt == "nvfp4":
        a = quantize(rng.standard_normal((18, 40)), fmt, tile=True)
        b = quantize(rng.standard_normal((40, 5)), fmt, tile=True)
        assert _same(rtl.block_gemm(a, b), block_gemm(a, b))
    assert rtl.total_stats["block_gemms"] == 4 + (fmt == "nvfp4")


def test_refusals_name_the_gemm(tile):
    rtl, fmt = tile
    with pytest.raises(ValueError, match="'fc1.fwd': a tile of .* PEs runs block-scaled"):
        rtl.gemm(np.zeros((2, 2), np.int8), np.zeros((2, 2), np.int8), "int4", "int4",
                 name="fc1.fwd")
    other = "mxfp4" if fmt == "nvfp4" else "nvfp4"
    x = quantize(np.ones((2, 32)), other)
    with pytest.raises(ValueError, match=f"'g': {other} operands on a tile of {fmt} PEs"):
        rtl.block_gemm(x, quantize(np.ones((32, 2)), other, axis=-2), name="g")
    if fmt == "mxfp4":       # E8M0 blocks 18 binades apart: beyond the window
        a = quantize(np.ones((1, 64)), fmt)
        a.scales[0] = [150, 150 - hw_format(fmt).window - 1]
        with pytest.raises(BlockWindowError, match="'fc2.dW'"):
            rtl.block_gemm(a, quantize(np.ones((64, 1)), fmt, axis=-2), name="fc2.dW")
    # The simulator is still usable after a refusal.
    a, b = quantize(np.eye(2, 32), fmt), quantize(np.ones((32, 2)), fmt, axis=-2)
    assert _same(rtl.block_gemm(a, b), block_gemm(a, b))
