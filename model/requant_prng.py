"""The quantization unit's per-lane pseudo-random generator (SPEC 1.7).

One xorshift32 (Marsaglia's 13/17/5 triple) per column lane, seeded per job
by the host; the golden model (``model.requant``) and the RTL
(``hw.quant_unit``) step the same sequence, so stochastic rounding is
bit-exact on every backend.  See docs/quantizer.md.
"""

from __future__ import annotations

import numpy as np

SEED_BITS = 32

__all__ = ["SEED_BITS", "ZERO_SEED", "lane_constant", "xorshift32", "lane_seeds",
           "lane_randoms"]


def _is_int(x) -> bool:
    """An integer of Python or NumPy, not a bool (shared with ``model.requant``)."""
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


_GOLDEN = 0x9E3779B9
ZERO_SEED = 0x6D2B79F5    # replaces an all-zero lane state (xorshift's fixed point)
_M32 = 0xFFFFFFFF


def lane_constant(c: int) -> int:
    """What lane ``c`` XORs into the job seed (distinct streams per lane)."""
    return (c * _GOLDEN) & _M32


def xorshift32(x: int) -> int:
    x ^= (x << 13) & _M32
    x ^= x >> 17
    x ^= (x << 5) & _M32
    return x & _M32


def lane_seeds(seed: int, cols: int) -> list[int]:
    """Initial state of each lane: ``seed ^ (c * 0x9E3779B9)``, 0 replaced."""
    if not _is_int(seed) or not 0 <= int(seed) < (1 << SEED_BITS):
        raise ValueError(f"seed must be an integer in [0, 2^{SEED_BITS}), got {seed!r}")
    out = []
    for c in range(cols):
        s = int(seed) ^ lane_constant(c)
        out.append(s if s else ZERO_SEED)
    return out


# xorshift32 is linear over GF(2): step^n(x) is the XOR of step^n(2^j) over
# the set bits j of x.  _basis(beats)[j, n] = step^(n+1)(2^j), grown on demand,
# turns a lane's sequence into a few vectorised XORs instead of a Python loop
# per word (the loop made stochastic on-chip training crawl on the golden model).
_BASIS = np.zeros((32, 0), dtype=np.uint32)


def _basis(beats: int) -> np.ndarray:
    global _BASIS
    have = _BASIS.shape[1]
    if have < beats:
        grown = np.empty((32, max(beats, 2 * have, 1024)), dtype=np.uint32)
        grown[:, :have] = _BASIS
        x = _BASIS[:, have - 1].copy() if have else \
            np.left_shift(np.uint32(1), np.arange(32, dtype=np.uint32))
        for n in range(have, grown.shape[1]):
            x ^= x << np.uint32(13)
            x ^= x >> np.uint32(17)
            x ^= x << np.uint32(5)
            grown[:, n] = x
        _BASIS = grown
    return _BASIS[:, :beats]


def lane_randoms(seed: int, beats: int, cols: int) -> np.ndarray:
    """``uint32`` (beats, cols): the word lane c uses for beat n, step^(n+1)(init).

    Phase 0 takes the low 16 bits, phase 1 the high 16 bits.  (Equal to
    stepping ``xorshift32`` beats times per lane; tests/test_requant.py
    checks it against that loop.)
    """
    basis = _basis(beats)
    out = np.zeros((beats, cols), dtype=np.uint32)
    for c, x in enumerate(lane_seeds(seed, cols)):
        bits = [j for j in range(32) if x >> j & 1]      # x != 0: never empty
        out[:, c] = np.bitwise_xor.reduce(basis[bits], axis=0)
    return out
