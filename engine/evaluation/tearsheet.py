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
from statistics import NormalDist

import numpy as np
import polars as pl

from engine import frames
from engine.errors import UserError
from engine.evaluation.kernels import bucket_means, rank_ic, zero_aware_buckets
from engine.evaluation.prices import Prices

DEFAULT_HORIZONS: tuple[int, ...] = (1, 5, 21, 63)
LONG_SHORT = "long_short"
"""The ``cumulative`` row of the top bucket minus the bottom one."""


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
    """``horizon, bucket, n_dates, mean_return, se_nw (its Newey-West standard error over dates, horizon -
    1 lags unless given), ci_low, ci_high (mean +- t(0.975, n_dates - 1) x se_nw), minus_zero,
    mean_names``."""
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
    without names in the bucket earns 0), and the names held that day; bucket ``long_short`` is the top
    bucket's daily return minus the bottom one's, compounded (0 on a day either is empty)."""
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


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile: exact for 1 and 2 degrees of freedom, else the Cornish-Fisher expansion of
    Abramowitz and Stegun 26.7.5 (within 0.1% of the exact value from 3 degrees of freedom on)."""
    if df < 1 or not 0.0 < p < 1.0:
        return math.nan
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        return (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    z = NormalDist().inv_cdf(p)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4


def newey_west_se(values: np.ndarray, lags: int) -> float:
    """Newey-West (Bartlett) standard error of the mean of the non-NaN ``values`` with ``lags_used``
    lags; NaN when undefined."""
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
    return math.sqrt(s / n) if s > 0 else math.nan


def newey_west_t(values: np.ndarray, lags: int) -> float:
    """t-statistic of the mean with ``newey_west_se``; NaN when undefined."""
    x = np.asarray(values, dtype=float)
    se = newey_west_se(x, lags)
    return float(np.nanmean(x) / se) if math.isfinite(se) else math.nan


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
    horizons = _checked_horizons(horizons)
    if quantiles < 1:
        raise UserError(f"quantiles must be >= 1, got {quantiles}", fix="e.g. --quantiles 3")
    sign_column = sign_column or factor
    frame = _score_frame(scores, prices, {factor, sign_column})
    notes: list[str] = []
    rows, f, s = _to_panel(frame, prices, factor, sign_column, notes)
    panel = _Panel(prices.calendar[rows], f, prices.close[rows], bucket_labels(quantiles))
    dates, labels = panel.dates, panel.labels
    buckets = zero_aware_buckets(f, s, quantiles)
    coverage = {
        "date": dates,
        "scored": (~np.isnan(f)).sum(axis=1),
        "priced": (~np.isnan(f) & ~np.isnan(panel.close)).sum(axis=1),
        "nonzero": (~np.isnan(f) & (s != 0) & ~np.isnan(s)).sum(axis=1),
    }
    results: list[_Horizon] = []
    for h in sorted({1, *horizons}):
        fwd = prices.forward_returns(h)[rows]
        means, counts = bucket_means(buckets, fwd, len(labels))
        if h == 1:
            cumulative = _cumulative(dates, means, counts, labels)
        if h in horizons:
            lags = h - 1 if nw_lags is None else nw_lags
            result = _horizon(panel, h, lags, fwd, means, counts, min_names)
            coverage[f"fwd_{h}"] = result.covered
            notes.extend(result.notes)
            results.append(result)
    turnover = _turnover(dates, buckets, labels)
    return TearSheet(
        factor=factor,
        sign_column=sign_column,
        horizons=horizons,
        quantiles=quantiles,
        ic=_nan_to_null(pl.concat(r.ic for r in results).with_columns(pl.col("date").cast(pl.Date))),
        ic_summary=pl.DataFrame([r.ic_summary for r in results]),
        quantile_returns=pl.concat(r.quantile_returns for r in results),
        quantile_summary=pl.DataFrame([row for r in results for row in r.quantile_summary]),
        spread=_nan_to_null(pl.concat(r.spread for r in results).with_columns(pl.col("date").cast(pl.Date))),
        spread_summary=pl.DataFrame(
            [r.spread_summary for r in results], schema_overrides={"mean": pl.Float64, "t_nw": pl.Float64}
        ),
        turnover=turnover,
        turnover_summary=turnover.group_by("bucket", maintain_order=True).agg(
            pl.col("turnover").mean().alias("mean_turnover")
        ),
        cumulative=cumulative,
        coverage=pl.DataFrame(coverage).with_columns(pl.col("date").cast(pl.Date)),
        notes=notes,
    )


def _checked_horizons(horizons: Sequence[int]) -> tuple[int, ...]:
    """The horizons sorted and unique; a ``UserError`` for none or a non-positive one."""
    checked = tuple(sorted({int(h) for h in horizons}))
    if not checked or checked[0] < 1:
        raise UserError(f"horizons must be positive trading-day counts, got {checked}", fix="e.g. 1,5,21,63")
    return checked


def _score_frame(scores: frames.TableSource, prices: Prices, columns: set[str]) -> pl.DataFrame:
    """The score panel as a frame, refused when it lacks ``date``, the prices' key or ``columns``."""
    frame = frames.frame(scores, "scores")
    if missing := sorted({"date", prices.key, *columns} - set(frame.columns)):
        raise UserError(
            f"score panel lacks columns {missing} (it has {frame.columns})",
            fix=f"give a panel with date, {prices.key} and the factor column, or choose --factor",
        )
    return frame


@dataclass(frozen=True)
class _Panel:
    """The evaluated trading days, the factor and the close on (day x security) matrices, the buckets."""

    dates: np.ndarray
    factor: np.ndarray
    close: np.ndarray
    labels: list[str]


@dataclass(frozen=True)
class _Horizon:
    """One horizon's share of the tear sheet: its rows of each table and its coverage column."""

    ic: pl.DataFrame
    ic_summary: dict
    quantile_returns: pl.DataFrame
    quantile_summary: list[dict]
    spread: pl.DataFrame
    spread_summary: dict
    covered: np.ndarray
    notes: list[str]


def _horizon(
    panel: _Panel, h: int, lags: int, fwd: np.ndarray, means: np.ndarray, counts: np.ndarray, min_names: int
) -> _Horizon:
    """Rank IC, bucket returns and the long-short spread of the ``h``-day forward returns ``fwd``
    (``means``, ``counts``: per date and bucket), with ``lags`` Newey-West lags."""
    dates, f, labels = panel.dates, panel.factor, panel.labels
    ic, n = rank_ic(f, fwd, min_names)
    long_short = means[:, -1] - means[:, 0]
    valid = long_short[~np.isnan(long_short)]
    past = int(np.sum(~np.isnan(f) & ~np.isnan(panel.close) & np.isnan(fwd)))
    notes = []
    if past:
        notes.append(
            f"{past:,} scored cells with a close have no {h}-day forward return (the window runs past "
            f"the prices or the security's history): left out of the {h}-day statistics."
        )
    return _Horizon(
        ic=pl.DataFrame({"date": dates, "horizon": h, "ic": ic, "n": n}),
        ic_summary=_ic_summary(h, ic, lags),
        quantile_returns=_bucket_frame(dates, h, means, counts, labels),
        quantile_summary=_bucket_summary(h, means, counts, labels, len(labels) // 2, lags),
        spread=pl.DataFrame({"date": dates, "horizon": h, "long_short": long_short}),
        spread_summary={
            "horizon": h,
            "n_dates": len(valid),
            "mean": float(valid.mean()) if len(valid) else None,
            "t_nw": _none_if_nan(newey_west_t(valid, lags)),
        },
        covered=(~np.isnan(f) & ~np.isnan(fwd)).sum(axis=1),
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


def _bucket_summary(
    h: int, means: np.ndarray, counts: np.ndarray, labels: list[str], quantiles: int, lags: int
) -> list:
    out = []
    zero = means[:, quantiles]
    for b, label in enumerate(labels):
        col = means[:, b]
        both = ~np.isnan(col) & ~np.isnan(zero)
        n = int((~np.isnan(col)).sum())
        mean = float(np.nanmean(col)) if n else math.nan
        se = newey_west_se(col, lags)
        half = t_quantile(0.975, n - 1) * se
        out.append(
            {
                "horizon": h,
                "bucket": label,
                "n_dates": n,
                "mean_return": _none_if_nan(mean),
                "se_nw": _none_if_nan(se),
                "ci_low": _none_if_nan(mean - half),
                "ci_high": _none_if_nan(mean + half),
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
    long_short = means[:, -1:] - means[:, :1]
    daily = np.hstack([means, long_short])
    growth = np.cumprod(1.0 + np.nan_to_num(daily, nan=0.0), axis=0)
    held = np.hstack([counts, np.minimum(counts[:, -1:], counts[:, :1])])
    names = [*labels, LONG_SHORT]
    return pl.DataFrame(
        {
            "date": np.repeat(dates, len(names)),
            "bucket": np.tile(np.array(names), len(dates)),
            "cumulative": growth.ravel(),
            "n": held.ravel(),
        }
    ).with_columns(pl.col("date").cast(pl.Date))


def _nan_to_null(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Float64).fill_nan(None))


def _none_if_nan(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)
