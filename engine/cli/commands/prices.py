"""``insider prices --store DIR --from D``: the daily prices the universe needs, and an index series, cached
in the store's ``prices/`` dataset (from Tiingo over HTTP, or from the user's own price files)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
from pathlib import Path

from engine.cli.main import SUMMARIES
from engine.errors import UserError

TERMS = """\
Tiingo (https://www.tiingo.com) serves raw and split- and dividend-adjusted daily closes with each day's
dividend and split factor. Its free plan needs a registered API key (export TIINGO_API_KEY=...), is for
personal, non-commercial use (redistributing the data needs Tiingo's licence: see tiingo.com/about/terms)
and allows about 50 requests an hour, 1,000 a day and 500 distinct symbols a month; --rate defaults to
that pace (one series per request). A run can be stopped and run again: finished series are kept and
only what is missing is asked for.
"""


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``prices`` subcommand."""
    from engine.evaluation.price_sources import TIINGO_BASE_URL, TIINGO_FREE_RATE, TIINGO_KEY_ENV
    from engine.evaluation.price_store import DEFAULT_MARKET

    parser = subparsers.add_parser(
        "prices",
        help=SUMMARIES["prices"],
        description=(
            "For every issuer that filed in the year before --from, ask the price source for its series "
            "under its ticker today (the SEC's map kept by `insider tickers`, else its last filed ticker), "
            "plus an index series for market-adjusted returns, and keep them in <store>/prices/ (one file "
            "per series, incremental: a later run asks only for the new days)."
        ),
        epilog=TERMS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--store", required=True, metavar="DIR", help="store written by `insider ingest`")
    parser.add_argument("--from", dest="start", type=_date, required=True, metavar="YYYY-MM-DD")
    parser.add_argument(
        "--to", dest="end", type=_date, metavar="YYYY-MM-DD", help="last day (default: today)"
    )
    parser.add_argument(
        "--market",
        default=DEFAULT_MARKET,
        metavar="TICKER",
        help=f"index series for market-adjusted returns (default {DEFAULT_MARKET}; 'none' for none)",
    )
    parser.add_argument(
        "--files",
        nargs="+",
        metavar="FILE",
        help="take the prices from these Parquet/CSV files (date, ticker, adj_close or close, optionally "
        "close as traded, dividend, split_factor) instead of Tiingo",
    )
    parser.add_argument(
        "--api-key-env",
        default=TIINGO_KEY_ENV,
        metavar="NAME",
        help=f"environment variable holding the Tiingo API key (default {TIINGO_KEY_ENV})",
    )
    parser.add_argument(
        "--base-url", default=TIINGO_BASE_URL, metavar="URL", help="Tiingo API root or a mirror"
    )
    parser.add_argument(
        "--rate",
        type=_positive,
        default=TIINGO_FREE_RATE,
        metavar="N",
        help=f"requests per second (default {TIINGO_FREE_RATE:.4f}: Tiingo's free 50 an hour)",
    )
    parser.add_argument("--workers", type=int, default=4, metavar="N", help="series fetched at once (4)")
    parser.add_argument("--retries", type=int, default=5, metavar="N", help="retries of a transient failure")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Plan, fetch, report; 0 when no series failed."""
    from engine.evaluation.price_sources import FilePrices, TiingoPrices, tiingo_client
    from engine.evaluation.price_store import plan_requests, update_prices
    from engine.scoring.tickers import stored_current, ticker_table
    from engine.store.datasets import Store

    root = Path(args.store)
    if not (root / "filings").is_dir():
        raise UserError(f"no store at {root} (no filings/ directory)", fix="run `insider ingest` first")
    end = args.end or dt.date.today()
    if end < args.start:
        raise UserError(f"--to {end} is before --from {args.start}", fix="swap the dates")
    store = Store(root)
    current = stored_current(store)
    tickers = ticker_table(store.scan("filings"), current)
    market = None if args.market.lower() == "none" else args.market.upper()
    requests, left_out = plan_requests(store, args.start, end, market=market, tickers=tickers)
    if args.files:
        source = FilePrices(args.files, tickers)
        report = asyncio.run(update_prices(store, source, requests, concurrency=1))
    else:
        client = tiingo_client(
            os.environ.get(args.api_key_env), rate=args.rate, retries=args.retries, connections=args.workers
        )
        report = asyncio.run(_fetch(store, TiingoPrices(client, args.base_url), requests, args.workers))
    origin = source.name if args.files else "Tiingo"
    print(f"prices {args.start}..{end} from {origin} into {root / 'prices'}")
    if current is None:
        print(
            "  no SEC ticker map in the store: issuers asked for under their last filed ticker "
            "(run `insider tickers` first to follow renames)"
        )
    if left_out.height:
        reasons = ", ".join(
            f"{n:,} {r}" for r, n in left_out.group_by("reason").len().sort("reason").iter_rows()
        )
        print(f"  issuers without a series to ask for: {left_out.height:,} ({reasons})")
    print(report.summary())
    return 0 if report.complete else 1


async def _fetch(store, source, requests, workers: int):
    from engine.evaluation.price_store import update_prices

    async with source.client:
        return await update_prices(store, source, requests, concurrency=workers)
