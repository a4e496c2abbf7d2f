"""Argument types and output checks shared by the ``radix4`` subcommands.

Every refusal is one line naming the flag (``--seed must be a non-negative
integer, got -1``), exit status 2, and happens before any work:

* ``positive_int("--epochs")``, ``non_negative_int("--seed")``,
  ``positive_float("--lr")`` (finite, > 0): argparse ``type=`` callables;
* ``add_lanes_argument(p)`` / ``add_pe_latency_argument(p)``: the one
  declaration of ``--lanes K`` (SPEC 2 and 4: the PE's dot-product width;
  ``--help`` shows the default) and ``--pe-latency`` for every command that
  builds a datapath;
* ``datapath_config(args, ...)``: the ``model.config.DatapathConfig`` of the
  command's ``--rows``/``--cols``/``--acc-width``/``--depth``/
  ``--pe-latency``/``--lanes`` (those the command and its design have),
  built once, before any build directory; a refusal names the flag;
* ``output_path(flag, path, inputs)``: a file the command will write
  (``model.fileio.check_output_path``), checked before the command runs;
  ``write_output(flag, path, writer)`` then writes it atomically and turns an
  ``OSError`` (full disk, ...) into the one-line error, the old file intact.
"""

from __future__ import annotations

import argparse
import math

from scripts.errors import CliError

__all__ = ["positive_int", "non_negative_int", "positive_float", "datapath_config",
           "output_path", "write_output", "lanes_type", "add_lanes_argument", "add_pe_model_argument",
           "add_pe_latency_argument", "add_pe_argument"]


def _int(flag: str, minimum: int, what: str, maximum: int | None = None):
    if maximum is not None:
        what = f"{what} <= {maximum:,}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be {what}, got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            shown = text if len(text) <= 24 else text[:21] + "..."
            raise argparse.ArgumentTypeError(f"{flag} must be {what}, got {shown}")
        return value
    parse.__name__ = what.replace(" ", "_")   # argparse names the type in some messages
    return parse


def positive_int(flag: str, maximum: int | None = None):
    """argparse ``type=``: an integer >= 1 (and <= ``maximum``); the error names ``flag``."""
    return _int(flag, 1, "a positive integer", maximum)


def non_negative_int(flag: str, maximum: int | None = None):
    """argparse ``type=``: an integer >= 0 (and <= ``maximum``); the error names ``flag``."""
    return _int(flag, 0, "a non-negative integer", maximum)


