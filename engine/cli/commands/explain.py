"""``insider explain --store DIR --issuer CIK|TICKER --date D``: how one score was made, trade by trade."""

from __future__ import annotations

import argparse
import json

from engine.cli.main import SUMMARIES


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``explain`` subcommand."""
    parser = subparsers.add_parser(
        "explain",
        help=SUMMARIES["explain"],
        description=(
            "Take one (date, issuer) cell of the score apart with the score's own rules: every trade in "
            "the 90-day window with its role weight, value, market cap and its date, plan flag and why, "
            "and the amendment that superseded it; the trades that did not count and why; the cluster's "
            "insiders; raw; and the cross-section's size, mean and std that give the z-score."
        ),
    )
    parser.add_argument("--store", required=True, metavar="DIR", help="store written by `insider ingest`")
    parser.add_argument(
        "--issuer", required=True, metavar="CIK|TICKER", help="issuer CIK, or a ticker as of --date"
    )
    parser.add_argument("--date", required=True, metavar="YYYY-MM-DD", help="the score date")
    parser.add_argument(
        "--market-caps",
        metavar="FILE",
        help="the market data the score used (as for `insider score`); default: the store's "
        "shares_outstanding table",
    )
    parser.add_argument("--universe", metavar="FILE", help="the explicit universe the score used, if any")
    parser.add_argument("--config", metavar="FILE.toml", help="the score configuration used, if any")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Explain the cell and print it."""
    from engine.scoring.config import ScoreConfig
    from engine.scoring.explain import explain

    config = ScoreConfig.from_toml(args.config) if args.config else ScoreConfig()
    explained = explain(
        args.store,
        args.issuer,
        args.date,
        market_caps=args.market_caps or "store",
        config=config,
        universe=args.universe,
    )
    print(json.dumps(explained.to_dict(), indent=1) if args.json else explained.table())
    return 0
