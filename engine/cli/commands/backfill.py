"""``insider backfill --store DIR (--from 2006q1 [--to YYYYqN] | --zip FILE...)``: SEC data sets."""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.cli.main import SUMMARIES
from engine.cli.options import (
    POLITENESS,
    add_client_options,
    client_from_args,
    configure_logging,
    run_stoppable,
    urls_from_args,
)
from engine.edgar.backfill import FIRST_DATASET, BackfillReport, backfill_quarters, ingest_zip_files
from engine.edgar.calendar import (
    Quarter,
    last_published_quarter,
    parse_quarter,
    quarter_of,
    quarter_range,
    today_in_new_york,
)
from engine.edgar.http import EdgarClient
from engine.edgar.shares import FIRST_FRAME, SharesReport, fetch_shares_outstanding
from engine.edgar.urls import EdgarUrls
from engine.errors import UserError
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
        quarters = requested_quarters(args.first, args.last)
        client = client_from_args(args, data_api=args.shares_outstanding)
        urls = urls_from_args(args)
        download = _download(store, client, urls, quarters, args.shares_outstanding)
        report, shares = run_stoppable(args.command, download)
    print(f"backfill into {args.store}\n{report.summary()}")
    if shares is not None:
        print(shares.summary())
    return 0 if report.complete and (shares is None or not shares.failures) else 1


def requested_quarters(first_text: str, last_text: str | None) -> list[Quarter]:
    """The quarters of ``--from`` / ``--to``: from the first data set on, up to today's quarter."""
    today = today_in_new_york()
    first = parse_quarter(first_text)
    last = parse_quarter(last_text) if last_text else last_published_quarter(today)
    if first < FIRST_DATASET:
        raise UserError(
            f"--from {first_text} is before the first data set, {FIRST_DATASET[0]}q{FIRST_DATASET[1]}",
            fix=f"pass --from {FIRST_DATASET[0]}q{FIRST_DATASET[1]} or later",
        )
    if last > (today.year, quarter_of(today)):
        raise UserError(
            f"--to {last_text} is after today's quarter, {today.year}q{quarter_of(today)}",
            fix="pass a past quarter, or leave --to out for the last one published",
        )
    return quarter_range(first, last)


async def _download(
    store: Store, client: EdgarClient, urls: EdgarUrls, quarters: list[Quarter], shares_outstanding: bool
) -> tuple[BackfillReport, SharesReport | None]:
    async with client:
        report = await backfill_quarters(store, client, urls, quarters)
        shares = None
        if shares_outstanding:
            frames = [q for q in quarters if q >= FIRST_FRAME]
            shares = await fetch_shares_outstanding(store, client, urls, frames)
        return report, shares
