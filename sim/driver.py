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

A block-scaled GEMM (MXFP4 / NVFP4 PEs, ``plan_block_gemm``) is tiled the
same way; each beat also carries, per row of A and per column of B, the
scale field of the block the beat lies in (``a_scale``, ``b_scale``: the
host's rebias, ``model.block_hw``), K is already a multiple of the block
and the block a multiple of ``k``, so a beat never straddles a block, and a
padded row or column (codes 0) adds nothing whatever its scale field.  The
job words carry no format selects (the PE has none).

Every payload (command words, operand beats, result rows) is packed and
unpacked by ``hw.codec`` from the tile's own layouts, vectorised: the A and B
halves of all beats are packed once per plan into 64-bit words, a batch ORs
the slices of its jobs together and writes them as ``$readmemh`` text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from hw.accel import job_layout, load_layout, tile_pe_signature
from hw.array import output_layout
from hw.codec import LayoutCodec, stream_lanes
from hw.pe_signature import default_pe_signature
from model.config import DEFAULT_PE, DatapathConfig
from model.formats import FORMATS, checked_nibbles

__all__ = ["Job", "TilePlan", "plan_gemm", "plan_block_gemm", "job_word", "batches",
           "batch_files", "parse_results", "load_codec", "job_codec", "result_codec"]


@lru_cache(maxsize=None)
def _pe_signature(lanes: int, pe: str):
    """The operand-side signature of a PE kind (the accumulator does not matter here)."""
    if pe == DEFAULT_PE:
        return default_pe_signature(lanes)
    return tile_pe_signature(DatapathConfig(lanes=lanes, pe=pe))


@lru_cache(maxsize=None)
def load_codec(rows: int, cols: int, lanes: int = 1, pe: str = DEFAULT_PE) -> LayoutCodec:
    sig = _pe_signature(lanes, pe)
    layout = load_layout(rows, cols, sig)
    return LayoutCodec(layout, stream_lanes(layout, sig))


@lru_cache(maxsize=None)
def job_codec(depth: int, pe: str = DEFAULT_PE) -> LayoutCodec:
    # The selects' widths do not depend on the lanes.
    return LayoutCodec(job_layout(depth, _pe_signature(1, pe)))


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
    a_fmt: str          # a format of model.formats (radix-4 tile) or a block format
    b_fmt: str
    tiles: list         # (mi, nj) per tile
    jobs: list          # Job, in issue order
    a_words: np.ndarray   # (Mt, beats, n_words) load words holding only the A-side fields
    b_words: np.ndarray   # (Nt, beats, n_words) load words holding only the B-side fields
    lanes: int = 1        # K indices per beat (the PE's lanes)
    pe: str = DEFAULT_PE  # the PE kind (model.config.DatapathConfig.pe)

    @property
    def beats(self) -> int:
        """Beats per output tile: K padded to a multiple of ``lanes``, over ``lanes``."""
        return -(-self.k // self.lanes)


def _side_words(codec: LayoutCodec, fields: dict, tile: int) -> np.ndarray:
    """``(tiles, beats, n_words)`` load words of one side: ``fields`` maps a
    load field to ``(lines, beats, per_line)`` lane values (a line is a row
    of A or a column of B; ``per_line`` lanes of it per beat), lines padded
    with zeros to whole tiles of ``tile`` lines; line ``r``'s lanes of a beat
    are the field's lanes ``r * per_line ..``."""
    lines, beats = next(iter(fields.values())).shape[:2]
    nt = -(-lines // tile)
    packed = {}
    for name, v in fields.items():
        per = v.shape[2]
        pad = np.zeros((nt * tile, beats, per), v.dtype)
        pad[:lines] = v
        packed[name] = pad.reshape(nt, tile, beats, per).transpose(0, 2, 1, 3) \
            .reshape(nt * beats, tile * per)
    return codec.pack_words(packed, n=nt * beats).reshape(nt, beats, codec.n_words)


def _tile_plan(a_fields, b_fields, m, n, k, a_fmt, b_fmt, rows, cols, depth, lanes,
               pe) -> TilePlan:
    """The plan of output tiles and jobs for per-line fields (``_side_words``)."""
    codec = load_codec(rows, cols, lanes, pe)
    a_words = _side_words(codec, a_fields, rows)
    b_words = _side_words(codec, b_fields, cols)
    beats = -(-k // lanes)
    tiles = [(mi, nj) for mi in range(a_words.shape[0]) for nj in range(b_words.shape[0])]
    jobs = []
    if beats > 0:
        for t in range(len(tiles)):
            for k0 in range(0, beats, depth):
                k1 = min(beats, k0 + depth)
                jobs.append(Job(t, k0, k1, accumulate=k0 > 0, emit=k1 == beats))
    return TilePlan(rows, cols, m, n, k, a_fmt, b_fmt, tiles, jobs, a_words, b_words, lanes, pe)


def plan_gemm(a, b, a_fmt: str, b_fmt: str, rows: int, cols: int, depth: int,
              lanes: int = 1) -> TilePlan:
    """Tile ``a . b``: code matrices the backend checked (``model.backend.check_gemm``;
    not checked again), A format on the datapath's A side, on radix-4 PEs of
    ``lanes`` lanes.  ``Job.k0``/``k1`` count beats (groups of ``lanes`` K indices)."""
    a_nib = checked_nibbles(a, a_fmt)
    b_nib = checked_nibbles(b, b_fmt)
    m, k = a_nib.shape
    n = b_nib.shape[1]
    beats = -(-k // lanes)
    kp = beats * lanes                      # K zero-padded to whole groups
    # Line r's lanes of beat g: A[r, g*k .. g*k + k-1] (B: its column c).
    a_lanes = np.zeros((m, kp), np.uint8)
    a_lanes[:, :k] = a_nib
    b_lanes = np.zeros((n, kp), np.uint8)
    b_lanes[:, :k] = b_nib.T
    return _tile_plan({"a": a_lanes.reshape(m, beats, lanes)},
                      {"b": b_lanes.reshape(n, beats, lanes)},
                      m, n, k, a_fmt, b_fmt, rows, cols, depth, lanes, DEFAULT_PE)


def plan_block_gemm(a_codes, a_scale, b_codes, b_scale, fmt: str, rows: int, cols: int,
                    depth: int, lanes: int, pe: str) -> TilePlan:
    """Tile a block-scaled GEMM for PEs of kind ``pe``: ``a_codes`` (M x Kp) and
    ``b_codes`` (N x Kp, B's columns) are E2M1 codes with K padded to whole
    blocks (``model.block_hw.HwLines``), ``a_scale`` (M x beats) and
    ``b_scale`` (N x beats) the packed scale field of each line's beat
    (``HwLines.scale_fields``); a beat never straddles a block."""
    m, kp = a_codes.shape
    n = b_codes.shape[0]
    beats = kp // lanes
    return _tile_plan({"a": a_codes.reshape(m, beats, lanes),
                       "a_scale": np.asarray(a_scale).reshape(m, beats, 1)},
                      {"b": b_codes.reshape(n, beats, lanes),
                       "b_scale": np.asarray(b_scale).reshape(n, beats, 1)},
                      m, n, kp, fmt, fmt, rows, cols, depth, lanes, pe)


def job_word(plan: TilePlan, job: Job, depth: int) -> int:
    """The command word of ``job`` (``hw.accel.job_layout``)."""
    return job_codec(depth, plan.pe).words_to_ints(_job_words(plan, [job], depth))[0]


def _job_fields(plan: TilePlan, jobs: list, codec: LayoutCodec) -> dict:
    fields = {"k": np.array([j.k1 - j.k0 for j in jobs], np.int64),
              "accumulate": np.array([j.accumulate for j in jobs], bool),
              "emit": np.array([j.emit for j in jobs], bool)}
    # The format selects, where the PE has them (a block-scaled PE has none).
    for select, fmt in (("a_fmt", plan.a_fmt), ("b_fmt", plan.b_fmt)):
        if select in codec.fields:
            fields[select] = FORMATS[fmt].hw_code
    return fields


def _job_words(plan: TilePlan, jobs: list, depth: int) -> np.ndarray:
    codec = job_codec(depth, plan.pe)
    return codec.pack_words(_job_fields(plan, jobs, codec), n=len(jobs))


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
    cmds = job_codec(depth, plan.pe).to_hex(_job_words(plan, jobs, depth)) if jobs else b""
    blocks = []
    for j in jobs:
        mi, nj = plan.tiles[j.tile]
        blocks.append(plan.a_words[mi, j.k0:j.k1] | plan.b_words[nj, j.k0:j.k1])
    load = load_codec(plan.rows, plan.cols, plan.lanes, plan.pe).to_hex(np.concatenate(blocks)) \
        if blocks else b""
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
