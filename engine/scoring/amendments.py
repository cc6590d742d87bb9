"""Amendment supersession (SCORING.md section 4): the day from which a filing's trades stop counting.

A ``4/A`` supersedes every earlier-available ``4``/``4/A`` with the same issuer CIK, insider key and
``periodOfReport``, from the amendment's own ``available_date`` on. So a trade's ``superseded`` day is
the first amendment of its key available strictly after the trade's own filing, or null (never).
"""

from __future__ import annotations

import polars as pl

KEY: tuple[str, ...] = ("issuer_cik", "insider_cik", "period_of_report")


def amendment_dates(filings: pl.LazyFrame, amendment_forms: tuple[str, ...] = ("4/A",)) -> pl.LazyFrame:
    """``issuer_cik, insider_cik, period_of_report, superseded``: one row per distinct amendment day of
    ``amendment_forms`` (the score adds ``5/A`` when it counts Form 5) among ``filings`` (any frame with
    ``document_type``, ``available_date`` and the key columns)."""
    return (
        filings.filter(
            pl.col("document_type").is_in(amendment_forms)
            & pl.col("available_date").is_not_null()
            & pl.all_horizontal(pl.col(KEY).is_not_null())
        )
        .select(*KEY, pl.col("available_date").alias("superseded"))
        .unique()
        .sort("superseded")
    )


def with_superseded(trades: pl.LazyFrame, amendments: pl.LazyFrame) -> pl.LazyFrame:
    """Add ``superseded`` (date or null) to trades keyed like ``amendments``: the first amendment of the
    trade's key available strictly after the trade's ``available_date``."""
    return trades.sort("available_date").join_asof(
        amendments,
        left_on="available_date",
        right_on="superseded",
        by=list(KEY),
        strategy="forward",
        allow_exact_matches=False,
        check_sortedness=False,
    )


def counts_on(day: pl.Expr) -> pl.Expr:
    """True where a trade with ``superseded`` still counts on ``day``: no amendment has superseded it by
    then (the kernels' ``t < end``, as a Polars expression)."""
    return pl.col("superseded").is_null() | (day < pl.col("superseded"))
