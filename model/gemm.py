"""The exact GEMM contract of SPEC section 2.

``gemm_exact`` returns the exact integer sums, never wrapped.  Whether the
hardware's ``ACC_WIDTH``-bit accumulator overflowed on an output is a
separate question, answered by ``overflow_mask``: the accumulator adds the
products in ascending ``k`` and its overflow flag is sticky, so an output is
flagged iff some prefix sum ``sum_{k<=t}`` leaves the signed range (even if
the final sum comes back into it).

A PE of ``lanes`` lanes (SPEC 2, ``--lanes K``) adds the exact sum of each
group of ``lanes`` consecutive products, groups ``[0, lanes)``,
``[lanes, 2*lanes)``, ... (K zero-padded to a multiple of ``lanes``), so only
the running sums at group ends are seen: an output is flagged iff the sum
after some group leaves the range (docs/architecture.md, "Overflow with
lanes").  ``lanes=1`` is the rule above.

Speed: integer values are at most 4096 * 15 in magnitude, so every partial
sum of a float64 BLAS product is an integer below 2^53 and therefore exact
whatever order BLAS adds in.  K is split into chunks small enough to keep
that true for any K.

The accumulator width is one range for the golden model, the RTL and every
command (SPEC 2: 18..64), ``model.config``'s, as is ``acc_range``.
"""

from __future__ import annotations

import numpy as np

from .config import ACC_WIDTH_MIN, DEFAULT_ACC_WIDTH, LANES_MAX, acc_range, check_lanes
from .formats import get_format, int_value
from .hw_vocab import product_width

__all__ = ["GemmOverflowError", "gemm_exact", "gemm_real", "exceeds_acc", "overflow_mask",
           "check_gemm_operands", "exact_matmul", "prefix_overflow",
           "check_lanes", "LANES_MAX"]


class GemmOverflowError(ArithmeticError):
    """An output's running sum left the ACC_WIDTH-bit accumulator range
    (raised by the backends, ``model.backend``, naming the GEMM)."""

    def __init__(self, gemm_name: str, count: int, acc_width: int):
        super().__init__(
            f"GEMM {gemm_name!r}: {count} output(s) overflowed the "
            f"{acc_width}-bit accumulator")
        self.gemm_name = gemm_name
        self.count = count
        self.acc_width = acc_width


# The narrowest accumulator must hold one product of the formats in the table
# (a clear+valid cycle loads a single product and may not flag it).
assert product_width() <= ACC_WIDTH_MIN, "a product no longer fits the narrowest accumulator"

_EXACT_LIMIT = 2 ** 53


def check_gemm_operands(a, b, a_format: str, b_format: str):
    """Validate shapes, dtypes, formats and codes; return integer-value matrices."""
    for side, fmt in (("A", a_format), ("B", b_format)):
        get_format(fmt)  # raises on unknown names
    a = np.asarray(a)
    b = np.asarray(b)
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"A and B must be 2-D matrices, got shapes {a.shape} and {b.shape}")
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"shape mismatch: A is {a.shape[0]}x{a.shape[1]} "
                         f"but B is {b.shape[0]}x{b.shape[1]} (inner dimensions differ)")
    return int_value(a, a_format, "A"), int_value(b, b_format, "B")


