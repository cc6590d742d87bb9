"""Prices for evaluation: a long table of adjusted closes turned into a dense (trading day x security) panel.

The trading calendar is the set of dates in the table. Every defect the evaluation can meet (gaps inside a
security's history, suspect one-day moves from unadjusted splits, rows without a usable close) is kept in
``PriceIssues`` and reported; nothing is dropped silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from engine import frames
from engine.errors import UserError
from engine.frames import TableSource
from engine.scoring.rules import clean_ticker

KEY_COLUMNS: tuple[str, ...] = ("ticker", "issuer_cik")
"""A price table identifies its securities by one of these columns (the first found wins)."""

CLOSE_COLUMNS: tuple[str, ...] = ("adj_close", "adjusted_close", "adj close", "close")
"""Accepted names of the adjusted close, in order of preference (case-insensitive)."""

DEFAULT_MAX_FILL = 5
"""Trading days a missing close inside a security's history is carried forward before it counts as absent."""

DEFAULT_SUSPECT_MOVE = 0.60
"""A one-day move beyond +-60% is reported as suspect (typically a split left unadjusted)."""

PriceSource = TableSource | Sequence[TableSource]
"""One price table in any form of ``engine.frames``, or several to combine."""


@dataclass(frozen=True)
class PriceIssues:
    """What was wrong with the price input, as tables for the report."""

    bad_rows: pl.DataFrame
    """``source, row, reason``: rows left out (no date, no close, close <= 0)."""
    gaps: pl.DataFrame
    """``key, first_missing, last_missing, trading_days``: runs of calendar days without a close inside a
    security's own first..last date."""
    suspect_moves: pl.DataFrame
    """``key, date, previous_close, close, move``: one-day moves beyond the suspect threshold."""
    weekend_dates: int
    """Calendar dates on a Saturday or Sunday (a sign that a non-equity series widened the calendar)."""


