"""``insider evaluate --store DIR [--prices FILE] --out DIR``: the heavy-selling event test, the factor tear
sheet and market-adjusted event-time curves, written as report.md, a self-contained report.html, PNG charts
and the result tables as Parquet, with the compact summary printed."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from engine.cli.main import SUMMARIES
from engine.errors import UserError

if TYPE_CHECKING:
    import numpy as np

    from engine.scoring.run import ScoreRun
    from engine.store.datasets import Store


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``evaluate`` subcommand."""
    parser = subparsers.add_parser(
        "evaluate",
        help=SUMMARIES["evaluate"],
        description=(
            "Evaluate against adjusted closes. With --store: the monthly heavy-insider-selling event test "
            "(heavy months vs other insider-active months, 63-trading-day forward returns, Welch t and a "
            "bootstrap interval, per ticker) and event-time curves around heavy selling and cluster buys. "
            "With a score panel (--scores FILE, or --market-caps FILE to score the store here): the factor "
            "tear sheet (rank IC with Newey-West t, zero-aware bucket returns, long-short, turnover, "
            "coverage). Writes report.md (with the provenance: engine version, score config, store, market "
            "caps), a self-contained report.html, PNG charts and every result table as Parquet (IC series "
            "and summary, bucket returns, "
            "event months...) to --out and prints the summary."
        ),
    )
    parser.add_argument("--store", metavar="DIR", help="store written by `insider ingest` (transactions)")
    parser.add_argument(
        "--prices",
        nargs="+",
        metavar="FILE",
        help="Parquet/CSV of date, ticker (or issuer_cik), close (split/dividend-adjusted); several files "
        "are combined and must not disagree; default: the store's prices/ dataset (`insider prices`), by "
        "issuer",
    )
    parser.add_argument(
        "--market",
        metavar="TICKER",
        help="index series among the prices (e.g. SPY) for market-adjusted event-time returns; default: "
        "SPY with the store's prices, none with --prices files",
    )
    parser.add_argument("--scores", metavar="FILE", help="score panel (Parquet/CSV): date, ticker, factor...")
    parser.add_argument(
        "--market-caps",
        metavar="FILE",
        help="without --scores: score the store on the prices' trading days with these market caps",
    )
    parser.add_argument(
        "--out", required=True, metavar="DIR", help="directory for report.md, the PNGs and the Parquet tables"
    )
    parser.add_argument("--factor", default="insider", help="score column to evaluate (default: insider)")
    parser.add_argument(
        "--sign-column",
        metavar="COL",
        help="column whose sign makes the negative / zero / positive buckets (default: raw for insider)",
    )
    parser.add_argument(
        "--horizons",
        type=_horizons,
        default=None,
        metavar="H,H",
        help="forward-return horizons in trading days (default: 1,5,21,63)",
    )
    parser.add_argument("--quantiles", type=_positive, default=3, help="quantiles per non-zero side (3)")
    parser.add_argument(
        "--min-names", type=_positive, default=5, help="names a date needs for its rank IC (default: 5)"
    )
    parser.add_argument(
        "--nw-lags", type=_non_negative, metavar="N", help="Newey-West lags (default: horizon - 1)"
    )
    parser.add_argument(
        "--month-by",
        choices=("available_date", "transaction_date"),
        default="available_date",
        help="month of a trade in the event test (default: available_date, when the market learns of it)",
    )
    parser.add_argument(
        "--expanding",
        action="store_true",
        help="heavy threshold from the issuer's months so far (no look-ahead) instead of the full sample",
    )
    parser.add_argument("--event-horizon", type=_positive, default=63, help="event-test horizon (63 days)")
    parser.add_argument("--bootstrap", type=_non_negative, default=10_000, help="bootstrap resamples (10000)")
    parser.add_argument(
        "--bootstrap-by",
        choices=("month", "issuer"),
        default="month",
        help="resample months (default) or whole issuers, keeping an issuer's overlapping months together",
    )
    parser.add_argument(
        "--keep-amended",
        action="store_true",
        help="count a trade's original Form 4 even after a 4/A restates it (default: the 4/A supersedes "
        "earlier filings of the same issuer, insider and period, as in the score)",
    )
    parser.add_argument("--seed", type=_non_negative, default=0, help="bootstrap seed (0)")
    parser.add_argument(
        "--max-tickers", type=_non_negative, default=20, help="ticker lines printed (all in report.md)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Evaluate, write the report, print the summary."""
    # imported here: Polars, numba and matplotlib would slow every other `insider` command's start
    from engine.evaluation.prices import load_prices
    from engine.evaluation.run import evaluate, written_summary
    from engine.evaluation.tearsheet import DEFAULT_HORIZONS

    if args.store is None and args.scores is None:
        raise UserError("nothing to evaluate", fix="pass --store DIR, --scores FILE, or both")
    out = _report_dir(args.out)
    prices = _prices(args, load_prices)
    transactions = _store(args.store) if args.store else None
    scores: Path | ScoreRun | None = None
    if args.scores:
        scores = Path(args.scores)
    elif args.market_caps:
        if args.store is None:
            raise UserError("--market-caps scores the store", fix="add --store DIR")
        scores = _score_store(args.store, args.market_caps, prices.calendar)
    result = evaluate(
        scores,
        prices,
        transactions=transactions,
        factor=args.factor,
        sign_column=args.sign_column,
        horizons=args.horizons or DEFAULT_HORIZONS,
        quantiles=args.quantiles,
        nw_lags=args.nw_lags,
        min_names=args.min_names,
        month_by=args.month_by,
        threshold="expanding" if args.expanding else "full_sample",
        event_horizon=args.event_horizon,
        bootstrap=args.bootstrap,
        bootstrap_by=args.bootstrap_by,
        seed=args.seed,
        supersede_amendments=not args.keep_amended,
    )
    if scores is None:
        result.notes.append(
            "No score panel: the tear sheet was skipped (pass --scores FILE, or --market-caps FILE)."
        )
    try:
        written = result.write(out)
    except OSError as exc:
        raise UserError(f"cannot write the report to {out}: {exc}", fix=_OUT_FIX) from exc
    print(result.summary(max_tickers=args.max_tickers))
    print(f"report: {written_summary(written)}")
    return 0


_OUT_FIX = "give --out a directory you can create and write to"


def _report_dir(path: str) -> Path:
    """``--out``, created now so that a bad path fails before the evaluation runs."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create the report directory {out}: {exc}", fix=_OUT_FIX) from exc
    return out


def _prices(args: argparse.Namespace, load_prices):
    """``--prices`` files, else the store's prices/ dataset keyed by issuer (SPY as the market)."""
    if args.prices:
        return load_prices(args.prices, market=args.market)
    from engine.evaluation.price_store import DEFAULT_MARKET
    from engine.store.prices import has_prices, store_price_table

    store = _store(args.store) if args.store else None
    if store is None or not has_prices(store):
        raise UserError(
            "no prices: pass --prices FILE, or fetch them into the store first",
            fix="run `insider prices --store DIR --from YYYY-MM-DD` or pass --prices FILE",
        )
    table = store_price_table(store)
    market = args.market or (DEFAULT_MARKET if (table["ticker"] == DEFAULT_MARKET).any() else None)
    return load_prices(table, key="issuer_cik", market=market)


def _store(root: str) -> Store:
    from engine.store.datasets import Store

    return Store.existing(root, holding="transactions")


def _score_store(root: str, market_caps: str, calendar: np.ndarray) -> ScoreRun:
    """Score the store on the trading days from its first filing on."""
    import polars as pl

    from engine.scoring.run import score_run
    from engine.store.datasets import Store

    filings = Store(root).scan("filings").select(pl.col("available_date").min()).collect().item()
    dates = [d for d in calendar.tolist() if filings is None or d >= filings]
    if not dates:
        raise UserError(
            "the prices end before the store's first filing: no date to score",
            fix="give prices that cover the filings' period",
        )
    return score_run(root, market_caps=market_caps, dates=dates)


def _horizons(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {text!r}") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"horizons must be positive integers: {text!r}")
    return values


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {text}")
    return value
