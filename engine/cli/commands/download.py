"""``insider download --start D --end D --store DIR --user-agent "Name email"``: EDGAR filings to a store."""

from __future__ import annotations

import argparse
from datetime import date

from engine.cli.main import SUMMARIES
from engine.cli.options import (
    POLITENESS,
    add_client_options,
    client_from_args,
    configure_logging,
    parse_date,
    run_stoppable,
    urls_from_args,
)
from engine.edgar.calendar import today_in_new_york
from engine.edgar.download import DownloadReport, download_range
from engine.edgar.progress import Progress
from engine.errors import UserError
from engine.store.datasets import Store


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``download`` subcommand."""
    parser = subparsers.add_parser(
        "download",
        help=SUMMARIES["download"],
        description=(
            "Discover every Form 3, 4, 5 and amendment filed from --start to --end in EDGAR's daily and "
            "quarterly form indexes, fetch each filing's full submission (one request per filing, "
            "carrying the acceptance time and the XML), parse it and write the store in batches."
        ),
        epilog=POLITENESS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--start", type=parse_date, required=True, metavar="YYYY-MM-DD", help="first filing date"
    )
    parser.add_argument(
        "--end",
        type=parse_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="last filing date (default: today in New York)",
    )
    add_client_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Download the range; 0 when every listed filing is stored, 1 when some failed (they are listed)."""
    today = today_in_new_york()
    if args.start > today:
        raise UserError(f"--start {args.start} is after today ({today} in New York)", fix="pass a past day")
    end = min(args.end or today, today)
    if end < args.start:
        raise UserError(f"--end {end} is before --start {args.start}", fix="swap the dates")
    return fetch_range(args, args.start, end)


def fetch_range(args: argparse.Namespace, start: date, end: date) -> int:
    """Run a download of ``start..end`` with the options of ``args`` and print its summary."""
    configure_logging(args)
    client = client_from_args(args)
    urls = urls_from_args(args)
    store = Store(args.store)
    progress = Progress(interactive=False if args.quiet else None, interval=10.0 if not args.quiet else 1e9)
    try:
        report = run_stoppable(args.command, _download(store, client, urls, start, end, args, progress))
    finally:
        progress.close()
    print(f"download {start}..{end} into {args.store}\n{report.summary()}")
    return 0 if report.complete else 1


async def _download(store, client, urls, start, end, args, progress) -> DownloadReport:
    async with client:
        return await download_range(
            store,
            client,
            urls,
            start,
            end,
            batch_size=args.batch_size,
            workers=args.workers,
            progress=progress,
        )
