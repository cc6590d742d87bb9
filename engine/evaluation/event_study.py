"""The monthly heavy-insider-selling event test and the cluster-buy events (their event-time returns are
``engine.evaluation.event_time``).

Method (as published, plus a t-statistic and a bootstrap interval): per issuer and calendar month, the
dollar value of open-market sells (S) and buys (P) in Forms 4/4A non-derivative rows (the score's
eligible trades, ``engine.scoring.rules``, under its default forms and codes); net selling =
sells - buys. A month is heavy when its net selling is positive and at or above the issuer's 75th
percentile (linear interpolation) of its positive net-selling months. Forward return: close of the
month's last trading day to the close ``horizon`` trading days later; by available date, a month whose
last filing became public after that close (accepted after 16:00 on it, or dated a weekend day after it)
starts at the close of the first trading day on or after that filing's available date instead, so the
return never precedes the news. Heavy months are compared with the other insider-active months (any P
or S).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import polars as pl

from engine import frames
from engine.errors import UserError
from engine.evaluation.prices import Prices
from engine.scoring.amendments import amendment_dates, counts_on, with_superseded
from engine.scoring.rules import clean_ticker, dollar_value, open_market, positive_shares

MonthBy = Literal["available_date", "transaction_date"]
Threshold = Literal["full_sample", "expanding"]
BootstrapBy = Literal["month", "issuer"]

OK = "ok"
NO_PRICES = "no prices for the security"
BEFORE_PRICES = "month before the prices start"
PAST_DATA = "forward window runs past the prices"
NO_TRADING_DAY = "no trading day in the month"
PRICE_MISSING = "close missing at the start or end of the window"
STATUSES: tuple[str, ...] = (OK, NO_PRICES, BEFORE_PRICES, NO_TRADING_DAY, PAST_DATA, PRICE_MISSING)

_NEEDED = (
    "accession",
    "document_type",
    "issuer_cik",
    "ticker",
    "insider_cik",
    "is_derivative",
    "is_holding",
    "transaction_date",
    "transaction_code",
    "shares",
    "price",
    "plan",
    "period_of_report",
    "available_date",
)


@dataclass(frozen=True)
class EventSummary:
    """The headline comparison of heavy-selling months with the other insider-active months."""

    transactions: int
    event_months: int
    heavy_n: int
    heavy_mean: float | None
    other_n: int
    other_mean: float | None
    spread: float | None
    t_stat: float | None
    df: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    bootstrap: int
    bootstrap_by: str
    seed: int


@dataclass(frozen=True)
class EventStudy:
    """Everything the heavy-selling test computed, as plain frames plus the headline numbers."""

    months: pl.DataFrame
    """One row per issuer-month with any P or S: ``issuer_cik, ticker, month, sells, buys, net_selling,
    n_sells, n_buys, public_by, threshold, heavy, start_date, end_date, fwd_return, status``."""
    by_ticker: pl.DataFrame
    """Per issuer: ``issuer_cik, ticker, net_sell, heavy_months, other_months, heavy_fwd, other_fwd,
    spread`` over months with a forward return, sorted by spread (most negative first)."""
    summary: EventSummary
    counts: dict[str, int]
    """Input accounting: rows read, eligible S/P rows, rows without a price, superseded, undated."""
    month_by: MonthBy
    threshold: Threshold
    quantile: float
    horizon: int
    key: str
    missing_prices: list[str] = field(default_factory=list)


def eligible_trades(
    transactions: frames.TableSource,
    *,
    month_by: MonthBy = "available_date",
    supersede_amendments: bool = True,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The score's eligible trades (open-market S and P rows of Forms 4/4A, non-derivative, a finite share
    count > 0: ``engine.scoring.rules``) with dollar value and month.

    Amendments follow the score's point-in-time rule (``engine.scoring.amendments``): a trade is
    superseded from the day a 4/A of its issuer, insider and period becomes available after the trade's
    own filing. The test judges each month once, on its ``public_by`` day (the latest available date of
    its trades, when the forward return can start): a trade superseded by then is left out (and counted),
    so an amended trade is not counted twice; one superseded later still counts, as it was known then.
    ``supersede_amendments=False`` counts every filing as filed.
    """
    if month_by not in ("available_date", "transaction_date"):
        raise UserError(f"unknown month basis {month_by!r}", fix="use available_date or transaction_date")
    lf = frames.lazy(transactions, "transactions")
    missing = [c for c in _NEEDED if c not in lf.collect_schema().names()]
    if missing:
        raise UserError(
            f"transactions lack columns {missing}",
            fix="pass the store's transactions table (Store(root).scan('transactions'))",
        )
    rows = lf.select(_NEEDED).collect()
    labels = issuer_labels(rows)
    candidates = rows.filter(open_market())
    no_shares = candidates.filter(~positive_shares().fill_null(False)).height
    candidates = candidates.filter(positive_shares())
    no_date = candidates.filter(pl.col(month_by).is_null() | pl.col("issuer_cik").is_null()).height
    trades = candidates.filter(
        pl.col(month_by).is_not_null() & pl.col("issuer_cik").is_not_null()
    ).with_columns(
        dollar_value().alias("value"),
        pl.col(month_by).dt.truncate("1mo").alias("month"),
    )
    n_superseded = 0
    if supersede_amendments:
        dated = trades.height
        trades = (
            with_superseded(trades.lazy(), amendment_dates(rows.lazy()))
            .filter(counts_on(pl.col("available_date").max().over("issuer_cik", "month")))
            .drop("superseded")
            .collect()
        )
        n_superseded = dated - trades.height
    trades = trades.drop("ticker").join(labels, on="issuer_cik", how="left")
    counts = {
        "rows": rows.height,
        "candidates_without_shares": no_shares,
        "superseded": n_superseded,
        "undated": no_date,
        "eligible": trades.height,
        "without_price": trades.filter(pl.col("value") == 0).height,
    }
    return trades, counts


