"""The tile with the quantization unit (hw.tile_quant) through the simulated host,
against the golden model (model.onchip_tile), on Verilator and Icarus.

One long-lived simulation per simulator: a 3 x 4 tile (non-square) with
16-beat banks and 300-beat batches, the unit time-shared (1 lane on Verilator,
the tile's default on Icarus), so GEMMs span several jobs and batches
(a unit job then spans batches too), with random valid gaps on all five
input streams and ready stalls on both output streams.
"""

import numpy as np
import pytest

from model import requant as rq
from model.formats import FORMATS
from model.gemm import gemm_exact
from model.onchip_tile import GoldenQuantTile, from_beats, to_beats

pytestmark = pytest.mark.slow  # builds the tile with the unit on both simulators: minutes; `make test-slow`

R, C = 3, 4
SMALL = dict(rows=R, cols=C, depth=16, batch_beats=300)


def rand_codes(rng, fmt, shape):
    spec = FORMATS[fmt]
    return rng.integers(spec.code_min, spec.code_max + 1, shape).astype(spec.dtype)


# Verilator with the fully serial unit (1 lane: a row takes C = 4 cycles, so rows
# back up into the array), Icarus with the tile's default lanes, and the same
# tile behind the AXI shell (issue 26: every job and every unit stream through
# AXI4-Lite and AXI4-Stream, sim.axi_backend).
@pytest.fixture(scope="module", params=[("verilator", 1, "direct"), ("icarus", None, "direct"),
                                        ("icarus", None, "axi")],
                ids=["verilator-lanes1", "icarus-default", "icarus-axi"])
def rtl(request):
    from sim.axi_backend import AxiQuantRtlBackend
    from sim.quant_backend import QuantRtlBackend
    sim, lanes, bus = request.param
    cls = AxiQuantRtlBackend if bus == "axi" else QuantRtlBackend
    backend = cls(sim, **SMALL, gap_permille=200, stall_permille=300, seed=11,
                  quant_lanes=lanes)
    yield backend
    backend.close()


GOLD = GoldenQuantTile(R, C)


# ---------------------------------------------------------------- golden model only
def test_tile_order_is_the_arrays_result_order():
    # tile (mi, nj) row-major, R rows per tile, zero padding; written out by hand
    x = np.arange(5 * 6).reshape(5, 6)
    beats = to_beats(x, 2, 4)
    assert beats.shape == (3 * 2 * 2, 4)
    assert beats[0].tolist() == [0, 1, 2, 3] and beats[1].tolist() == [6, 7, 8, 9]
    assert beats[2].tolist() == [4, 5, 0, 0]          # tile (0, 1): columns 4, 5 + padding
    assert beats[9].tolist() == [0, 0, 0, 0]          # tile (2, 0) row 1 is padding (m = 5)
    assert np.array_equal(from_beats(beats, 5, 6, 2, 4), x)


