"""A k-lane baseline PE in the array generator (``SystolicArray(pe_class=...)``):
the INT8 dot-product PE at 2 lanes computes exact INT8 GEMMs through the
same stream interface as the radix-4 array (issue 27 item 4)."""

import numpy as np
from amaranth.sim import Simulator

from hw.array import SystolicArray
from hw.baselines.int8_dot import Int8DotPE
from model.config import DatapathConfig
from model.dot_baselines import int8_dot
from verif.kit.sim_stream import stream_get, stream_put


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
    beats = ap.shape[1] // lanes

    def pack(values):
        return sum((int(v) & 0xFF) << (8 * i) for i, v in enumerate(values))

    got = []

    async def bench(ctx):
        for jobs in range(2):                      # two GEMMs back to back
            for t in range(beats):
                ks = slice(t * lanes, (t + 1) * lanes)
                await stream_put(ctx, dut.i, {
                    "a": pack(ap[:, ks].ravel()),        # row r: lanes t*k .. t*k+k-1
                    "b": pack(bp[ks, :].T.ravel()),      # column c likewise
                    "first": int(t == 0), "last": int(t == beats - 1)})
        for _ in range(2 * rows):
            row = await stream_get(ctx, dut.o, limit=200)
            got.append([(row.data >> (32 * c)) & 0xFFFFFFFF for c in range(cols)])

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    want = [[int8_dot(a[r], b[:, c], lanes)[0] & 0xFFFFFFFF for c in range(cols)]
            for r in range(rows)]
    assert want == ((a @ b) & 0xFFFFFFFF).tolist()
    assert got == want + want
