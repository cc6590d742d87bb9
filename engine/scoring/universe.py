"""Score dates, the universe on each date and the issuer's ticker label (SCORING.md sections 1 and 8)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import numpy as np
import polars as pl

from engine import frames
from engine.errors import UserError
from engine.scoring.rules import clean_ticker
from engine.store.accessions import accession_key
from parsers.schema import OWNERSHIP_FORMS

UniverseSource = frames.TableSource | Iterable[int]

EPOCH = dt.date(1970, 1, 1)


def to_day(value: dt.date | str) -> int:
    """Days since 1970-01-01 of a date or ISO date string."""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError as exc:
            raise UserError(f"not a date: {value!r}", fix="use YYYY-MM-DD") from exc
    if isinstance(value, dt.datetime):
        value = value.date()
    return (value - EPOCH).days


def score_dates(
    start: dt.date | str | None, end: dt.date | str | None, dates: Sequence[dt.date | str] | None = None
) -> np.ndarray:
    """Score dates as days since epoch: Monday to Friday in ``[start, end]``, or the explicit ``dates``."""
    if dates is not None:
        grid = np.unique(np.array([to_day(d) for d in dates], dtype=np.int64))
        if grid.size == 0:
            raise UserError("the list of score dates is empty", fix="pass at least one date")
        return grid
    if start is None or end is None:
        raise UserError("a start and an end date are needed", fix="pass start= and end= (YYYY-MM-DD)")
    first, last = to_day(start), to_day(end)
    if last < first:
        raise UserError(f"end {end} is before start {start}", fix="swap them")
    days = np.arange(first, last + 1, dtype=np.int64)
    grid = days[(days + 3) % 7 < 5]
    if grid.size == 0:
        raise UserError(f"no weekday between {start} and {end}", fix="widen the date range")
    return grid


def filing_events(filings: pl.LazyFrame, last_day: dt.date) -> pl.LazyFrame:
    """Ownership filings known by ``last_day``: ``issuer_cik, available_date, accepted, acc_key, ticker``
    (the raw symbol), in no particular order. "Most recent" among
    filings of one issuer and day is the latest ``accepted`` (acceptance time, seconds; -1 when
    unknown), then the largest ``acc_key`` (``engine.store.accessions``): kernels resolve those ties."""
    epoch = pl.lit(dt.datetime(1970, 1, 1))
    return filings.filter(
        pl.col("document_type").is_in(sorted(OWNERSHIP_FORMS))
        & pl.col("issuer_cik").is_not_null()
        & (pl.col("available_date") <= last_day)
    ).select(
        "issuer_cik",
        "available_date",
        (pl.col("accepted_at").dt.replace_time_zone(None) - epoch)
        .dt.total_seconds()
        .fill_null(-1)
        .alias("accepted"),
        accession_key(),
        "ticker",
    )


def ticker_labels(raw: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """The cleaned tickers (sorted, unique) and each row's index into them (-1 for no ticker), cleaning
    only the distinct raw values."""
    distinct = raw.drop_nulls().unique().sort()
    if distinct.is_empty():
        return pl.Series("ticker", [], dtype=pl.String), np.full(raw.len(), -1, dtype=np.int32)
    cleaned = pl.DataFrame({"ticker": distinct}).select(clean_ticker())["ticker"]
    labels = cleaned.drop_nulls().unique().sort()
    to_label = cleaned.cast(pl.Enum(labels)).to_physical().cast(pl.Int32).fill_null(-1)
    codes = raw.cast(pl.Enum(distinct)).to_physical()
    return labels, to_label.gather(codes).fill_null(-1).to_numpy()


def load_universe(source: UniverseSource) -> pl.DataFrame:
    """An explicit universe as ``issuer_cik`` (every date) or ``issuer_cik, date`` (members on exactly
    the dates listed): from CIKs, or a table (any form of ``engine.frames``) with those columns."""
    if frames.is_path(source) or frames.is_table(source):
        where = frames.describe(source, "universe")
        frame = frames.lower_columns(frames.frame(source, "universe"), "universe")
    else:
        where = "universe"
        frame = pl.DataFrame({"issuer_cik": list(source)}, schema={"issuer_cik": pl.Int64}, strict=False)
    frames.require_columns(
        frame.columns, ["issuer_cik"], where, fix="give the issuers as SEC CIKs in a column named issuer_cik"
    )
    columns = ["issuer_cik", "date"] if "date" in frame.columns else ["issuer_cik"]
    frame = frame.select(pl.col("issuer_cik").cast(pl.Int64, strict=False), *columns[1:])
    if "date" in columns:
        frame = frames.parse_dates(frame, "date", where)
    bad = frame.with_row_index("row", offset=1).filter(pl.any_horizontal(pl.col(columns).is_null()))
    if bad.height:
        raise UserError(
            f"{where}: {bad.height} row(s) without a valid CIK or date, first at row {bad['row'][0]}",
            fix="use integer CIKs and YYYY-MM-DD dates",
        )
    return frame.unique()


def explicit_membership(universe: pl.DataFrame, issuers: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Member matrix (dates x issuers) of an explicit universe; ``issuers`` is the sorted CIK index."""
    member = np.zeros((grid.size, issuers.size), dtype=np.bool_)
    rows = np.searchsorted(issuers, universe["issuer_cik"].to_numpy())
    if "date" not in universe.columns:
        member[:, rows] = True
        return member
    days = (universe["date"].cast(pl.Int32).to_numpy()).astype(np.int64)
    cols = np.searchsorted(grid, days)
    on_grid = (cols < grid.size) & (grid[np.minimum(cols, grid.size - 1)] == days)
    member[cols[on_grid], rows[on_grid]] = True
    return member
