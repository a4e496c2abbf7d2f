"""Operands of ``radix4 gemm`` in a block-scaled format (MXFP4, NVFP4; issue 25).

An operand file is either

- ``.npz`` holding a block-quantized matrix (``model.block_quant.BlockTensor``)
  as arrays: ``codes`` (E2M1 codes, uint8, the padded matrix), ``scales``
  (scale codes, one per block), optionally ``tensor_scale`` (the FP32
  decode factor; default 1), ``block`` (rows x columns one scale covers;
  default along K: ``(1, B)`` for A, ``(B, 1)`` for B) and ``shape`` (the
  unpadded shape; default the codes' shape).  ``save_block_operand`` writes
  one; or
- ``.npy`` holding a float matrix, quantized here to the format with nearest
  rounding, in blocks along K (``model.block_quant.quantize``).

Every refusal is a ``CliError`` naming the flag (one line, exit 2).
"""

from __future__ import annotations

import numpy as np

from scripts.argtypes import load_npy
from scripts.errors import CliError

__all__ = ["load_block_operand", "save_block_operand"]


def save_block_operand(path, t) -> None:
    """Write ``BlockTensor`` ``t`` as an operand file (``.npz``)."""
    np.savez(path, codes=t.codes, scales=t.scales, tensor_scale=np.float64(t.tensor_scale),
             block=np.array(t.block), shape=np.array(t.shape))


def load_block_operand(path: str, label: str, fmt: str, side: str):
    """The ``BlockTensor`` in ``path`` (module docstring); ``side`` "A" or "B"."""
    from model.block_formats import get_block_format, scale_factors
    from model.block_quant import BlockTensor, quantize
    raw = load_npy(path, label)
    bf = get_block_format(fmt)
    along_k = (1, bf.block) if side == "A" else (bf.block, 1)
    if isinstance(raw, np.ndarray):
        if raw.ndim != 2 or raw.dtype.kind not in "fiu":
            raise CliError(f"{label}: {path} holds a {raw.dtype} array of shape {raw.shape}; "
                           f"a {fmt} operand is a real matrix (.npy) or a block-quantized one "
                           "(.npz with codes and scales)")
        try:
            return quantize(raw, fmt, axis=-1 if side == "A" else -2, name=label)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    with raw:
        missing = {"codes", "scales"} - set(raw.files)
        if missing:
            raise CliError(f"{label}: {path} lacks {', '.join(sorted(missing))} "
                           "(a block-quantized operand holds codes and scales)")
        codes, scales = raw["codes"], raw["scales"]
        tensor_scale = float(raw["tensor_scale"]) if "tensor_scale" in raw.files else 1.0
        block = tuple(int(v) for v in raw["block"]) if "block" in raw.files else along_k
        shape = tuple(int(v) for v in raw["shape"]) if "shape" in raw.files else codes.shape
    bad = _problem(codes, scales, tensor_scale, block, shape, bf, side, along_k)
    if bad is None:
        try:
            scale_factors(scales, bf.scale)
        except ValueError as exc:
            bad = str(exc)
    if bad:
        raise CliError(f"{label}: {path}: {bad}")
    return BlockTensor(fmt, codes.astype(np.uint8), scales.astype(np.uint8), block,
                       tensor_scale, shape)


def _problem(codes, scales, tensor_scale, block, shape, bf, side, along_k) -> str | None:
    """What is wrong with the arrays of a block-quantized operand (None: nothing)."""
    if codes.ndim != 2 or codes.dtype.kind not in "iu" or \
            (codes.size and (codes.min() < 0 or codes.max() > 15)):
        return "codes must be a matrix of E2M1 codes 0..15"
    if len(block) != 2 or min(block) < 1:
        return f"block must be two positive lengths, got {block}"
    k_block = block[1] if side == "A" else block[0]
    if k_block != bf.block or block not in (along_k, (bf.block, bf.block)):
        return (f"block {block} is not a {bf.name} blocking of {side} along K "
                f"({along_k} or {(bf.block, bf.block)})")
    if codes.shape[0] % block[0] or codes.shape[1] % block[1]:
        return f"codes {codes.shape} are not whole blocks of {block}"
    want = (codes.shape[0] // block[0], codes.shape[1] // block[1])
    if scales.shape != want or scales.dtype.kind not in "iu":
        return f"scales must be integer codes of shape {want}, got {scales.dtype} {scales.shape}"
    if len(shape) != 2 or not all(0 <= s <= c < s + b for s, c, b in zip(shape, codes.shape,
                                                                       block)):
        return f"shape {shape} does not fit codes {codes.shape} padded to blocks of {block}"
    if codes[shape[0]:].any() or codes[:, shape[1]:].any():
        return f"codes beyond shape {shape} (the padding) must be 0"
    if not (np.isfinite(tensor_scale) and tensor_scale > 0) or \
            float(np.float32(tensor_scale)) != tensor_scale or \
            (not bf.tensor_scale and tensor_scale != 1.0):
        return (f"tensor_scale must be a positive FP32 number"
                + ("" if bf.tensor_scale else f" (1 for {bf.name})") + f", got {tensor_scale!r}")
    return None
