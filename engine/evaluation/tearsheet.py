"""Factor tear sheet for a sparse, mostly-zero score with overlapping forward-return horizons.

Rank IC per date (Spearman, average ranks for ties) with its mean, information ratio and a Newey-West
t-statistic (Bartlett kernel, ``horizon - 1`` lags by default: h-day returns started on consecutive days
overlap by h-1 days); zero-aware quantile returns (negative / zero / positive by the sign of a column,
then quantiles within each non-zero side); long-short spread; bucket turnover; coverage.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from engine import frames
from engine.errors import UserError
from engine.evaluation.kernels import bucket_means, rank_ic, zero_aware_buckets
from engine.evaluation.prices import Prices

DEFAULT_HORIZONS: tuple[int, ...] = (1, 5, 21, 63)


@dataclass(frozen=True)
class TearSheet:
    """All tear-sheet results as plain frames; buckets are labelled ``neg_1`` (most negative) ..
    ``neg_q``, ``zero``, ``pos_1`` .. ``pos_q`` (most positive)."""

    factor: str
    sign_column: str
    horizons: tuple[int, ...]
    quantiles: int
    ic: pl.DataFrame
    """``date, horizon, ic, n``."""
    ic_summary: pl.DataFrame
    """``horizon, n_dates, mean_ic, std_ic, ir, t_iid, t_nw, nw_lags (the lags used), hit_rate``."""
    quantile_returns: pl.DataFrame
    """``date, horizon, bucket, mean_return, n``."""
    quantile_summary: pl.DataFrame
    """``horizon, bucket, mean_return, minus_zero, mean_names``."""
    spread: pl.DataFrame
    """``date, horizon, long_short`` (top bucket minus bottom bucket)."""
    spread_summary: pl.DataFrame
    """``horizon, n_dates, mean, t_nw``."""
    turnover: pl.DataFrame
    """``date, bucket, turnover``: share of the bucket's names that were not in it on the previous date."""
    turnover_summary: pl.DataFrame
    """``bucket, mean_turnover``."""
    cumulative: pl.DataFrame
    """``date, bucket, cumulative, n``: growth of 1 invested daily in each bucket (1-day returns; a day
    without names in the bucket earns 0), and the names held that day."""
    coverage: pl.DataFrame
    """``date, scored, priced, nonzero, fwd_<h>...`` per evaluated date."""
    notes: list[str]
    """Report lines about input left out or mismatched (dates off the calendar, securities without
    prices, horizons past the data)."""

    @property
    def buckets(self) -> list[str]:
        return bucket_labels(self.quantiles)


def bucket_labels(quantiles: int) -> list[str]:
    """Bucket names in code order: most negative first."""
    return (
        [f"neg_{q}" for q in range(1, quantiles + 1)]
        + ["zero"]
        + [f"pos_{q}" for q in range(1, quantiles + 1)]
    )


def lags_used(lags: int, n: int) -> int:
    """The Newey-West lags ``newey_west_t`` uses on ``n`` values: ``lags`` cut to ``[0, n - 1]``."""
    return max(min(lags, n - 1), 0)


