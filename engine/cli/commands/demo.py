"""``insider demo``: the whole pipeline on the bundled real filings, offline."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from engine.cli.main import SUMMARIES

if TYPE_CHECKING:
    from engine.cli.demo_watch import WatchDemo

DECOMPOSITION_COLUMNS = (
    "ticker",
    "issuer_cik",
    "insider",
    "raw",
    "buys",
    "sells",
    "cluster",
    "n_buys",
    "n_sells",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help=SUMMARIES["demo"],
        description=(
            "Start a local EDGAR replay (127.0.0.1) serving the real Form 3/4/5 filings bundled with the "
            "package, download them with the real downloader into a store, map issuers to tickers, load "
            "the bundled real prices into the store, score every issuer with point-in-time market caps "
            "(closes as traded x shares outstanding), evaluate the score market-adjusted, and print the "
            "result."
        ),
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where the mirror, store and report go (default: a new temporary directory, kept)",
    )
    parser.add_argument(
        "--top", type=int, default=5, help="strongest buys and sells shown for the latest active date (5)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo and print what it did."""
    from engine.cli.demo import (
        CLUSTER_DAYS,
        MARKET,
        MARKET_CAPS_FILE,
        REPLAY_RATE,
        SCORES_FILE,
        SNAPSHOT_FRAME,
        run_demo,
    )
    from engine.evaluation.run import written_summary

    workdir = args.dir or Path(tempfile.mkdtemp(prefix="insider-demo-"))
    result = run_demo(workdir, top=args.top)
    store = result.store.summary()
    frame = result.scores.frame
    print(f"1. local EDGAR replay at {result.base_url} serving {result.mirror_filings} real filings")
    print(f"2. downloaded with the real downloader ({REPLAY_RATE:g} req/s against the replay):")
    print(_indent(result.download.summary()))
    print(f"3. store {result.store.root}: " + ", ".join(f"{k} {v:,}" for k, v in store.items()))
    print(f"4. {_tickers(result.tickers)}")
    print(
        f"5. prices of the universe and {MARKET} from the bundled files into {result.store.root / 'prices'}:"
    )
    print(_indent(result.prices.summary().splitlines()[0]))
    caps = result.caps.table
    print(
        f"6. point-in-time market caps for {caps['issuer_cik'].n_unique()} issuers: closes as traded "
        f"(rebuilt from the adjusted closes with their dividends and splits) x shares outstanding "
        f"({SNAPSHOT_FRAME}, kept in the store's shares_outstanding/)"
    )
    print(_indent("\n".join(f"note: {note}" for note in result.caps.notes)))
    print(
        f"7. scored {frame['issuer_cik'].n_unique():,} issuers x {frame['date'].n_unique():,} weekdays "
        f"({frame['date'].min()}..{frame['date'].max()})"
    )
    print(
        _indent("\n".join(f"note: {note}" for note in result.scores.notes if note not in result.caps.notes))
    )
    print(f"   wrote {workdir / SCORES_FILE} and the market caps it used, {workdir / MARKET_CAPS_FILE}")
    print(_indent(_activity(result.activity, CLUSTER_DAYS)))
    print("8. evaluation (prices by issuer, event-time returns market-adjusted by " + MARKET + "):")
    print(_indent(result.evaluation.summary(max_tickers=args.top)))
    print(f"   report: {written_summary(result.written)}")
    page = result.written["html"].resolve().as_uri()
    print(f"   open {page} in a browser: one self-contained page with every chart")
    print(_watched(result.watch))
    print(f"done in {result.seconds:.1f} s")
    return 0 if result.download.complete else 1


def _tickers(table) -> str:
    """One line about the issuer-to-ticker table and its conflicts."""
    published = table.table()
    listed = published.filter(pl.col("current_ticker").is_not_null())["issuer_cik"].n_unique()
    kinds = dict(table.conflicts().group_by("kind").len().iter_rows())
    renamed = published.filter(
        pl.col("current_ticker").is_not_null() & (pl.col("ticker") != pl.col("current_ticker"))
    ).sort("filings", "issuer_cik", descending=[True, False])
    examples = ", ".join(
        f"{a} -> {b}" for a, b in renamed.select("ticker", "current_ticker").head(3).iter_rows()
    )
    return (
        f"tickers: {published.height:,} (issuer, ticker as filed) rows of "
        f"{published['issuer_cik'].n_unique():,} issuers, {listed:,} in the SEC's map; conflicts: "
        + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        + (f" (e.g. {examples})" if examples else "")
    )


def _activity(activity, days: int) -> str:
    """The latest active day: its strongest buys and sells (non-zero raw), and recent cluster buys."""
    if activity.date is None:
        return "no trade moved any issuer's score on a scored day"
    lines = [
        f"latest date with insider activity {activity.date}: {activity.trades} eligible trade(s) became "
        f"public; {activity.buys.height} net buyer(s) and {activity.sells.height} net seller(s) in the "
        "cross-section"
    ]
    for title, part in (("strongest buys", activity.buys), ("strongest sells", activity.sells)):
        if part.is_empty():
            lines.append(f"{title}: none that day")
            continue
        lines.append(f"{title}:")
        lines.append(
            f"  {'ticker':<7}{'cik':>9}{'insider':>9}{'raw':>11}{'buys':>11}{'sells':>11}{'cluster':>8}"
            f"{'buys/sells':>11}"
        )
        for row in part.select(DECOMPOSITION_COLUMNS).iter_rows(named=True):
            lines.append(
                f"  {row['ticker'] or '-':<7}{row['issuer_cik']:>9}{row['insider']:>+9.3f}"
                f"{row['raw']:>+11.2e}{row['buys']:>11.2e}{row['sells']:>11.2e}{row['cluster']:>8}"
                f"{row['n_buys']:>6}/{row['n_sells']}"
            )
    clusters = activity.clusters
    if clusters.is_empty():
        lines.append(
            f"cluster buys (2+ insiders buying within 30 days) in the {days} days to {activity.date}: none "
            f"({activity.clusters_ever} in the whole store)"
        )
    else:
        lines.append(f"cluster buys in the {days} days to {activity.date}:")
        lines += [
            f"  {r['date']} {r['ticker'] or r['issuer_cik']}: {r['insiders']} insiders"
            for r in clusters.iter_rows(named=True)
        ]
    return "\n".join(lines)


def _watched(watch: WatchDemo) -> str:
    """The watch's few seconds: what the feed published, what was stored, one line per event."""
    lines = [
        f"9. insider watch on the replay's current-filings feed for a few seconds: {watch.published} filings "
        f"published, {watch.report.stored} stored, {watch.report.events} events -> {watch.path}"
    ]
    for event in watch.events:
        if event["rule"] == "feed_gap":
            lines.append(f"   feed_gap {event['status']}: {event['detail']}")
            continue
        score = event["score"]
        insider = "-" if score.get("insider") is None else f"{score['insider']:+.2f}"
        lines.append(
            f"   {event['rule']:<15}{event.get('ticker') or '-':<6} {event['trigger_accessions'][0]} "
            f"insider {insider} rank {score.get('rank')}/{score.get('of')} latency "
            f"{event['latency_seconds']:.1f} s; {event['availability']}"
        )
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join(f"   {line}" if line else line for line in text.splitlines())
