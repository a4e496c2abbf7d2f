"""Block-scaled GEMMs on a backend whose PEs are MXFP4 or NVFP4 ones (issue 25).

``model.backend.Backend.block_gemm`` runs here when the backend's
``config.pe`` is a block-scaled PE kind (the kinds are named after the
formats of ``model.block_formats.BLOCK_FORMATS``: ``mxfp4``, ``nvfp4``).
The steps are the hardware arithmetic of ``model.block_hw`` (its docstring
is the contract), said once for every such backend:

1. check the operands (``model.block_gemm.check_block_operands``) and that
   their format is the PE's (``ValueError`` naming the GEMM otherwise);
2. rebias both (``model.block_hw.rebias``: ``BlockWindowError`` naming the
   GEMM when a live block lies beyond the PE's window);
3. the backend computes every PE's 64-bit accumulator and sticky overflow
   flag (``backend.run_block_lines``: the golden model's beat-level
   reference, or the simulated tile);
4. a flagged output raises ``GemmOverflowError`` naming the GEMM; otherwise
   ``model.block_hw.convert`` gives the float64 result (one rounding), equal
   to ``model.block_gemm.block_gemm`` bit for bit (a zero is +0).

Stacked operands (``(..., M, K)``, the attention products) run as one 2-D
GEMM per leading index.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .block_formats import BLOCK_FORMATS
from .block_gemm import check_block_operands
from .gemm import GemmOverflowError

__all__ = ["is_block_pe", "check_block_pe", "block_gemm_on", "lines_at"]


def is_block_pe(pe: str) -> bool:
    """Whether PE kind ``pe`` is a block-scaled one (its name is a block format's)."""
    return pe in BLOCK_FORMATS


def check_block_pe(pe: str, a, b, name: str = "gemm") -> str:
    """The block format of ``a . b`` after checking the operands and that
    PE kind ``pe`` runs that format (``ValueError`` naming the GEMM)."""
    check_block_operands(a, b, name)
    if a.fmt != pe:
        raise ValueError(f"GEMM {name!r}: {a.fmt} operands on a tile of {pe} PEs "
                         f"(a block-scaled PE runs its own format only)")
    return a.fmt


def block_gemm_on(backend, a, b, name: str = "gemm") -> np.ndarray:
    """``a . b`` (float64, unpadded) through the hardware arithmetic on
    ``backend`` (module docstring); ``backend.last_stats`` then holds the
    GEMM's counters and ``total_stats["block_gemms"]`` counts it."""
    from .block_hw import BLOCK_ACC_WIDTH, convert, rebias

    fmt = check_block_pe(backend.config.pe, a, b, name)
    la, lb = rebias(a, "a", name), rebias(b, "b", name)
    backend.reset_last_stats()
    lead = la.codes.shape[:-2]
    out = np.zeros(lead + (la.codes.shape[-2], lb.codes.shape[-2]), np.float64)
    alpha = a.tensor_scale * b.tensor_scale          # FP32 x FP32: exact in float64
    for idx in np.ndindex(*lead):
        acc, overflow = backend.run_block_lines(la, lb, idx)
        if overflow.any():
            raise GemmOverflowError(name, int(overflow.sum()), BLOCK_ACC_WIDTH)
        out[idx] = convert(acc, la.top[idx], lb.top[idx], alpha, fmt)
    backend.finish_stats()
    backend.total_stats["block_gemms"] = backend.total_stats.get("block_gemms", 0) + 1
    return out[..., :a.shape[-2], :b.shape[-1]]


def lines_at(lines, idx: tuple):
    """The 2-D ``model.block_hw.HwLines`` of stacked ones at leading index ``idx``."""
    return dataclasses.replace(lines, codes=lines.codes[idx], m=lines.m[idx], d=lines.d[idx],
                               top=lines.top[idx])
