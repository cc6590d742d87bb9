"""Tear sheet speed: 2,000 issuers x 10 years of daily scores (synthetic), against a per-date pandas loop.

Run: ``python benchmarks/bench_tearsheet.py [--issuers 2000] [--years 10]``. Prints the machine, the time
of each step and the ratio to the baseline (per-date ``rank().corr()`` in pandas, the rank IC only, same
data, same process). Target: the tear sheet under 30 s on the 2-core project machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import time

import numpy as np
import polars as pl

from engine.evaluation.prices import load_prices
from engine.evaluation.tearsheet import DEFAULT_HORIZONS, tear_sheet


def synthetic(issuers: int, years: int, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Prices (random walks) and a 95%-zero score panel with a weak real signal, every weekday."""
    rng = np.random.default_rng(seed)
    start = dt.date(2015, 1, 1)
    all_days = pl.date_range(start, start + dt.timedelta(days=365 * years), eager=True)
    days = all_days.filter(all_days.dt.weekday() <= 5)
    n = len(days)
    raw = np.where(rng.random((n, issuers)) < 0.95, 0.0, rng.normal(0.0, 1.0, (n, issuers)))
    returns = rng.normal(0.0003, 0.02, (n, issuers)) + 0.002 * np.vstack([np.zeros((1, issuers)), raw[:-1]])
    close = 50.0 * np.cumprod(1.0 + returns, axis=0)
    tickers = pl.Series([f"T{j:05d}" for j in range(issuers)])
    date_col = days.gather(np.repeat(np.arange(n), issuers))
    ticker_col = tickers.gather(np.tile(np.arange(issuers), n))
    prices = pl.DataFrame({"date": date_col, "ticker": ticker_col, "close": close.ravel()})
    z = (raw - raw.mean(axis=1, keepdims=True)) / raw.std(axis=1, keepdims=True)
    scores = pl.DataFrame({"date": date_col, "ticker": ticker_col, "raw": raw.ravel(), "insider": z.ravel()})
    return prices, scores


def baseline_ic(prices: pl.DataFrame, scores: pl.DataFrame, horizons: tuple[int, ...]) -> dict[int, float]:
    """The straightforward way: pandas wide panels, then one Spearman (rank + corr) per date and horizon."""
    close = prices.to_pandas().pivot(index="date", columns="ticker", values="close")
    factor = scores.to_pandas().pivot(index="date", columns="ticker", values="insider")
    out = {}
    for h in horizons:
        fwd = close.shift(-h) / close - 1.0
        ics = []
        for date in factor.index:
            f, r = factor.loc[date], fwd.loc[date]
            ok = f.notna() & r.notna()
            if ok.sum() >= 5:
                ics.append(f[ok].rank().corr(r[ok].rank()))
        out[h] = float(np.nanmean(ics))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--issuers", type=int, default=2000)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"polars {pl.__version__}, numpy {np.__version__}; load average {os.getloadavg()[0]:.1f} at start "
        f"(other jobs share the machine)"
    )
    prices, scores = synthetic(args.issuers, args.years)
    print(
        f"data: {args.issuers:,} issuers x {scores['date'].n_unique():,} trading days = "
        f"{scores.height:,} score rows"
    )

    small = load_prices(prices.head(50_000))
    tear_sheet(scores.head(50_000), small, sign_column="raw")  # compile the numba kernels outside the timing

    t0 = time.perf_counter()
    panel = load_prices(prices)
    t1 = time.perf_counter()
    sheet = tear_sheet(scores, panel, sign_column="raw", horizons=DEFAULT_HORIZONS)
    t2 = time.perf_counter()
    print(f"load_prices: {t1 - t0:6.2f} s")
    print(
        f"tear_sheet (horizons {DEFAULT_HORIZONS}, IC + NW t, 7 zero-aware buckets, spread, turnover, "
        f"coverage): {t2 - t1:6.2f} s"
    )
    print(f"total: {t2 - t0:6.2f} s (target < 30 s); load average {os.getloadavg()[0]:.1f}")
    print(sheet.ic_summary.select("horizon", "mean_ic", "t_nw").to_pandas().to_string(index=False))
    if args.skip_baseline:
        return
    t3 = time.perf_counter()
    base = baseline_ic(prices, scores, DEFAULT_HORIZONS)
    t4 = time.perf_counter()
    ours = dict(zip(sheet.ic_summary["horizon"], sheet.ic_summary["mean_ic"], strict=True))
    agree = max(abs(base[h] - ours[h]) for h in DEFAULT_HORIZONS)
    print(
        f"baseline (pandas per-date rank IC only, 4 horizons): {t4 - t3:6.2f} s; "
        f"max |mean IC difference| {agree:.2e}"
    )
    print(
        f"ratio: load_prices + tear sheet is {(t4 - t3) / (t2 - t0):.1f}x faster than the baseline's IC "
        f"alone (both start from the same long frames)"
    )


if __name__ == "__main__":
    main()
