"""``insider compact --store DIR [--table NAME]``: rewrite each partition's many small files as one."""

from __future__ import annotations

import argparse

from engine.cli.main import SUMMARIES
from engine.errors import UserError
from engine.store.compaction import DEFAULT_THRESHOLD, THRESHOLD_ENV
from engine.store.datasets import Store
from parsers.schema import STORE_TABLES


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``compact`` subcommand."""
    parser = subparsers.add_parser(
        "compact",
        help=SUMMARIES["compact"],
        description=(
            "Every write adds one file per month partition it touches to each table, so daily updates "
            "leave many small files. This rewrites each partition holding more than one file as a single "
            "file, rows sorted by issuer then available date, and prints the files and bytes of each table "
            "before and after. Atomic per partition (a crash leaves the old files or the new one), safe "
            "while others read the store, and a second run changes nothing. Writes already compact a "
            f"partition once it holds more than {DEFAULT_THRESHOLD} files (${THRESHOLD_ENV} sets "
            "another count, 0 turns that off): run this after a large ingest or to tidy an older store."
        ),
    )
    parser.add_argument("--store", required=True, metavar="DIR", help="store directory")
    parser.add_argument(
        "--table", choices=sorted(STORE_TABLES), metavar="NAME", help="only this table (default: every one)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compact and print each table's files and bytes before and after."""
    store = Store(args.store)
    if not store.root.is_dir():
        raise UserError(f"there is no store at {args.store}", fix="pass the --store directory you write to")
    try:
        report = store.compact(args.table)
    except OSError as exc:
        raise UserError(
            f"compacting the store {args.store} failed: {exc}",
            fix="free space or fix permissions, then run it again: partitions already compacted are kept",
        ) from exc
    print(f"compact {args.store}")
    for line in report.lines():
        print(f"  {line}")
    return 0
