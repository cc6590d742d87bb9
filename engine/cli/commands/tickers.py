"""``insider tickers --store DIR --out F``: the point-in-time issuer-to-ticker table of the store's filings,
joined with the SEC's current map, written to Parquet or CSV with its conflicts beside it."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from engine.cli.main import SUMMARIES
from engine.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``tickers`` subcommand."""
    from engine.cli.commands.download import add_client_options

    parser = subparsers.add_parser(
        "tickers",
        help=SUMMARIES["tickers"],
        description=(
            "One row per issuer and ticker as filed in the store's ownership filings (cleaned, with the "
            "first and last day it was seen), joined with the SEC's company_tickers map for each issuer's "
            "ticker today. Conflicts (a ticker used by two issuers, renamed issuers, tickers now held by "
            "another company) are printed and written beside --out as <name>.conflicts.<suffix>. The SEC "
            "map is kept in the store for `insider prices` and for joining prices by date."
        ),
    )
    parser.add_argument("--out", required=True, metavar="FILE", help="output table, .parquet or .csv")
    parser.add_argument(
        "--company-tickers",
        metavar="FILE",
        help="the SEC's company_tickers.json or company_tickers_exchange.json; default: fetch "
        "company_tickers_exchange.json from --base-url when --user-agent is given, else reuse the map kept "
        "in the store",
    )
    add_client_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build, write and summarise the table."""
    import polars as pl

    from engine import frames
    from engine.scoring import tickers
    from engine.store.datasets import Store

    out = frames.output_path(args.out, frames.TABLE_OUTPUTS)
    root = Path(args.store)
    if not (root / "filings").is_dir():
        raise UserError(f"no store at {root} (no filings/ directory)", fix="run `insider ingest` first")
    store = Store(root)
    current, origin = _current_map(args, store)
    if current is not None and origin != "the store":
        tickers.save_current(store, current)
    table = tickers.ticker_table(store.scan("filings"), current)
    published = table.table()
    conflicts = table.conflicts()
    conflicts_path = out.with_name(f"{out.stem}.conflicts{out.suffix}")
    try:
        for frame, path in ((published, out), (conflicts, conflicts_path)):
            if path.suffix.lower() == ".parquet":
                frame.write_parquet(path)
            else:
                frame.write_csv(path)
    except OSError as exc:
        fix = "pass an --out you can write to"
        raise UserError(f"cannot write {out}: {exc.strerror or exc}", fix=fix) from exc
    issuers = published["issuer_cik"].n_unique()
    listed = published.filter(pl.col("current_ticker").is_not_null())["issuer_cik"].n_unique()
    print(
        f"tickers: {published.height:,} (issuer, ticker as filed) rows of {issuers:,} issuers to {out}; "
        + (
            f"{listed:,} issuers in the SEC's current map ({origin})"
            if current is not None
            else "no SEC map (pass --company-tickers or --user-agent to add each issuer's ticker today)"
        )
    )
    counts = dict(conflicts.group_by("kind").len().iter_rows())
    print(f"conflicts: {conflicts.height:,} written to {conflicts_path}")
    for kind, meaning in tickers.CONFLICT_KINDS.items():
        if counts.get(kind):
            print(f"  {kind}: {counts[kind]:,} ({meaning})")
            for row in conflicts.filter(pl.col("kind") == kind).head(5).iter_rows(named=True):
                print(f"    {row['ticker']}: {row['detail']}")
    return 0


def _current_map(args: argparse.Namespace, store):
    """The SEC map from --company-tickers, else fetched with --user-agent, else the store's, else None."""
    from engine.scoring import tickers

    if args.company_tickers:
        return tickers.read_company_tickers(args.company_tickers), args.company_tickers
    if args.user_agent:
        return asyncio.run(_fetch(args)), "fetched from " + args.base_url
    kept = tickers.stored_current(store)
    return (kept, "the store") if kept is not None else (None, "")


async def _fetch(args: argparse.Namespace):
    from engine.cli.commands.download import client_from_args, urls_from_args
    from engine.edgar.http import FetchError
    from engine.scoring import tickers

    url = urls_from_args(args).company_tickers()
    async with client_from_args(args) as client:
        try:
            body = await client.get(url)
        except FetchError as exc:
            raise UserError(
                f"cannot fetch the SEC's ticker map: {exc}", fix="retry later or pass --company-tickers FILE"
            ) from exc
    assert body is not None
    return tickers.read_company_tickers(body, url)