def issuer_labels(rows: pl.DataFrame) -> pl.DataFrame:
    """``issuer_cik, ticker``: the cleaned ticker (``engine.scoring.rules.clean_ticker``) of each issuer's
    most recent filing that names one."""
    return (
        rows.select("issuer_cik", "available_date", "accession", clean_ticker())
        .filter(pl.col("issuer_cik").is_not_null() & pl.col("ticker").is_not_null())
        .sort("issuer_cik", "available_date", "accession", nulls_last=False)
        .group_by("issuer_cik")
        .agg(pl.col("ticker").last())
    )


def monthly_net_selling(trades: pl.DataFrame) -> pl.DataFrame:
    """Per issuer and month: dollar sells, buys, net selling, trade counts, and ``public_by``: the latest
    available date of the month's trades (when the whole month is known)."""
    is_sell = pl.col("transaction_code") == "S"
    return (
        trades.group_by("issuer_cik", "month")
        .agg(
            pl.col("ticker").first(),
            pl.col("value").filter(is_sell).sum().alias("sells"),
            pl.col("value").filter(~is_sell).sum().alias("buys"),
            is_sell.sum().cast(pl.Int64).alias("n_sells"),
            (~is_sell).sum().cast(pl.Int64).alias("n_buys"),
            pl.col("available_date").max().alias("public_by"),
        )
        .with_columns((pl.col("sells") - pl.col("buys")).alias("net_selling"))
        .sort("issuer_cik", "month")
    )


