"""Driver-level checks (mutation layer ``driver``): the real host testbench
and tiling driver (``sim.factory.make_backend("icarus")``) on a narrow tile.

An 18-bit, 2 x 3 tile with 8-beat banks and 16-beat batches, so a K of 28
is a chain of 4 accumulating jobs spread over 2 batches, with random valid
gaps (30 %) and result ready stalls (50 %) in the host testbench.  Checked:

* an output whose running sum leaves the accumulator range in the middle of
  the chain and then comes back into range is still reported (the tile's
  flag is sticky across the chain's jobs and batches: a flag that only
  describes the last step would give the wrapped, right-looking sum), and
  only that output (N = 2 < 3 columns: a flag in the wrong column is lost
  in the padding the driver drops);
* the same shape peaking inside the range, and sums ending exactly on its
  top and bottom, are exact and unflagged;
* the performance counters add up (``stall_cycles`` = busy cycles without a
  beat entering, SPEC/hw.accel), under the backpressure above.

Icarus only: a build for this narrow configuration is seconds there, minutes
on Verilator (whose tile runs the same driver in tests/test_rtl_backend.py).
"""

import numpy as np
import pytest

from model.backend import GemmOverflowError
from model.config import acc_range
from model.gemm import check_gemm_operands, gemm_exact, overflow_mask
from sim.factory import make_backend

ROWS, COLS, W, DEPTH = 2, 3, 18, 8
K = 28          # jobs of 8 + 8 + 8 + 4 beats; batches of 16 beats


@pytest.fixture(scope="module")
def tile():
    backend = make_backend("icarus", rows=ROWS, cols=COLS, acc_width=W, depth=DEPTH,
                           batch_beats=16, gap_permille=300, stall_permille=500, seed=5)
    yield backend
    backend.close()


def _fp4_values() -> dict[int, int]:
    """fp4 code -> its value as an A operand (times a uint4 B code)."""
    codes = np.arange(16, dtype=np.uint8)[None, :]
    av, _ = check_gemm_operands(codes, np.ones((16, 1), np.uint8), "fp4", "uint4")
    return {int(c): int(v) for c, v in zip(codes[0], av[0])}


def _fp4_code(value: int) -> int:
    return min(c for c, v in _fp4_values().items() if v == value)


def _fill(target: int) -> list[tuple[int, int]]:
    """(fp4 code, uint4 code) pairs whose products sum exactly to ``target``
    (greedy, largest product first)."""
    products = sorted(((v * y, c, y) for c, v in _fp4_values().items() for y in range(16)
                       if v * y * target > 0), reverse=True, key=lambda p: abs(p[0]))
    rest, pairs = target, []
    while rest:
        step, c, y = next(p for p in products if abs(p[0]) <= abs(rest))
        pairs.append((c, y))
        rest -= step
    return pairs


def _chain_operands(run: int):
    """fp4 x uint4 operands: row 0 adds ``run`` maximal products from k = 6 (so
    the sum crosses the range in job 1 when run >= 3), then the same number
    negative from k = 16 (job 2), back to 0.  Row 1 mirrors it negative.
    N = 2 < COLS: column 0 multiplies by 15, column 1 by 1 (never near the
    range), the tile's column 2 is padding the driver drops -- so flags in
    the wrong column order are lost, not just moved."""
    big, neg = _fp4_code(4096), _fp4_code(-4096)
    a = np.full((ROWS, K), _fp4_code(0), np.uint8)
    a[0, 6:6 + run], a[0, 16:16 + run] = big, neg
    a[1, 6:6 + run], a[1, 16:16 + run] = neg, big
    b = np.full((K, 2), 15, np.uint8)
    b[:, 1] = 1
    return a, b


def test_overflow_mid_chain_then_back_in_range_is_reported(tile):
    a, b = _chain_operands(run=3)          # 3 * 61440 > 2^17 - 1: out in job 1
    lo, hi = acc_range(W)
    mask = overflow_mask(a, b, "fp4", "uint4", W)
    final = gemm_exact(a, b, "fp4", "uint4")
    # Precondition: the model sees overflow in column 0 of both rows, and
    # every final sum is back in range (so only a sticky flag reports it).
    assert mask.tolist() == [[True, False], [True, False]], mask
    assert ((final >= lo) & (final <= hi)).all() and not final[:, 0].any(), final
    with pytest.raises(GemmOverflowError, match="chain.mid") as exc:
        tile.gemm(a, b, "fp4", "uint4", name="chain.mid")
    assert exc.value.count == int(mask.sum()) and exc.value.acc_width == W


def test_sums_at_the_range_limits_are_exact_and_unflagged(tile):
    a, b = _chain_operands(run=2)          # peaks at +-122880, inside 18 bits
    assert not overflow_mask(a, b, "fp4", "uint4", W).any()
    assert np.array_equal(tile.gemm(a, b, "fp4", "uint4", name="chain.fit"),
                          gemm_exact(a, b, "fp4", "uint4"))
    # Row 0 ends exactly on the top of the range, row 1 on the bottom, in
    # column 0 and 1 (column 2 multiplies by 0), mid-chain from k = 10.
    lo, hi = acc_range(W)
    a = np.full((ROWS, K), _fp4_code(0), np.uint8)
    b = np.zeros((K, COLS), np.uint8)
    k = 10
    for row, target in ((0, hi), (1, lo)):
        for x, y in _fill(target):
            a[row, k], b[k, :2] = x, y
            k += 1
    assert k <= K
    want = gemm_exact(a, b, "fp4", "uint4")
    assert want[:, 0].tolist() == [hi, lo] and not overflow_mask(a, b, "fp4", "uint4", W).any()
    assert np.array_equal(tile.gemm(a, b, "fp4", "uint4", name="chain.limits"), want)


def test_counters_add_up_under_backpressure(tile):
    rng = np.random.default_rng(4)
    a = rng.integers(-8, 8, (5, 37)).astype(np.int8)     # 3 x 1 tiles, 5 jobs each
    b = rng.integers(0, 16, (37, COLS)).astype(np.uint8)
    assert np.array_equal(tile.gemm(a, b, "int4", "uint4"), gemm_exact(a, b, "int4", "uint4"))
    st = tile.last_stats
    beats = 3 * 37
    assert st["mac_pe_cycles"] == beats * ROWS * COLS and st["jobs_done"] == 3 * 5, st
    # stall_cycles: busy cycles in which no beat entered the array (not idle ones).
    assert st["stall_cycles"] == st["busy_cycles"] - beats, st
    assert beats < st["busy_cycles"] < st["cycles"], st
