"""Tiling a GEMM onto the R x C tile: jobs, operand beats, result parsing.

Pure functions (no simulator) so they are unit-testable on their own.

A 4-bit GEMM ``A (M x K) . B (K x N)`` becomes output tiles ``(mi, nj)`` of
R x C, in row-major tile order.  Each tile's K is cut into chunks of at most
``depth`` beats: one job per chunk, ``accumulate`` on all but the first,
``emit`` on the last, so the array's accumulators carry the sum across chunks.
Rows of A beyond M and columns of B beyond N are padded with code 0, which is
zero in every format; the padded outputs are dropped.  K = 0 needs no
hardware: the result is all zeros.

With PEs of ``k`` lanes (SPEC 2, ``--lanes K``) a beat carries ``k``
consecutive K indices: K is zero-padded to a multiple of ``k`` (exact: the
padded products are 0, and the lanes overflow rule ends the last group at
K anyway), beat ``g`` holds ``A[r, g*k + j]`` in A lane ``r*k + j`` and
``B[g*k + j, c]`` in B lane ``c*k + j``, and jobs count beats (groups).

Every payload (command words, operand beats, result rows) is packed and
unpacked by ``hw.codec`` from the tile's own layouts, vectorised: the A and B
halves of all beats are packed once per plan into 64-bit words, a batch ORs
the slices of its jobs together and writes them as ``$readmemh`` text.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from functools import lru_cache

from hw.accel import job_layout, load_layout
from hw.array import output_layout
from hw.codec import LayoutCodec, stream_lanes
from model.formats import FORMATS, checked_nibbles

__all__ = ["Job", "TilePlan", "plan_gemm", "job_word", "batches", "batch_files",
           "parse_results", "load_codec", "job_codec", "result_codec"]


@lru_cache(maxsize=None)
def load_codec(rows: int, cols: int, lanes: int = 1) -> LayoutCodec:
    layout = load_layout(rows, cols, lanes=lanes)
    return LayoutCodec(layout, stream_lanes(layout))


@lru_cache(maxsize=None)
def job_codec(depth: int) -> LayoutCodec:
    return LayoutCodec(job_layout(depth))


@lru_cache(maxsize=None)
def result_codec(rows: int, cols: int, acc_width: int) -> LayoutCodec:
    layout = output_layout(rows, cols, acc_width)
    return LayoutCodec(layout, stream_lanes(layout))


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
    k: int              # K of the GEMM (codes), before padding
    a_fmt: str
    b_fmt: str
    tiles: list         # (mi, nj) per tile
    jobs: list          # Job, in issue order
    a_words: np.ndarray   # (Mt, beats, n_words) load words holding only the A lanes
    b_words: np.ndarray   # (Nt, beats, n_words) load words holding only the B lanes
    lanes: int = 1        # K indices per beat (the PE's lanes)

    @property
    def beats(self) -> int:
        """Beats per output tile: K padded to a multiple of ``lanes``, over ``lanes``."""
        return -(-self.k // self.lanes)


def plan_gemm(a, b, a_fmt: str, b_fmt: str, rows: int, cols: int, depth: int,
              lanes: int = 1) -> TilePlan:
    """Tile ``a . b``: code matrices the backend checked (``model.backend.check_gemm``;
    not checked again), A format on the datapath's A side, on PEs of ``lanes``
    lanes.  ``Job.k0``/``k1`` count beats (groups of ``lanes`` K indices)."""
    a_nib = checked_nibbles(a, a_fmt)
    b_nib = checked_nibbles(b, b_fmt)
    m, k = a_nib.shape
    n = b_nib.shape[1]
    mt, nt = -(-m // rows), -(-n // cols)
    beats = -(-k // lanes)
    kp = beats * lanes                      # K zero-padded to whole groups
    a_pad = np.zeros((mt * rows, kp), np.uint8)
    a_pad[:m, :k] = a_nib
    b_pad = np.zeros((kp, nt * cols), np.uint8)
    b_pad[:k, :n] = b_nib
    # The fields are disjoint, so a beat's word is its A word OR its B word.
    codec = load_codec(rows, cols, lanes)
    # (tile, beat, row, lane) -> lane r*k + j of beat g is A[r, g*k + j].
    a_lanes = a_pad.reshape(mt, rows, beats, lanes).transpose(0, 2, 1, 3) \
        .reshape(mt * beats, rows * lanes)
    b_lanes = b_pad.reshape(beats, lanes, nt, cols).transpose(2, 0, 3, 1) \
        .reshape(nt * beats, cols * lanes)
    a_words = codec.pack_words({"a": a_lanes}, n=mt * beats).reshape(mt, beats, codec.n_words)
    b_words = codec.pack_words({"b": b_lanes}, n=nt * beats).reshape(nt, beats, codec.n_words)
    tiles = [(mi, nj) for mi in range(mt) for nj in range(nt)]
    jobs = []
    if beats > 0:
        for t in range(len(tiles)):
            for k0 in range(0, beats, depth):
                k1 = min(beats, k0 + depth)
                jobs.append(Job(t, k0, k1, accumulate=k0 > 0, emit=k1 == beats))
    return TilePlan(rows, cols, m, n, k, a_fmt, b_fmt, tiles, jobs, a_words, b_words, lanes)


def job_word(plan: TilePlan, job: Job, depth: int) -> int:
    """The command word of ``job`` (``hw.accel.job_layout``)."""
    return job_codec(depth).words_to_ints(_job_words(plan, [job], depth))[0]


def _job_fields(plan: TilePlan, jobs: list) -> dict:
    return {"k": np.array([j.k1 - j.k0 for j in jobs], np.int64),
            "a_fmt": FORMATS[plan.a_fmt].hw_code, "b_fmt": FORMATS[plan.b_fmt].hw_code,
            "accumulate": np.array([j.accumulate for j in jobs], bool),
            "emit": np.array([j.emit for j in jobs], bool)}


def _job_words(plan: TilePlan, jobs: list, depth: int) -> np.ndarray:
    return job_codec(depth).pack_words(_job_fields(plan, jobs), n=len(jobs))


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
    cmds = job_codec(depth).to_hex(_job_words(plan, jobs, depth)) if jobs else b""
    blocks = []
    for j in jobs:
        mi, nj = plan.tiles[j.tile]
        blocks.append(plan.a_words[mi, j.k0:j.k1] | plan.b_words[nj, j.k0:j.k1])
    load = load_codec(plan.rows, plan.cols, plan.lanes).to_hex(np.concatenate(blocks)) if blocks else b""
    return cmds, load, sum(j.k1 - j.k0 for j in jobs)


def parse_results(text: str, n_rows: int, cols: int, acc_width: int, rows_per_tile: int):
    """Decode ``res.hex``: ``(data int64 [n, cols], overflow bool [n, cols], row [n], last [n])``.

    Lines may carry ``//`` comments or ``@addr`` markers (simulators differ);
    anything else that is not a hex word is an error.
    """
    codec = result_codec(rows_per_tile, cols, acc_width)
    try:
        words = codec.from_hex(text)
    except ValueError as e:
        raise RuntimeError(f"malformed result file from the simulator: {e}") from None
    if len(words) != n_rows:
        raise RuntimeError(f"expected {n_rows} result rows from the simulator, got {len(words)}")
    f = codec.unpack_words(words)
    return (f["data"].astype(np.int64), f["overflow"].astype(bool), f["row"].astype(np.int64),
            f["last"].astype(bool))
