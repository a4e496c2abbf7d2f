"""The tiling driver without a simulator: jobs, beat words, batches, result parsing."""

import numpy as np
import pytest

from hw.accel import job_layout, load_layout
from model.formats import to_nibbles
from sim.driver import batch_files, batches, parse_results, plan_gemm


def test_plan_tiles_chunks_and_flags():
    a = np.zeros((5, 37), np.int8)
    b = np.zeros((37, 7), np.uint8)
    plan = plan_gemm(a, b, "int4", "uint4", rows=2, cols=3, depth=16)
    assert plan.tiles == [(mi, nj) for mi in range(3) for nj in range(3)]
    per_tile = [(j.k0, j.k1, j.accumulate, j.emit) for j in plan.jobs if j.tile == 4]
    assert per_tile == [(0, 16, False, False), (16, 32, True, False), (32, 37, True, True)]
    assert len(plan.jobs) == 9 * 3


def test_plan_k0_has_no_jobs():
    plan = plan_gemm(np.zeros((3, 0), np.int8), np.zeros((0, 2), np.int8), "int4", "int4", 2, 2, 8)
    assert plan.jobs == []


def test_beat_hex_matches_the_load_layout():
    rng = np.random.default_rng(1)
    rows, cols, depth = 3, 2, 8
    a = rng.integers(-8, 8, (4, 5)).astype(np.int8)
    b = rng.integers(0, 16, (5, 3)).astype(np.uint8)
    plan = plan_gemm(a, b, "int4", "uint4", rows, cols, depth)
    cmd_text, load_text, n = batch_files(plan, plan.jobs, depth)
    assert n == 5 * len(plan.tiles)
    layout = load_layout(rows, cols)
    words = [int(line, 16) for line in load_text.decode().split()]
    a_nib = np.zeros((6, 5), int)
    a_nib[:4] = to_nibbles(a, "int4")
    b_nib = np.zeros((5, 4), int)
    b_nib[:, :3] = to_nibbles(b, "uint4")
    i = 0
    for job in plan.jobs:
        mi, nj = plan.tiles[job.tile]
        for k in range(job.k0, job.k1):
            w = words[i]
            i += 1
            a_field = (w >> layout["a"].offset) & ((1 << 4 * rows) - 1)
            b_field = (w >> layout["b"].offset) & ((1 << 4 * cols) - 1)
            for r in range(rows):
                assert (a_field >> 4 * r) & 15 == a_nib[mi * rows + r, k]
            for c in range(cols):
                assert (b_field >> 4 * c) & 15 == b_nib[k, nj * cols + c]
    jl = job_layout(depth)
    cmds = [int(x, 16) for x in cmd_text.decode().split()]
    for word, job in zip(cmds, plan.jobs):
        assert (word >> jl["k"].offset) & ((1 << jl["k"].width) - 1) == job.k1 - job.k0
        assert (word >> jl["a_fmt"].offset) & ((1 << jl["a_fmt"].width) - 1) == 0   # int4
        assert (word >> jl["b_fmt"].offset) & ((1 << jl["b_fmt"].width) - 1) == 1   # uint4
        assert (word >> jl["emit"].offset) & 1 == job.emit


def test_batches_respect_every_limit():
    plan = plan_gemm(np.zeros((8, 40), np.int8), np.zeros((40, 8), np.int8), "int4", "int4",
                     2, 2, 16)
    for limits in [(50, 1000, 1000), (1000, 5, 1000), (1000, 1000, 4), (16, 1, 2)]:
        got = list(batches(plan, *limits))
        assert [j for bt in got for j in bt] == plan.jobs
        for bt in got:
            assert sum(j.k1 - j.k0 for j in bt) <= max(limits[0], 16)
            assert len(bt) <= limits[1]
            assert 2 * sum(j.emit for j in bt) <= max(limits[2], 2)


def test_parse_results_fields_and_sign():
    cols, w, rows = 2, 20, 3
    lines = []
    expect = []
    for r in range(rows):
        vals = [-(1 << 19) + r, (1 << 19) - 1 - r]
        ovf = [r & 1, 0]
        word = 0
        for c, v in enumerate(vals):
            word |= (v & ((1 << w) - 1)) << (w * c)
        word |= (ovf[0] | ovf[1] << 1) << (w * cols)
        word |= r << (w * cols + cols)
        word |= int(r == rows - 1) << (w * cols + cols + 2)
        lines.append(f"{word:x}")
        expect.append((vals, ovf))
    text = "// header comment\n@0\n" + "\n".join(lines) + "\n"
    data, ovf, row, last = parse_results(text, rows, cols, w, rows)
    assert data.tolist() == [e[0] for e in expect]
    assert ovf.astype(int).tolist() == [e[1] for e in expect]
    assert row.tolist() == [0, 1, 2] and last.tolist() == [False, False, True]
    with pytest.raises(RuntimeError, match="expected 4 result rows"):
        parse_results(text, 4, cols, w, rows)
