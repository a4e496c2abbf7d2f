"""The array and the tile with k-lane PEs (SPEC 2, ``--lanes K``), Amaranth simulator.

Each beat carries ``k`` codes per PE input: PE row r's A codes are the
beat's A lanes ``r*k .. r*k+k-1`` (lane ``j`` = K index ``g*k + j`` of group
``g``), PE column c's B codes likewise.  K is zero-padded to a multiple of
``k`` (code 0 is zero in every format).  Results must equal ``gemm_exact``
wrapped to the accumulator, flags ``overflow_mask(..., lanes=k)`` (sums
judged after each group), for random GEMMs with K not a multiple of ``k``
and sums on and one past the accumulator's bounds.
"""

import itertools

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.array import SystolicArray, default_pe_class, input_layout, output_layout
from hw.codec import LayoutCodec, stream_lanes
from hw.dot_pe import DotProductPE
from hw.pe import ProcessingElement
from model.config import DatapathConfig, default_pe_latency
from model.formats import FORMATS, to_nibbles
from model.hw_vocab import max_abs_product, side_formats
from verif.kit.bench import asymmetric_lanes
from verif.kit.golden import fill_to, gemm_expect, product_nibbles
from verif.kit.sim_stream import EdgeCount, random_pause, stream_get, stream_put

PAIRS = list(itertools.product(side_formats("a"), side_formats("b")))
CODES = {"int4": (-8, 8, np.int8), "uint4": (0, 16, np.uint8), "fp4": (0, 16, np.uint8)}


def codes(rng, fmt, shape):
    lo, hi, dtype = CODES[fmt]
    return rng.integers(lo, hi, shape).astype(dtype)


