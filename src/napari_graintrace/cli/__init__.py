"""``graintrace``: the headless command line, a thin shell of argument parsing over ``core``.

Each subcommand lives in one module of this package with a ``register(subparsers)`` function.
Heavy imports (torch, scikit-image) happen inside the commands so ``--help`` stays instant.
Bad input ends in a one-line ``graintrace CMD: error: ...`` and exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from .. import __version__

# one module per concern; the order is the order of `graintrace --help`
_COMMAND_MODULES = ("scoring", "cleanup", "dataset", "model", "sweep", "grains", "draft", "cache", "demo")


class ArgumentParser(argparse.ArgumentParser):
    """argparse with the house's error format: one line ``graintrace CMD: error: ...`` and exit 2.

    The usage block argparse prints first is left out (``CMD --help`` shows it); subparsers are
    of this class too, so their ``prog`` ("graintrace score") names the command.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="graintrace",
        description="Aligned crops, tracing cleanup, U-Net inference and tolerant scores for grain boundaries.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``graintrace`` console script; returns the exit code."""
    from ..core.errors import InputError
    from ..core.io import OutputExistsError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except OutputExistsError as exc:
        more = f" (and {exc.more} more)" if exc.more else ""
        print(f"graintrace {args.command}: error: {exc.path}: already exists{more}; add --overwrite to replace it",
              file=sys.stderr)
        return 2
    except InputError as exc:
        print(f"graintrace {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # the disk filled up, a folder became read-only mid-run: no traceback either
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"graintrace {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"graintrace {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
