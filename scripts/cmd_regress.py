"""``radix4 regress``: the cocotb benches over many seeds on a Dask cluster.

Exit 0 iff every bench passed for every seed and every coverage bin was hit
over the merged seeds, 1 otherwise (each failure printed with its one-seed
replay command), 2 on bad input.  Details: docs/scale-out.md.
"""

from __future__ import annotations

import sys

from scripts.errors import CliError

HELP = "Run the cocotb benches over many seeds as Dask tasks; exit 0 iff all pass."


# One regression is at most this many seeds: 10^5 seeds x ~23 benches x 2
# simulators is already days of simulation; a typo like 10^9 must not build a
# billion-entry list (issue 24).  Seeds are 32-bit (cocotb's RANDOM_SEED).
MAX_SEEDS = 100_000
MAX_SEED = 2**32 - 1


def add_arguments(p):
    from scripts.argtypes import non_negative_int, positive_float, positive_int
    from scripts.dask_options import add_dask_arguments
    p.add_argument("--seeds", type=positive_int("--seeds", MAX_SEEDS), default=10, metavar="N",
                   help=f"run every bench with seeds FIRST..FIRST+N-1 (default 10, at most "
                        f"{MAX_SEEDS:,})")
    p.add_argument("--first-seed", type=non_negative_int("--first-seed", MAX_SEED - MAX_SEEDS),
                   default=1,
                   metavar="FIRST",
                   help="first seed (default 1)")
    p.add_argument("--sim", default="both", choices=("verilator", "icarus", "both"),
                   help="benches of which simulator (default both)")
    p.add_argument("--tests", nargs="+", default=None, metavar="PATH",
                   help="pytest files or node ids to run instead of the cocotb benches in verif/")
    p.add_argument("--timeout", type=positive_float("--timeout"), default=600, metavar="S",
                   help="seconds allowed per seed of a task (one bench file on one simulator "
                        "for a chunk of seeds; default 600)")
    p.add_argument("--chunk", type=positive_int("--chunk"), default=None, metavar="K",
                   help="seeds per task, simulated in one run per bench (default: 3 or more "
                        "tasks per worker, at most 50)")
    p.add_argument("--full-depth", action="store_true",
                   help="each seed at the default pytest depth with per-seed coverage closure "
                        "(default: the regress profile, RADIX4_REGRESS=1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_dask_arguments(p)


def run(args) -> int:
    from model.paths import require_checkout
    require_checkout("radix4 regress (it runs the cocotb benches of verif/ with pytest)")
    from scripts.dask_options import dask_options
    dask = dask_options(args) or {"workers": _cores()}

    from sim.regress import DEFAULT_TESTS, SIMS, chunk_size, collect, run_regression
    sims = SIMS if args.sim == "both" else (args.sim,)
    benches = collect(tuple(args.tests or DEFAULT_TESTS), sims)
    if not benches:
        raise CliError(f"no benches selected ({' '.join(args.tests or DEFAULT_TESTS)}, "
                       f"--sim {args.sim})")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))

    from sim.dask_session import DaskSession
    regress = not args.full_depth
    with DaskSession(**dask) as session:
        groups = len({(b.path, b.sim) for b in benches})
        workers = len(session.client.scheduler_info().get("workers", {}))
        chunk = args.chunk or chunk_size(len(seeds), groups, workers)
        print(f"regress: {len(benches)} benches x {len(seeds)} seeds "
              f"({args.sim}) = {len(benches) * len(seeds)} runs; "
              f"{'regress profile' if regress else 'full depth'}, up to {chunk} seeds "
              f"per simulation; on {session.label}", flush=True)
        reg = run_regression(session.client, benches, seeds, timeout=args.timeout,
                             progress=not args.no_progress, chunk=chunk, regress=regress)
    by_seed: dict = {}
    for r in reg.results:
        by_seed.setdefault(r.seed, []).append(r)
    for seed, rs in sorted(by_seed.items()):
        bad = [r for r in rs if not r.passed]
        line = f"seed {seed}: {len(rs) - len(bad)}/{len(rs)} passed"
        if bad:
            line += "; FAILED " + ", ".join(r.bench.nodeid for r in bad)
        print(line)
    fails = reg.failures
    gaps = reg.coverage_gaps()
    for nodeid, n, missing in gaps:
        print(f"coverage: {nodeid}: {len(missing)} bins never hit over {n} seeds: "
              f"{', '.join(missing[:20])}")
    if reg.coverage:
        print(f"coverage: {len(reg.coverage) - len(gaps)}/{len(reg.coverage)} benches hit "
              "every bin over the merged seeds")
    print(f"summary: {len(reg.results) - len(fails)}/{len(reg.results)} runs passed, "
          f"{len(seeds)} seeds, {reg.tasks} tasks, {reg.seconds:.1f} s")
    if fails:
        print(f"FAILED {len(fails)} run(s); replay each with:")
        for r in fails:
            print(f"  {r.replay}    # {r.message}")
    return 1 if fails or gaps else 0


def _cores() -> int:
    from sim.dask_session import default_workers
    return default_workers()
