"""The options every EDGAR-facing command shares (agent, rate, mirrors, pause, retries, workers), defined
once for ``insider download``, ``insider update`` and ``insider backfill``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import signal
import sys
from collections.abc import Callable, Coroutine
from datetime import date
from typing import Any, TypeVar

from engine.edgar.calendar import FIRST_INDEX_DAY
from engine.edgar.download import DEFAULT_BATCH_SIZE, DEFAULT_WORKERS
from engine.edgar.http import DEFAULT_PAUSE_SECONDS, MAX_WAIT_SECONDS, EdgarClient, check_user_agent
from engine.edgar.rate_limit import SEC_MAX_RATE
from engine.edgar.urls import SEC_BASE_URL, SEC_DATA_BASE_URL, EdgarUrls, is_sec_url
from engine.errors import UserError

T = TypeVar("T")

USER_AGENT_ENV = "INSIDER_USER_AGENT"
MAX_RETRIES = 20
MAX_WORKERS = 256
MAX_BATCH_SIZE = 1_000_000
MAX_TIMEOUT = 3600.0

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
    EVERY task: for Retry-After when the answer gives one, else --pause seconds (default and least
    against sec.gov {DEFAULT_PAUSE_SECONDS:g}: the SEC's block lasts 10 minutes and further requests extend
    it). Then the run resumes by itself. A Retry-After over {MAX_WAIT_SECONDS:g} s ends the run instead
    (exit 2), after storing what was fetched, saying when to run it again.
  * 5xx answers, connection resets, timeouts and truncated bodies are retried --retries times with
    exponential backoff and jitter; a filing that still fails is recorded with its reason in the store's
    _manifest/ (and listed at the end), never dropped silently, and is tried again by the next run.
  * The SEC asks bulk users to prefer off-peak hours (21:00-06:00 New York) and bulk files: use
    `insider backfill` (quarterly data sets, ~80 requests for 2006 to today) for history.

resuming: the store's _manifest/ records every accession fetched; rerunning the same command after a
crash fetches only what is missing and ends with the same store as an uninterrupted run. Ctrl-C and
SIGTERM first store what was fetched, then exit with 130 / 143.
"""


def parse_date(text: str) -> date:
    """A ``YYYY-MM-DD`` option value, on or after EDGAR's first index day."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; fix: write it as YYYY-MM-DD") from None
    if day < FIRST_INDEX_DAY:
        raise argparse.ArgumentTypeError(
            f"{text} is before EDGAR's first index day; fix: pass {FIRST_INDEX_DAY} or later"
        )
    return day


def number(
    option: str, example: str, *, whole: bool = False, at_least: float = 0.0, at_most: float = math.inf
) -> Callable[[str], float]:
    """The parser of a numeric option: finite, within ``[at_least, at_most]`` and, for a count, whole;
    positive when ``at_least`` is 0 and not ``whole``. Its errors end with a fix naming ``example``."""

    def parse(text: str) -> float:
        fix = f"; fix: pass e.g. {option} {example}"
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number{fix}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number{fix}")
        if whole and value != int(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number{fix}")
        if value < at_least or (value == 0 and not whole) or value > at_most:
            low = "above 0" if at_least == 0 and not whole else f"at least {at_least:g}"
            high = f" and at most {at_most:g}" if math.isfinite(at_most) else ""
            raise argparse.ArgumentTypeError(f"{text!r} is out of range: it must be {low}{high}{fix}")
        return int(value) if whole else value

    parse.__name__ = option
    return parse


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
        type=number("--rate", "8"),
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
        type=number("--pause", "900", at_most=MAX_WAIT_SECONDS),
        default=DEFAULT_PAUSE_SECONDS,
        metavar="SECONDS",
        help=f"pause of every task after a rate-limit answer without Retry-After (default "
        f"{DEFAULT_PAUSE_SECONDS:g}, also the least against sec.gov; at most {MAX_WAIT_SECONDS:g})",
    )
    parser.add_argument(
        "--retries",
        type=number("--retries", "5", whole=True, at_most=MAX_RETRIES),
        default=5,
        metavar="N",
        help=f"retries of a transient failure before the filing is recorded as failed (default 5, at most "
        f"{MAX_RETRIES})",
    )
    parser.add_argument(
        "--timeout",
        type=number("--timeout", "60", at_most=MAX_TIMEOUT),
        default=60.0,
        metavar="SECONDS",
        help="timeout of one request (default 60)",
    )
    parser.add_argument(
        "--workers",
        type=number("--workers", "16", whole=True, at_least=1, at_most=MAX_WORKERS),
        default=DEFAULT_WORKERS,
        metavar="N",
        help=f"concurrent requests in flight (default {DEFAULT_WORKERS}); the rate limit applies to all",
    )
    parser.add_argument(
        "--batch-size",
        type=number("--batch-size", "1000", whole=True, at_least=1, at_most=MAX_BATCH_SIZE),
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
    sec = " and ".join(f"{option} {url}" for option, url in roots.items() if is_sec_url(url))
    mirrors_only = f"only for mirrors: point {' and '.join(roots)} at one"
    if sec and args.rate > SEC_MAX_RATE:
        raise UserError(
            f"--rate {args.rate:g} is above the SEC's limit of {SEC_MAX_RATE:g} requests per second, "
            f"and {sec} is the SEC",
            fix=f"use --rate {SEC_MAX_RATE:g} or lower (higher rates are {mirrors_only})",
        )
    if sec and args.pause < DEFAULT_PAUSE_SECONDS:
        raise UserError(
            f"--pause {args.pause:g} is shorter than the SEC's {DEFAULT_PAUSE_SECONDS:g} s block, which "
            f"every request made during it extends, and {sec} is the SEC",
            fix=f"leave --pause at {DEFAULT_PAUSE_SECONDS:g} or more (shorter pauses are {mirrors_only})",
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


def run_stoppable(command: str, coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; Ctrl-C or SIGTERM (what cron and systemd send) cancels it, and the run
    stores what it fetched before ending: then a one-line note and exit status 130 or 143."""
    stopped_by: list[str] = []

    async def guarded() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def on_sigterm() -> None:
            stopped_by.append("SIGTERM")
            task.cancel()

        try:
            loop.add_signal_handler(signal.SIGTERM, on_sigterm)
        except (NotImplementedError, RuntimeError, ValueError):
            return await coroutine  # no signal handlers here (Windows, or not the main thread)
        try:
            return await coroutine
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    try:
        return asyncio.run(guarded())
    except (KeyboardInterrupt, asyncio.CancelledError):
        reason, status = ("SIGTERM", 143) if stopped_by else ("Ctrl-C", 130)
        print(
            f"insider {command}: stopped by {reason}; what was fetched is stored, and running the same "
            "command again fetches only the rest",
            file=sys.stderr,
        )
        raise SystemExit(status) from None
