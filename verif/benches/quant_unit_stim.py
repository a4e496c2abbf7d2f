"""Stimulus and expectations for the quantization unit (no cocotb: shared by
tests/test_quant_unit.py (Amaranth simulator) and verif/benches/quant_unit_tb.py).

A job is a ``model.requant.JobConfig`` plus (beats, cols) accumulator rows,
mask bits and overflow bits.  ``expected_beats`` turns ``model.requant.run_job``
into the output beats the unit must emit.  Payloads are packed from the
Amaranth layouts of ``hw.quant_unit`` (field offsets read from the layouts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

import numpy as np

from model import requant as rq

# Job kinds the generator mixes; each is also a coverage bin.
KINDS = ("fwd-uint4", "fwd-int4", "fwd-bias", "bwd-nearest", "bwd-stochastic",
         "bwd-delayed-saturating", "bwd-thresholds", "amax-zero", "extremes", "no-emit",
         "sr-boundary")


@dataclass
class Job:
    kind: str
    cfg: rq.JobConfig
    acc: np.ndarray                 # (beats, cols) object ints within the signed W range
    mask: np.ndarray                # (beats, cols) bool (backward: consumed)
    overflow: np.ndarray            # (beats, cols) bool
    tags: set = field(default_factory=set)


def _ceil_div(a: Fraction) -> int:
    return -(-a.numerator // a.denominator)


def _edge_accs(cfg: rq.JobConfig, lim: int) -> list[int]:
    """Accumulator values at and next to the code boundaries of ``cfg``."""
    M = Fraction(cfg.mantissa, 1 << cfg.shift)
    if cfg.mode == "fp4":
        pts = []
        for p in (0, 1):
            top = Fraction(2) ** (cfg.sigma + p)
            lv = [top / 4 ** j for j in range(6, -1, -1)]
            pts += [lv[0] / 2] + lv + [Fraction(5, 2) * L for L in lv[:-1]]
    else:
        hi = 15 if cfg.mode == "uint4" else 7
        pts = [Fraction(0)] + [Fraction(2 * k + 1, 2) for k in range(hi)] + [Fraction(hi)]
    out = set()
    for t in pts:
        c = _ceil_div(t / M)
        for d in (-1, 0, 1):
            for s in (1, -1):
                if abs(c + d) < lim:
                    out.add(s * (c + d))
    return sorted(out)


def _fill(rng, shape, values, lim, p_edge=0.5):
    """Random accumulators (log-uniform magnitudes) with edge values mixed in."""
    mag = np.exp2(rng.uniform(0, np.log2(lim), shape)).astype(np.int64)
    acc = (mag * rng.choice([-1, 1], shape)).astype(object)
    if values:
        pick = rng.random(shape) < p_edge
        acc[pick] = rng.choice(np.array(values, dtype=object), int(pick.sum()))
    return np.clip(acc, -lim, lim - 1)


def make_job(rng, kind: str, cols: int, acc_width: int, beats: int | None = None) -> Job:
    lim = 1 << (acc_width - 1)
    beats = beats or int(rng.integers(1, 7))
    shape = (beats, cols)
    mask = rng.random(shape) < 0.8
    overflow = rng.random(shape) < 0.02
    tags = set()
    amp = 1 << int(rng.integers(4, min(acc_width - 1, 30)))
    if kind == "sr-boundary":
        return sr_boundary_job(rng, cols, acc_width, beats)
    if kind.startswith("fwd") or kind == "no-emit":
        mode = "int4" if kind == "fwd-int4" else "uint4"
        # choose M so that the window +-amp spans about 40 code steps
        mant, shift = rq.quantize_multiplier(float(rng.uniform(10, 40)) / amp)
        bias = None
        if kind == "fwd-bias":
            bias = tuple(int(b) for b in rng.integers(-2 * amp, 2 * amp, cols))
        cfg = rq.JobConfig(mode, mant, shift, bias=bias, emit=kind != "no-emit")
        acc = _fill(rng, shape, _edge_accs(cfg, lim), lim)
        acc = np.clip(acc, -4 * amp, 4 * amp)
    elif kind == "amax-zero":
        acc = np.zeros(shape, dtype=object)
        if rng.random() < 0.5:
            acc = _fill(rng, shape, [], amp)
            mask = np.zeros(shape, dtype=bool)          # everything masked away
        cfg = rq.JobConfig("fp4", int(rng.integers(1, 1 << 16)), int(rng.integers(0, 64)), 0)
    elif kind == "extremes":
        mant = int(rng.choice([1, 0xFFFF, 0x8000]))
        shift = int(rng.choice([0, 63, 30]))
        sigma = int(rng.choice([rq.SIGMA_MIN, rq.SIGMA_MAX, -40, 0]))
        mode = str(rng.choice(["fp4", "uint4", "int4"]))
        cfg = rq.JobConfig(mode, mant, shift, sigma if mode == "fp4" else 0,
                           rounding=str(rng.choice(["nearest", "stochastic"])),
                           seed=int(rng.integers(0, 1 << 32)))
        acc = _fill(rng, shape, [lim - 1, -lim, -lim + 1, 0, 1, -1], lim, 0.7)
    else:
        mant = int(rng.integers(1, 1 << 16))
        shift = int(rng.integers(0, 64))
        acc = _fill(rng, shape, [], amp)
        sigma = rq.sigma_from_amax(rq.amax(acc, mask), mant, shift)
        if kind == "bwd-delayed-saturating":
            sigma -= int(rng.integers(1, 4))           # the previous step's smaller amax
        rounding = "stochastic" if kind == "bwd-stochastic" or rng.random() < 0.3 else "nearest"
        cfg = rq.JobConfig("fp4", mant, shift, max(sigma, rq.SIGMA_MIN), rounding,
                           seed=int(rng.integers(0, 1 << 32)))
        if kind == "bwd-thresholds":
            acc = _fill(rng, shape, _edge_accs(cfg, lim), lim, 0.9)
            tags.add("thresholds")
    return Job(kind, cfg, acc, mask, overflow, tags)


def sr_boundary_job(rng, cols: int, acc_width: int, beats: int) -> Job:
    """Stochastic rounding exactly at its compare: with M = 2^-29 and sigma = 0,
    Qt = floor(acc / 2) and the sticky bit is acc's LSB, so acc can be chosen
    from the lane's known random word to put ceil(Qt) at, below or above the
    rounding compare ``(3r + 2^16) << (p + 2k)`` (or ``r << p`` below the bottom)."""
    lim = 1 << (acc_width - 1)
    cfg = rq.JobConfig("fp4", 1, 29, 0, "stochastic", seed=int(rng.integers(0, 1 << 32)))
    words = rq.lane_randoms(cfg.seed, beats, cols).astype(np.int64)
    acc = np.zeros((beats, cols), dtype=object)
    for n in range(beats):
        for c in range(cols):
            p = int(rng.integers(0, 2))
            r = int(words[n, c] >> (16 * p)) & 0xFFFF
            k = int(rng.integers(-1, 6))
            y = (r << p) if k < 0 else (3 * r + (1 << rq.RAND_BITS)) << (p + 2 * k)
            # ceil(Qt) = y - 1, y (via sticky), y (exact), y + 1 (via sticky)
            a = 2 * y + int(rng.choice([-2, -1, 0, 1]))
            acc[n, c] = a * int(rng.choice([-1, 1])) if 0 <= a < lim else int(rng.integers(0, lim))
    ones = np.ones((beats, cols), dtype=bool)
    return Job("sr-boundary", cfg, acc, ones, ~ones, {"sr-boundary"})


def random_jobs(rng, n: int, cols: int, acc_width: int) -> list[Job]:
    kinds = list(KINDS) + [str(k) for k in rng.choice(KINDS, max(0, n - len(KINDS)))]
    rng.shuffle(kinds)
    return [make_job(rng, k, cols, acc_width) for k in kinds[:max(n, len(KINDS))]]


# --------------------------------------------------------------------------
# Expectations and payload packing


def expected_beats(job: Job) -> list[dict]:
    res = rq.run_job(job.cfg, job.acc, job.mask, job.overflow)
    beats = job.acc.shape[0]
    out = []
    for n in res.emitted:
        last = n == beats - 1
        out.append({"code0": [int(x) for x in res.code0[n]],
                    "code1": [int(x) for x in res.code1[n]],
                    "mask": [int(x) for x in res.mask[n]], "last": int(last),
                    "amax": res.amax if last else 0, "overflow": int(res.overflow and last)})
    return out


@lru_cache(maxsize=None)
def _layout(which: str, cols: int, acc_width: int = 0):
    """The unit's layouts and their field tables, built once (Amaranth layouts are slow)."""
    from hw import quant_unit as qu
    lay = {"config": lambda: qu.config_layout(cols),
           "input": lambda: qu.input_layout(cols, acc_width),
           "output": lambda: qu.output_layout(cols, acc_width)}[which]()
    return lay, tuple(_fields(lay))


