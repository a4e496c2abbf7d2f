"""The hardware arithmetic of the block-scaled PEs (model.block_hw, issue 25 item 3):
rebias, window, beat reference and conversion reproduce the golden
``model.block_gemm.block_gemm`` bit for bit, and refuse what they cannot."""

import numpy as np
import pytest

from model.backend import GemmOverflowError
from model.block_formats import get_block_format, scale_factors
from model.block_gemm import block_gemm
from model.block_hw import (BLOCK_ACC_WIDTH, K_GUARANTEED, BlockWindowError, accumulate,
                            beat_term, block_gemm_hw, hw_format, lane_sum, rebias)
from model.block_quant import BlockTensor, quantize

FORMATS = ("mxfp4", "nvfp4")


def _same(x, y) -> bool:
    """Bit for bit, one zero (+0)."""
    return x.shape == y.shape and np.array_equal((x + 0.0).view(np.int64),
                                                  (y + 0.0).view(np.int64))


def test_window_and_fields_follow_the_stated_bound():
    for fmt in FORMATS:
        hwf = hw_format(fmt)
        codes = np.arange(255 if fmt == "mxfp4" else 127)
        m, e = scale_factors(codes, get_block_format(fmt).scale)
        f_max = int(m.max()) ** 2
        limit = (1 << (BLOCK_ACC_WIDTH - 1)) - 1
        assert K_GUARANTEED * 144 * f_max << (2 * hwf.window) <= limit
        assert K_GUARANTEED * 144 * f_max << (2 * hwf.window + 2) > limit
        assert hwf.d_bits == hwf.window.bit_length()
        m_field, d_field = hwf.unpack_scale(hwf.pack_scale(m[:16], np.arange(16) % (hwf.window + 1)))
        assert np.array_equal(d_field, np.arange(16) % (hwf.window + 1))
        assert np.array_equal(m_field, m[:16])
    assert (hw_format("mxfp4").window, hw_format("mxfp4").scale_width) == (17, 5)
    assert (hw_format("nvfp4").window, hw_format("nvfp4").scale_width) == (14, 8)
    # NVFP4 always fits: UE4M3 exponents span exactly the window.
    _, e = scale_factors(np.arange(127), "ue4m3")
    assert e.max() - e.min() == hw_format("nvfp4").window


def _random_operands(rng, fmt, spread, tile_a=False, tile_b=False, batch=()):
    bk = get_block_format(fmt).block
    M, N = rng.integers(1, 18, 2)
    K = int(rng.integers(1, 5)) * bk - int(rng.integers(0, bk))
    x = rng.standard_normal((*batch, M, K)) * np.exp2(rng.integers(-spread, spread + 1,
                                                                   (*batch, M, K)))
    y = rng.standard_normal((*batch, K, N)) * np.exp2(rng.integers(-spread, spread + 1,
                                                                   (*batch, K, N)))
    if rng.random() < 0.5:                       # an all-zero block
        x[..., 0, :bk] = 0
    if rng.random() < 0.3:                       # an all-zero row and column
        x[..., -1, :] = 0
        y[..., :, -1] = 0
    if rng.random() < 0.3:                       # amax at E2M1's top of its block
        x[..., 0, 0] = 6.0 * 2.0 ** int(rng.integers(-3, 4))
    return (quantize(x, fmt, axis=-1, tile=tile_a), quantize(y, fmt, axis=-2, tile=tile_b))


@pytest.mark.parametrize("fmt", FORMATS)
def test_hardware_arithmetic_equals_the_golden_gemm(fmt):
    rng = np.random.default_rng(251)
    # MXFP4 lines must span at most R = 17 binades: values within 2^+-6.
    spread = 6 if fmt == "mxfp4" else 20
    for trial in range(40):
        tile = fmt == "nvfp4" and trial % 3 == 0     # NVFP4's 16x16 weight tiles
        a, b = _random_operands(rng, fmt, spread, tile_a=tile and trial % 2 == 0, tile_b=tile,
                                batch=(2,) if trial % 10 == 0 else ())
        want = block_gemm(a, b)
        for lanes in (1, 2, 8, 16):
            assert _same(block_gemm_hw(a, b, lanes), want), (trial, lanes)