@dataclass(frozen=True)
class Prices:
    """Adjusted closes on a trading calendar: ``close[i, j]`` is security ``keys[j]`` on ``calendar[i]``."""

    key: str
    calendar: np.ndarray
    keys: pl.Series
    close: np.ndarray
    observed: np.ndarray
    issues: PriceIssues
    close_column: str
    max_fill: int
    suspect_move: float
    market: np.ndarray | None = None
    """The index series' adjusted close on the calendar (carried forward like the others), when given."""
    market_name: str | None = None

    @property
    def n_dates(self) -> int:
        """Trading days in the calendar."""
        return len(self.calendar)

    def date_index(self, dates: pl.Series) -> np.ndarray:
        """Row of each date in the calendar, -1 where the date is not a trading day."""
        values = dates.cast(pl.Date).to_numpy().astype("datetime64[D]")
        pos = np.searchsorted(self.calendar, values)
        inside = pos < len(self.calendar)
        found = np.zeros(len(values), dtype=bool)
        found[inside] = self.calendar[pos[inside]] == values[inside]
        return np.where(found, pos, -1)

    def next_trading_index(self, dates: pl.Series) -> np.ndarray:
        """Row of the first trading day on or after each date, -1 past the end of the calendar."""
        values = dates.cast(pl.Date).to_numpy().astype("datetime64[D]")
        pos = np.searchsorted(self.calendar, values, side="left")
        return np.where(pos < len(self.calendar), pos, -1)

    def key_index(self, keys: pl.Series) -> np.ndarray:
        """Column of each key in the panel, -1 where the security has no prices."""
        lookup = pl.DataFrame({"key": self.keys, "column": np.arange(len(self.keys), dtype=np.int64)})
        probe = pl.DataFrame({"key": keys.cast(self.keys.dtype)}).with_row_index("order")
        joined = probe.join(lookup, on="key", how="left").sort("order")
        return joined["column"].fill_null(-1).to_numpy()

    def market_returns(self, rows: np.ndarray, taus: np.ndarray) -> np.ndarray:
        """``market[rows + tau] / market[rows] - 1`` (events x taus); NaN outside the calendar or without
        a market series."""
        out = np.full((len(rows), len(taus)), np.nan)
        if self.market is None or not len(rows):
            return out
        at = rows[:, None] + taus[None, :]
        inside = (at >= 0) & (at < self.n_dates)
        level = np.where(inside, self.market[np.clip(at, 0, self.n_dates - 1)], np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            return level / self.market[rows][:, None] - 1.0

    def forward_returns(self, horizon: int) -> np.ndarray:
        """``close[t + horizon] / close[t] - 1`` on the panel; NaN where either close is absent or
        ``t + horizon`` runs past the calendar."""
        out = np.full(self.close.shape, np.nan)
        if horizon < len(self.calendar):
            with np.errstate(invalid="ignore", divide="ignore"):
                out[: len(self.calendar) - horizon] = self.close[horizon:] / self.close[:-horizon] - 1.0
        return out

    def describe(self) -> list[str]:
        """One report line per fact about the input and per defect found."""
        first, last = (str(self.calendar[0]), str(self.calendar[-1])) if self.n_dates else ("-", "-")
        lines = [
            f"Prices: {len(self.keys):,} securities by {self.key}, {self.n_dates:,} trading days "
            f"{first}..{last}, {int(self.observed.sum()):,} closes (column '{self.close_column}')."
        ]
        if self.market is not None:
            lines.append(
                f"Market: {self.market_name}, closes on {int(np.isfinite(self.market).sum()):,} of the "
                f"{self.n_dates:,} trading days (event-time returns are market-adjusted against it)."
            )
        issues = self.issues
        if issues.bad_rows.height:
            reasons = issues.bad_rows.group_by("reason").len().sort("reason")
            detail = ", ".join(f"{r['len']:,} {r['reason']}" for r in reasons.iter_rows(named=True))
            lines.append(f"Price rows left out: {issues.bad_rows.height:,} ({detail}).")
        if issues.gaps.height:
            longest = issues.gaps.sort("trading_days", descending=True).row(0, named=True)
            lines.append(
                f"Price gaps: {issues.gaps.height:,} runs of missing trading days inside "
                f"{issues.gaps['key'].n_unique():,} securities' histories, "
                f"{int(issues.gaps['trading_days'].sum()):,} days in all (longest {longest['trading_days']} "
                f"days, {longest['key']} {longest['first_missing']}..{longest['last_missing']}); "
                f"closes carried forward up to {self.max_fill} trading days, absent beyond."
            )
        if issues.suspect_moves.height:
            lines.append(
                f"Suspect one-day moves (beyond +-{self.suspect_move:.0%}, possibly unadjusted splits): "
                f"{issues.suspect_moves.height:,}."
            )
            for row in issues.suspect_moves.head(20).iter_rows(named=True):
                lines.append(
                    f"  {row['key']} {row['date']}: {row['previous_close']:.4g} -> {row['close']:.4g} "
                    f"({row['move']:+.1%})"
                )
        if issues.weekend_dates:
            lines.append(
                f"Calendar has {issues.weekend_dates:,} weekend dates: a series trading on weekends "
                f"widened the trading calendar; horizons count those days."
            )
        return lines


def read_prices(
    source: PriceSource, *, key: str | None = None, market: str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, str, str, pl.DataFrame]:
    """Read one or more price tables (each any form of ``engine.frames``) into ``date, <key>, close`` with
    the rows that had to be left out; ``key`` forces the key column (else the first of ``KEY_COLUMNS``
    found); the rows of ticker ``market`` are set apart as ``date, close``.

    Returns ``(prices, bad_rows, key, close_column, market_rows)``.
    """
    single = frames.is_path(source) or frames.is_table(source) or not isinstance(source, Sequence)
    items = [source] if single else list(source)
    if not items:
        raise UserError("no price files given", fix="pass at least one Parquet or CSV file of prices")
    normalised, bad, keys, closes, markets = [], [], set(), set(), []
    for item in items:
        table, name = frames.frame(item, "prices"), frames.describe(item, "prices")
        table, market_rows = _market_rows(table, name, market)
        good, rejected, found, close_column = _normalise(table, name, key)
        normalised.append(good)
        bad.append(rejected)
        keys.add(found)
        closes.add(close_column)
        markets.append(market_rows)
    if len(keys) > 1:
        raise UserError(
            f"price tables identify securities differently ({', '.join(sorted(keys))})",
            fix="give every price table the same key column: ticker or issuer_cik",
        )
    found = keys.pop()
    prices = pl.concat(normalised)
    market_rows = pl.concat(markets).unique("date", keep="first").sort("date")
    if market is not None and market_rows.is_empty():
        raise UserError(
            f"no price rows of the market series {market!r}",
            fix=f"add {market}'s closes to the prices (ticker {market}) or choose another --market",
        )
    return prices, pl.concat(bad), found, "/".join(sorted(closes)), market_rows


def load_prices(
    source: PriceSource,
    *,
    max_fill: int = DEFAULT_MAX_FILL,
    suspect_move: float = DEFAULT_SUSPECT_MOVE,
    key: str | None = None,
    market: str | None = None,
) -> Prices:
    """Read prices and build the panel: calendar, forward-filled closes (``max_fill`` days), issues found.
    ``key`` forces ``ticker`` or ``issuer_cik`` as the securities' key; ``market`` names the ticker of an
    index series (e.g. SPY) set apart as ``Prices.market`` for market-adjusted returns."""
    prices, bad_rows, key, close_column, market_rows = read_prices(source, key=key, market=market)
    if prices.height == 0:
        reasons = ", ".join(
            f"{n:,} {r}" for r, n in bad_rows.group_by("reason").len().sort("reason").iter_rows()
        )
        raise UserError(
            f"no usable price rows ({reasons or 'the table is empty'})",
            fix="give rows with a date, a ticker or issuer_cik, and a positive adjusted close",
        )
    dates = prices["date"].to_numpy().astype("datetime64[D]")
    market_dates = market_rows["date"].to_numpy().astype("datetime64[D]")
    calendar = np.unique(np.concatenate([dates, market_dates]))
    keys = prices[key].unique().sort()
    rows = np.searchsorted(calendar, dates)
    codes = prices.select(pl.col(key).replace_strict(keys, np.arange(len(keys)), return_dtype=pl.Int64))
    codes = codes[key].to_numpy()
    closes = prices["close"].to_numpy()
    _check_duplicates(rows * len(keys) + codes, closes, calendar, keys)
    raw = np.full((len(calendar), len(keys)), np.nan)
    raw[rows, codes] = closes
    observed = ~np.isnan(raw)
    issues = PriceIssues(
        bad_rows=bad_rows,
        gaps=_gaps(observed, calendar, keys),
        suspect_moves=_suspect_moves(raw, observed, calendar, keys, suspect_move),
        weekend_dates=int(np.sum((calendar.astype(np.int64) + 3) % 7 >= 5)),
    )
    return Prices(
        key=key,
        calendar=calendar,
        keys=keys.rename("key"),
        close=_fill_forward(raw, observed, max_fill),
        observed=observed,
        issues=issues,
        close_column=close_column,
        max_fill=max_fill,
        suspect_move=suspect_move,
        market=_market_series(market_rows, calendar, max_fill) if market is not None else None,
        market_name=market,
    )


def _market_rows(table: pl.DataFrame, name: str, market: str | None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The table without the market's rows, and those rows as ``date, close``."""
    empty = pl.DataFrame(schema={"date": pl.Date, "close": pl.Float64})
    if market is None:
        return table, empty
    lower = {c.lower(): c for c in table.columns}
    if "ticker" not in lower:
        raise UserError(f"{name}: a market series needs a ticker column", fix="add a ticker column")
    symbol = pl.DataFrame({"ticker": [market]}).select(clean_ticker())["ticker"][0]
    is_market = (clean_ticker(lower["ticker"]) == symbol).fill_null(False)
    rows, _, _, _ = _normalise(table.filter(is_market), name, "ticker")
    return table.filter(~is_market), rows.select("date", "close")


def _market_series(rows: pl.DataFrame, calendar: np.ndarray, max_fill: int) -> np.ndarray:
    raw = np.full((len(calendar), 1), np.nan)
    raw[np.searchsorted(calendar, rows["date"].to_numpy().astype("datetime64[D]")), 0] = rows[
        "close"
    ].to_numpy()
    return _fill_forward(raw, ~np.isnan(raw), max_fill)[:, 0]


def _normalise(
    frame: pl.DataFrame, name: str, key: str | None = None
) -> tuple[pl.DataFrame, pl.DataFrame, str, str]:
    lower = {c.lower(): c for c in frame.columns}
    date_col = lower.get("date")
    key_col = lower.get(key) if key else next((lower[k] for k in KEY_COLUMNS if k in lower), None)
    close_col = next((lower[c] for c in CLOSE_COLUMNS if c in lower), None)
    if date_col is None or key_col is None or close_col is None:
        raise UserError(
            f"{name} has columns {frame.columns}; it needs date, ticker or issuer_cik, and close",
            fix="rename the columns to date, ticker (or issuer_cik) and close (split/dividend-adjusted)",
        )
    key = key_col.lower()
    key_values = (
        pl.col(key_col).cast(pl.Int64, strict=False) if key == "issuer_cik" else clean_ticker(key_col)
    )
    out = frame.with_row_index("row", offset=1).select(
        "row",
        frames.as_date(frame.schema[date_col], date_col, name).alias("date"),
        pl.col(date_col).is_not_null().alias("dated"),
        key_values.alias(key),
        pl.col(close_col).cast(pl.Float64, strict=False).alias("close"),
    )
    reason = (
        pl.when(pl.col("date").is_null() & pl.col("dated"))
        .then(pl.lit("date not readable"))
        .when(pl.col("date").is_null())
        .then(pl.lit("no date"))
        .when(pl.col(key).is_null())
        .then(pl.lit(f"no {key}"))
        .when(pl.col("close").is_null() | pl.col("close").is_nan())
        .then(pl.lit("no close"))
        .when(pl.col("close") <= 0)
        .then(pl.lit("close <= 0"))
    )
    out = out.with_columns(reason.alias("reason"))
    bad = out.filter(pl.col("reason").is_not_null()).select(
        pl.lit(name).alias("source"), pl.col("row").cast(pl.Int64), "reason"
    )
    good = out.filter(pl.col("reason").is_null()).select("date", key, "close")
    return good, bad, key, close_col


def _check_duplicates(cells: np.ndarray, closes: np.ndarray, calendar: np.ndarray, keys: pl.Series) -> None:
    """Several rows for one (security, date) are fine when they agree; an error when they do not."""
    if len(cells) < 2:
        return
    counts = np.bincount(cells)
    repeated = np.nonzero(counts[cells] > 1)[0]
    if not len(repeated):
        return
    low = np.full(len(counts), np.inf)
    high = np.full(len(counts), -np.inf)
    np.minimum.at(low, cells[repeated], closes[repeated])
    np.maximum.at(high, cells[repeated], closes[repeated])
    conflicting = np.nonzero(high > low)[0]
    if len(conflicting):
        first = int(conflicting[0])
        row, col = divmod(first, len(keys))
        raise UserError(
            f"prices disagree: {len(conflicting):,} (security, date) pairs have several different closes, "
            f"first {keys[col]} on {calendar[row]}",
            fix="give each security one close per date (are two price files overlapping?)",
        )


def _gaps(observed: np.ndarray, calendar: np.ndarray, keys: pl.Series) -> pl.DataFrame:
    """Runs of missing closes strictly between a security's first and last observed date."""
    records: dict[str, list] = {"key": [], "first_missing": [], "last_missing": [], "trading_days": []}
    for j in np.nonzero(observed.sum(axis=0) != observed.shape[0])[0]:
        have = np.nonzero(observed[:, j])[0]
        if len(have) < 2:
            continue
        steps = np.diff(have)
        for k in np.nonzero(steps > 1)[0]:
            start, stop = have[k] + 1, have[k + 1] - 1
            records["key"].append(str(keys[int(j)]))
            records["first_missing"].append(calendar[start].item())
            records["last_missing"].append(calendar[stop].item())
            records["trading_days"].append(int(stop - start + 1))
    return pl.DataFrame(
        records,
        schema={
            "key": pl.String,
            "first_missing": pl.Date,
            "last_missing": pl.Date,
            "trading_days": pl.Int64,
        },
    )


def _suspect_moves(
    raw: np.ndarray, observed: np.ndarray, calendar: np.ndarray, keys: pl.Series, threshold: float
) -> pl.DataFrame:
    """Moves from each close to the security's previous close beyond +-threshold."""
    n = raw.shape[0]
    last = np.maximum.accumulate(np.where(observed, np.arange(n)[:, None], -1), axis=0)
    previous_row = np.vstack([np.full((1, raw.shape[1]), -1), last[:-1]])
    cols = np.arange(raw.shape[1])[None, :]
    previous = np.where(previous_row >= 0, raw[np.maximum(previous_row, 0), cols], np.nan)
    with np.errstate(invalid="ignore"):
        move = raw / previous - 1.0
    rows, js = np.nonzero(observed & (previous_row >= 0) & (np.abs(move) > threshold))
    return pl.DataFrame(
        {
            "key": keys.gather(js).cast(pl.String),
            "date": pl.Series(calendar[rows]).cast(pl.Date),
            "previous_close": previous[rows, js],
            "close": raw[rows, js],
            "move": move[rows, js],
        }
    ).sort("key", "date")


def _fill_forward(raw: np.ndarray, observed: np.ndarray, max_fill: int) -> np.ndarray:
    """Carry each close forward over at most ``max_fill`` missing days inside the security's history."""
    n = raw.shape[0]
    idx = np.where(observed, np.arange(n)[:, None], -1)
    last = np.maximum.accumulate(idx, axis=0)
    cols = np.arange(raw.shape[1])[None, :]
    filled = np.where(last >= 0, raw[np.maximum(last, 0), cols], np.nan)
    age = np.arange(n)[:, None] - last
    later = np.flip(np.maximum.accumulate(np.flip(observed, axis=0), axis=0), axis=0)
    keep = (last >= 0) & (age <= max_fill) & later
    return np.where(keep, filled, np.nan)
