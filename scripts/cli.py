"""The ``radix4`` console script: one subcommand per module ``scripts.cmd_*``.

Every subcommand answers ``--help``, exits 0 on success and 2 with a one-line
error (no traceback) on bad input.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

# (name, module): each module defines ``add_arguments(parser)`` and
# ``run(args) -> int`` and a one-line ``HELP``.  Imported lazily so that
# ``radix4 gemm`` does not pay for Amaranth or cocotb.
COMMANDS = [
    ("verilog", "scripts.cmd_verilog"),
    ("gemm", "scripts.cmd_gemm"),
    ("replay", "scripts.cmd_replay"),
    ("train", "scripts.cmd_train"),
    ("demo", "scripts.cmd_demo"),
    ("synth", "scripts.cmd_synth"),
    ("regress", "scripts.cmd_regress"),
    ("bitstream", "scripts.cmd_bitstream"),
]


from scripts.errors import CliError  # noqa: E402  (kept here for `from scripts.cli import CliError`)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2 (argparse prints usage too)
        # scripts.argtypes' messages name their flag: "argument --seed: --seed must
        # be ..." is said once.
        head, sep, rest = message.partition(": ")
        if sep and head.startswith("argument ") and rest.startswith("-"):
            message = rest
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        sys.exit(2)


def _available():
    out = []
    for name, mod in COMMANDS:
        try:
            spec = importlib.util.find_spec(mod)
        except ModuleNotFoundError:
            spec = None
        if spec is not None:
            out.append((name, mod))
    return out


def build_parser(load: str | None = None):
    parser = _Parser(prog="radix4", description="radix4: verified 4-bit training datapath")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    modules = {}
    for name, modname in _available():
        # Import only the module that runs (and all of them for --help listings).
        if load is None or load == name:
            module = importlib.import_module(modname)
            modules[name] = module
            p = sub.add_parser(name, help=module.HELP, description=module.HELP)
            module.add_arguments(p)
        else:
            sub.add_parser(name, add_help=False)
    return parser, modules


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    names = {n for n, _ in COMMANDS}
    parser, modules = build_parser(chosen if chosen in names else None)
    args = parser.parse_args(argv)
    try:
        return int(modules[args.command].run(args) or 0)
    except CliError as exc:
        sys.stderr.write(f"radix4 {args.command}: error: {exc}\n")
        return 2
    except (ValueError, FileNotFoundError, IsADirectoryError, PermissionError,
            ArithmeticError) as exc:
        sys.stderr.write(f"radix4 {args.command}: error: {exc}\n")
        return 2
    except (ConnectionError, TimeoutError) as exc:
        # The simulator's socket went away: a failure, not bad input.
        sys.stderr.write(f"radix4 {args.command}: failed: {exc.strerror or exc}\n")
        return 1
    except OSError as exc:
        # A file that could not be read or written (full disk, ...): one line.
        where = f": {exc.filename}" if exc.filename else ""
        sys.stderr.write(f"radix4 {args.command}: error: {exc.strerror or exc}{where}\n")
        return 2
    except RuntimeError as exc:
        # A simulator that died or timed out: not bad input, but still one line.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        sys.stderr.write(f"radix4 {args.command}: failed: {first}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write(f"radix4 {args.command}: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
