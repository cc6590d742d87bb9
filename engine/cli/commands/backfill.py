"""``insider backfill --store DIR (--from 2006q1 [--to YYYYqN] | --zip FILE...)``: SEC data sets."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from engine.cli.commands.download import (
    POLITENESS,
    add_client_options,
    client_from_args,
    configure_logging,
    urls_from_args,
)
from engine.cli.main import SUMMARIES
from engine.edgar.backfill import (
    FIRST_DATASET,
    BackfillReport,
    backfill_quarters,
    ingest_zip_files,
    last_published_quarter,
    parse_quarter,
    quarter_range,
)
from engine.edgar.download import today_in_new_york
from engine.edgar.shares import FIRST_FRAME, SharesReport, fetch_shares_outstanding
from engine.store.datasets import Store


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``backfill`` subcommand."""
    parser = subparsers.add_parser(
        "backfill",
        help=SUMMARIES["backfill"],
        description=(
            "Download the SEC's quarterly Insider Transactions Data Set zips ({YYYY}q{N}_form345.zip, one "
            "request per quarter: about 80 requests cover 2006 to today) and store their filings, owners, "
            "transactions and footnotes in the same tables as the XML downloader. The data sets carry no "
            "acceptance time, so available_date is the filing date + 1 (SCORING.md section 3); filings "
            "already in the store (e.g. fetched as XML, with acceptance times) are kept as they are. "
            "--zip ingests zips already downloaded instead."
        ),
        epilog=POLITENESS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--from",
        dest="first",
        metavar="YYYYqN",
        help=f"first quarter (data sets start at {FIRST_DATASET[0]}q{FIRST_DATASET[1]})",
    )
    source.add_argument("--zip", nargs="+", type=Path, metavar="FILE", help="data-set zips on disk")
    parser.add_argument(
        "--shares-outstanding",
        action="store_true",
        help="also fetch the XBRL frames of cover-page shares outstanding for the same quarters (2009q2 on) "
        "into the store's shares_outstanding/ table, with filing dates from each quarter's xbrl.idx",
    )
    parser.add_argument(
        "--to",
        dest="last",
        metavar="YYYYqN",
        help="last quarter (default: the last quarter published, the one before today's)",
    )
    add_client_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Store every requested quarter; 1 when one could not be fetched or read (listed), else 0."""
    configure_logging(args)
    store = Store(args.store)
    shares = None
    if args.zip:
        report = ingest_zip_files(store, args.zip)
    else:
        first = parse_quarter(args.first)
        last = parse_quarter(args.last) if args.last else last_published_quarter(today_in_new_york())
        report, shares = asyncio.run(_download(store, args, quarter_range(first, last)))
    print(f"backfill into {args.store}\n{report.summary()}")
    if shares is not None:
        print(shares.summary())
    return 0 if report.complete and (shares is None or not shares.failures) else 1


async def _download(
    store: Store, args: argparse.Namespace, quarters: list[tuple[int, int]]
) -> tuple[BackfillReport, SharesReport | None]:
    async with client_from_args(args) as client:
        urls = urls_from_args(args)
        report = await backfill_quarters(store, client, urls, quarters)
        shares = None
        if args.shares_outstanding:
            frames = [q for q in quarters if q >= FIRST_FRAME]
            shares = await fetch_shares_outstanding(store.root, client, urls, frames)
        return report, shares
