"""The ``insider`` command line: one subcommand per module of ``engine.cli.commands``."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from engine import __version__
from engine.errors import UserError

SUMMARIES: dict[str, str] = {
    "ingest": "parse Form 3/4/5 filings (files, directories, .zip/.tar.gz archives) into a store",
    "evaluate": "test whether insider activity and the score predict returns; write a report with charts",
    "download": "fetch every Form 3/4/5 filed in a date range from EDGAR into a store",
    "update": "bring a store up to date: every Form 3/4/5 filed since its last filing day",
    "backfill": "fill a store from the SEC's quarterly Insider Transactions Data Sets (2006 on)",
    "compact": "rewrite every partition holding several data files as one (faster reads; also automatic)",
    "score": "compute the insider score for every issuer on every weekday of a date range",
    "watch": "poll EDGAR's current-filings feed: store, score and raise events within seconds",
    "compare": "compare a score panel with a reference panel; exit 1 when anything is beyond tolerance",
    "explain": "show how one issuer's score on one date was made, trade by trade",
    "tickers": "the point-in-time issuer-to-ticker table of the store, joined with the SEC's current map",
    "prices": "fetch the daily prices the store's universe needs (Tiingo or your files) into the store",
    "demo": "run the whole pipeline on bundled real filings against a local EDGAR replay (no network)",
}
"""Every subcommand and its one-line summary. Each is a module of ``engine.cli.commands`` whose
``register(subparsers)`` adds its parser and sets ``func`` (``args -> exit code``) as the parser's
default; the summaries live here so that ``insider --help`` lists the commands without importing them
(they load polars, pyarrow, aiohttp, numba...)."""
COMMANDS: tuple[str, ...] = tuple(SUMMARIES)


ARROW_POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"
"""Read by pyarrow when it loads (with a command's module): the commands take Arrow's buffers from the
system allocator, which hands freed memory back, unless the user chose another; pyarrow's default
(mimalloc) kept 50-60 MB more at the peak of ``insider update`` (benchmarks/bench_update_memory.py)."""


def build_parser(commands: Sequence[str] = COMMANDS) -> argparse.ArgumentParser:
    """The argument parser with ``commands`` registered from their modules; the other commands are
    listed by name and summary only."""
    parser = argparse.ArgumentParser(
        prog="insider",
        description="SEC Form 3/4/5 insider filings to a point-in-time trading signal.",
    )
    parser.add_argument("--version", action="version", version=f"insider {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks instead of one-line errors"
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, summary in SUMMARIES.items():
        if name in commands:
            importlib.import_module(f"engine.cli.commands.{name}").register(subparsers)
        else:
            subparsers.add_parser(name, help=summary)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``insider`` and ``python -m engine``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    os.environ.setdefault(ARROW_POOL_ENV, "system")
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
    """The subcommand being run, the only one whose module is imported (none for ``insider --help``)."""
    command = next((word for word in argv if not word.startswith("-")), None)
    return (command,) if command in SUMMARIES else ()


if __name__ == "__main__":
    sys.exit(main())
