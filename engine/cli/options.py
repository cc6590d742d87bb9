"""The options every EDGAR-facing command shares (agent, rate, mirrors, pause, retries, workers), defined
once for ``insider download``, ``insider update`` and ``insider backfill``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import date

from engine.edgar.download import DEFAULT_BATCH_SIZE, DEFAULT_WORKERS
from engine.edgar.http import DEFAULT_PAUSE_SECONDS, EdgarClient, check_user_agent
from engine.edgar.rate_limit import SEC_MAX_RATE
from engine.edgar.urls import SEC_BASE_URL, SEC_DATA_BASE_URL, EdgarUrls, is_sec_url
from engine.errors import UserError

USER_AGENT_ENV = "INSIDER_USER_AGENT"

POLITENESS = f"""\
politeness (the SEC's fair-access rules, enforced, not optional):
  * --user-agent is required and must contain a contact e-mail address ("Name or Company you@example.com";
    also read from ${USER_AGENT_ENV}). The SEC blocks undeclared tools; the run refuses to start without it.
  * At most --rate requests in ANY one-second window (default {SEC_MAX_RATE:g}, the SEC's maximum; you
    may only go lower), shared by every concurrent task: a sliding window, not an average. Every host
    under sec.gov (www, data, efts...) spends one budget of at most {SEC_MAX_RATE:g}/s whatever the options;
    a higher --rate is accepted only when every root the command reads (--base-url, and --data-base-url
    where used) is a mirror.
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


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; use YYYY-MM-DD") from None


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def positive_int(text: str) -> int:
    value = positive_float(text)
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
        type=positive_float,
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
        type=positive_float,
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
        type=positive_float,
        default=60.0,
        metavar="SECONDS",
        help="timeout of one request (default 60)",
    )
    parser.add_argument(
        "--workers",
        type=positive_int,
        default=DEFAULT_WORKERS,
        metavar="N",
        help=f"concurrent requests in flight (default {DEFAULT_WORKERS}); the rate limit applies to all",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help=f"filings per store write (default {DEFAULT_BATCH_SIZE}); bounds memory",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress display, only the final summary")


def client_from_args(args: argparse.Namespace, *, data_api: bool = False) -> EdgarClient:
    """The polite client the options describe; ``data_api`` when the command also reads --data-base-url.

    A rate above the SEC's is refused when any root the command reads is an SEC host (the client caps
    every SEC host at the SEC's rate anyway: this says so before the run instead of silently)."""
    check_user_agent(args.user_agent)
    roots = {"--base-url": args.base_url, **({"--data-base-url": args.data_base_url} if data_api else {})}
    sec = [f"{option} {url}" for option, url in roots.items() if is_sec_url(url)]
    if args.rate > SEC_MAX_RATE and sec:
        raise UserError(
            f"--rate {args.rate:g} is above the SEC's limit of {SEC_MAX_RATE:g} requests per second, "
            f"and {' and '.join(sec)} is the SEC",
            fix=f"use --rate {SEC_MAX_RATE:g} or lower (higher rates are only for mirrors: point "
            f"{' and '.join(roots)} at one)",
        )
    return EdgarClient(
        args.user_agent,
        rate=args.rate,
        pause_seconds=args.pause,
        retries=args.retries,
        timeout=args.timeout,
        connections=args.workers,
    )


def urls_from_args(args: argparse.Namespace) -> EdgarUrls:
    """Archive and API roots from ``--base-url`` / ``--data-base-url``."""
    return EdgarUrls(args.base_url, args.data_base_url)


def configure_logging(args: argparse.Namespace) -> None:
    """Warnings (pauses, give-ups) always; retries too when ``--debug``."""
    level = logging.DEBUG if getattr(args, "debug", False) else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
