"""SCORING.md sections 1-2 as Polars expressions: ticker cleaning and eligible open-market trades (and
the dollar value of section 6, which the event study sums too).

One definition of each, used by the score (``engine.scoring.events``, ``engine.scoring.universe``), the
event study and the market-data joins. Their deliberate differences are the parameters: the score passes
its configured forms and codes, the event study the defaults below.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from parsers.values import clean_ticker as clean_ticker_text

OPEN_MARKET_FORMS: tuple[str, ...] = ("4", "4/A")
"""Document types whose non-derivative rows are eligible by default (Forms 3 and 5 never)."""

OPEN_MARKET_CODES: tuple[str, ...] = ("P", "S")
"""Transaction codes of open-market buys and sells."""


def clean_ticker(column: str = "ticker") -> pl.Expr:
    """``column`` as the ticker label of section 1 (``parsers.values.clean_ticker``, the rule applied at
    parse time, run on each distinct value), named ``ticker``."""
    return pl.col(column).cast(pl.String).map_batches(_clean_distinct, return_dtype=pl.String).alias("ticker")


def _clean_distinct(raw: pl.Series) -> pl.Series:
    distinct = raw.drop_nulls().unique()
    cleaned = pl.Series([clean_ticker_text(text) for text in distinct], dtype=pl.String)
    return raw.replace_strict(distinct, cleaned, default=None, return_dtype=pl.String)


def eligibility(
    forms: Sequence[str] = OPEN_MARKET_FORMS, codes: Sequence[str] = OPEN_MARKET_CODES
) -> dict[str, pl.Expr]:
    """Section 2's conditions, each under the name of the reason a row failing it does not count (explain
    shows them). The parsers always set ``is_derivative``; a null one (a caller's own table) counts as
    non-derivative."""
    return {
        "derivative": ~pl.col("is_derivative").fill_null(False),
        "holding": ~pl.col("is_holding").fill_null(False),
        "form": pl.col("document_type").is_in(list(forms)),
        "code": pl.col("transaction_code").is_in(list(codes)),
        "shares": positive_shares().fill_null(False),
    }


def open_market(
    forms: Sequence[str] = OPEN_MARKET_FORMS, codes: Sequence[str] = OPEN_MARKET_CODES
) -> pl.Expr:
    """Rows meeting every ``eligibility`` condition but the share count (the event study counts those
    apart)."""
    conditions = eligibility(forms, codes)
    del conditions["shares"]
    return pl.all_horizontal(conditions.values())


def positive_shares() -> pl.Expr:
    """A share count that is present, finite and > 0."""
    return pl.col("shares").is_finite() & (pl.col("shares") > 0)


def eligible_trades(
    transactions: pl.LazyFrame,
    *,
    forms: Sequence[str] = OPEN_MARKET_FORMS,
    codes: Sequence[str] = OPEN_MARKET_CODES,
) -> pl.LazyFrame:
    """The eligible transactions of section 2: rows meeting every ``eligibility`` condition."""
    return transactions.filter(pl.all_horizontal(eligibility(forms, codes).values()))


def priced() -> pl.Expr:
    """A price that is present, finite and > 0 (section 6: a missing or zero price gives value 0)."""
    return (pl.col("price").is_finite() & (pl.col("price") > 0)).fill_null(False)


def dollar_value() -> pl.Expr:
    """``shares x price``, 0 without a ``priced`` price."""
    return pl.when(priced()).then(pl.col("shares") * pl.col("price")).otherwise(0.0)
