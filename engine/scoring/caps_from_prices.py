"""Point-in-time market caps: cover-page shares outstanding (as of their filing dates) x closes as traded.

On each trading day t of an issuer's price series, the cap is ``close(t) x shares(t)``: ``shares(t)`` is
the latest fact of the store's ``shares_outstanding`` filed on or before t (no look-ahead), scaled by the
splits that went ex after the fact's own date (``period_end``, the day the count was taken) and on or
before t, since a count taken before a split is in pre-split shares. ``close`` is the close as traded
(``PRICES_SCHEMA``), never an adjusted one: adjusted closes are rescaled by later dividends and splits.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from engine.scoring.market_caps import MARKET_CAP, MarketCaps


@dataclass(frozen=True)
class CapsBuild:
    """The caps (``issuer_cik, date, market_cap, carried_back``) and what was left out, for the notes."""

    table: pl.DataFrame
    notes: list[str]

    def market_caps(self, source: str) -> MarketCaps:
        """As the score's market data (``cap`` is a market cap)."""
        table = self.table.select("issuer_cik", "date", pl.col("market_cap").alias("cap"))
        return MarketCaps(table, MARKET_CAP, list(self.notes), source)


def point_in_time_caps(
    shares: pl.LazyFrame | pl.DataFrame, prices: pl.LazyFrame | pl.DataFrame, *, carry_back: bool = False
) -> CapsBuild:
    """Caps on every day an issuer has a traded close and a share count known (see the module).

    ``shares``: ``SHARES_OUTSTANDING_SCHEMA`` rows; ``prices``: ``PRICES_SCHEMA`` rows (index series,
    without an issuer, are ignored). ``carry_back`` also gives days before an issuer's first filed count
    that count, split-adjusted back to them: look-ahead in the share count (buybacks and issuance before
    it are not seen), for data with one late snapshot of share counts only; those rows are flagged."""
    facts = (
        shares.lazy()
        .filter(
            pl.col("issuer_cik").is_not_null()
            & pl.col("filed").is_not_null()
            & pl.col("shares").is_finite()
            & (pl.col("shares") > 0)
        )
        .select(
            pl.col("issuer_cik").cast(pl.Int64),
            "filed",
            pl.col("period_end").fill_null(pl.col("filed")),
            pl.col("shares").cast(pl.Float64),
        )
        .sort("filed", "period_end")
        .unique(["issuer_cik", "filed"], keep="last")
        .sort("filed")
        .collect()
    )
    days = (
        prices.lazy()
        .filter(pl.col("issuer_cik").is_not_null())
        .select(
            pl.col("issuer_cik").cast(pl.Int64),
            "date",
            "close",
            pl.col("split_factor")
            .fill_null(1.0)
            .cum_prod()
            .over("issuer_cik", order_by="date")
            .alias("splits"),
        )
        .sort("date")
        .collect()
    )
    traded = (pl.col("close").is_finite() & (pl.col("close") > 0)).fill_null(False)
    untraded = days.filter(~traded)
    days = days.filter(traded)
    # splits of the issuer's series up to each fact's period_end: the basis its count is in
    basis = facts.sort("period_end").join_asof(
        days.select("issuer_cik", "date", "splits"),
        left_on="period_end",
        right_on="date",
        by="issuer_cik",
        strategy="backward",
        check_sortedness=False,
    )
    basis = (
        basis.with_columns(pl.col("splits").fill_null(1.0).alias("basis"))
        .select("issuer_cik", "filed", "shares", "basis")
        .sort("filed")
    )
    known = days.join_asof(
        basis, left_on="date", right_on="filed", by="issuer_cik", strategy="backward", check_sortedness=False
    ).with_columns(pl.lit(False).alias("carried_back"))
    if carry_back:
        first = basis.sort("filed").unique("issuer_cik", keep="first")
        early = known.filter(pl.col("shares").is_null()).drop("filed", "shares", "basis", "carried_back")
        known = pl.concat(
            [
                known.filter(pl.col("shares").is_not_null()),
                early.join(first, on="issuer_cik", how="inner").with_columns(
                    pl.lit(True).alias("carried_back")
                ),
            ],
            how="diagonal",
        )
    caps = (
        known.filter(pl.col("shares").is_not_null())
        .select(
            "issuer_cik",
            "date",
            (pl.col("close") * pl.col("shares") * pl.col("splits") / pl.col("basis")).alias("market_cap"),
            "carried_back",
        )
        .sort("issuer_cik", "date")
    )
    notes = []
    if untraded.height:
        notes.append(
            f"{untraded.height:,} price rows of {untraded['issuer_cik'].n_unique():,} issuers have no close "
            "as traded (only adjusted closes, without dividends and splits): no market cap on those days"
        )
    without = days.join(caps.select("issuer_cik").unique(), on="issuer_cik", how="anti")[
        "issuer_cik"
    ].n_unique()
    if without:
        notes.append(f"{without:,} issuers with prices have no share count filed: no market cap from prices")
    unpriced = facts.join(caps.select("issuer_cik").unique(), on="issuer_cik", how="anti")[
        "issuer_cik"
    ].n_unique()
    if unpriced:
        notes.append(
            f"{unpriced:,} issuers with a share count filed have no closes as traded: no market cap (a "
            "priced trade of theirs nulls their score with no_market_cap)"
        )
    carried = caps.filter(pl.col("carried_back"))
    if carried.height:
        notes.append(
            f"{carried.height:,} daily caps of {carried['issuer_cik'].n_unique():,} issuers come before the "
            "issuer's first filed share count and use that count split-adjusted back (approximate: share "
            "changes before it are not seen)"
        )
    return CapsBuild(caps, notes)
