"""Soak: many random GEMM outputs through the simulated tile under random
valid/ready stalls, every one checked against the golden model.

``python -m sim.soak [--sim verilator|icarus|both] [--outputs N] [--seed S]``
(``make soak``: 10^6 outputs on each simulator).  Exit 0 iff no mismatch.

Vehicle: the driver path (``sim.backends.RtlBackend.tile_gemm``): the host
testbench streams the jobs into the tile with random gaps on the ``cmd`` and
``load`` valids and random stalls on the ``result`` ready, drawn per cycle in
Verilog (``sim.host``), so Python acts once per GEMM and 10^6 outputs are
affordable on Icarus too.  Each GEMM draws, from ``default_rng([seed, i])``
(so GEMM ``i`` replays alone with ``--seed S --gemm i``):

- a format pair: every (A, B) pair of ``model.formats`` the datapath runs,
  FP4 on B included (transposed);
- an accumulator width from ``--acc-widths`` (one build each);
- a gap and a stall probability per cycle, 0 or up to ``--stall-max``
  permille, and the testbench's generator seed;
- ``random`` (most): M, N up to 4 tiles, K mostly short, sometimes around
  the bank depth (job chains with ``accumulate``) or log-uniform up to 3
  banks, codes uniform with a quarter drawn from ``extreme_codes``;
- ``boundary`` (overflow-prone): one tile of top-magnitude codes whose
  products all have one sign, at the narrowest width, with K drawn from two
  beats before the first output's sum leaves the range to two after the
  last one's, so flagged and unflagged outputs sit next to the edge.

An output matches iff its overflow flag equals ``model.gemm.overflow_mask``
and, unflagged, its value equals ``model.gemm.gemm_exact`` (SPEC 2 leaves a
flagged output's value open).  Figures: docs/verification.md, "Soak".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from model.formats import FORMATS, int_value
from model.hw_vocab import extreme_codes, hardware_orientation, side_formats
from model.config import acc_range, check_acc_width
from model.gemm import gemm_exact, overflow_mask

__all__ = ["PAIRS", "SoakGemm", "make_gemm", "count_mismatches", "run_soak", "main"]

SIMS = ("verilator", "icarus")
def _pairs() -> tuple[tuple[str, str], ...]:
    names = list(dict.fromkeys((*side_formats("a"), *side_formats("b"))))
    out = []
    for fa in names:
        for fb in names:
            try:
                hardware_orientation(fa, fb)
            except ValueError:
                continue
            out.append((fa, fb))
    return tuple(out)


# Every (A, B) pair of the format table that the datapath runs in some orientation.
PAIRS = _pairs()


@dataclass(frozen=True)
class SoakConfig:
    rows: int = 8
    cols: int = 8
    depth: int = 64
    acc_widths: tuple = (32, 18)
    stall_max: int = 500        # permille
    max_k: int = 4096
    boundary_fraction: float = 0.05


@dataclass
class SoakGemm:
    index: int
    kind: str
    a: np.ndarray
    b: np.ndarray
    a_format: str
    b_format: str
    acc_width: int
    gap_permille: int
    stall_permille: int
    sim_seed: int

    @property
    def outputs(self) -> int:
        return self.a.shape[0] * self.b.shape[1]

    def describe(self) -> str:
        m, k = self.a.shape
        return (f"GEMM {self.index} ({self.kind}) {m}x{k}x{self.b.shape[1]} "
                f"{self.a_format}x{self.b_format} acc{self.acc_width} "
                f"gap {self.gap_permille}/1000 stall {self.stall_permille}/1000 "
                f"testbench seed {self.sim_seed}")


def _codes(rng, fmt, shape):
    spec = FORMATS[fmt]
    codes = rng.integers(spec.code_min, spec.code_max + 1, shape)
    ext = np.array(extreme_codes(fmt))
    pick = rng.random(shape) < 0.25
    codes[pick] = ext[rng.integers(0, len(ext), int(pick.sum()))]
    return codes.astype(spec.dtype)


def _top_codes(fmt, sign: int) -> np.ndarray:
    """The codes with the two largest magnitudes of ``sign`` (one code per value)."""
    codes = np.arange(FORMATS[fmt].code_min, FORMATS[fmt].code_max + 1)
    values = int_value(codes, fmt)
    keep = values * sign > 0
    mags = np.unique(np.abs(values[keep]))[-2:]
    picked = {int(v): int(c) for c, v in zip(codes[keep], values[keep]) if abs(v) in mags}
    return np.array(sorted(picked.values()))


def _signed_operand(rng, fmt, signs, other_len, axis):
    """Codes of ``fmt`` whose values have, along ``axis``, the per-k ``signs``."""
    shape = (other_len, len(signs)) if axis == 1 else (len(signs), other_len)
    out = np.zeros(shape, np.int64)
    for sign in (-1, 1):
        ks = np.flatnonzero(signs == sign)
        if ks.size == 0:
            continue
        top = _top_codes(fmt, sign)
        sub = (other_len, ks.size) if axis == 1 else (ks.size, other_len)
        vals = top[rng.integers(0, len(top), sub)]
        if axis == 1:
            out[:, ks] = vals
        else:
            out[ks, :] = vals
    return out.astype(FORMATS[fmt].dtype)


def _boundary(rng, fa, fb, width, cfg):
    m, n = int(rng.integers(1, cfg.rows + 1)), int(rng.integers(1, cfg.cols + 1))
    signed_a, signed_b = FORMATS[fa].code_min < 0 or FORMATS[fa].is_log, \
        FORMATS[fb].code_min < 0 or FORMATS[fb].is_log
    s = int(rng.choice([-1, 1])) if signed_a or signed_b else 1
    k = cfg.max_k
    if not signed_a:
        sa = np.ones(k, np.int64)
    elif not signed_b:
        sa = np.full(k, s, np.int64)
    else:
        sa = rng.choice([-1, 1], k)
    a = _signed_operand(rng, fa, sa, m, axis=1)
    b = _signed_operand(rng, fb, s * sa, n, axis=0)
    lo, hi = acc_range(width)
    va, vb = int_value(a, fa), int_value(b, fb)
    prefix = np.cumsum(va[:, :, None] * vb[None, :, :], axis=1)      # m x K x n
    out_of_range = (prefix < lo) | (prefix > hi)
    crossed = out_of_range.any(axis=1)
    if crossed.any():
        first = out_of_range.argmax(axis=1)[crossed] + 1              # K at which it leaves
        k = int(rng.integers(max(1, first.min() - 2), min(cfg.max_k, first.max() + 2) + 1))
    else:
        k = int(rng.integers(cfg.max_k // 2, cfg.max_k + 1))
    return a[:, :k], b[:k]


def make_gemm(seed: int, index: int, cfg: SoakConfig) -> SoakGemm:
    """GEMM ``index`` of the soak with ``seed`` (a pure function of both)."""
    rng = np.random.default_rng([seed, index])
    fa, fb = PAIRS[int(rng.integers(len(PAIRS)))]
    width = int(rng.choice(cfg.acc_widths))
    gap, stall = (int(rng.integers(0, cfg.stall_max + 1)) if rng.random() < 0.8 else 0
                  for _ in range(2))
    sim_seed = int(rng.integers(1, 1 << 32))
    if rng.random() < cfg.boundary_fraction:
        width = min(cfg.acc_widths)
        a, b = _boundary(rng, fa, fb, width, cfg)
        kind = "boundary"
    else:
        m = int(rng.integers(1, 4 * cfg.rows + 1))
        n = int(rng.integers(1, 4 * cfg.cols + 1))
        r = rng.random()
        if r < 0.80:
            k = int(rng.integers(1, cfg.rows + cfg.cols + 3))
        elif r < 0.90:
            k = int(rng.choice([cfg.depth - 1, cfg.depth, cfg.depth + 1, 2 * cfg.depth + 1]))
        elif r < 0.99:
            k = int(np.exp(rng.uniform(0, np.log(3 * cfg.depth))))
        else:
            k = 0
        a, b = _codes(rng, fa, (m, k)), _codes(rng, fb, (k, n))
        kind = "random"
    return SoakGemm(index, kind, a, b, fa, fb, width, gap, stall, sim_seed)


def count_mismatches(g: SoakGemm, out: np.ndarray, overflow: np.ndarray) -> int:
    """Outputs of ``g`` where the RTL disagrees with the golden model."""
    exact = gemm_exact(g.a, g.b, g.a_format, g.b_format)
    mask = overflow_mask(g.a, g.b, g.a_format, g.b_format, g.acc_width)
    bad = (overflow != mask) | (~mask & (out != exact))
    return int(bad.sum())


@dataclass
class SoakResult:
    sim: str
    seed: int
    outputs: int = 0
    gemms: int = 0
    overflowed: int = 0
    cycles: int = 0
    mismatches: int = 0
    seconds: float = 0.0
    failures: list = field(default_factory=list)
    kinds: dict = field(default_factory=dict)
    counter_digest: str = ""    # of every GEMM's counters: equal on every simulator


def run_soak(sim: str, outputs: int, seed: int, cfg: SoakConfig = SoakConfig(), *,
             gemm: int | None = None, progress: bool = True,
             max_failures: int = 1 << 62) -> SoakResult:
    """GEMMs 0, 1, ... (or only ``gemm``) on ``sim`` until ``outputs`` outputs
    ran (or ``max_failures`` GEMMs failed)."""
    from tqdm import tqdm

    from .backends import RtlBackend, SimulationError

    res = SoakResult(sim, seed)
    digest = hashlib.sha256()
    backends: dict[int, RtlBackend] = {}
    t0 = time.monotonic()
    bar = tqdm(total=outputs if gemm is None else None, unit="out", unit_scale=True,
               desc=f"soak {sim}", disable=not progress, file=sys.stderr)
    try:
        index = 0 if gemm is None else gemm
        while True:
            g = make_gemm(seed, index, cfg)
            be = backends.get(g.acc_width)
            if be is None:
                be = backends[g.acc_width] = RtlBackend(
                    sim, rows=cfg.rows, cols=cfg.cols, acc_width=g.acc_width, depth=cfg.depth)
            be.gap_permille, be.stall_permille, be.seed = g.gap_permille, g.stall_permille, \
                g.sim_seed
            try:
                out, overflow = be.tile_gemm(g.a, g.b, g.a_format, g.b_format,
                                             name=f"soak{index}")
                bad, why = count_mismatches(g, out, overflow), "outputs"
            except SimulationError as exc:
                # A hang (timeout), rows out of order or counters that do not
                # add up: every output of the GEMM counts as wrong, and the
                # simulation is restarted for the next GEMM.
                out = overflow = None
                bad, why = g.outputs, f"outputs: {str(exc).splitlines()[0][:200]}"
                be.close()
                del backends[g.acc_width]
            res.gemms += 1
            res.outputs += g.outputs
            res.kinds[g.kind] = res.kinds.get(g.kind, 0) + 1
            if overflow is not None:
                res.overflowed += int(overflow.sum())
                res.cycles += be.last_stats.get("cycles", 0)
                digest.update(repr(sorted(be.last_stats.items())).encode())
            if bad:
                res.mismatches += bad
                print(f"MISMATCH {sim}: {g.describe()}: {bad} of {g.outputs} {why}", flush=True)
                res.failures.append(index)
            bar.update(g.outputs)
            index += 1
            if gemm is not None or res.outputs >= outputs or len(res.failures) >= max_failures:
                break
    finally:
        bar.close()
        for be in backends.values():
            be.close()
        res.seconds = time.monotonic() - t0
        res.counter_digest = digest.hexdigest()[:16]
    return res


def _widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(check_acc_width(int(w)) for w in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return widths


def _positive(text: str) -> int:
    v = int(float(text))
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return v


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m sim.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--sim", choices=(*SIMS, "both"), default="both")
    p.add_argument("--outputs", type=_positive, default=1_000_000,
                   help="GEMM outputs per simulator (default 10^6; 1e6 notation accepted)")
    p.add_argument("--seed", type=int, default=None, help="replay a run (default: random, printed)")
    p.add_argument("--gemm", type=int, default=None, help="run only GEMM I of --seed (replay)")
    p.add_argument("--rows", type=_positive, default=SoakConfig.rows)
    p.add_argument("--cols", type=_positive, default=SoakConfig.cols)
    p.add_argument("--depth", type=_positive, default=SoakConfig.depth)
    p.add_argument("--acc-widths", type=_widths, default=SoakConfig.acc_widths,
                   help="accumulator widths, comma-separated (default 32,18)")
    p.add_argument("--stall-max", type=int, default=SoakConfig.stall_max,
                   help="largest gap/stall probability, permille (default 500)")
    p.add_argument("--max-failures", type=_positive, default=1 << 62,
                   help="stop after this many failing GEMMs (default: never)")
    p.add_argument("--json", help="also write the summary here")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if not 0 <= args.stall_max < 1000:
        p.error("--stall-max must be in [0, 1000)")
    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    cfg = SoakConfig(args.rows, args.cols, args.depth, args.acc_widths, args.stall_max)
    print(f"soak: seed {seed} (replay: python -m sim.soak --seed {seed}); "
          f"{args.rows}x{args.cols} tile, depth {args.depth}, acc widths "
          f"{','.join(map(str, cfg.acc_widths))}, stalls up to {cfg.stall_max}/1000", flush=True)
    sims = SIMS if args.sim == "both" else (args.sim,)
    results = []
    for sim in sims:
        r = run_soak(sim, args.outputs, seed, cfg, gemm=args.gemm,
                     progress=not args.no_progress, max_failures=args.max_failures)
        results.append(r)
        print(f"soak {sim}: {r.outputs} outputs, {r.gemms} GEMMs {r.kinds}, {r.overflowed} "
              f"flagged overflow, {r.cycles} cycles, {r.seconds:.0f} s, counters "
              f"{r.counter_digest}, mismatches {r.mismatches}", flush=True)
        for i in r.failures[:20]:
            print(f"  replay: python -m sim.soak --sim {sim} --seed {seed} --gemm {i}")
    # Same seed, same GEMMs: the tile's counters must agree too (docs/driver.md).
    counters_differ = len({r.counter_digest for r in results}) > 1
    if counters_differ:
        print("soak: the simulators' counters differ (digests above)", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{k: v for k, v in vars(r).items()} for r in results], f, indent=1)
    return 1 if counters_differ or any(r.mismatches for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
