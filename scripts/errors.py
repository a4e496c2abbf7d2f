"""Errors the CLI reports as one line with exit status 2."""


class CliError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def require_checkout(prog: str, what: str):
    """The source checkout's root, for a command that rewrites files of the
    repository (docs/, tests/); from an installed wheel: one line naming what
    is missing on stderr, exit status 2 (``model.paths.require_checkout``)."""
    import sys

    from model.paths import CheckoutRequired
    from model.paths import require_checkout as _require

    try:
        return _require(what)
    except CheckoutRequired as exc:
        sys.stderr.write(f"{prog}: error: {exc}\n")
        raise SystemExit(2) from None