def test_stochastic_codes_follow_the_lane_sequence_in_tile_order():
    rng = np.random.default_rng(4)
    a, b = rand_codes(rng, "fp4", (5, 9)), rand_codes(rng, "int4", (9, 7))
    out = GOLD.backward_quant(a, b, "fp4", "int4", mantissa=40961, shift=10, sigma=5,
                              rounding="stochastic", seed=77)
    acc = gemm_exact(a, b, "fp4", "int4")
    # element (i, j) sits in tile (i // R, j // C), beat (tile * R + i % R), lane j % C
    nt = -(-7 // C)
    words = rq.lane_randoms(77, 2 * nt * R, C).astype(np.int64)
    for i in range(5):
        for j in range(7):
            n = ((i // R) * nt + j // C) * R + i % R
            w = words[n, j % C]
            c0, c1 = rq.backward_codes(np.array([acc[i, j]]), 40961, 10, 5,
                                       rounding="stochastic", rand0=np.array([w & 0xFFFF]),
                                       rand1=np.array([w >> 16]))
            assert (out.code0[i, j], out.code1[i, j]) == (c0[0], c1[0]), (i, j)


# ---------------------------------------------------------------- RTL vs golden
def test_raw_gemms_unchanged(rtl):
    rng = np.random.default_rng(1)
    for fa, fb, (m, k, n) in [("uint4", "int4", (5, 33, 9)), ("fp4", "uint4", (2, 17, 4)),
                              ("int4", "int4", (7, 3, 5))]:
        a, b = rand_codes(rng, fa, (m, k)), rand_codes(rng, fb, (k, n))
        assert np.array_equal(rtl.gemm(a, b, fa, fb), gemm_exact(a, b, fa, fb))


@pytest.mark.parametrize("mode", ["uint4", "int4"])
def test_forward_codes_and_mask(rtl, mode):
    rng = np.random.default_rng(2)
    seen_codes, seen_mask = set(), set()
    for (m, k, n), (mant, shift) in [((7, 40, 9), (52000, 19)), ((1, 1, 1), (1, 0)),
                                     ((4, 20, 5), (65535, 22))]:
        a, b = rand_codes(rng, "uint4", (m, k)), rand_codes(rng, "int4", (k, n))
        bias = rng.integers(-2000, 2000, n)
        for bi in (bias, None):
            got = rtl.forward_quant(a, b, "uint4", "int4", mantissa=mant, shift=shift, bias=bi,
                                    mode=mode, name="fwd")
            want = GOLD.forward_quant(a, b, "uint4", "int4", mantissa=mant, shift=shift,
                                      bias=bi, mode=mode)
            assert got[0].dtype == want[0].dtype
            assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
            seen_codes |= set(int(c) for c in np.unique(want[0]))
            seen_mask |= set(bool(v) for v in np.unique(want[1]))
    # the case mix reached both clips and both mask values
    lo, hi = rq.FWD_RANGE[mode][0]
    assert {lo, hi} <= seen_codes and seen_mask == {False, True}


@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
def test_backward_two_passes_and_delayed(rtl, rounding):
    rng = np.random.default_rng(3)
    a, b = rand_codes(rng, "fp4", (8, 37, 10)[:2]), rand_codes(rng, "int4", (37, 10))
    mask = rng.random((8, 10)) < 0.7
    kw = dict(mantissa=45000, shift=16, mask=mask, rounding=rounding, seed=2024)
    # pass 1 (exact GradScale): INT32 to the host, amax from the unit
    p1 = rtl.backward_quant(a, b, "fp4", "int4", measure_only=True, keep_int32=True, **kw)
    g1 = GOLD.backward_quant(a, b, "fp4", "int4", measure_only=True, keep_int32=True, **kw)
    assert p1.code0 is None and p1.amax == g1.amax
    assert p1.amax == int(np.abs(np.where(mask, gemm_exact(a, b, "fp4", "int4"), 0)).max())
    assert np.array_equal(p1.acc, g1.acc)
    sigma = rq.sigma_from_amax(p1.amax, 45000, 16)
    # pass 2: the stored INT32 back through the unit
    p2 = rtl.requant(p1.acc, sigma=sigma, **kw)
    g2 = GOLD.requant(g1.acc, sigma=sigma, **kw)
    assert np.array_equal(p2.code0, g2.code0) and np.array_equal(p2.code1, g2.code1)
    assert p2.amax == g2.amax == p1.amax
    # one pass with a (delayed) sigma two below: saturation at the top code
    d = rtl.backward_quant(a, b, "fp4", "int4", sigma=sigma - 2, **kw)
    gd = GOLD.backward_quant(a, b, "fp4", "int4", sigma=sigma - 2, **kw)
    assert np.array_equal(d.code0, gd.code0) and np.array_equal(d.code1, gd.code1)
    assert d.acc is None and ((d.code0 & 7) == 7).any()
    # the requant pass equals one pass with the same sigma: same order, same lanes
    one = rtl.backward_quant(a, b, "fp4", "int4", sigma=sigma, **kw)
    assert np.array_equal(one.code0, p2.code0) and np.array_equal(one.code1, p2.code1)


def test_amax_zero_and_unmasked(rtl):
    a = np.zeros((4, 5), np.uint8)
    b = np.ones((5, 6), np.int8)
    out = rtl.backward_quant(a, b, "fp4", "int4", mantissa=1, shift=0, sigma=0)
    assert out.amax == 0 and not out.code0.any() and not out.code1.any()


def test_bad_input_is_refused_before_anything_is_sent(rtl):
    rng = np.random.default_rng(5)
    a, b = rand_codes(rng, "fp4", (4, 9)), rand_codes(rng, "int4", (9, 5))
    bad = [dict(mantissa=0, shift=3, sigma=0), dict(mantissa=1 << 16, shift=3, sigma=0),
           dict(mantissa=5, shift=64, sigma=0), dict(mantissa=5, shift=3, sigma=128),
           dict(mantissa=5, shift=3, sigma=-129),
           dict(mantissa=5, shift=3, sigma=0, mask=np.ones((4, 6), bool)),
           dict(mantissa=5, shift=3, sigma=0, mask=np.ones((5, 4), bool))]
    jobs_before = rtl.total_stats["jobs_done"]
    for kw in bad:
        with pytest.raises(ValueError):
            rtl.backward_quant(a, b, "fp4", "int4", **kw)
        with pytest.raises(ValueError):
            rtl.requant(np.zeros((4, 5), np.int64), **kw)
    with pytest.raises(ValueError, match="mask has shape"):
        rtl.backward_quant(a, b, "fp4", "int4", mantissa=5, shift=3, mask=np.ones(20, bool))
    with pytest.raises(ValueError, match="bias"):
        rtl.forward_quant(a.astype(np.uint8) & 7, b, "uint4", "int4", mantissa=5, shift=3,
                          bias=np.full(5, 1 << 31))
    with pytest.raises(ValueError, match="A side"):
        rtl.backward_quant(b.T.copy(), a.T.copy(), "int4", "fp4", mantissa=5, shift=3)
    with pytest.raises(ValueError, match="accumulator range"):
        rtl.requant(np.full((2, 2), 1 << 40), mantissa=5, shift=3, sigma=0)
    assert rtl.total_stats["jobs_done"] == jobs_before
    # nothing lost: the next job is exact
    mask = rng.random((4, 5)) < 0.5
    got = rtl.backward_quant(a, b, "fp4", "int4", mantissa=5, shift=3, sigma=4, mask=mask)
    want = GOLD.backward_quant(a, b, "fp4", "int4", mantissa=5, shift=3, sigma=4, mask=mask)
    assert np.array_equal(got.code0, want.code0) and got.amax == want.amax
