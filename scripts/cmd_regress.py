"""``radix4 regress``: the cocotb benches over many seeds on a Dask cluster.

Exit 0 iff every bench passed for every seed, 1 if any failed (each failure
printed with its replay command), 2 on bad input.  Details: docs/scale-out.md.
"""

from __future__ import annotations

import sys

from scripts.errors import CliError

HELP = "Run the cocotb benches over many seeds as Dask tasks; exit 0 iff all pass."


def add_arguments(p):
    from scripts.argtypes import non_negative_int, positive_float, positive_int
    from scripts.dask_options import add_dask_arguments
    p.add_argument("--seeds", type=positive_int("--seeds"), default=10, metavar="N",
                   help="run every bench with seeds FIRST..FIRST+N-1 (default 10)")
    p.add_argument("--first-seed", type=non_negative_int("--first-seed"), default=1,
                   metavar="FIRST",
                   help="first seed (default 1)")
    p.add_argument("--sim", default="both", choices=("verilator", "icarus", "both"),
                   help="benches of which simulator (default both)")
    p.add_argument("--tests", nargs="+", default=None, metavar="PATH",
                   help="pytest files or node ids to run instead of the cocotb benches in verif/")
    p.add_argument("--timeout", type=positive_float("--timeout"), default=1800, metavar="S",
                   help="seconds allowed for one bench file and seed (default 1800)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_dask_arguments(p)


def run(args) -> int:
    from scripts.dask_options import dask_options
    dask = dask_options(args) or {"workers": _cores()}

    from sim.regress import DEFAULT_TESTS, SIMS, collect, run_regression
    sims = SIMS if args.sim == "both" else (args.sim,)
    benches = collect(tuple(args.tests or DEFAULT_TESTS), sims)
    if not benches:
        raise CliError(f"no benches selected ({' '.join(args.tests or DEFAULT_TESTS)}, "
                       f"--sim {args.sim})")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))

    from sim.dask_session import DaskSession
    with DaskSession(**dask) as session:
        print(f"regress: {len(benches)} benches x {len(seeds)} seeds "
              f"({args.sim}) = {len(benches) * len(seeds)} runs on {session.label}",
              flush=True)
        reg = run_regression(session.client, benches, seeds, timeout=args.timeout,
                             progress=not args.no_progress)
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
    print(f"summary: {len(reg.results) - len(fails)}/{len(reg.results)} runs passed, "
          f"{len(seeds)} seeds, {reg.seconds:.1f} s")
    if fails:
        print(f"FAILED {len(fails)} run(s); replay each with:")
        for r in fails:
            print(f"  {r.replay}    # {r.message}")
        return 1
    return 0


def _cores() -> int:
    from sim.dask_session import default_workers
    return default_workers()
