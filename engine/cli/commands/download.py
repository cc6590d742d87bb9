"""``insider download --start D --end D --store DIR --user-agent "Name email"``: EDGAR filings into the store.

Also holds the options every EDGAR-facing command shares (agent, rate, mirrors, pause, retries), used by
``insider update`` and ``insider backfill``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from datetime import date
from urllib.parse import urlsplit

from engine.cli.main import SUMMARIES
from engine.edgar.download import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_WORKERS,
    DownloadReport,
    download_range,
    today_in_new_york,
)
from engine.edgar.http import DEFAULT_PAUSE_SECONDS, EdgarClient, check_user_agent
from engine.edgar.progress import Progress
from engine.edgar.rate_limit import SEC_MAX_RATE
from engine.edgar.urls import SEC_BASE_URL, SEC_DATA_BASE_URL, EdgarUrls
from engine.errors import UserError
from engine.store.datasets import Store

USER_AGENT_ENV = "INSIDER_USER_AGENT"

POLITENESS = f"""\
politeness (the SEC's fair-access rules, enforced, not optional):
  * --user-agent is required and must contain a contact e-mail address ("Name or Company you@example.com";
    also read from ${USER_AGENT_ENV}). The SEC blocks undeclared tools; the run refuses to start without it.
  * At most --rate requests in ANY one-second window (default {SEC_MAX_RATE:g}, the SEC's maximum; you
    may only go lower), shared by every concurrent task: a sliding window, not an average.
  * Requests send Accept-Encoding: gzip, deflate.
  * HTTP 429, or a 403 carrying the SEC's "Request Rate Threshold Exceeded" / undeclared-tool page, pauses
    EVERY task: for Retry-After when the answer gives one, else --pause seconds (default
    {DEFAULT_PAUSE_SECONDS:g}: the SEC's block lasts 10 minutes and further requests extend it). Then the
    run resumes by itself.
  * 5xx answers, connection resets, timeouts and truncated bodies are retried --retries times with
    exponential backoff and jitter; a filing that still fails is recorded with its reason in the store's
    _manifest/ (and listed at the end), never dropped silently, and is tried again by the next run.
  * The SEC asks bulk users to prefer off-peak hours (21:00-06:00 New York) and bulk files: use
    `insider backfill` (quarterly data sets, ~80 requests for 2006 to today) for history.

resuming: the store's _manifest/ records every accession fetched; rerunning the same command after a
crash or Ctrl-C fetches only what is missing and ends with the same store as an uninterrupted run.
"""


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _positive_int(text: str) -> int:
    value = _positive_float(text)
    if value != int(value):
        raise argparse.ArgumentTypeError(f"{text!r} must be a whole number")
    return int(value)


def add_client_options(parser: argparse.ArgumentParser) -> None:
    """The options of every command that talks to EDGAR."""
    parser.add_argument("--store", required=True, metavar="DIR", help="store directory (created if missing)")
    parser.add_argument(
        "--user-agent",
        default=os.environ.get(USER_AGENT_ENV),
        metavar='"NAME EMAIL"',
        help=f'declared User-Agent with a contact e-mail, e.g. "Acme Research ops@acme.com" '
        f"(or ${USER_AGENT_ENV})",
    )
    parser.add_argument(
        "--rate",
        type=_positive_float,
        default=SEC_MAX_RATE,
        metavar="N",
        help=f"max requests in any one-second window (default {SEC_MAX_RATE:g}, the ceiling against sec.gov)",
    )
    parser.add_argument(
        "--base-url",
        default=SEC_BASE_URL,
        metavar="URL",
        help=f"EDGAR archive root or a mirror of it (default {SEC_BASE_URL})",
    )
    parser.add_argument(
        "--data-base-url",
        default=SEC_DATA_BASE_URL,
        metavar="URL",
        help=f"data.sec.gov API root or a mirror of it (default {SEC_DATA_BASE_URL})",
    )
    parser.add_argument(
        "--pause",
        type=_positive_float,
        default=DEFAULT_PAUSE_SECONDS,
        metavar="SECONDS",
        help="pause of every task after a rate-limit answer without Retry-After (default 600)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=5,
        metavar="N",
        help="retries of a transient failure before the filing is recorded as failed (default 5)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=60.0,
        metavar="SECONDS",
        help="timeout of one request (default 60)",
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        default=DEFAULT_WORKERS,
        metavar="N",
        help=f"concurrent requests in flight (default {DEFAULT_WORKERS}); the rate limit applies to all",
    )
    parser.add_argument(
        "--batch-size",
        type=_positive_int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help=f"filings per store write (default {DEFAULT_BATCH_SIZE}); bounds memory",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress display, only the final summary")


def client_from_args(args: argparse.Namespace) -> EdgarClient:
    """The polite client the options describe (refuses a rate above the SEC's unless pointed at a mirror)."""
    check_user_agent(args.user_agent)
    if args.rate > SEC_MAX_RATE and _is_sec(args.base_url):
        raise UserError(
            f"--rate {args.rate:g} is above the SEC's limit of {SEC_MAX_RATE:g} requests per second",
            fix=f"use --rate {SEC_MAX_RATE:g} or lower (higher rates are only for a --base-url mirror)",
        )
    return EdgarClient(
        args.user_agent,
        rate=args.rate,
        pause_seconds=args.pause,
        retries=args.retries,
        timeout=args.timeout,
        connections=args.workers,
    )


def _is_sec(url: str) -> bool:
    """Whether a base URL points at the SEC itself (any scheme, case or host under sec.gov)."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    return host == "sec.gov" or host.endswith(".sec.gov")


def urls_from_args(args: argparse.Namespace) -> EdgarUrls:
    """Archive and API roots from ``--base-url`` / ``--data-base-url``."""
    return EdgarUrls(args.base_url, args.data_base_url)


def configure_logging(args: argparse.Namespace) -> None:
    """Warnings (pauses, give-ups) always; retries too when ``--debug``."""
    level = logging.DEBUG if getattr(args, "debug", False) else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)


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
    parser.add_argument("--start", type=_date, required=True, metavar="YYYY-MM-DD", help="first filing date")
    parser.add_argument(
        "--end",
        type=_date,
        default=None,
        metavar="YYYY-MM-DD",
        help="last filing date (default: today in New York)",
    )
    add_client_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Download the range; 0 when every listed filing is stored, 1 when some failed (they are listed)."""
    end = args.end or today_in_new_york()
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
        report = asyncio.run(_download(store, client, urls, start, end, args, progress))
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
