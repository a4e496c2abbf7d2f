"""Place and route a large radix-4 array on an ECP5: resources, Fmax, GMAC/s, wall times.

``python -m scripts.route_array --rows 8 --cols 8 --lanes 8 --device 85k --timeout S``

The flat netlist is built hierarchically (``scripts.stitch_array``: the PE
synthesized once, the glue with black-box PEs, both linked and flattened),
then nextpnr-ecp5 runs once (``hw.synth_pnr.place_and_route``: the report's
options, one thread, ``--timing-allow-fail``, out of context, seed 1) with
the budget ``--timeout``.  A watcher reads nextpnr's log while it runs and
times placement and routing; a run stopped by the budget reports how far it
got (``hw.synth_pnr``'s log reader).

Writes ``<workdir>/route.json`` (atomically); ``--pnr-log`` also links
nextpnr's log there (to follow it while it runs).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

__all__ = ["PhaseWatcher", "main"]

DEVICES = ("25k", "85k")
# nextpnr log lines that start a phase (first occurrence wins).
PHASE_MARKS = (("place", "Info: Placed "), ("route", "Info: Routing.."),
               ("done", "Info: Program finished normally."))


class PhaseWatcher(threading.Thread):
    """Polls a growing nextpnr log and records when each phase first shows."""

    def __init__(self, log: Path, poll: float = 5.0):
        super().__init__(daemon=True)
        self.log, self.poll = log, poll
        self.start_time = time.monotonic()
        self.seen: dict[str, float] = {}
        self._halt = threading.Event()

    def check(self) -> None:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return
        now = time.monotonic() - self.start_time
        for phase, mark in PHASE_MARKS:
            if phase not in self.seen and mark in text:
                self.seen[phase] = now

    def run(self):
        while not self._halt.wait(self.poll):
            self.check()

    def stop(self) -> dict:
        """Phase wall times in seconds: pack (to the first placed cell),
        place (to the router's start), route (to the end, or to now)."""
        self._halt.set()
        self.check()
        end = time.monotonic() - self.start_time
        s = self.seen
        out = {"pack": s.get("place", end)}
        if "place" in s:
            out["place"] = s.get("route", end) - s["place"]
        if "route" in s:
            out["route"] = s.get("done", end) - s["route"]
        return {k: round(v) for k, v in out.items()}


def _parser():
    p = argparse.ArgumentParser(prog="python -m scripts.route_array",
                                description=__doc__.split("\n")[0])
    p.add_argument("--rows", type=int, default=8)
    p.add_argument("--cols", type=int, default=8)
    p.add_argument("--lanes", type=int, default=8)
    p.add_argument("--device", choices=DEVICES, default="85k")
    p.add_argument("--timeout", type=float, default=7200.0, help="nextpnr budget, seconds")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workdir", default=None,
                   help="default: build/route/radix4_array_<R>x<C>_k<K>")
    p.add_argument("--pnr-log", default=None, help="also link nextpnr's log here")
    return p


def main(argv=None) -> int:
    args = _parser().parse_args(argv)
    from model.config import DatapathConfig
    try:
        if args.timeout <= 0:
            raise ValueError(f"--timeout must be > 0, got {args.timeout}")
        config = DatapathConfig(rows=args.rows, cols=args.cols, acc_width=32, lanes=args.lanes)
    except ValueError as exc:
        print(f"route_array: error: {exc}", file=sys.stderr)
        return 2
    from hw.array import default_pe_class
    from hw.synth_pnr import ECP5_25K, ECP5_85K, place_and_route
    from model import paths
    from model.fileio import atomic_write_text
    from scripts.stitch_array import stitch_array

    device = {"25k": ECP5_25K, "85k": ECP5_85K}[args.device]
    key = f"radix4_array_{args.rows}x{args.cols}_k{args.lanes}"
    workdir = Path(args.workdir) if args.workdir else paths.build_dir("route") / key
    macs = args.rows * args.cols * args.lanes
    start = time.monotonic()
    st = stitch_array(config, default_pe_class(args.lanes), workdir,
                      step=lambda s: print(s, flush=True))
    print(f"{key}: {st.flat_lut4} LUT4, {st.flat_ff} FF flat (= composed: PE "
          f"{st.composed_lut4 - st.glue_lut4} + glue {st.glue_lut4} LUT4); synth "
          f"{ {k: round(v) for k, v in st.seconds.items()} } s", flush=True)
    result = {"design": key, "device": device.name, "macs_per_cycle": macs,
              "lut4": st.flat_lut4, "ff": st.flat_ff, "glue_lut4": st.glue_lut4,
              "lut4_fill": round(st.flat_lut4 / device.luts, 4),
              "synth_seconds": {k: round(v) for k, v in st.seconds.items()},
              "timeout": args.timeout, "seed": args.seed, "cells": st.flat_cells}
    out = workdir / "route.json"
    atomic_write_text(out, json.dumps(result, indent=1))

    stem = f"array_{device.name}" + ("" if args.seed == 1 else f"_s{args.seed}")
    log = st.netlist.parent / f"{stem}.log"
    if args.pnr_log:
        link = Path(args.pnr_log)
        link.unlink(missing_ok=True)
        link.symlink_to(log.resolve())
    print(f"{key}: nextpnr on {device.name}, budget {args.timeout:.0f} s, log {log}", flush=True)
    watcher = PhaseWatcher(log)
    watcher.start()
    r = place_and_route(st.netlist, device, st.netlist.parent, timeout=args.timeout,
                        seed=args.seed)
    result["pnr_seconds"] = watcher.stop()
    result["pnr_total_seconds"] = round(r.seconds)
    result.update({"fmax_mhz": r.fmax_mhz, "skipped": r.skipped, "utilization": r.utilization,
                   "gmac_per_s": None if r.fmax_mhz is None else macs * r.fmax_mhz / 1000,
                   "seconds": round(time.monotonic() - start)})
    atomic_write_text(out, json.dumps(result, indent=1))
    if r.fmax_mhz is None:
        print(f"{key}: not routed: {r.skipped}; phases {result['pnr_seconds']} s; {out}")
    else:
        print(f"{key}: Fmax {r.fmax_mhz:.1f} MHz, {result['gmac_per_s']:.1f} GMAC/s "
              f"({macs} MAC/cycle); phases {result['pnr_seconds']} s; {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
