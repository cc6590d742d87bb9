"""Market data for the score: the caller's market caps (or close x shares, or shares alone) normalised to
one point-in-time table ``issuer_cik, date, cap`` (SCORING.md section 6).

Accepted inputs: any table form of ``engine.frames`` (a Parquet/CSV path, a Polars, pandas or pyarrow
table) with ``date`` and ``issuer_cik`` (or ``ticker``) and ``market_cap``, or ``close`` and
``shares_outstanding``, or ``shares_outstanding`` alone; or the
store's ``shares_outstanding`` table (SHARES_OUTSTANDING_SCHEMA: ``filed`` is the date a count became
known). With shares alone, ``value / market_cap`` is ``shares / shares_outstanding``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

from engine import frames
from engine.errors import UserError
from engine.frames import TableSource
from engine.scoring.rules import clean_ticker
from engine.scoring.tickers import resolve_issuers
from parsers.schema import SHARES_OUTSTANDING_SCHEMA

MarketSource = TableSource

MARKET_CAP = "market_cap"
SHARES = "shares"
_SHARES_TABLE_COLUMNS = frozenset(SHARES_OUTSTANDING_SCHEMA.names)


@dataclass(frozen=True)
class MarketCaps:
    """``table``: ``issuer_cik, date, cap`` sorted by issuer then date (sorted on construction if the
    issuers are not: the as-of join reads each issuer's values as one run); ``kind``: ``market_cap``
    (cap is a market cap) or ``shares`` (cap is shares outstanding); ``notes``: what was left out and
    why; ``source``: where the values came from, for provenance."""

    table: pl.DataFrame
    kind: str
    notes: list[str] = field(default_factory=list)
    source: str = "MarketCaps given directly"

    def __post_init__(self) -> None:
        if not self.table["issuer_cik"].is_sorted():
            object.__setattr__(self, "table", self.table.sort("issuer_cik", "date"))

    def known_between(self, first: dt.date, last: dt.date) -> pl.LazyFrame:
        """The rows an as-of lookup (latest value on or before a day) can return for days in ``[first,
        last]``: none dated after ``last``, none followed by another of its issuer by ``first``."""
        issuer, date = pl.col("issuer_cik"), pl.col("date")
        superseded = (issuer.shift(-1) == issuer) & (date.shift(-1) <= first)
        return self.table.lazy().filter((date <= last) & ~superseded.fill_null(False))


def load_market_caps(
    source: MarketSource,
    ticker_map: pl.LazyFrame | None = None,
    *,
    argument: str = "market_caps",
    label: str | None = None,
) -> MarketCaps:
    """Normalise market data given as ``argument`` (any table form of ``engine.frames``); ``ticker_map``
    (``ticker, available_date, issuer_cik``) resolves tickers; ``label`` names the source in messages and
    provenance instead of the argument."""
    where = label or frames.describe(source, argument)
    frame = frames.lower_columns(frames.frame(source, argument), argument)
    if frame.height == 0:
        raise UserError(
            f"{where} has no rows: every trade's value / market cap would be unknown",
            fix="give rows of date, issuer_cik (or ticker) and market_cap",
        )
    if set(frame.columns) >= _SHARES_TABLE_COLUMNS:
        return _from_shares_table(frame, where)
    frames.require_columns(frame.columns, ["date"], where, fix="add a date column (YYYY-MM-DD)")
    frame = frames.parse_dates(frame.with_row_index("row", offset=1), "date", where)
    notes: list[str] = []
    if "issuer_cik" not in frame.columns:
        if "ticker" not in frame.columns:
            raise UserError(
                f"{where}: no issuer_cik or ticker column (columns: {', '.join(frame.columns[1:])})",
                fix="name the issuer column issuer_cik (the SEC CIK) or ticker",
            )
        frame, notes = tickers_to_ciks(frame, ticker_map, where)
    frame = frame.with_columns(pl.col("issuer_cik").cast(pl.Int64, strict=False))
    if MARKET_CAP in frame.columns:
        kind, cap = MARKET_CAP, pl.col(MARKET_CAP).cast(pl.Float64, strict=False)
    elif {"close", "shares_outstanding"} <= set(frame.columns):
        kind = MARKET_CAP
        cap = pl.col("close").cast(pl.Float64, strict=False) * pl.col("shares_outstanding").cast(
            pl.Float64, strict=False
        )
    elif "shares_outstanding" in frame.columns:
        kind, cap = SHARES, pl.col("shares_outstanding").cast(pl.Float64, strict=False)
    else:
        raise UserError(
            f"{where}: no market_cap, close + shares_outstanding, or shares_outstanding column",
            fix="provide one of those columns",
        )
    frame = frame.select("row", "issuer_cik", "date", cap.alias("cap"))
    incomplete = frame.filter(pl.any_horizontal(pl.col("issuer_cik", "date", "cap").is_null()))
    if incomplete.height:
        notes.append(f"{incomplete.height} market data row(s) without issuer, date or value were skipped")
        frame = frame.drop_nulls(["issuer_cik", "date", "cap"])
    bad = frame.filter(~pl.col("cap").is_finite() | (pl.col("cap") <= 0))
    if bad.height:
        first = bad.row(0, named=True)
        raise UserError(
            f"{where}: {bad.height} row(s) with a {kind.replace('_', ' ')} that is not a positive number, "
            f"first at row {first['row']} (issuer {first['issuer_cik']}, {first['date']}): {first['cap']}",
            fix="remove those rows or fix their values (a missing value is simply absent)",
        )
    return MarketCaps(_deduplicated(frame, where), kind, notes, where)


def _deduplicated(frame: pl.DataFrame, origin: str) -> pl.DataFrame:
    """One value per (issuer, date): exact repeats collapse, conflicting ones are an error. One sort,
    then each row compared with the one before (no hash table over the whole table)."""
    ordered = frame.sort("issuer_cik", "date", "cap")
    issuer, date, cap = pl.col("issuer_cik"), pl.col("date"), pl.col("cap")
    same_day = ((issuer == issuer.shift()) & (date == date.shift())).fill_null(False)
    flags = ordered.select(same_day.alias("repeat"), (same_day & (cap != cap.shift())).alias("conflict"))
    if flags["conflict"].any():
        unique = frame.unique(["issuer_cik", "date", "cap"])
        conflicts = unique.filter(pl.len().over("issuer_cik", "date") > 1)
        first = conflicts.sort("row").row(0, named=True)
        raise UserError(
            f"{origin}: issuer {first['issuer_cik']} has {conflicts.height} conflicting values on "
            f"{first['date']} (first at row {first['row']})",
            fix="keep one market data row per issuer and date",
        )
    return ordered.filter(~flags["repeat"]).select("issuer_cik", "date", "cap")


def _from_shares_table(frame: pl.DataFrame, origin: str) -> MarketCaps:
    """The store's shares-outstanding facts: known from ``filed``; the latest fact per filed day wins."""
    notes = []
    usable = frame.filter(
        pl.col("issuer_cik").is_not_null()
        & pl.col("filed").is_not_null()
        & pl.col("shares").is_finite()
        & (pl.col("shares") > 0)
    )
    if usable.height < frame.height:
        notes.append(
            f"{frame.height - usable.height} shares-outstanding fact(s) without issuer, filed date or a "
            "positive share count were skipped"
        )
    table = (
        usable.sort("filed", "period_end", "accession", nulls_last=False)
        .group_by("issuer_cik", "filed", maintain_order=True)
        .agg(pl.col("shares").last().alias("cap"))
        .select(pl.col("issuer_cik").cast(pl.Int64), pl.col("filed").alias("date"), "cap")
        .sort("issuer_cik", "date")
    )
    return MarketCaps(table, SHARES, notes, origin)


def tickers_to_ciks(
    frame: pl.DataFrame, ticker_map: pl.LazyFrame | None, origin: str
) -> tuple[pl.DataFrame, list[str]]:
    """Map ``ticker`` to an issuer by the point-in-time rule of ``engine.scoring.tickers.resolve_issuers``
    (the issuer whose latest filing on or before the row's date used it; before any, the first to use it
    later)."""
    if ticker_map is None:
        raise UserError(f"{origin}: tickers need filings to map them to CIKs", fix="add an issuer_cik column")
    frame = frame.with_columns(clean_ticker())
    joined = frame.with_columns(resolve_issuers(frame, ticker_map).alias("issuer_cik"))
    unmatched = joined.filter(pl.col("issuer_cik").is_null() & pl.col("ticker").is_not_null())
    notes = []
    if unmatched.height:
        sample = ", ".join(unmatched["ticker"].unique().sort().head(5).to_list())
        notes.append(
            f"{unmatched.height} market data row(s) with a ticker no filing uses were skipped (e.g. {sample})"
        )
    return joined.filter(pl.col("issuer_cik").is_not_null()), notes
