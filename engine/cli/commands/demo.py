"""``insider demo``: the whole pipeline on the bundled real filings, offline."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import polars as pl

from engine.cli.main import SUMMARIES

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
            "package, download them with the real downloader into a store, score every issuer with market "
            "caps from bundled real prices x shares outstanding, evaluate the score, and print the result."
        ),
    )
    parser.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="where the mirror, store and report go (default: a new temporary directory, kept)",
    )
    parser.add_argument("--top", type=int, default=5, help="issuers shown at each end of the last date")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo and print what it did."""
    from engine.cli.demo import REPLAY_RATE, run_demo

    workdir = args.dir or Path(tempfile.mkdtemp(prefix="insider-demo-"))
    result = run_demo(workdir)
    store = result.store.summary()
    frame = result.scores.frame
    print(f"1. local EDGAR replay at {result.base_url} serving {result.mirror_filings} real filings")
    print(f"2. downloaded with the real downloader ({REPLAY_RATE:g} req/s against the replay):")
    print(_indent(result.download.summary()))
    print(f"3. store {result.store.root}: " + ", ".join(f"{k} {v:,}" for k, v in store.items()))
    print(
        f"4. scored {frame['issuer_cik'].n_unique():,} issuers x {frame['date'].n_unique():,} dates "
        f"({frame['date'].min()}..{frame['date'].max()}); market caps for "
        f"{len(result.market_cap_tickers)} tickers: {' '.join(result.market_cap_tickers)}"
    )
    print(_indent("\n".join(f"note: {note}" for note in result.scores.notes)))
    print(_indent(_decomposition(frame, args.top)))
    print("5. evaluation:")
    print(_indent(result.evaluation.summary(max_tickers=args.top)))
    print(f"   report: {result.written['report']} ({len(result.written) - 1} charts beside it)")
    print(f"done in {result.seconds:.1f} s")
    return 0 if result.download.complete else 1


def _decomposition(frame: pl.DataFrame, top: int) -> str:
    """Top and bottom issuers by ``insider`` on the last date with insider activity (a non-zero ``raw``;
    the bundled filings are sparse after 2024), with buys, sells, cluster and raw."""
    active = frame.filter(pl.col("raw") != 0)
    if active.is_empty():
        return "no issuer has a non-zero raw score on any date"
    last_date = active["date"].max()
    last = frame.filter(pl.col("date") == last_date).drop_nulls("insider").sort("insider", descending=True)
    lines = [
        f"last date with insider activity {last_date} (scores run to {frame['date'].max()}): "
        f"{last.height} issuers in the cross-section"
    ]
    for title, part in (("top", last.head(top)), ("bottom", last.tail(top).reverse())):
        lines.append(f"{title}:")
        lines.append(
            f"  {'ticker':<7}{'cik':>9}{'insider':>9}{'raw':>11}{'buys':>11}{'sells':>11}{'cluster':>8}"
            f"{'buys/sells':>11}"
        )
        for row in part.select(DECOMPOSITION_COLUMNS).iter_rows(named=True):
            lines.append(
                f"  {row['ticker'] or '-':<7}{row['issuer_cik']:>9}{row['insider']:>+9.3f}"
                f"{row['raw']:>+11.2e}"
                f"{row['buys']:>11.2e}{row['sells']:>11.2e}{row['cluster']:>8}"
                f"{row['n_buys']:>6}/{row['n_sells']}"
            )
    return "\n".join(lines)


def _indent(text: str) -> str:
    return "\n".join(f"   {line}" if line else line for line in text.splitlines())
