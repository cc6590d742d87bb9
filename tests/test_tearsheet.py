"""Tear sheet: numba kernels against their twins, IC and the Newey-West t-statistic against textbook loops
on fixed data, zero-aware buckets on a 95%-zero factor, and the report notes for mismatched input."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from engine.errors import UserError
from engine.evaluation import kernels_reference as twin
from engine.evaluation.kernels import bucket_means, rank_ic, zero_aware_buckets
from engine.evaluation.prices import load_prices
from engine.evaluation.tearsheet import bucket_labels, newey_west_t, tear_sheet

DAYS = [dt.date(2022, 1, 3) + dt.timedelta(days=k) for k in range(120)]
DAYS = [x for x in DAYS if x.weekday() < 5]

cell = st.one_of(st.just(math.nan), st.sampled_from([-2.0, -1.0, 0.0, 0.0, 0.0, 1.0, 3.0]), st.floats(-5, 5))


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 15)), elements=cell))
def test_kernels_match_their_twins(factor):
    returns = np.roll(factor, 1, axis=1) * 0.01 + 0.001 * np.arange(factor.shape[1])
    sign = np.where(np.isnan(factor), np.nan, np.sign(factor))
    ic, n = rank_ic(factor, returns, 2)
    ic_py, n_py = twin.rank_ic(factor, returns, 2)
    assert n.tolist() == n_py
    np.testing.assert_allclose(ic, ic_py, rtol=1e-12, atol=1e-12, equal_nan=True)
    for q in (1, 2, 3):
        buckets = zero_aware_buckets(factor, sign, q)
        assert buckets.tolist() == twin.zero_aware_buckets(factor, sign, q)
        means, counts = bucket_means(buckets, returns, 2 * q + 1)
        means_py, counts_py = twin.bucket_means(buckets, returns, 2 * q + 1)
        assert counts.tolist() == counts_py
        np.testing.assert_allclose(means, means_py, rtol=1e-12, equal_nan=True)


def textbook_spearman(x: list[float], y: list[float]) -> float:
    def ranks(v):
        out = []
        for a in v:
            below = sum(1 for b in v if b < a)
            equal = sum(1 for b in v if b == a)
            out.append(below + (equal + 1) / 2)
        return out

    rx, ry = ranks(x), ranks(y)
    n = len(x)
    mx, my = sum(rx) / n, sum(ry) / n
    cov = sum((rx[i] - mx) * (ry[i] - my) for i in range(n))
    vx = sum((rx[i] - mx) ** 2 for i in range(n))
    vy = sum((ry[i] - my) ** 2 for i in range(n))
    return cov / math.sqrt(vx * vy)


def textbook_newey_west_t(x: list[float], lags: int) -> float:
    n = len(x)
    mean = sum(x) / n
    s = 0.0
    for j in range(0, lags + 1):
        gamma = 0.0
        for t in range(j, n):
            gamma += (x[t] - mean) * (x[t - j] - mean)
        gamma /= n
        weight = 1.0 if j == 0 else 2.0 * (1.0 - j / (lags + 1))
        s += weight * gamma
    return mean / math.sqrt(s / n)


def fixed_panel(names: int = 12, seed: int = 3):
    rng = np.random.default_rng(seed)
    tickers = [f"S{j:02d}" for j in range(names)]
    close = 20.0 * np.cumprod(1.0 + rng.normal(0.0, 0.03, (len(DAYS), names)), axis=0)
    prices = pl.DataFrame(
        {
            "date": [x for x in DAYS for _ in tickers],
            "ticker": tickers * len(DAYS),
            "close": close.ravel(),
        }
    )
    factor = np.round(rng.normal(0.0, 1.0, (len(DAYS), names)), 1)
    factor[rng.random(factor.shape) < 0.5] = 0.0
    scores = pl.DataFrame({"date": prices["date"], "ticker": prices["ticker"], "insider": factor.ravel()})
    return prices, scores, close, factor


@pytest.mark.parametrize("horizon", [1, 5, 21])
def test_ic_and_hac_t_against_textbook(horizon):
    prices, scores, close, factor = fixed_panel()
    sheet = tear_sheet(scores, load_prices(prices), horizons=[horizon], min_names=3)
    expected_ic = []
    for t in range(len(DAYS)):
        if t + horizon >= len(DAYS):
            continue
        fwd = [close[t + horizon][j] / close[t][j] - 1.0 for j in range(close.shape[1])]
        expected_ic.append(textbook_spearman(list(factor[t]), fwd))
    got = sheet.ic.filter(pl.col("ic").is_not_null())["ic"].to_list()
    assert len(got) == len(expected_ic) == len(DAYS) - horizon
    np.testing.assert_allclose(got, expected_ic, rtol=1e-10)
    summary = sheet.ic_summary.row(0, named=True)
    n = len(expected_ic)
    mean = sum(expected_ic) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in expected_ic) / (n - 1))
    assert summary["mean_ic"] == pytest.approx(mean, rel=1e-10)
    assert summary["ir"] == pytest.approx(mean / std, rel=1e-10)
    assert summary["t_iid"] == pytest.approx(mean / std * math.sqrt(n), rel=1e-10)
    assert summary["nw_lags"] == horizon - 1
    assert summary["t_nw"] == pytest.approx(textbook_newey_west_t(expected_ic, horizon - 1), rel=1e-10)


@pytest.mark.parametrize("lags", [0, 1, 4, 20])
def test_newey_west_against_textbook(lags):
    x = np.sin(np.arange(60) * 0.3) * 0.1 + np.random.default_rng(lags).normal(0.01, 0.05, 60)
    assert newey_west_t(x, lags) == pytest.approx(textbook_newey_west_t(list(x), lags), rel=1e-12)
    assert math.isnan(newey_west_t(np.array([0.1]), 3))


def sparse_panel():
    """Two dates, 100 names, 95 zeros a day; the insider column is the z-score of raw, so its zeros are
    a non-zero constant."""
    tickers = [f"N{j:03d}" for j in range(100)]
    raw = np.zeros((2, 100))
    raw[0, :5] = [-3.0, -1.0, 2.0, 4.0, 4.0]
    raw[1, [0, 1, 2, 3, 10]] = [-2.0, 5.0, 1.0, -4.0, 3.0]
    z = (raw - raw.mean(axis=1, keepdims=True)) / raw.std(axis=1, keepdims=True)
    days = DAYS[:3]
    close = np.ones((3, 100)) * 10.0
    close[1] = 10.0 * (1 + 0.01 * np.arange(100))
    close[2] = close[1] * (1 - 0.001 * np.arange(100))
    prices = pl.DataFrame(
        {"date": [x for x in days for _ in tickers], "ticker": tickers * 3, "close": close.ravel()}
    )
    scores = pl.DataFrame(
        {
            "date": [x for x in days[:2] for _ in tickers],
            "ticker": tickers * 2,
            "raw": raw.ravel(),
            "insider": z.ravel(),
        }
    )
    return prices, scores, close


def test_zero_aware_buckets_on_a_95_percent_zero_factor():
    prices, scores, close = sparse_panel()
    sheet = tear_sheet(scores, load_prices(prices), sign_column="raw", horizons=[1], quantiles=2)
    assert sheet.buckets == ["neg_1", "neg_2", "zero", "pos_1", "pos_2"] == bucket_labels(2)
    day0 = sheet.quantile_returns.filter(pl.col("date") == DAYS[0]).sort("bucket")
    r = close[1] / close[0] - 1  # 1-day return of name j on day 0 = 0.01 j
    expected = {  # day 0: negatives -3 | -1; zeros 95; positives 2 | 4, 4 (ties share the top bucket)
        "neg_1": ([0], r[0]),
        "neg_2": ([1], r[1]),
        "zero": (list(range(5, 100)), r[5:].mean()),
        "pos_1": ([2], r[2]),
        "pos_2": ([3, 4], (r[3] + r[4]) / 2),
    }
    for row in day0.iter_rows(named=True):
        names, mean = expected[row["bucket"]]
        assert row["n"] == len(names)
        assert row["mean_return"] == pytest.approx(mean, rel=1e-12, abs=1e-15)
    spread = sheet.spread.filter(pl.col("date") == DAYS[0])["long_short"][0]
    assert spread == pytest.approx((r[3] + r[4]) / 2 - r[0])
    # day 1: negatives -4 (name 3) | -2 (name 0); positives 1 (2) | 3 (10), 5 (1): ranks 1, 2, 3 of 3
    # -> ceil(2/3) = 1, ceil(4/3) = 2, ceil(6/3) = 2
    r1 = close[2] / close[1] - 1
    day1 = {
        row["bucket"]: row
        for row in sheet.quantile_returns.filter(pl.col("date") == DAYS[1]).iter_rows(named=True)
    }
    assert day1["neg_1"]["mean_return"] == pytest.approx(r1[3])
    assert day1["neg_2"]["mean_return"] == pytest.approx(r1[0])
    assert day1["pos_1"]["mean_return"] == pytest.approx(r1[2])
    assert day1["pos_2"]["mean_return"] == pytest.approx((r1[10] + r1[1]) / 2)
    assert day1["zero"]["n"] == 95
    turnover = {row["bucket"]: row["turnover"] for row in sheet.turnover.iter_rows(named=True)}
    # pos_2 was {3, 4}, now {1, 10}: all new; neg_1 was {0}, now {3}; zero: 4 of 95 are new (0..4 out, ...)
    assert turnover["pos_2"] == 1.0 and turnover["neg_1"] == 1.0 and turnover["pos_1"] == 0.0
    zero_today = set(range(100)) - {0, 1, 2, 3, 10}
    zero_before = set(range(5, 100))
    assert turnover["zero"] == pytest.approx(1 - len(zero_today & zero_before) / len(zero_today))
    coverage = sheet.coverage.sort("date")
    assert coverage["scored"].to_list() == [100, 100]
    assert coverage["nonzero"].to_list() == [5, 5]
    assert coverage["fwd_1"].to_list() == [100, 100]
    # ranked on the z-score, split on raw's sign: identical to using raw itself
    by_raw = tear_sheet(scores, load_prices(prices), factor="raw", horizons=[1], quantiles=2)
    assert by_raw.quantile_returns.equals(sheet.quantile_returns)
    # without the sign column the z-scored zeros (a constant below 0 on day 0) are not a zero bucket
    naive = tear_sheet(scores, load_prices(prices), horizons=[1], quantiles=2)
    assert (
        naive.quantile_returns.filter((pl.col("date") == DAYS[0]) & (pl.col("bucket") == "zero"))["n"][0] == 0
    )


def test_mismatched_input_is_reported_not_dropped_silently():
    prices, scores, close = sparse_panel()
    extra = pl.DataFrame(
        {
            "date": [DAYS[0], dt.date(2022, 1, 1), DAYS[0]],
            "ticker": ["NOPRICE", "N000", "N001"],
            "raw": [1.0, 1.0, 2.0],
            "insider": [1.0, 1.0, 2.0],
        }
    )
    sheet = tear_sheet(pl.concat([scores, extra]), load_prices(prices), sign_column="raw", horizons=[1, 5])
    text = "\n".join(sheet.notes)
    assert "1 score rows on 1 dates that are not trading days" in text
    assert "1 score rows of 1 securities without prices: left out (NOPRICE)" in text
    assert "2 score rows share a (ticker, date) cell" in text
    assert "no 5-day forward return" in text
    assert sheet.ic_summary.filter(pl.col("horizon") == 5)["n_dates"][0] == 0
    assert sheet.ic_summary.filter(pl.col("horizon") == 5)["mean_ic"][0] is None


def test_missing_columns_raise_a_user_error():
    prices, scores, _ = sparse_panel()
    with pytest.raises(UserError, match="lacks columns"):
        tear_sheet(scores.drop("insider"), load_prices(prices))


def test_few_names_fill_the_extreme_buckets_first():
    factor = np.array([[-0.5, 0.0, 0.0, 2.0], [-3.0, -1.0, 0.0, 1.0]])
    buckets = zero_aware_buckets(factor, factor, 3)
    # a lone negative is the most negative (neg_1 = code 0), a lone positive the most positive (pos_3 = 6);
    # two negatives of three quantiles: strengths ceil(3 * 2 / 2) = 3 and ceil(3 * 1 / 2) = 2
    assert buckets.tolist() == [[0, 3, 3, 6], [0, 1, 3, 6]]
    assert buckets.tolist() == twin.zero_aware_buckets(factor, factor, 3)


def test_text_dates_and_bad_columns():
    prices, scores, _ = sparse_panel()
    as_text = scores.with_columns(pl.col("date").cast(pl.String))
    as_text = pl.concat([as_text, as_text.head(1).with_columns(pl.lit("not a date").alias("date"))])
    sheet = tear_sheet(as_text, load_prices(prices), sign_column="raw", horizons=[1], quantiles=2)
    reference = tear_sheet(scores, load_prices(prices), sign_column="raw", horizons=[1], quantiles=2)
    assert sheet.quantile_returns.equals(reference.quantile_returns)
    assert "1 score rows without a readable date: left out." in sheet.notes
    with pytest.raises(UserError, match="not numbers"):
        tear_sheet(scores.with_columns(pl.col("insider").cast(pl.String)), load_prices(prices))


def test_nw_lags_reports_the_lags_used_when_few_ic_dates():
    prices, scores, close, _ = fixed_panel()
    few = scores.filter(pl.col("date").is_in(DAYS[:4]))
    sheet = tear_sheet(few, load_prices(prices), horizons=[21], min_names=3)
    summary = sheet.ic_summary.row(0, named=True)
    ic = sheet.ic.filter(pl.col("ic").is_not_null())["ic"].to_list()
    assert summary["n_dates"] == len(ic) == 4
    assert summary["nw_lags"] == 3
    assert summary["t_nw"] == pytest.approx(textbook_newey_west_t(ic, 3), rel=1e-10)