def newey_west_t(values: np.ndarray, lags: int) -> float:
    """t-statistic of the mean with Newey-West (Bartlett) standard errors and ``lags_used`` lags; NaN
    when undefined."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    n = len(x)
    if n < 2:
        return math.nan
    d = x - x.mean()
    lags = lags_used(lags, n)
    s = d @ d / n
    for lag in range(1, lags + 1):
        s += 2.0 * (1.0 - lag / (lags + 1.0)) * (d[lag:] @ d[:-lag]) / n
    return float(x.mean() / math.sqrt(s / n)) if s > 0 else math.nan


def tear_sheet(
    scores: frames.TableSource,
    prices: Prices,
    *,
    factor: str = "insider",
    sign_column: str | None = None,
    horizons: Sequence[int] = DEFAULT_HORIZONS,
    quantiles: int = 3,
    nw_lags: int | None = None,
    min_names: int = 5,
) -> TearSheet:
    """Compute the tear sheet of ``factor`` in a score panel (``date``, the prices' key, the factor).

    ``sign_column`` (default: the factor) decides negative / zero / positive: for the engine's z-scored
    ``insider`` pass ``raw``, whose zeros are issuers without insider flow.
    """
    horizons = tuple(sorted({int(h) for h in horizons}))
    if not horizons or horizons[0] < 1:
        raise UserError(f"horizons must be positive trading-day counts, got {horizons}", fix="e.g. 1,5,21,63")
    if quantiles < 1:
        raise UserError(f"quantiles must be >= 1, got {quantiles}", fix="e.g. --quantiles 3")
    sign_column = sign_column or factor
    frame = frames.frame(scores, "scores")
    needed = {"date", prices.key, factor, sign_column}
    if missing := sorted(needed - set(frame.columns)):
        raise UserError(
            f"score panel lacks columns {missing} (it has {frame.columns})",
            fix=f"give a panel with date, {prices.key} and the factor column, or choose --factor",
        )
    notes: list[str] = []
    panel = _to_panel(frame, prices, factor, sign_column, notes)
    rows, f, s = panel
    dates = prices.calendar[rows]
    price_now = prices.close[rows]
    buckets = zero_aware_buckets(f, s, quantiles)
    n_buckets = 2 * quantiles + 1
    labels = bucket_labels(quantiles)

    ic_frames, ic_rows, q_frames, q_rows, spread_frames, spread_rows = [], [], [], [], [], []
    coverage = {
        "date": dates,
        "scored": (~np.isnan(f)).sum(axis=1),
        "priced": (~np.isnan(f) & ~np.isnan(price_now)).sum(axis=1),
        "nonzero": (~np.isnan(f) & (s != 0) & ~np.isnan(s)).sum(axis=1),
    }
    for h in sorted({1, *horizons}):
        fwd = prices.forward_returns(h)[rows]
        means, counts = bucket_means(buckets, fwd, n_buckets)
        if h == 1:
            cumulative = _cumulative(dates, means, counts, labels)
        if h not in horizons:
            continue
        lags = h - 1 if nw_lags is None else nw_lags
        coverage[f"fwd_{h}"] = (~np.isnan(f) & ~np.isnan(fwd)).sum(axis=1)
        ic, n = rank_ic(f, fwd, min_names)
        ic_frames.append(pl.DataFrame({"date": dates, "horizon": h, "ic": ic, "n": n}))
        ic_rows.append(_ic_summary(h, ic, lags))
        q_frames.append(_bucket_frame(dates, h, means, counts, labels))
        q_rows.extend(_bucket_summary(h, means, counts, labels, quantiles))
        long_short = means[:, -1] - means[:, 0]
        spread_frames.append(pl.DataFrame({"date": dates, "horizon": h, "long_short": long_short}))
        valid = long_short[~np.isnan(long_short)]
        spread_rows.append(
            {
                "horizon": h,
                "n_dates": len(valid),
                "mean": float(valid.mean()) if len(valid) else None,
                "t_nw": _none_if_nan(newey_west_t(valid, lags)),
            }
        )
        past = int(np.sum(~np.isnan(f) & ~np.isnan(price_now) & np.isnan(fwd)))
        if past:
            notes.append(
                f"{past:,} scored cells with a close have no {h}-day forward return (the window runs past "
                f"the prices or the security's history): left out of the {h}-day statistics."
            )
    turnover = _turnover(dates, buckets, labels)
    return TearSheet(
        factor=factor,
        sign_column=sign_column,
        horizons=horizons,
        quantiles=quantiles,
        ic=_nan_to_null(pl.concat(ic_frames).with_columns(pl.col("date").cast(pl.Date))),
        ic_summary=pl.DataFrame(ic_rows),
        quantile_returns=pl.concat(q_frames),
        quantile_summary=pl.DataFrame(q_rows),
        spread=_nan_to_null(pl.concat(spread_frames).with_columns(pl.col("date").cast(pl.Date))),
        spread_summary=pl.DataFrame(spread_rows, schema_overrides={"mean": pl.Float64, "t_nw": pl.Float64}),
        turnover=turnover,
        turnover_summary=turnover.group_by("bucket", maintain_order=True).agg(
            pl.col("turnover").mean().alias("mean_turnover")
        ),
        cumulative=cumulative,
        coverage=pl.DataFrame(coverage).with_columns(pl.col("date").cast(pl.Date)),
        notes=notes,
    )


def _to_panel(
    frame: pl.DataFrame, prices: Prices, factor: str, sign_column: str, notes: list[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scatter the long score panel onto (evaluated trading day x security) matrices."""
    for name in {factor, sign_column}:
        if not frame.schema[name].is_numeric():
            raise UserError(
                f"score column {name!r} has type {frame.schema[name]}, not numbers",
                fix="choose a numeric --factor / --sign-column",
            )
    data = frame.select(
        frames.as_date(frame.schema["date"], "date", "scores"),
        pl.col(prices.key).cast(prices.keys.dtype, strict=False),
        pl.col(factor).cast(pl.Float64).fill_nan(None),
        pl.col(sign_column).cast(pl.Float64).fill_nan(None).alias("__sign"),
    )
    undated = data["date"].is_null().sum()
    if undated:
        notes.append(f"{undated:,} score rows without a readable date: left out.")
        data = data.filter(pl.col("date").is_not_null())
    row = prices.date_index(data["date"])
    col = prices.key_index(data[prices.key])
    off_calendar = row < 0
    if off_calendar.any():
        n_dates = data.filter(pl.Series(off_calendar))["date"].n_unique()
        notes.append(
            f"{int(off_calendar.sum()):,} score rows on {n_dates:,} dates that are not trading days in the "
            f"prices: left out."
        )
    unpriced = col < 0
    if unpriced.any():
        keys = data.filter(pl.Series(unpriced))[prices.key].drop_nulls().unique().sort()
        shown = ", ".join(str(k) for k in keys.head(30))
        more = f" and {len(keys) - 30:,} more" if len(keys) > 30 else ""
        notes.append(
            f"{int(unpriced.sum()):,} score rows of {len(keys):,} securities without prices: left out "
            f"({shown}{more})."
        )
    keep = ~off_calendar & ~unpriced
    row, col = row[keep], col[keep]
    f_values = data[factor].to_numpy()[keep].astype(float)
    s_values = data["__sign"].to_numpy()[keep].astype(float)
    used = np.unique(row)
    dense_row = np.searchsorted(used, row)
    cell = dense_row.astype(np.int64) * len(prices.keys) + col
    unique_cells, first, hits = np.unique(cell, return_index=True, return_counts=True)
    shape = (len(used), len(prices.keys))
    f = np.full(shape, np.nan)
    s = np.full(shape, np.nan)
    single = hits == 1
    f.flat[unique_cells[single]] = f_values[first[single]]
    s.flat[unique_cells[single]] = s_values[first[single]]
    if (~single).any():
        notes.append(
            f"{int(hits[~single].sum()):,} score rows share a ({prices.key}, date) cell with another row "
            f"(a recycled or shared {prices.key}?): those {int((~single).sum()):,} cells are left out."
        )
    return used, f, s


def _ic_summary(h: int, ic: np.ndarray, lags: int) -> dict:
    valid = ic[~np.isnan(ic)]
    n = len(valid)
    mean = float(valid.mean()) if n else math.nan
    std = float(valid.std(ddof=1)) if n > 1 else math.nan
    return {
        "horizon": h,
        "n_dates": n,
        "mean_ic": _none_if_nan(mean),
        "std_ic": _none_if_nan(std),
        "ir": _none_if_nan(mean / std if n > 1 and std > 0 else math.nan),
        "t_iid": _none_if_nan(mean / (std / math.sqrt(n)) if n > 1 and std > 0 else math.nan),
        "t_nw": _none_if_nan(newey_west_t(valid, lags)),
        "nw_lags": lags_used(lags, n),
        "hit_rate": _none_if_nan(float((valid > 0).mean()) if n else math.nan),
    }


def _bucket_frame(dates: np.ndarray, h: int, means: np.ndarray, counts: np.ndarray, labels: list[str]):
    n_dates, n_buckets = means.shape
    return pl.DataFrame(
        {
            "date": np.repeat(dates, n_buckets),
            "horizon": np.full(n_dates * n_buckets, h, dtype=np.int64),
            "bucket": np.tile(np.array(labels), n_dates),
            "mean_return": means.ravel(),
            "n": counts.ravel(),
        }
    ).with_columns(pl.col("date").cast(pl.Date), pl.col("mean_return").fill_nan(None))


def _bucket_summary(h: int, means: np.ndarray, counts: np.ndarray, labels: list[str], quantiles: int) -> list:
    out = []
    zero = means[:, quantiles]
    for b, label in enumerate(labels):
        col = means[:, b]
        both = ~np.isnan(col) & ~np.isnan(zero)
        out.append(
            {
                "horizon": h,
                "bucket": label,
                "n_dates": int((~np.isnan(col)).sum()),
                "mean_return": _none_if_nan(float(np.nanmean(col)) if (~np.isnan(col)).any() else math.nan),
                "minus_zero": _none_if_nan(
                    float((col[both] - zero[both]).mean()) if both.any() else math.nan
                ),
                "mean_names": float(counts[:, b].mean()) if len(col) else 0.0,
            }
        )
    return out


def _turnover(dates: np.ndarray, buckets: np.ndarray, labels: list[str]) -> pl.DataFrame:
    parts = []
    for b, label in enumerate(labels):
        member = buckets == b
        now, before = member[1:], member[:-1]
        size = now.sum(axis=1)
        stayed = (now & before).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            turnover = np.where(size > 0, 1.0 - stayed / np.maximum(size, 1), np.nan)
        parts.append(pl.DataFrame({"date": dates[1:], "bucket": label, "turnover": turnover}))
    if not parts or len(dates) < 2:
        return pl.DataFrame(schema={"date": pl.Date, "bucket": pl.String, "turnover": pl.Float64})
    return _nan_to_null(pl.concat(parts).with_columns(pl.col("date").cast(pl.Date)))


def _cumulative(dates: np.ndarray, means: np.ndarray, counts: np.ndarray, labels: list[str]) -> pl.DataFrame:
    growth = np.cumprod(1.0 + np.nan_to_num(means, nan=0.0), axis=0)
    return pl.DataFrame(
        {
            "date": np.repeat(dates, len(labels)),
            "bucket": np.tile(np.array(labels), len(dates)),
            "cumulative": growth.ravel(),
            "n": counts.ravel(),
        }
    ).with_columns(pl.col("date").cast(pl.Date))


def _nan_to_null(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Float64).fill_nan(None))


def _none_if_nan(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)