def heavy_months(
    months: pl.DataFrame, *, threshold: Threshold = "full_sample", quantile: float = 0.75
) -> pl.DataFrame:
    """Add ``threshold`` (the issuer's quantile of positive net selling) and ``heavy``.

    ``full_sample`` uses all the issuer's positive months (look-ahead, as published); ``expanding`` uses
    the positive months up to and including the current one, all known when its forward window starts.
    """
    positive = months.filter(pl.col("net_selling") > 0).sort("issuer_cik", "month")
    if threshold == "full_sample":
        limits = positive.group_by("issuer_cik").agg(
            pl.col("net_selling").quantile(quantile, interpolation="linear").alias("threshold")
        )
        out = months.join(limits, on="issuer_cik", how="left")
    elif threshold == "expanding":
        window = max(positive.group_by("issuer_cik").len()["len"].max() or 1, 1)
        limits = positive.select(
            "issuer_cik",
            "month",
            pl.col("net_selling")
            .rolling_quantile(quantile, interpolation="linear", window_size=window, min_samples=1)
            .over("issuer_cik")
            .alias("threshold"),
        )
        out = months.join(limits, on=["issuer_cik", "month"], how="left")
    else:
        raise UserError(f"unknown threshold {threshold!r}", fix="use full_sample or expanding")
    heavy = (pl.col("net_selling") > 0) & (pl.col("net_selling") >= pl.col("threshold"))
    return out.with_columns(heavy.fill_null(False).alias("heavy")).sort("issuer_cik", "month")


def month_forward_returns(
    months: pl.DataFrame, prices: Prices, *, horizon: int = 63, wait_for_filings: bool = True
) -> pl.DataFrame:
    """Add ``start_date`` (the month's last trading day), ``end_date``, ``fwd_return`` and ``status``.

    ``wait_for_filings``: when ``public_by`` is after the month's last trading day, start at the first
    trading day on or after it instead (its close is the first one that follows the news).
    """
    calendar = prices.calendar
    first = months["month"].to_numpy().astype("datetime64[D]")
    following = (first.astype("datetime64[M]") + 1).astype("datetime64[D]")
    last_idx = np.searchsorted(calendar, following, side="left") - 1
    month_complete = np.searchsorted(calendar, following, side="left") < len(calendar)
    in_month = (
        (last_idx >= 0) & (calendar[np.maximum(last_idx, 0)] >= first) if len(calendar) else last_idx >= 0
    )
    col = prices.key_index(months[prices.key]) if months.height else np.zeros(0, dtype=np.int64)
    start_idx = last_idx
    if wait_for_filings and months.height:
        public = prices.next_trading_index(months["public_by"])
        start_idx = np.maximum(last_idx, np.where(public < 0, len(calendar), public))
    end_idx = start_idx + horizon
    has_window = in_month & month_complete & (end_idx < len(calendar))
    safe_start = np.clip(start_idx, 0, max(len(calendar) - 1, 0))
    safe_end = np.clip(end_idx, 0, max(len(calendar) - 1, 0))
    safe_col = np.maximum(col, 0)
    if prices.close.size:
        start_close = prices.close[safe_start, safe_col]
        end_close = prices.close[safe_end, safe_col]
    else:
        start_close = end_close = np.full(len(first), np.nan)
    ret = end_close / start_close - 1.0
    status = np.select(
        [col < 0, last_idx < 0, ~in_month & month_complete, ~has_window, np.isnan(ret)],
        [NO_PRICES, BEFORE_PRICES, NO_TRADING_DAY, PAST_DATA, PRICE_MISSING],
        default=OK,
    )
    ok = status == OK
    dates = calendar if len(calendar) else np.zeros(1, dtype="datetime64[D]")
    return months.with_columns(
        pl.Series(
            "start_date",
            np.where(in_month & (start_idx < len(calendar)), dates[safe_start], np.datetime64("NaT")),
        ).cast(pl.Date),
        pl.Series("end_date", np.where(has_window, dates[safe_end], np.datetime64("NaT"))).cast(pl.Date),
        pl.Series("fwd_return", np.where(ok, ret, np.nan)).fill_nan(None),
        pl.Series("status", status.astype(str)),
    )


def welch_t(a: np.ndarray, b: np.ndarray) -> tuple[float | None, float | None]:
    """Welch's t-statistic of mean(a) - mean(b) and its Welch-Satterthwaite degrees of freedom."""
    if len(a) < 2 or len(b) < 2:
        return None, None
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0:
        return None, None
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if va and vb else None
    return float(t), (float(df) if df is not None else None)


