"""Tiling a GEMM onto the R x C tile: jobs, operand beats, result parsing.

Pure functions (no simulator) so they are unit-testable on their own.

A 4-bit GEMM ``A (M x K) . B (K x N)`` becomes output tiles ``(mi, nj)`` of
R x C, in row-major tile order.  Each tile's K is cut into chunks of at most
``depth`` beats: one job per chunk, ``accumulate`` on all but the first,
``emit`` on the last, so the array's accumulators carry the sum across chunks.
Rows of A beyond M and columns of B beyond N are padded with code 0, which is
zero in every format; the padded outputs are dropped.  K = 0 needs no
hardware: the result is all zeros.

Beats are written as hex text for ``$readmemh``: a beat's word is
``{b[C-1], ..., b[0], a[R-1], ..., a[0]}`` (4 bits each), so its hex line is
just the nibbles in that order -- built for all beats at once with NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hw.accel import job_layout
from model.formats import FORMATS, to_nibbles

__all__ = ["Job", "TilePlan", "plan_gemm", "job_word", "batches", "parse_results"]

_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


@dataclass(frozen=True)
class Job:
    tile: int          # index into the plan's tiles
    k0: int            # first k of the chunk
    k1: int            # one past the last k
    accumulate: bool
    emit: bool


@dataclass
class TilePlan:
    rows: int
    cols: int
    m: int
    n: int
    k: int
    a_fmt: str
    b_fmt: str
    tiles: list         # (mi, nj) per tile
    jobs: list          # Job, in issue order
    a_digits: np.ndarray  # (Mt, K, R) ASCII hex digits, row R-1 first
    b_digits: np.ndarray  # (Nt, K, C) ASCII hex digits, column C-1 first


def plan_gemm(a, b, a_fmt: str, b_fmt: str, rows: int, cols: int, depth: int) -> TilePlan:
    """Tile ``a . b`` (validated code matrices, A format on the datapath's A side)."""
    a_nib = to_nibbles(a, a_fmt, "A")
    b_nib = to_nibbles(b, b_fmt, "B")
    m, k = a_nib.shape
    n = b_nib.shape[1]
    mt, nt = -(-m // rows), -(-n // cols)
    a_pad = np.zeros((mt * rows, k), np.uint8)
    a_pad[:m] = a_nib
    b_pad = np.zeros((k, nt * cols), np.uint8)
    b_pad[:, :n] = b_nib
    a_digits = _HEX[a_pad.reshape(mt, rows, k).transpose(0, 2, 1)[:, :, ::-1]]
    b_digits = _HEX[b_pad.reshape(k, nt, cols).transpose(1, 0, 2)[:, :, ::-1]]
    tiles = [(mi, nj) for mi in range(mt) for nj in range(nt)]
    jobs = []
    if k > 0:
        for t in range(len(tiles)):
            for k0 in range(0, k, depth):
                k1 = min(k, k0 + depth)
                jobs.append(Job(t, k0, k1, accumulate=k0 > 0, emit=k1 == k))
    return TilePlan(rows, cols, m, n, k, a_fmt, b_fmt, tiles, jobs, a_digits, b_digits)


def job_word(plan: TilePlan, job: Job, depth: int) -> int:
    """The command word of ``job`` (``hw.accel.job_layout``, LSB first)."""
    layout = job_layout(depth)
    fields = {"k": job.k1 - job.k0, "a_fmt": FORMATS[plan.a_fmt].hw_code,
              "b_fmt": FORMATS[plan.b_fmt].hw_code, "accumulate": int(job.accumulate),
              "emit": int(job.emit)}
    word = 0
    for name, value in fields.items():
        word |= value << layout[name].offset
    return word


def batches(plan: TilePlan, max_beats: int, max_cmds: int, max_rows: int):
    """Split the job list into batches that fit the host memories."""
    batch, beats, rows = [], 0, 0
    for job in plan.jobs:
        k = job.k1 - job.k0
        r = plan.rows if job.emit else 0
        if batch and (beats + k > max_beats or len(batch) + 1 > max_cmds
                      or rows + r > max_rows):
            yield batch
            batch, beats, rows = [], 0, 0
        batch.append(job)
        beats += k
        rows += r
    if batch:
        yield batch


def batch_files(plan: TilePlan, jobs: list, depth: int) -> tuple[bytes, bytes, int]:
    """``(cmd.hex, load.hex, n_beats)`` contents for a batch of jobs."""
    cmds = "".join(f"{job_word(plan, j, depth):x}\n" for j in jobs).encode()
    blocks = []
    newline = np.full((1,), ord("\n"), np.uint8)
    for j in jobs:
        mi, nj = plan.tiles[j.tile]
        kk = j.k1 - j.k0
        block = np.empty((kk, plan.cols + plan.rows + 1), np.uint8)
        block[:, :plan.cols] = plan.b_digits[nj, j.k0:j.k1]
        block[:, plan.cols:plan.cols + plan.rows] = plan.a_digits[mi, j.k0:j.k1]
        block[:, -1] = newline
        blocks.append(block)
    load = np.concatenate(blocks).tobytes() if blocks else b""
    return cmds, load, sum(j.k1 - j.k0 for j in jobs)


def parse_results(text: str, n_rows: int, cols: int, acc_width: int, rows_per_tile: int):
    """Decode ``res.hex``: ``(data int64 [n, cols], overflow bool [n, cols], row [n], last [n])``.

    Lines may carry ``//`` comments or ``@addr`` markers (simulators differ);
    anything else that is not a hex word is an error.
    """
    words = []
    for line in text.splitlines():
        line = line.split("//", 1)[0].strip()
        if not line or line.startswith("@"):
            continue
        words.append(int(line, 16))
    if len(words) != n_rows:
        raise RuntimeError(f"expected {n_rows} result rows from the simulator, got {len(words)}")
    w = acc_width
    mask = (1 << w) - 1
    data = np.empty((n_rows, cols), np.int64)
    ovf = np.empty((n_rows, cols), bool)
    row_bits = max(1, (rows_per_tile - 1).bit_length())
    row = np.empty(n_rows, np.int64)
    last = np.empty(n_rows, bool)
    for i, v in enumerate(words):
        for c in range(cols):
            x = (v >> (w * c)) & mask
            data[i, c] = x - (1 << w) if x >> (w - 1) else x
        flags = v >> (w * cols)
        for c in range(cols):
            ovf[i, c] = (flags >> c) & 1
        row[i] = (flags >> cols) & ((1 << row_bits) - 1)
        last[i] = (flags >> (cols + row_bits)) & 1
    return data, ovf, row, last
