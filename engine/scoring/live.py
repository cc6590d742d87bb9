"""The live cross-section of ``insider watch``: after a batch of new filings, the as-of score of every issuer
on the batch's score dates, ranked, next to the score the same issuers had without the batch.

Both come from :func:`engine.scoring.run.score_run` (the store as it is, and the store read without the
batch's accessions), so every rule of SCORING.md applies exactly as in ``insider score``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable

import polars as pl

from engine.errors import UserError
from engine.scoring.config import ScoreConfig
from engine.scoring.market_caps import MarketCaps, MarketSource, load_market_caps
from engine.scoring.run import score_run
from engine.scoring.universe import clean_ticker, filing_events
from engine.store.datasets import Store
from engine.store.shares import scan_shares_outstanding

SCORED_TABLES = ("filings", "owners", "transactions", "footnotes")

LIVE_COLUMNS = (
    "date",
    "issuer_cik",
    "ticker",
    "insider",
    "raw",
    "buys",
    "sells",
    "cluster",
    "pct",
    "rank",
    "ranked",
    "previous_insider",
)
"""One row per (score date, issuer in that date's universe): the score, its rank (1 = highest insider)
among the ``ranked`` issuers with a score that date, and ``previous_insider`` without the batch."""


def first_score_date(available: dt.date) -> dt.date:
    """The first score date (a weekday, SCORING.md section 8) on which a filing available on ``available``
    counts: the day itself, or the Monday after a weekend."""
    return available + dt.timedelta(days=max(0, 7 - available.weekday()) if available.weekday() >= 5 else 0)


def market_caps_source(store: Store, market_caps: MarketSource | None) -> MarketSource:
    """The caller's market data, else the store's XBRL shares outstanding (as ``insider score`` defaults);
    raises a UserError at once when the store has none."""
    if market_caps is not None:
        return market_caps
    shares = scan_shares_outstanding(store)
    if shares.head(1).collect().height == 0:
        raise UserError(
            f"the store {store.root} has no shares_outstanding table to size trades by market cap",
            fix="pass --market-caps FILE, or run `insider backfill --shares-outstanding` on the store",
        )
    return shares


def live_market_caps(store: Store, source: MarketSource, last_day: dt.date) -> MarketCaps:
    """The market data as the score reads them on ``last_day`` (tickers mapped to issuers through the
    store's filings known by then), for rules that size one trade against the market cap."""
    return load_market_caps(
        source, filing_events(store.scan("filings"), last_day).with_columns(clean_ticker())
    )


def without(store: Store, accessions: Collection[str]) -> dict[str, pl.LazyFrame]:
    """The store's scored tables read without ``accessions``: the store as it was before a batch."""
    gone = pl.Series(list(accessions), dtype=pl.String).implode()
    return {name: store.scan(name).filter(~pl.col("accession").is_in(gone)) for name in SCORED_TABLES}


def live_scores(
    store: Store,
    accessions: Collection[str],
    dates: Iterable[dt.date],
    *,
    market_caps: MarketSource,
    config: ScoreConfig | None = None,
) -> tuple[pl.DataFrame, list[str]]:
    """The cross-sections of ``dates`` after the batch ``accessions`` (LIVE_COLUMNS), and the run's notes."""
    days = sorted(set(dates))
    after = score_run(store, dates=days, market_caps=market_caps, config=config)
    try:
        before = score_run(without(store, accessions), dates=days, market_caps=market_caps, config=config)
        previous = before.frame.select("date", "issuer_cik", pl.col("insider").alias("previous_insider"))
    except UserError:  # the batch is all the store holds: there was no score before it
        previous = pl.DataFrame(
            schema={"date": pl.Date, "issuer_cik": pl.Int64, "previous_insider": pl.Float64}
        )
    ranked = after.frame.with_columns(
        pl.col("insider").rank("min", descending=True).over("date").cast(pl.Int64).alias("rank"),
        pl.col("insider").count().over("date").cast(pl.Int64).alias("ranked"),
    )
    frame = ranked.join(previous, on=["date", "issuer_cik"], how="left").select(LIVE_COLUMNS)
    return frame, after.notes