def bootstrap_spread(
    a: np.ndarray, b: np.ndarray, *, n: int = 10_000, confidence: float = 0.95, seed: int = 0
) -> tuple[float | None, float | None]:
    """Percentile bootstrap interval of mean(a) - mean(b), each group resampled with replacement."""
    if len(a) < 2 or len(b) < 2 or n < 1:
        return None, None
    rng = np.random.default_rng(seed)
    chunk = max(1, 4_000_000 // max(len(a), len(b)))
    spreads = np.empty(n)
    for start in range(0, n, chunk):
        size = min(chunk, n - start)
        ma = a[rng.integers(0, len(a), size=(size, len(a)))].mean(axis=1)
        mb = b[rng.integers(0, len(b), size=(size, len(b)))].mean(axis=1)
        spreads[start : start + size] = ma - mb
    return _percentile_interval(spreads, confidence)


def issuer_bootstrap_spread(
    values: np.ndarray,
    heavy: np.ndarray,
    issuers: np.ndarray,
    *,
    n: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float | None, float | None]:
    """Percentile interval of the heavy-minus-other spread, resampling issuers (all their months together)
    with replacement: months of one issuer with overlapping windows stay together. A resample without a
    heavy or an other month is drawn again."""
    codes, issuer_index = np.unique(issuers, return_inverse=True)
    k = len(codes)
    if heavy.sum() < 2 or (~heavy).sum() < 2 or k < 2 or n < 1:
        return None, None
    sums = np.stack(
        [
            np.bincount(issuer_index, weights=np.where(heavy, values, 0.0), minlength=k),
            np.bincount(issuer_index, weights=heavy.astype(float), minlength=k),
            np.bincount(issuer_index, weights=np.where(heavy, 0.0, values), minlength=k),
            np.bincount(issuer_index, weights=(~heavy).astype(float), minlength=k),
        ],
        axis=1,
    )
    rng = np.random.default_rng(seed)
    chunk = max(1, 4_000_000 // k)
    spreads: list[np.ndarray] = []
    while sum(len(x) for x in spreads) < n:
        draws = rng.integers(0, k, size=(chunk, k))
        counts = np.zeros((chunk, k))
        np.add.at(counts, (np.repeat(np.arange(chunk), k), draws.ravel()), 1.0)
        totals = counts @ sums
        usable = (totals[:, 1] > 0) & (totals[:, 3] > 0)
        totals = totals[usable]
        spreads.append(totals[:, 0] / totals[:, 1] - totals[:, 2] / totals[:, 3])
    return _percentile_interval(np.concatenate(spreads)[:n], confidence)


def _percentile_interval(spreads: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(spreads, [tail, 1.0 - tail])
    return float(low), float(high)


def heavy_selling_test(
    transactions: frames.TableSource,
    prices: Prices,
    *,
    month_by: MonthBy = "available_date",
    threshold: Threshold = "full_sample",
    quantile: float = 0.75,
    horizon: int = 63,
    bootstrap: int = 10_000,
    bootstrap_by: BootstrapBy = "month",
    confidence: float = 0.95,
    seed: int = 0,
    supersede_amendments: bool = True,
) -> EventStudy:
    """Run the heavy-selling event test end to end on a transactions table and a price panel."""
    if not 0.0 < quantile < 1.0:
        raise UserError(f"the heavy-month quantile must be between 0 and 1, got {quantile}", fix="e.g. 0.75")
    if horizon < 1:
        raise UserError(f"the forward horizon must be >= 1 trading day, got {horizon}", fix="e.g. 63")
    trades, counts = eligible_trades(
        transactions, month_by=month_by, supersede_amendments=supersede_amendments
    )
    months = heavy_months(monthly_net_selling(trades), threshold=threshold, quantile=quantile)
    months = month_forward_returns(
        months, prices, horizon=horizon, wait_for_filings=month_by == "available_date"
    )
    done = months.filter(pl.col("status") == OK)
    heavy = done.filter(pl.col("heavy"))["fwd_return"].to_numpy()
    other = done.filter(~pl.col("heavy"))["fwd_return"].to_numpy()
    t_stat, df = welch_t(heavy, other)
    if bootstrap_by == "issuer":
        low, high = issuer_bootstrap_spread(
            done["fwd_return"].to_numpy(),
            done["heavy"].to_numpy(),
            done["issuer_cik"].to_numpy(),
            n=bootstrap,
            confidence=confidence,
            seed=seed,
        )
    elif bootstrap_by == "month":
        low, high = bootstrap_spread(heavy, other, n=bootstrap, confidence=confidence, seed=seed)
    else:
        raise UserError(f"unknown bootstrap unit {bootstrap_by!r}", fix="use month or issuer")
    heavy_mean = float(heavy.mean()) if len(heavy) else None
    other_mean = float(other.mean()) if len(other) else None
    summary = EventSummary(
        transactions=counts["eligible"],
        event_months=done.height,
        heavy_n=len(heavy),
        heavy_mean=heavy_mean,
        other_n=len(other),
        other_mean=other_mean,
        spread=heavy_mean - other_mean if heavy_mean is not None and other_mean is not None else None,
        t_stat=t_stat,
        df=df,
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        bootstrap=bootstrap,
        bootstrap_by=bootstrap_by,
        seed=seed,
    )
    no_prices = months.filter(pl.col("status") == NO_PRICES)
    missing = sorted(
        {t if t is not None else f"CIK {c}" for c, t in no_prices.select("issuer_cik", "ticker").iter_rows()}
    )
    return EventStudy(
        months=months,
        by_ticker=_by_ticker(months),
        summary=summary,
        counts=counts,
        month_by=month_by,
        threshold=threshold,
        quantile=quantile,
        horizon=horizon,
        key=prices.key,
        missing_prices=missing,
    )


def cluster_buy_events(
    transactions: frames.TableSource, *, min_insiders: int = 2, window_days: int = 30
) -> pl.DataFrame:
    """``issuer_cik, ticker, date``: days on which at least ``min_insiders`` distinct insiders have made a
    non-plan open-market buy in the trailing ``window_days`` calendar days (by available_date), the first
    of each episode (no event in the ``window_days`` before)."""
    trades, _ = eligible_trades(transactions)
    buys = trades.filter((pl.col("transaction_code") == "P") & ~pl.col("plan").fill_null(False)).select(
        "issuer_cik", "ticker", "insider_cik", pl.col("available_date").alias("date")
    )
    days = buys.select("issuer_cik", "ticker", "date").unique()
    counted = (
        days.join(
            buys.select("issuer_cik", "insider_cik", pl.col("date").alias("trade_date")), on="issuer_cik"
        )
        .filter(
            (pl.col("trade_date") <= pl.col("date"))
            & (pl.col("trade_date") > pl.col("date") - pl.duration(days=window_days))
        )
        .group_by("issuer_cik", "ticker", "date")
        .agg(pl.col("insider_cik").n_unique().alias("insiders"))
        .filter(pl.col("insiders") >= min_insiders)
        .sort("issuer_cik", "date")
    )
    previous = pl.col("date").shift(1).over("issuer_cik")
    return counted.filter(
        previous.is_null() | ((pl.col("date") - previous) > pl.duration(days=window_days))
    ).select("issuer_cik", "ticker", "date", "insiders")


def _by_ticker(months: pl.DataFrame) -> pl.DataFrame:
    done = pl.col("status") == OK
    heavy = done & pl.col("heavy")
    other = done & ~pl.col("heavy")
    return (
        months.group_by("issuer_cik")
        .agg(
            pl.col("ticker").first(),
            pl.col("net_selling").sum().alias("net_sell"),
            heavy.sum().cast(pl.Int64).alias("heavy_months"),
            other.sum().cast(pl.Int64).alias("other_months"),
            pl.col("fwd_return").filter(heavy).mean().alias("heavy_fwd"),
            pl.col("fwd_return").filter(other).mean().alias("other_fwd"),
            done.sum().cast(pl.Int64).alias("event_months"),
        )
        .with_columns((pl.col("heavy_fwd") - pl.col("other_fwd")).alias("spread"))
        .sort(["spread", "net_sell", "issuer_cik"], descending=[False, True, False], nulls_last=True)
    )
