"""``insider watch --store DIR``: new filings from EDGAR's current-filings feed, scored within seconds."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from pathlib import Path

from engine.cli.main import SUMMARIES
from engine.cli.options import (
    POLITENESS,
    add_client_options,
    client_from_args,
    configure_logging,
    number,
    urls_from_args,
)
from engine.edgar.alerts import EventWriter, WebhookSender
from engine.edgar.watch import Watcher
from engine.edgar.watch_state import WatchReport, WatchSettings
from engine.scoring.config import ScoreConfig
from engine.scoring.watch_rules import WatchRules
from engine.store.datasets import Store
from parsers.schema import OWNERSHIP_FORMS

EPILOG = f"""\
events (JSON lines, on stdout or appended to --events; POSTed to --webhook as JSON):
  cluster_buy     3+ distinct insiders with non-plan open-market buys in 30 days
  officer_buy     a CEO or CFO non-plan open-market buy of 1 bp of market cap or more
  score_crossing  the issuer's insider score reaching |z| >= 2
  filing          every new filing with its score (off by default)
  feed_gap        the feed scrolled past the last entry seen (open), and the day filled from its index
  Each event is raised once per rule and filing (remembered in the store's _watch/), with the
  accession(s), issuer, ticker, insiders, values, score and rank, acceptance time, available date and
  latency. --rules FILE.toml tunes them: [cluster_buy] min_insiders, window_days; [officer_buy] roles,
  min_bp; [score_crossing] threshold; enabled = false turns one off.

{POLITENESS}"""


def _forms(text: str) -> frozenset[str]:
    forms = frozenset(part.strip().upper() for part in text.split(",") if part.strip())
    unknown = sorted(forms - OWNERSHIP_FORMS)
    if not forms or unknown:
        raise argparse.ArgumentTypeError(
            f"{text!r}: forms are a comma list of {', '.join(sorted(OWNERSHIP_FORMS))}"
        )
    return forms


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``watch`` subcommand."""
    parser = subparsers.add_parser(
        "watch",
        help=SUMMARIES["watch"],
        description=(
            "Poll EDGAR's current-filings Atom feed inside the same rate budget as every other request, "
            "fetch each new filing into the store (same path as `insider update`: manifest, quarantine), "
            "rescore the as-of cross-section of the affected issuers and raise events. Every day watched "
            "is settled from its daily index once EDGAR publishes it (all ownership forms), so the store "
            "ends as `insider update` would make it; a feed that scrolled past the last entry seen is "
            "reported as a gap and filled the same way. Ctrl-C or SIGTERM stop it cleanly; rerunning "
            "resumes without repeating an event."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_client_options(parser)
    parser.add_argument(
        "--interval",
        type=number("--interval", "10", at_most=86400),
        default=10.0,
        metavar="S",
        help="seconds between polls in EDGAR's filing hours (Mon-Fri 06:00-22:00 New York; default 10)",
    )
    parser.add_argument(
        "--night-interval",
        type=number("--night-interval", "120", at_most=86400),
        default=None,
        metavar="S",
        help="seconds between polls outside them (default 12 x --interval)",
    )
    parser.add_argument(
        "--forms",
        type=_forms,
        default=frozenset({"4", "4/A"}),
        metavar="4,4/A,3,5",
        help="forms taken from the feed (default 4,4/A: one request a poll; each of 3, 4, 5 adds one)",
    )
    parser.add_argument(
        "--events", type=Path, metavar="FILE.jsonl", help="append events here (default stdout)"
    )
    parser.add_argument("--webhook", metavar="URL", help="also POST each event as JSON here (retried)")
    parser.add_argument("--rules", metavar="FILE.toml", help="event rules and thresholds (see below)")
    parser.add_argument(
        "--market-caps",
        metavar="F",
        help="market data as for `insider score` (default: the store's shares_outstanding table)",
    )
    parser.add_argument("--config", metavar="FILE.toml", help="score configuration, as for `insider score`")
    parser.add_argument("--once", action="store_true", help="one poll, then exit (for cron)")
    parser.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace) -> WatchSettings:
    """The watch settings the options describe."""
    return WatchSettings(
        forms=args.forms,
        interval=args.interval,
        night_interval=args.night_interval or 12 * args.interval,
        market_caps=args.market_caps,
        score_config=ScoreConfig.from_toml(args.config) if args.config else ScoreConfig(),
        rules=WatchRules.from_toml(args.rules) if args.rules else WatchRules(),
    )


def run(args: argparse.Namespace) -> int:
    """Watch until Ctrl-C or SIGTERM (or one poll with ``--once``); 0 when stopped cleanly, 1 when a
    ``--once`` poll could not read the feed or fetch a filing."""
    configure_logging(args)
    settings = settings_from_args(args)
    client = client_from_args(args)
    urls = urls_from_args(args)
    store = Store(args.store)
    writer = EventWriter(args.events)
    try:
        report, signalled = asyncio.run(_watch(args, settings, client, urls, store, writer))
    except asyncio.CancelledError:  # a second Ctrl-C or SIGTERM: stop at once
        raise KeyboardInterrupt from None
    finally:
        writer.close()
    print(f"watch {args.store}: {report.summary()}", file=sys.stderr)
    if signalled is not None:
        return 0
    return 1 if args.once and (report.feed_errors or report.failed) else 0


async def _watch(args, settings, client, urls, store, writer) -> tuple[WatchReport, str | None]:
    stop = asyncio.Event()
    signalled: list[str] = []
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()

    def on_signal(number: int) -> None:
        if stop.is_set() and main is not None:
            main.cancel()  # a second signal: stop now
        signalled.append(signal.Signals(number).name)
        stop.set()
        print(f"insider watch: {signalled[-1]}, stopping after the current step", file=sys.stderr)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)

    def status(line: str) -> None:
        if not args.quiet:
            print(f"[{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)

    webhook = WebhookSender(args.webhook) if args.webhook else None
    async with client, webhook if webhook is not None else contextlib.nullcontext():
        watcher = Watcher(
            store, client, urls, settings, writer, webhook=webhook, workers=args.workers, status=status
        )
        report = await watcher.run(stop, once=args.once)
    return report, signalled[0] if signalled else None
