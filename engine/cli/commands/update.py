"""``insider update --store DIR --user-agent "Name email"``: everything filed since the store's last day."""

from __future__ import annotations

import argparse

from engine.cli.commands.download import fetch_range
from engine.cli.main import SUMMARIES
from engine.cli.options import POLITENESS, add_client_options
from engine.edgar.calendar import today_in_new_york
from engine.edgar.download import update_start
from engine.errors import UserError
from engine.store.datasets import Store


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``update`` subcommand."""
    parser = subparsers.add_parser(
        "update",
        help=SUMMARIES["update"],
        description=(
            "Fetch every ownership filing from the store's last filing day (read again, since that day's "
            "index may have grown after the last run) to today, using EDGAR's daily indexes, and retry "
            "the filings and index files that failed in earlier runs. Run it once a "
            "day after EDGAR's nightly index build (from about 22:00 New York time) to keep a store current."
        ),
        epilog=POLITENESS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_client_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Download from the store's last day to today."""
    store = Store(args.store)
    start = update_start(store)
    if start is None:
        raise UserError(
            f"the store {args.store} holds no filings, so there is no last day to update from",
            fix="fill it first with `insider backfill` or `insider download --start YYYY-MM-DD`",
        )
    return fetch_range(args, start, today_in_new_york())
