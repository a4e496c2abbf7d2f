"""cocotb bench of ``radix4_array`` built with block-scaled PEs (MXFP4 / NVFP4, issue 25).

One simulation per build (rows, cols, lanes and the PE kind ``pe`` come from
``RADIX4_PARAMS``).  Every GEMM is a pair of ``model.block_quant.BlockTensor``
s, rebiased by the host arithmetic (``model.block_hw.rebias``); its beats
carry ``k`` E2M1 codes per PE input and the scale field of each row's and
column's block (``a_scale``, ``b_scale``), packed by ``hw.codec`` from the
array's own input layout.  Operands go in through a ``StreamDriver`` with
random valid gaps, results come out through a ``StreamMonitor`` with random
ready stalls, and every output row is matched exactly once against the
model's 64-bit accumulators (``model.block_hw.hw_accumulators``).  At the end
each GEMM's received rows are converted (``model.block_hw.convert``) and
must equal the golden ``model.block_gemm.block_gemm`` bit for bit.

The 64-bit accumulator cannot overflow below K = 2^20 (``model.block_hw``,
window R), far beyond a bench, so every flag must stay clear.
"""

from __future__ import annotations

import dataclasses
import json
import os

import cocotb
import numpy as np

from hw.accel import tile_pe_signature
from hw.array import input_layout, output_layout
from hw.codec import LayoutCodec, stream_lanes
from model.block_formats import get_block_format
from model.block_gemm import block_gemm
from model.block_hw import BLOCK_ACC_WIDTH, convert, hw_accumulators, hw_format, rebias
from model.block_quant import BlockTensor, quantize
from model.config import DatapathConfig
from verif.kit import (STREAM_STALL_BINS, Coverage, GemmBench, burst_pause, hit_stream_stalls,
                       random_pause, test_rng)
from verif.kit.clocking import PERIOD_NS
from verif.kit.seed import depth

PARAMS = json.loads(os.environ.get("RADIX4_PARAMS", "{}"))
ROWS, COLS = PARAMS.get("rows", 2), PARAMS.get("cols", 3)
LANES = PARAMS.get("lanes", 2)
FMT = PARAMS.get("pe", "nvfp4")
CONFIG = DatapathConfig(rows=ROWS, cols=COLS, lanes=LANES, pe=FMT)
SIG = tile_pe_signature(CONFIG)
IN_LAYOUT = input_layout(ROWS, COLS, SIG)
IN = LayoutCodec(IN_LAYOUT, stream_lanes(IN_LAYOUT, SIG))
BF = get_block_format(FMT)
HWF = hw_format(FMT)
W = BLOCK_ACC_WIDTH

COV = Coverage(f"block array {FMT} {ROWS}x{COLS} k={LANES}")
COV.declare("K blocks", ["1", "2-3", ">=4"])
COV.declare("blocks", ["all-zero block in a live line", "all-zero line",
                       "live block at d = R (max scale spread)", "d = 0 and d > 0 in one beat"]
            + (["subnormal UE4M3 scale"] if BF.scale == "ue4m3" else
               ["E8M0 code 0 (2^-127)", "E8M0 code 254 (2^127)"]))
COV.declare("sum", ["fresh (first)", "continued (no first)"])
COV.declare("stalls", STREAM_STALL_BINS)
COV.declare("result", ["bit-exact against block_gemm", "no overflow flag"])


def truncated(lines, nkb: int):
    """``lines`` (``model.block_hw.HwLines``) restricted to its first ``nkb`` blocks."""
    return dataclasses.replace(lines, codes=lines.codes[..., :nkb * lines.block],
                               m=lines.m[..., :nkb], d=lines.d[..., :nkb])


def random_operands(rng: np.random.Generator, k_blocks: int, spread: int = 6):
    """A (ROWS x K) in blocks along K and B (K x COLS), values over ``spread`` binades."""
    k = BF.block * k_blocks
    a = rng.standard_normal((ROWS, k)) * np.exp2(rng.integers(-spread, spread + 1, (ROWS, k)))
    b = rng.standard_normal((k, COLS)) * np.exp2(rng.integers(-spread, spread + 1, (k, COLS)))
    return quantize(a, FMT, axis=-1, name="A"), quantize(b, FMT, axis=-2, name="B")


def with_scales(t: BlockTensor, scales) -> BlockTensor:
    return dataclasses.replace(t, scales=np.asarray(scales, np.uint8))


