"""Fmax of one design over several nextpnr seeds (median), with its critical path.

``python -m scripts.timing_seeds --design array --rows 8 --cols 8 --seeds 1 2 3``

One Yosys run (``synth_ecp5 -nodsp``, the report's headline flow, with the
same script as ``radix4 synth``: ``hw.synth_yosys``), then one nextpnr run
per seed on the LFE5U-25F (out of context, the same target clock and
options as the report).  Prints, per seed, the achieved Fmax and the
critical path (start and end cells, logic and routing delay, the longest
routed nets), then the median Fmax, LUT4 and FF.  ``radix4 synth`` places
with one seed; nextpnr's result moves by several percent from seed to seed,
so changes to timing are judged on this median (docs/timing.md).

Results go to ``<workdir>/timing.json`` (atomically); the tools' logs and
reports stay in ``<workdir>``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

__all__ = ["critical_path_summary", "main", "median_fmax"]


def median_fmax(fmaxes: list) -> float | None:
    """Median of the seeds that finished (None if none did)."""
    done = [f for f in fmaxes if f is not None]
    return statistics.median(done) if done else None


def critical_path_summary(report: dict, top_nets: int = 4) -> dict:
    """The worst path of a nextpnr ``--report`` JSON: endpoints, delays, longest nets."""
    paths = report.get("critical_paths") or []
    if not paths:
        return {}
    steps = paths[0].get("path", [])
    logic = sum(s["delay"] for s in steps if s.get("type") != "routing")
    routing = sum(s["delay"] for s in steps if s.get("type") == "routing")
    nets = sorted((s for s in steps if s.get("type") == "routing"),
                  key=lambda s: -s["delay"])[:top_nets]
    return {
        "from": steps[0]["from"]["cell"] if steps else None,
        "to": steps[-1]["to"]["cell"] if steps else None,
        "levels": sum(1 for s in steps if s.get("type") == "logic"),
        "logic_ns": round(logic, 3), "routing_ns": round(routing, 3),
        "longest_nets": [(s.get("net"), round(s["delay"], 3)) for s in nets],
    }


def _design(args):
    from hw.synth_designs import Design
    if args.design == "pe":
        return Design("radix4_pe", "radix-4 PE", "pe", latency=args.latency)
    return Design(f"radix4_array_{args.rows}x{args.cols}", "radix-4 array", "array",
                  args.rows, args.cols)


def _parser():
    p = argparse.ArgumentParser(prog="python -m scripts.timing_seeds",
                                description=__doc__.split("\n")[0])
    p.add_argument("--design", choices=("array", "pe"), default="array")
    p.add_argument("--rows", type=int, default=8)
    p.add_argument("--cols", type=int, default=8)
    p.add_argument("--latency", type=int, default=None, help="PE latency (--design pe)")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--jobs", type=int, default=1, help="nextpnr runs at once")
    p.add_argument("--timeout", type=float, default=3600.0, help="per nextpnr run, seconds")
    p.add_argument("--workdir", default=None, help="default: build/timing/<design key>")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    if args.rows < 1 or args.cols < 1 or args.jobs < 1 or not args.seeds:
        print("timing_seeds: error: rows, cols, jobs must be >= 1 and a seed given",
              file=sys.stderr)
        return 2
    from hw import synth as hs
    from model import paths
    from model.fileio import atomic_write_text

    design = _design(args)
    workdir = Path(args.workdir) if args.workdir else paths.build_dir("timing") / design.key
    flow = "ecp5_nodsp"
    start = time.monotonic()
    print(f"{design.key}: yosys {flow} ...", flush=True)
    synth = hs.synthesize(design, workdir, flows=[flow], for_pnr=design.kind == "pe",
                          netlists={flow: f"{flow}.json"})
    luts, ffs = synth.luts(flow), synth.ffs(flow)
    print(f"{design.key}: {luts} LUT4, {ffs} FF ({synth.seconds:.0f} s)", flush=True)

    def one(seed):
        res = hs.place_and_route(workdir / f"{flow}.json", hs.ECP5_25K, workdir,
                                 timeout=args.timeout, seed=seed)
        stem = f"{flow}_{hs.ECP5_25K.name}" + ("" if seed == hs.SEED else f"_s{seed}")
        report = workdir / f"{stem}_report.json"
        path = critical_path_summary(json.loads(report.read_text())) if report.exists() else {}
        fmax = "skipped" if res.fmax_mhz is None else f"{res.fmax_mhz:.1f} MHz"
        print(f"  seed {seed}: {fmax} ({res.seconds:.0f} s) {path.get('from')} -> "
              f"{path.get('to')}: logic {path.get('logic_ns')} ns, routing "
              f"{path.get('routing_ns')} ns, nets {path.get('longest_nets')}", flush=True)
        return {"seed": seed, "fmax_mhz": res.fmax_mhz, "seconds": round(res.seconds),
                "skipped": res.skipped, "critical_path": path}

    with ThreadPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(one, args.seeds))
    med = median_fmax([r["fmax_mhz"] for r in runs])
    out = {"design": design.key, "device": hs.ECP5_25K.name, "flow": flow, "luts": luts,
           "ffs": ffs, "seeds": runs, "median_fmax_mhz": med,
           "target_mhz": hs.ECP5_TARGET_MHZ, "seconds": round(time.monotonic() - start)}
    atomic_write_text(workdir / "timing.json", json.dumps(out, indent=1))
    print(f"{design.key}: median Fmax {med if med is None else round(med, 1)} MHz over seeds "
          f"{args.seeds}, {luts} LUT4, {ffs} FF; {workdir / 'timing.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