def test_subnormal_ue4m3_scales_and_zero_scales():
    """A tensor whose blocks span UE4M3's whole range: subnormal block scales
    (e = 0, M < 8), and blocks that flush to scale 0 relative to the tensor."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 64)) * np.exp2(np.repeat(np.array([0, -12, -17, -30]), 16))
    y = rng.standard_normal((64, 3))
    a, b = quantize(x, "nvfp4", axis=-1), quantize(y, "nvfp4", axis=-2)
    m, e = scale_factors(a.scales, "ue4m3")
    assert ((a.scales >> 3) == 0).any() and (a.scales > 0).any() and (m == 0).any()
    assert ((a.scales > 0) & (a.scales < 8)).any()          # subnormal, non-zero
    assert _same(block_gemm_hw(a, b, 8), block_gemm(a, b))


def test_mxfp4_window_refusal_names_the_gemm():
    x = np.ones((2, 64))
    x[1, 32:] = 2.0 ** -17            # row 1: blocks 17 binades apart: fits exactly
    y = np.ones((64, 2))
    a, b = quantize(x, "mxfp4", axis=-1), quantize(y, "mxfp4", axis=-2)
    assert _same(block_gemm_hw(a, b, 8, name="fits"), block_gemm(a, b))
    x[1, 32:] = 2.0 ** -18            # 18 binades: beyond R
    a = quantize(x, "mxfp4", axis=-1)
    with pytest.raises(BlockWindowError, match="GEMM 'fc2.dX'.*1 mxfp4 block.*A.*18.*17"):
        block_gemm_hw(a, b, 8, name="fc2.dX")
    assert issubclass(BlockWindowError, ValueError)
    # An all-zero block (E8M0 -127) is dead: it does not set or break the window.
    x[1, 32:] = 0
    a = quantize(x, "mxfp4", axis=-1)
    assert a.scales[1, 1] == 0
    lines = rebias(a, "a")
    assert lines.d[1, 1] == hw_format("mxfp4").window and lines.top[1] == -2
    assert _same(block_gemm_hw(a, b, 8), block_gemm(a, b))


def test_overflow_past_the_guaranteed_k_is_refused():
    """K = 2^21 maximal NVFP4 products (past K_GUARANTEED): the running sum
    leaves 64 bits and the GEMM is refused, as the RTL's flag would."""
    k = 2 * K_GUARANTEED
    codes = np.full((1, k), 7, np.uint8)                     # 6.0: iv 12
    scales = np.full((1, k // 16), 126, np.uint8)             # 448 = 14 * 2^5
    a = BlockTensor("nvfp4", codes, scales, (1, 16), 1.0, (1, k))
    b = BlockTensor("nvfp4", codes.T.copy(), scales.T.copy(), (16, 1), 1.0, (k, 1))
    with pytest.raises(GemmOverflowError, match="1 output"):
        block_gemm_hw(a, b, 16, name="long")
    half = BlockTensor("nvfp4", codes[:, :k // 4], scales[:, :k // 64], (1, 16), 1.0, (1, k // 4))
    bh = BlockTensor("nvfp4", half.codes.T.copy(), half.scales.T.copy(), (16, 1), 1.0,
                     (k // 4, 1))
    assert _same(block_gemm_hw(half, bh, 16), block_gemm(half, bh))


def test_beat_reference_wraps_and_flags_per_beat():
    top = (1 << 63) - 1
    runs = accumulate([top, 0, 1, -5], [True, False, False, False])
    assert runs[0] == (top, False) and runs[1] == (top, False)
    assert runs[2] == (-(1 << 63), True)                      # wraps; flagged
    assert runs[3][1] is True                                 # sticky
    assert accumulate([top, 1, 7], [True, False, True])[2] == (7, False)   # clear resets
    assert accumulate([-(1 << 63)])[0] == (-(1 << 63), False)
    # A beat's term: S * Ma * Mb << (2R - da - db) from the packed fields.
    nv = hw_format("nvfp4")
    assert lane_sum([7, 0xF, 1], [7, 7, 2]) == 144 - 144 + 2
    assert beat_term(-3, nv.pack_scale(15, 0), nv.pack_scale(9, 14), "nvfp4") == -3 * 135 << 14
    mx = hw_format("mxfp4")
    assert beat_term(5, mx.pack_scale(1, 17), mx.pack_scale(1, 17), "mxfp4") == 5