class BlockArrayBench(GemmBench):
    def __init__(self, dut, name, in_pause=None, out_pause=None):
        super().__init__(dut, name, f"block array {FMT} {ROWS}x{COLS}", COV, rows=ROWS,
                         acc_width=W, out="o", out_layout=output_layout(ROWS, COLS, W),
                         out_pause=out_pause,
                         check={"i__ready": dut.i__ready, "o__valid": dut.o__valid,
                                "o__payload": dut.o__payload})
        self.drv = self.add_driver("i", IN_LAYOUT, in_pause)
        self.in_pause = self.drv.pause_control
        self.rows_in: list = []        # received data rows, in order
        self.sent: list = []           # (a, b, la, lb, nkb) of every expected result set

    def on_result(self, word: int):
        super().on_result(word)
        self.rows_in.append(self.result_codec.unpack(word)["data"])

    def send(self, a: BlockTensor, b: BlockTensor, *, split: int | None = None):
        """Queue ``a . b``; with ``split`` blocks, first those blocks (rows out
        after them) and then the rest as a continued sum (no ``first``)."""
        la, lb = rebias(a, "a", "bench"), rebias(b, "b", "bench")
        nkb = la.m.shape[-1]
        fa, fb = la.scale_fields(LANES), lb.scale_fields(LANES)
        per = BF.block // LANES
        parts = [(0, nkb)] if split is None else [(0, split), (split, nkb)]
        for p0, p1 in parts:
            beats = range(p0 * per, p1 * per)
            for t in beats:
                ks = slice(t * LANES, (t + 1) * LANES)
                self.drv.send(IN.pack(a=la.codes[:, ks].reshape(-1), b=lb.codes[:, ks].reshape(-1),
                                      a_scale=fa[:, t], b_scale=fb[:, t],
                                      first=int(t == 0), last=int(t == beats[-1])))
            acc, ovf = hw_accumulators(truncated(la, p1), truncated(lb, p1), LANES)
            assert not ovf.any()       # K << 2^20: the scoreboard checks every flag is clear
            COV.hit("result", "no overflow flag")
            self.expect_rows(acc, ovf, f"GEMM {len(self.sent)} blocks 0..{p1}")
            self.sent.append((a, b, la, lb, p1))
            COV.hit("sum", "fresh (first)" if p0 == 0 else "continued (no first)")
        COV.hit("K blocks", "1" if nkb == 1 else "2-3" if nkb <= 3 else ">=4")
        self.sample(a, la)
        self.sample(b, lb)
        da, db = la.d[:, None, :], lb.d[None, :, :]          # (rows, cols, blocks)
        if (((da == 0) & (db > 0)) | ((da > 0) & (db == 0))).any():
            COV.hit("blocks", "d = 0 and d > 0 in one beat")

    def sample(self, t: BlockTensor, lines):
        nz = (lines.codes.reshape(*lines.codes.shape[:-1], -1, lines.block) & 7).any(-1)
        if ((~nz) & nz.any(-1, keepdims=True)).any():
            COV.hit("blocks", "all-zero block in a live line")
        if (~nz.any(-1)).any():
            COV.hit("blocks", "all-zero line")
        live = nz & (lines.m > 0)
        if ((lines.d == HWF.window) & live).any():
            COV.hit("blocks", "live block at d = R (max scale spread)")
        if BF.scale == "ue4m3" and ((t.scales > 0) & (t.scales < 8)).any():
            COV.hit("blocks", "subnormal UE4M3 scale")
        for code in (0, 254) if BF.scale == "e8m0" else ():
            if (t.scales == code).any():
                COV.hit("blocks", f"E8M0 code {code} (2^{code - 127})")

    def check_conversions(self):
        """Each result set's received accumulators, converted on the host, equal
        ``block_gemm`` of its blocks bit for bit (+0 for a zero)."""
        assert len(self.rows_in) == ROWS * len(self.sent), "rows and result sets disagree"
        for g, (a, b, la, lb, nkb) in enumerate(self.sent):
            acc = np.array(self.rows_in[g * ROWS:(g + 1) * ROWS], dtype=np.int64)
            got = convert(acc, la.top, lb.top, a.tensor_scale * b.tensor_scale, FMT)
            part_a = dataclasses.replace(a, codes=a.codes[:, :nkb * BF.block],
                                         scales=a.scales[:, :nkb], shape=(ROWS, nkb * BF.block))
            part_b = dataclasses.replace(b, codes=b.codes[:nkb * BF.block],
                                         scales=b.scales[:nkb], shape=(nkb * BF.block, COLS))
            want = block_gemm(part_a, part_b) + 0.0
            assert np.array_equal(got.view(np.int64), want.view(np.int64)), \
                f"{self.name}: GEMM {g} converted {got} != block_gemm {want}"
        COV.hit("result", "bit-exact against block_gemm")

    def sample_stalls(self):
        hit_stream_stalls(COV, self.drv, self.mon)

    async def finish_all(self):
        await self.drain()
        self.check_conversions()
        self.finish()


