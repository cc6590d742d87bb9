"""``insider score --store DIR --start D --end D --market-caps FILE --out FILE``: the insider factor panel
written to Parquet (its provenance in the file's metadata) or CSV, with a short summary printed."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import polars as pl

from engine import frames
from engine.cli.commands.compare import add_check_options, check_against
from engine.cli.main import SUMMARIES
from engine.errors import UserError
from engine.scoring.config import ScoreConfig
from engine.scoring.incremental import score_file
from engine.scoring.run import ScoreRun, score_run


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``score`` subcommand."""
    parser = subparsers.add_parser(
        "score",
        help=SUMMARIES["score"],
        description=(
            "Score the store per SCORING.md: 90-day role-weighted net buying over market cap, scaled by "
            "the 30-day count of distinct insiders, z-scored across the universe each weekday. Writes "
            "date, issuer_cik, ticker, buys, sells, cluster, raw, insider, n_buys, n_sells, pct, "
            "null_reason and prints a summary."
        ),
    )
    parser.add_argument("--store", required=True, metavar="DIR", help="store written by `insider ingest`")
    parser.add_argument("--start", required=True, metavar="YYYY-MM-DD", help="first score date")
    parser.add_argument("--end", required=True, metavar="YYYY-MM-DD", help="last score date")
    parser.add_argument(
        "--market-caps",
        metavar="FILE",
        help="Parquet/CSV of date, issuer_cik (or ticker) and market_cap, or close and shares_outstanding, "
        "or shares_outstanding alone; default: the store's shares_outstanding table, times the closes of "
        "its prices/ dataset when `insider prices` has filled it (point-in-time market caps)",
    )
    parser.add_argument(
        "--universe",
        metavar="FILE",
        help="Parquet/CSV with issuer_cik (and optionally date) to score instead of the default universe "
        "(issuers with an ownership filing in the last 365 days)",
    )
    parser.add_argument(
        "--config", metavar="FILE.toml", help="score configuration overriding SCORING.md defaults"
    )
    parser.add_argument(
        "--out",
        required=True,
        metavar="FILE",
        help="output file, .parquet (engine version, config, store and market-cap source in its metadata) "
        "or .csv",
    )
    parser.add_argument(
        "--append",
        action="store_true",
        help="extend the Parquet --out scored earlier (same --start, config and market caps) to --end, "
        "rescoring only the new dates and those that filings or market data stored since can change; "
        "a missing --out is scored in full",
    )
    parser.add_argument("--top", type=int, default=5, help="names shown at each end of the last date (5)")
    add_check_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Score, write the panel, print the summary."""
    out = frames.output_path(args.out, frames.TABLE_OUTPUTS)
    config = ScoreConfig.from_toml(args.config) if args.config else ScoreConfig()
    began = time.perf_counter()
    if out.suffix.lower() == ".parquet":
        written = score_file(
            out,
            args.store,
            args.start,
            args.end,
            market_caps=args.market_caps or "store",
            universe=args.universe,
            config=config,
            append=args.append,
        )
        elapsed = time.perf_counter() - began
        if written.run is not None:
            print(summary(written.run, args.top, elapsed, out))
        print(
            f"{out}: {written.rows:,} rows; this run scored "
            f"{written.scored_dates:,} date(s), {written.new_dates:,} of them new"
        )
        if args.check_against:
            panel = pl.read_parquet(out) if args.append or written.run is None else written.run.frame
            return check_against(panel, args.check_against, args.rtol, args.store)
        return 0
    if args.append:
        raise UserError(f"--append needs a Parquet --out, not {out.name}", fix="name the output .parquet")
    result = score_run(
        args.store,
        args.start,
        args.end,
        market_caps=args.market_caps or "store",
        universe=args.universe,
        config=config,
    )
    elapsed = time.perf_counter() - began
    try:
        result.frame.write_csv(out)
    except OSError as exc:
        raise UserError(f"cannot write {out}: {exc}", fix="pass an --out file you can write") from exc
    print(summary(result, args.top, elapsed, out))
    if args.check_against:
        return check_against(result.frame, args.check_against, args.rtol, args.store)
    return 0


def summary(result: ScoreRun, top: int, elapsed: float, out: Path) -> str:
    """Issuers, dates, nulls and why, and the top and bottom names on the last date."""
    frame = result.frame
    lines = [
        f"scored {frame.height:,} cells: {frame['issuer_cik'].n_unique():,} issuers x "
        f"{frame['date'].n_unique():,} dates in {elapsed:.2f}s -> {out}"
    ]
    nulls = frame["raw"].null_count()
    lines.append(f"null raw/insider: {nulls:,} cells" + (" (see notes)" if nulls else ""))
    lines += [f"note: {note}" for note in result.notes]
    if frame.height:
        last = frame.filter(pl.col("date") == frame["date"].max()).drop_nulls("insider")
        ranked = last.sort("insider", descending=True)
        lines.append(f"last date {frame['date'].max()}: {last.height:,} issuers scored")
        for title, part in (("top", ranked.head(top)), ("bottom", ranked.tail(top).reverse())):
            lines.append(f"  {title}:")
            for row in part.iter_rows(named=True):
                lines.append(
                    f"    {row['ticker'] or '-':<8} cik {row['issuer_cik']:<10} "
                    f"insider {row['insider']:+.3f} raw {row['raw']:+.3g} cluster {row['cluster']} "
                    f"buys/sells {row['n_buys']}/{row['n_sells']}"
                )
    return "\n".join(lines)