def exact_matmul(av: np.ndarray, bv: np.ndarray) -> np.ndarray:
    """Exact int64 product of integer-value matrices (checked by the caller)."""
    m, k = av.shape
    n = bv.shape[1]
    out = np.zeros((m, n), dtype=np.int64)
    if k == 0 or m == 0 or n == 0:
        return out
    max_product = max(int(np.abs(av).max()) * int(np.abs(bv).max()), 1)
    chunk = max(1, (_EXACT_LIMIT - 1) // max_product)
    af = av.astype(np.float64)
    bf = bv.astype(np.float64)
    for k0 in range(0, k, chunk):
        out += (af[:, k0:k0 + chunk] @ bf[k0:k0 + chunk]).astype(np.int64)
    return out


def gemm_exact(a, b, a_format: str, b_format: str) -> np.ndarray:
    """``C[i, j] = sum_k iv(A[i, k]) * iv(B[k, j])`` exactly, as ``int64``.

    ``a`` is M x K, ``b`` is K x N, both code arrays.  Any of the model's
    formats is accepted on either side (the datapath takes FP4 on A only; the
    driver transposes the rest).  Bad shapes, dtypes, codes or format names
    raise ``ValueError``.
    """
    av, bv = check_gemm_operands(a, b, a_format, b_format)
    return exact_matmul(av, bv)


def gemm_real(a, b, a_format: str, b_format: str, scale_a: float, scale_b: float):
    """The real-valued result ``C * scale_A * scale_B`` (float64)."""
    return gemm_exact(a, b, a_format, b_format).astype(np.float64) * (scale_a * scale_b)


def exceeds_acc(c, acc_width: int = DEFAULT_ACC_WIDTH) -> np.ndarray:
    """Which final sums lie outside the accumulator's range."""
    lo, hi = acc_range(acc_width)
    c = np.asarray(c, dtype=np.int64)
    return (c < lo) | (c > hi)


def overflow_mask(a, b, a_format: str, b_format: str,
                  acc_width: int = DEFAULT_ACC_WIDTH, *, lanes: int = 1,
                  block: int = 1 << 22) -> np.ndarray:
    """Outputs whose running sum (ascending k) leaves ``acc_width`` bits at
    the end of some group of ``lanes`` products.

    This is exactly the RTL's sticky overflow flag for a PE of ``lanes``
    lanes: the sum is judged after each group ``[g*lanes, (g+1)*lanes)``
    (the last group zero-padded, so it ends at K), never inside a group.
    ``lanes=1`` checks every prefix.  Cheap when no overflow is possible
    (bound check); otherwise it walks k in chunks, keeping the running sum.
    """
    lo, hi = acc_range(acc_width)
    lanes = check_lanes(lanes)
    av, bv = check_gemm_operands(a, b, a_format, b_format)
    return prefix_overflow(av, bv, lo, hi, lanes=lanes, block=block)


def prefix_overflow(av: np.ndarray, bv: np.ndarray, lo: int, hi: int, *, lanes: int = 1,
                    block: int = 1 << 22) -> np.ndarray:
    """``overflow_mask`` of integer-value matrices (checked by the caller), an
    inclusive accumulator range ``[lo, hi]`` and a lane count (checked)."""
    m, k = av.shape
    n = bv.shape[1]
    mask = np.zeros((m, n), dtype=bool)
    if m == 0 or n == 0 or k == 0:
        return mask
    bound = int(np.abs(av).max()) * int(np.abs(bv).max()) * k
    if bound <= min(-lo - 1, hi):
        return mask
    # Every prefix sum is at most ``bound`` in magnitude.  Below 2^63 int64
    # holds them exactly; that covers every width up to 64 with 4-bit codes
    # (a 64-bit overflow would need K > 2^47).  Wider bounds (only a
    # throwaway format with huge products) fall back to Python integers.
    dtype = np.int64 if bound < (1 << 63) else object
    av, bv = av.astype(dtype), bv.astype(dtype)
    running = np.zeros((m, n), dtype=dtype)
    # Chunks of whole groups, so a group never straddles two chunks.
    step = max(1, block // max(1, m * n) // lanes) * lanes
    for k0 in range(0, k, step):
        prods = av[:, k0:k0 + step, None] * bv[None, k0:k0 + step, :]   # m x s x n
        prefix = running[:, None, :] + np.cumsum(prods, axis=1)
        # Group ends inside this chunk: every lanes-th prefix, and K itself
        # (the zero padding of the last group adds nothing).
        ends = np.arange(lanes - 1, prefix.shape[1], lanes)
        if k0 + prefix.shape[1] == k and (not ends.size or ends[-1] != prefix.shape[1] - 1):
            ends = np.append(ends, prefix.shape[1] - 1)
        seen = prefix[:, ends, :]
        mask |= ((seen < lo) | (seen > hi)).any(axis=1)
        running = prefix[:, -1, :]
    return mask