def _fields(layout):
    """(name, offset, width, count) of a StructLayout whose members are plain or
    ArrayLayout fields."""
    from amaranth.hdl import Shape
    from amaranth.lib import data
    out = []
    for name, f in layout:
        if isinstance(f.shape, data.ArrayLayout):
            out.append((name, f.offset, Shape.cast(f.shape.elem_shape).width, f.shape.length))
        else:
            out.append((name, f.offset, Shape.cast(f.shape).width, None))
    return out


def pack(fields, values: dict) -> int:
    word = 0
    for name, off, width, count in fields:
        v = values.get(name, 0)
        items = list(v) if count is not None else [v]
        mask = (1 << width) - 1
        if count is None and isinstance(v, (list, tuple, np.ndarray)):
            items = [sum((int(b) & 1) << i for i, b in enumerate(v))]   # bit vector
        for i, x in enumerate(items):
            word |= (int(x) & mask) << (off + i * width)
    return word


def unpack(fields, word: int) -> dict:
    out = {}
    for name, off, width, count in fields:
        mask = (1 << width) - 1
        if count is None:
            out[name] = (word >> off) & mask
        else:
            out[name] = [(word >> (off + i * width)) & mask for i in range(count)]
    return out


def config_word(cfg: rq.JobConfig, cols: int, *, mode_code=None) -> int:
    return pack(_layout("config", cols)[1], {
        "mode": rq.MODES[cfg.mode] if mode_code is None else mode_code,
        "rounding": int(cfg.rounding == "stochastic"), "emit": int(cfg.emit),
        "bias_en": int(cfg.bias is not None), "mantissa": cfg.mantissa, "shift": cfg.shift,
        "sigma": cfg.sigma, "seed": cfg.seed, "bias": list(cfg.bias or [0] * cols)})


def input_words(job: Job, acc_width: int) -> list[int]:
    lay = _layout("input", job.acc.shape[1], acc_width)[1]
    beats = job.acc.shape[0]
    return [pack(lay, {"data": list(job.acc[n]), "overflow": list(job.overflow[n]),
                       "mask": list(job.mask[n]), "last": int(n == beats - 1)})
            for n in range(beats)]


def output_dict(word: int, cols: int, acc_width: int) -> dict:
    d = unpack(_layout("output", cols, acc_width)[1], word)
    d["mask"] = [(d["mask"] >> c) & 1 for c in range(cols)]
    return d
