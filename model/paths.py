"""Where radix4 keeps what it builds, and whether it runs from a source checkout.

    build_dir("sim")           # <checkout>/build/sim, or <user cache>/sim when installed
    checkout_root()            # the checkout's root, or None for an installed wheel
    require_checkout("make results (rewrites docs/results.md)")   # CheckoutRequired if installed

Build caches (simulator models, the host testbench, the C++ reference,
synthesis and formal work directories) live under one root:

- in a checkout (an editable install, or ``python -m`` in the repository):
  its ``build/``, as always -- nothing moves for developers and CI, and each
  mutated copy of ``verif.mutate`` keeps its own;
- in an installed wheel: the user cache, ``$RADIX4_CACHE`` if set, else
  ``$XDG_CACHE_HOME/radix4``, else ``~/.cache/radix4`` -- never site-packages.

``RADIX4_SIM_BUILD`` and ``RADIX4_CXX_BUILD`` still move the simulator and
C++ reference caches on their own (``verif.toolchain``, ``sim.reference``).

It lives in ``model`` (which imports nothing of ours) so that every layer,
and the lazily imported CLI commands, can ask without importing Amaranth.
"""

from __future__ import annotations

import functools
import os
import tomllib
from pathlib import Path

__all__ = ["SOURCE_ROOT", "checkout_root", "cache_home", "build_root", "build_dir",
           "CheckoutRequired", "require_checkout", "PROJECT"]

PROJECT = "radix4"
# The directory that holds model/, hw/, verif/, sim/ and scripts/: the
# checkout, or site-packages for an installed wheel.
SOURCE_ROOT = Path(__file__).resolve().parents[1]


class CheckoutRequired(ValueError):
    """A command that writes into the source tree was run from an installed wheel."""


@functools.lru_cache(maxsize=None)
def checkout_root() -> Path | None:
    """The source checkout these packages are imported from, or None if installed.

    A checkout is recognised by its ``pyproject.toml`` naming this project
    next to the packages; a wheel installs none into site-packages.
    """
    try:
        meta = tomllib.loads((SOURCE_ROOT / "pyproject.toml").read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    return SOURCE_ROOT if meta.get("project", {}).get("name") == PROJECT else None


def cache_home() -> Path:
    """The user cache of an installed radix4 (``$RADIX4_CACHE``, else XDG's, else ~/.cache)."""
    if os.environ.get("RADIX4_CACHE"):
        return Path(os.environ["RADIX4_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / PROJECT


def build_root() -> Path:
    """Root of every build cache: the checkout's ``build/``, else the user cache
    (``cache_home``)."""
    root = checkout_root()
    return root / "build" if root is not None else cache_home()


def build_dir(*parts: str) -> Path:
    """``build_root()/parts...`` (not created)."""
    return build_root().joinpath(*parts)


def require_checkout(what: str) -> Path:
    """The checkout's root, or ``CheckoutRequired`` naming ``what`` needs one."""
    root = checkout_root()
    if root is None:
        raise CheckoutRequired(
            f"{what} needs a radix4 source checkout; this radix4 is installed in "
            f"{SOURCE_ROOT} (git clone the repository and run it there)")
    return root