def positive_float(flag: str):
    """argparse ``type=``: a finite number > 0 (``inf`` and ``nan`` refused)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be a number, got {text!r}") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"{flag} must be a finite number > 0, got {text}")
        return value
    parse.__name__ = "positive_number"
    return parse


def lanes_type(text: str) -> int:
    """argparse ``type=`` of ``--lanes``: one of ``model.config.SUPPORTED_LANES``."""
    from model.config import SUPPORTED_LANES
    allowed = ", ".join(map(str, SUPPORTED_LANES))
    try:
        value = int(text)
    except ValueError:
        value = None
    if value not in SUPPORTED_LANES:
        shown = text if len(text) <= 24 else text[:21] + "..."
        raise argparse.ArgumentTypeError(f"--lanes must be one of {allowed} (the lane counts "
                                         f"the RTL implements), got {shown}")
    return value


lanes_type.__name__ = "lanes"


def add_lanes_argument(p, where: str = "") -> None:
    """``--lanes K`` (None when not given: the default, ``model.config.DEFAULT_LANES``)."""
    from model.config import DEFAULT_LANES, SUPPORTED_LANES
    p.add_argument("--lanes", type=lanes_type, default=None, metavar="K",
                   help=f"{where}dot-product lanes of each PE: K products a cycle, K in "
                        f"{', '.join(map(str, SUPPORTED_LANES))}; a GEMM's inner dimension "
                        f"is zero-padded to a multiple of K (default {DEFAULT_LANES})")


def add_pe_latency_argument(p, where: str = "") -> None:
    """``--pe-latency`` (None when not given: the default for the lanes)."""
    from model.config import PE_LATENCIES, SUPPORTED_LANES, default_pe_latency, pe_latencies
    multi = [k for k in SUPPORTED_LANES if k > 1]
    p.add_argument("--pe-latency", type=int, default=None, metavar="L",
                   help=f"{where}PE pipeline depth. One lane: "
                        f"{', '.join(map(str, PE_LATENCIES))} (1: product added in the same "
                        f"cycle, 2: registered product, 3: product in two stages; default "
                        f"{default_pe_latency(1)}). K lanes: 3..{max(pe_latencies(multi[-1]))} "
                        f"as the adder tree allows (default: "
                        + ", ".join(f"{default_pe_latency(k)} at K={k}" for k in multi) + ")")


def add_pe_model_argument(p) -> None:
    """``--pe-model`` (None when not given: ``rtl``): what the simulators run for each PE."""
    from model.config import PE_MODELS, PROVED_PE_MODELS
    proved = ", ".join(f"K={k} W={w}" for k, _, w in PROVED_PE_MODELS)
    p.add_argument("--pe-model", choices=PE_MODELS, default=None,
                   help="RTL simulation only: rtl (default) simulates the synthesizable PE; "
                        "proved its word-level model, which `make formal` proves equal to it "
                        f"cycle for cycle (K-lane PE at its default latency: {proved}; "
                        "refused elsewhere). `radix4 verilog` always emits the synthesizable PE")


def add_pe_argument(p, where: str = "") -> None:
    """``--pe KIND`` (None when not given: the radix-4 PE), the kinds of
    ``hw.pe_kinds.CLI_PE_KINDS``."""
    from hw.pe_kinds import CLI_PE_KINDS
    from model.config import DEFAULT_PE
    p.add_argument("--pe", choices=CLI_PE_KINDS, default=None,
                   help=f"{where}PE kind: {DEFAULT_PE} (default), or a block-scaled "
                        "dot-product PE (mxfp4, nvfp4: E2M1 codes with per-block scale fields, "
                        "a 64-bit accumulator; docs/formats.md)")


# DatapathConfig field -> the flag that sets it.
CONFIG_FLAGS = {"rows": "--rows", "cols": "--cols", "acc_width": "--acc-width",
                "depth": "--depth", "pe_latency": "--pe-latency", "lanes": "--lanes",
                "pe": "--pe", "pe_model": "--pe-model"}


def datapath_config(args, *, skip: tuple[str, ...] = (), **values):
    """The command's ``model.config.DatapathConfig``, built (and so validated)
    once: each field from its flag in ``args`` (absent or None: the default),
    except those in ``skip`` (a design without rows: the default), and
    ``values`` override.  ``CliError`` naming the flag on a bad value
    (``--rows must be in 1..64, got 0``)."""
    from model.config import ConfigError, DatapathConfig
    fields = {name: getattr(args, name, None) for name in CONFIG_FLAGS if name not in skip}
    fields.update(values)
    if fields.get("pe") is not None:
        import hw.pe_kinds  # noqa: F401  (registers the kinds' rules)
    try:
        return DatapathConfig.of(None, **fields)
    except ConfigError as exc:
        raise CliError(f"{CONFIG_FLAGS[exc.field]} {exc.problem}") from None


def output_path(flag: str, path, inputs: dict | None = None):
    """``Path`` of an output the command will write; ``CliError`` naming ``flag`` if it
    cannot be written or is the same file as one of ``inputs`` ({label: path})."""
    from model.fileio import OutputPathError, check_output_path
    try:
        return check_output_path(path, inputs)
    except OutputPathError as exc:
        raise CliError(f"{flag} {exc}") from None


def write_output(flag: str, path, writer, *args):
    """``writer(path, *args)`` (a ``model.fileio.atomic_*`` function); an ``OSError``
    becomes ``CliError`` (one line, exit 2) and leaves an existing ``path`` intact."""
    try:
        return writer(path, *args)
    except OSError as exc:
        raise CliError(f"{flag} {path}: cannot write: {exc.strerror or exc}") from None


def load_npy(path: str, label: str):
    """``np.load`` of a user's ``.npy`` / ``.npz`` file (no pickles); a
    missing or unreadable file is a one-line ``CliError`` naming ``label``."""
    import numpy as np
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise CliError(f"{label}: no such file: {path}") from None
    except (ValueError, OSError, EOFError) as exc:
        raise CliError(f"{label}: not a readable .npy/.npz file: {path} ({exc})") from None
