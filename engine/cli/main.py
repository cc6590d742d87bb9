"""The ``insider`` command line: one subcommand per module of ``engine.cli.commands``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from engine import __version__
from engine.errors import UserError

COMMANDS: tuple[str, ...] = (
    "ingest",
    "evaluate",
    "download",
    "update",
    "backfill",
    "score",
    "compare",
    "explain",
    "demo",
)
"""Modules of ``engine.cli.commands``; each has ``register(subparsers)`` that adds its parser and sets
``func`` (``args -> exit code``) as the parser's default."""


def build_parser(commands: Sequence[str] = COMMANDS) -> argparse.ArgumentParser:
    """The argument parser with ``commands`` registered (all of them by default)."""
    parser = argparse.ArgumentParser(
        prog="insider",
        description="SEC Form 3/4/5 insider filings to a point-in-time trading signal.",
    )
    parser.add_argument("--version", action="version", version=f"insider {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks instead of one-line errors"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in commands:
        importlib.import_module(f"engine.cli.commands.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``insider`` and ``python -m engine``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_invoked(argv))
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        if args.debug:
            raise
        print(f"insider {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"insider {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of the output went away (`insider ... | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _invoked(argv: Sequence[str]) -> Sequence[str]:
    """Only the subcommand being run needs its module imported (they load polars, pyarrow, aiohttp...);
    without one, every command is registered so that ``--help`` lists them all."""
    command = next((word for word in argv if not word.startswith("-")), None)
    return (command,) if command in COMMANDS else COMMANDS


if __name__ == "__main__":
    sys.exit(main())