def lane_beats(a_nib, b_nib, lanes):
    """(A lanes, B lanes) per beat: K padded with zeros to a multiple of ``lanes``;
    beat g holds A[r, g*k + j] at lane r*k + j and B[g*k + j, c] at lane c*k + j."""
    rows, k = a_nib.shape
    cols = b_nib.shape[1]
    groups = -(-k // lanes)
    a = np.zeros((rows, groups * lanes), np.uint8)
    b = np.zeros((groups * lanes, cols), np.uint8)
    a[:, :k], b[:k] = a_nib, b_nib
    out = []
    for g in range(groups):
        out.append(([int(a[r, g * lanes + j]) for r in range(rows) for j in range(lanes)],
                    [int(b[g * lanes + j, c]) for c in range(cols) for j in range(lanes)]))
    return out


def run_gemms(rows, cols, width, lanes, gemms, rng, p_gap=0.2, p_stall=0.2, latency=None):
    """Stream ``gemms`` [(A nibbles, B nibbles, a_fmt code, b_fmt code)] through
    the array; check every row against the model (``gemm_expect``, lanes rule)."""
    dut = SystolicArray(rows, cols, width, pe_latency=latency, lanes=lanes)
    assert dut.pe_latency == (latency or default_pe_latency(lanes))
    codec = LayoutCodec(input_layout(rows, cols, lanes=lanes),
                        stream_lanes(input_layout(rows, cols, lanes=lanes)))
    beats, expected = [], []
    for a_nib, b_nib, af, bf in gemms:
        groups = lane_beats(a_nib, b_nib, lanes)
        for g, (al, bl) in enumerate(groups):
            beats.append(codec.pack(a=al, b=bl, a_fmt=af, b_fmt=bf, first=int(g == 0),
                                    last=int(g == len(groups) - 1)))
        data, ovf = gemm_expect(a_nib, b_nib, af, bf, width, lanes=lanes)
        expected += [(data[r], ovf[r], r) for r in range(rows)]
    out = LayoutCodec(output_layout(rows, cols, width),
                      stream_lanes(output_layout(rows, cols, width)))
    received = []
    limit = 200 * (len(beats) + len(gemms) * (rows + cols)) + 1000

    async def producer(ctx):
        clock = EdgeCount()
        for beat in beats:
            await stream_put(ctx, dut.i, beat, pause=random_pause(rng, p_gap), limit=limit,
                             clock=clock)

    async def consumer(ctx):
        clock = EdgeCount()
        while len(received) < len(expected):
            payload = await stream_get(ctx, dut.o, pause=random_pause(rng, p_stall),
                                       limit=limit, clock=clock, what="output row")
            f = out.fields
            word = (payload.data << f["data"].offset | payload.overflow << f["overflow"].offset
                    | payload.row << f["row"].offset | payload.last << f["last"].offset)
            received.append(out.unpack(word))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    for n, (got, (data, ovf, r)) in enumerate(zip(received, expected)):
        assert got["row"] == r and got["last"] == int(r == rows - 1), f"row {n}"
        assert list(got["data"]) == list(data), f"row {n}: {got['data']} != {list(data)}"
        assert list(got["overflow"]) == [int(x) for x in ovf], f"row {n} overflow"
    return received


def test_the_default_pe_follows_the_lanes():
    assert default_pe_class(1) is ProcessingElement
    for k in (2, 4, 8, 16):
        assert default_pe_class(k) is DotProductPE
        cfg = DatapathConfig(rows=2, cols=2, lanes=k)
        arr = SystolicArray(config=cfg)
        assert arr.pe_signature.lanes == k and arr.pe_latency == default_pe_latency(k)
        # k codes of 4 bits per PE input, per beat
        lay = input_layout(2, 2, lanes=k)
        assert lay["a"].width == 2 * k * 4 and lay["b"].width == 2 * k * 4


@pytest.mark.parametrize("lanes,rows,cols", [(2, 2, 3), (8, 2, 2), (4, 3, 1)])
def test_random_gemms_with_k_not_a_multiple_of_lanes(lanes, rows, cols):
    rng = np.random.default_rng(lanes * 100 + rows)
    gemms = []
    for i, (fa, fb) in enumerate(PAIRS):
        k = [1, lanes - 1, lanes + 1, 3 * lanes + 2, lanes][i % 5]
        a = to_nibbles(codes(rng, fa, (rows, k)), fa)
        b = to_nibbles(codes(rng, fb, (k, cols)), fb)
        gemms.append((a, b, FORMATS[fa].hw_code, FORMATS[fb].hw_code))
    run_gemms(rows, cols, 32, lanes, gemms, rng)


def _padded(pairs, lanes):
    """Fill pairs, then zero products up to a whole number of groups."""
    return pairs + [(0, 0)] * (-len(pairs) % lanes)


def _operands(rows, cols, pairs, extra=None):
    k = len(pairs) + (extra is not None)
    a = np.zeros((rows, k), np.uint8)
    b = np.zeros((k, cols), np.uint8)
    for t, (x, y) in enumerate(pairs):
        a[:, t], b[t, :] = x, y
    if extra is not None:
        a[:, -1], b[-1, :] = extra
    return a, b


@pytest.mark.parametrize("lanes", [2, 8])
def test_overflow_boundaries_of_the_lanes_rule(lanes):
    """W = 18: every output exactly on a bound (unflagged), one past it on an
    asymmetric pattern (flagged there only), and a sum that leaves the range
    inside one group and comes back (unflagged with lanes, flagged at k = 1)."""
    rng = np.random.default_rng(lanes)
    width, rows, cols = 18, 2, 3
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    gemms, excursions = [], []
    for bound in (hi, lo):
        sign = 1 if bound > 0 else -1
        af, bf, pairs = fill_to(bound)
        gemms.append((*_operands(rows, cols, pairs), af, bf))
        x, y = product_nibbles(af, bf, sign)
        extra = (np.where(asymmetric_lanes(rows), x, 0), np.where(asymmetric_lanes(cols), y, 0))
        gemms.append((*_operands(rows, cols, pairs, extra), af, bf))
        # out by the largest product and back within one group
        up = product_nibbles(af, bf, sign * max_abs_product())
        down = product_nibbles(af, bf, -sign * max_abs_product())
        a, b = _operands(rows, cols, _padded(pairs, lanes) + [up, down])
        gemms.append((a, b, af, bf))
        excursions.append(len(gemms) - 1)
    results = run_gemms(rows, cols, width, lanes, gemms, rng, p_gap=0.1, p_stall=0.1)
    flags = np.array([r["overflow"] for r in results]).reshape(len(gemms), rows, cols)
    sums = np.array([r["data"] for r in results]).reshape(len(gemms), rows, cols)
    assert (sums[0] == hi).all() and not flags[0].any()
    assert flags[1].any() and not flags[1].all()
    for g in excursions:
        a, b, af, bf = gemms[g]
        assert not flags[g].any(), "a sum that re-enters within a group is not flagged"
        _, one_lane = gemm_expect(a, b, af, bf, width, lanes=1)
        assert one_lane.all(), "with k = 1 the same sum is flagged (the rule is exercised)"


def test_the_latency_follows_the_lanes():
    """model.config states the k-lane PE's latencies without importing hw;
    they must be the PE's own (hw.dot_pe), and a config given new lanes
    takes their default latency unless one is given."""
    from hw.dot_pe import default_dot_pe_latency, dot_pe_latencies
    from model.config import PE_LATENCIES, ConfigError, pe_latencies
    assert pe_latencies(1) == PE_LATENCIES and DatapathConfig().pe_latency == 3
    for k in (2, 4, 8, 16):
        assert pe_latencies(k) == tuple(dot_pe_latencies(k))
        assert default_pe_latency(k) == default_dot_pe_latency(k)
        assert DatapathConfig(lanes=k).pe_latency == default_pe_latency(k)
    assert default_pe_latency(8) == 5           # docs/lanes.md: k = 8 at latency 5
    eight = DatapathConfig(lanes=8)
    assert DatapathConfig.of(eight, lanes=1).pe_latency == 3
    assert DatapathConfig.of(eight, lanes=2, pe_latency=5).pe_latency == 5
    assert DatapathConfig.of(eight, rows=2).pe_latency == 5
    with pytest.raises(ConfigError, match="pe_latency must be one of 3, 4, 5, 6, 7 for 8 lanes"):
        DatapathConfig(lanes=8, pe_latency=2)


@pytest.mark.parametrize("top,lanes,params", [("pe", 8, {}), ("accel", 2, {"rows": 1, "cols": 2,
                                                                          "depth": 8})])
def test_lanes_verilog_is_lint_clean(tmp_path, top, lanes, params):
    """``radix4 verilog --top pe|accel --lanes K`` (SPEC 4): lint-clean, the
    header names the lanes, a beat's operand port carries k codes per PE."""
    from hw.verilog import TOPS, generate, verilator_lint
    text = generate(top, lanes=lanes, **params)
    assert f"lanes={lanes}" in text.splitlines()[0]
    result = verilator_lint(text, TOPS[top], tmp_path)
    assert result.returncode == 0, result.stderr
    assert "%Warning" not in result.stderr and "%Error" not in result.stderr
