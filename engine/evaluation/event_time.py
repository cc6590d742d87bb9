"""Event-time returns: the average cumulative return from an event's close, tau trading days before and
after, market-adjusted when the prices carry an index series, with a confidence band across events.

For event i with first trading day t0 on or after its date, ``R_i(tau) = close[t0 + tau] / close[t0] - 1``
and, with a market series M, the abnormal return ``AR_i(tau) = R_i(tau) - (M[t0 + tau] / M[t0] - 1)``
(the market-adjusted model). The band at each tau is ``mean +- t(1 - alpha/2, n - 1) x sd / sqrt(n)`` over
the n events with a value there; it treats events as independent (clustered events overlap in calendar
time, which makes the band too narrow).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from engine.evaluation.prices import Prices
from engine.evaluation.tearsheet import t_quantile

CONFIDENCE = 0.95


def event_time_returns(
    prices: Prices,
    keys: pl.Series,
    dates: pl.Series,
    *,
    before: int = 20,
    after: int = 63,
    confidence: float = CONFIDENCE,
) -> pl.DataFrame:
    """``tau, mean_return, mean_abnormal, ci_low, ci_high, n`` for tau in ``-before..after``: the mean
    cumulative return, the mean market-adjusted one (null without a market series), the band of the
    adjusted one (of the raw one without a market) and the events contributing at each tau."""
    taus = np.arange(-before, after + 1)
    col = prices.key_index(keys) if len(keys) else np.zeros(0, dtype=np.int64)
    t0 = prices.next_trading_index(dates) if len(dates) else np.zeros(0, dtype=np.int64)
    keep = (col >= 0) & (t0 >= 0)
    col, t0 = col[keep], t0[keep]
    if len(t0):
        rows = t0[:, None] + taus[None, :]
        inside = (rows >= 0) & (rows < prices.n_dates)
        window = np.where(inside, prices.close[np.clip(rows, 0, prices.n_dates - 1), col[:, None]], np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            cumulative = window / prices.close[t0, col][:, None] - 1.0
    else:
        cumulative = np.full((0, len(taus)), np.nan)
    abnormal = cumulative - prices.market_returns(t0, taus) if prices.market is not None else None
    banded = abnormal if abnormal is not None else cumulative
    mean_raw, _, _ = _mean_and_band(cumulative, confidence)
    mean, low, high = _mean_and_band(banded, confidence)
    return pl.DataFrame(
        {
            "tau": taus,
            "mean_return": mean_raw,
            "mean_abnormal": mean if abnormal is not None else np.full(len(taus), np.nan),
            "ci_low": low,
            "ci_high": high,
            "n": (~np.isnan(banded)).sum(axis=0).astype(np.int64),
        }
    ).with_columns(pl.col(pl.Float64).fill_nan(None))


def _mean_and_band(values: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per column: the mean and its t band over the non-NaN values (NaN where fewer than 1 / 2 values)."""
    valid = ~np.isnan(values)
    n = valid.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, np.nansum(values, axis=0) / np.maximum(n, 1), np.nan)
        deviation = np.where(valid, values - mean[None, :], 0.0)
        sd = np.sqrt((deviation**2).sum(axis=0) / np.maximum(n - 1, 1))
        half = (
            np.array([t_quantile(0.5 + confidence / 2, int(k) - 1) for k in n])
            * sd
            / np.sqrt(np.maximum(n, 1))
        )
    half = np.where(n > 1, half, np.nan)
    return mean, mean - half, mean + half
