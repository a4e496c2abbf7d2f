"""Argument types and output checks shared by the ``radix4`` subcommands.

Every refusal is one line naming the flag (``--seed must be a non-negative
integer, got -1``), exit status 2, and happens before any work:

* ``positive_int("--epochs")``, ``non_negative_int("--seed")``,
  ``positive_float("--lr")`` (finite, > 0): argparse ``type=`` callables;
* ``check_rtl_dims(args)``: ``--rows``/``--cols`` (and ``--depth``) of a
  command whose backend builds the tile, checked before any build directory;
* ``output_path(flag, path, inputs)``: a file the command will write
  (``model.fileio.check_output_path``), checked before the command runs;
  ``write_output(flag, path, writer)`` then writes it atomically and turns an
  ``OSError`` (full disk, ...) into the one-line error, the old file intact.
"""

from __future__ import annotations

import argparse
import math

from scripts.errors import CliError

__all__ = ["positive_int", "non_negative_int", "positive_float", "check_rtl_dims",
           "check_dim", "output_path", "write_output"]


def _int(flag: str, minimum: int, what: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{flag} must be {what}, got {value}")
        return value
    parse.__name__ = what.replace(" ", "_")   # argparse names the type in some messages
    return parse


def positive_int(flag: str):
    """argparse ``type=``: an integer >= 1; the error names ``flag``."""
    return _int(flag, 1, "a positive integer")


def non_negative_int(flag: str):
    """argparse ``type=``: an integer >= 0; the error names ``flag``."""
    return _int(flag, 0, "a non-negative integer")


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


def check_dim(flag: str, value: int) -> None:
    """``--rows``/``--cols`` of a design that has them: 1..``hw.array.MAX_DIM``."""
    from hw.array import MAX_DIM
    if not 1 <= value <= MAX_DIM:
        raise CliError(f"{flag} must be in 1..{MAX_DIM}, got {value}")


def check_depth(value: int) -> None:
    from hw.accel import MAX_DEPTH
    if not 2 <= value <= MAX_DEPTH or value & (value - 1):
        raise CliError(f"--depth must be a power of two in 2..{MAX_DEPTH}, got {value}")


def check_rtl_dims(args, depth: bool = True) -> None:
    """The tile's ``--rows``, ``--cols`` (and ``--depth``), before anything is built."""
    check_dim("--rows", args.rows)
    check_dim("--cols", args.cols)
    if depth and getattr(args, "depth", None) is not None:
        check_depth(args.depth)


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