TEST_TIMEOUT_US = PERIOD_NS * 400_000 / 1000


@cocotb.test(timeout_time=TEST_TIMEOUT_US, timeout_unit="us")
async def random_gemms(dut):
    """Random GEMMs of 1..5 blocks, random valid gaps and ready stalls, some
    continued over two parts; first three behind a held output."""
    rp = test_rng("block_random")[0]
    tb = await BlockArrayBench(dut, "random_gemms", random_pause(rp, 0.25),
                               random_pause(rp, 0.25)).start()
    # First with the output held: the second GEMM's last beat waits in the
    # input register until the first's rows have left, so the third GEMM's
    # beats are blocked; then everything drains.
    tb.out_pause.force = True
    for _ in range(3):
        tb.send(*random_operands(tb.np_rng, 1))
    await tb.wait_until(lambda: tb.drv.blocked_cycles > 0, "the input to be blocked")
    tb.out_pause.force = None
    for i in range(depth(12, 4)):
        k_blocks = [1, 2, 3, 4, 5][i % 5]
        a, b = random_operands(tb.np_rng, k_blocks, spread=tb.rng.choice([0, 3, 6]))
        tb.send(a, b, split=tb.rng.randint(1, k_blocks - 1) if k_blocks > 1 and i % 3 == 0
                else None)
    await tb.finish_all()


@cocotb.test(timeout_time=TEST_TIMEOUT_US, timeout_unit="us")
async def directed_scales(dut):
    """All-zero blocks and lines, the largest scale spread the window takes
    (a live block at d = R), and the scale codes at the ends of the format
    (UE4M3 subnormals; E8M0 codes 254 in A and 0 in B)."""
    tb = await BlockArrayBench(dut, "directed_scales", burst_pause(test_rng("bd")[0], 0.3, 5),
                               burst_pause(test_rng("bd2")[0], 0.3, 5)).start()
    rng = tb.np_rng
    a, b = random_operands(rng, 3)
    codes = a.codes.copy()
    codes[0, :BF.block] = 0                       # an all-zero block in a live row
    if ROWS > 1:
        codes[1] = 0                              # an all-zero row
    tb.send(dataclasses.replace(a, codes=codes), b)
    # Max spread: row 0's blocks at scales top and top - R (both live).
    a, b = random_operands(rng, 2)
    a.codes[:, :] = np.where(a.codes == 0, 2, a.codes)          # every block live
    b.codes[:, :] = np.where(b.codes == 0, 0xA, b.codes)
    if BF.scale == "e8m0":
        sa = np.array([[200, 200 - HWF.window]] * ROWS)
        sb = np.array([[10 + HWF.window] * COLS, [10] * COLS])
    else:
        # UE4M3: E spans -9 (subnormals, codes 1..7) .. 5 (codes 120..126): R = 14.
        sa = np.array([[126, 1]] * ROWS)
        sb = np.array([[3] * COLS, [125] * COLS])
    tb.send(with_scales(a, sa), with_scales(b, sb))
    # Every subnormal UE4M3 code / E8M0's extremes (each line within the window).
    a, b = random_operands(rng, 4)
    if BF.scale == "ue4m3":
        sa = rng.integers(1, 8, a.scales.shape)
        sb = rng.integers(0, 16, b.scales.shape)
        sb[0, 0] = 0                              # a zero scale: the block is dead
    else:
        sa = np.full(a.scales.shape, 254)
        sa[:, 1:] = 254 - rng.integers(0, HWF.window + 1, (ROWS, a.scales.shape[1] - 1))
        sb = np.full(b.scales.shape, 0)
        sb[1:] = rng.integers(0, HWF.window + 1, (b.scales.shape[0] - 1, COLS))
    tb.send(with_scales(a, sa), with_scales(b, sb))
    await tb.finish_all()
