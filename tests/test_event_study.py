"""The heavy-selling event test on a small hand-computed frame: quartile edge cases, months without a
forward window, the options, and the statistics against their textbook formulas."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.evaluation.event_study import (
    BEFORE_PRICES,
    NO_PRICES,
    OK,
    PAST_DATA,
    bootstrap_spread,
    cluster_buy_events,
    heavy_months,
    heavy_selling_test,
    issuer_bootstrap_spread,
    welch_t,
)
from engine.evaluation.event_time import event_time_returns
from engine.evaluation.prices import load_prices
from parsers.schema import TRANSACTIONS_SCHEMA

WEEKDAYS_2021 = [
    dt.date(2021, 1, 1) + dt.timedelta(days=k)
    for k in range(365)
    if (dt.date(2021, 1, 1) + dt.timedelta(days=k)).weekday() < 5
]
CIK = {"AAA": 1, "BBB": 2, "CCC": 3, "DDD": 4, "EEE": 5}


def transactions(rows: list[dict]) -> pl.DataFrame:
    """A transactions table in the store's schema; unspecified columns take eligible-row defaults."""
    full = []
    for n, row in enumerate(rows):
        ticker = row.get("ticker", "AAA")
        available = row["available_date"]
        full.append(
            {
                "accession": row.get("accession", f"acc-{n}"),
                "row_index": 0,
                "document_type": row.get("document_type", "4"),
                "issuer_cik": CIK.get(ticker, 99),
                "ticker": ticker,
                "insider_cik": row.get("insider_cik", 100 + n),
                "is_derivative": row.get("is_derivative", False),
                "is_holding": row.get("is_holding", False),
                "transaction_date": row.get("transaction_date", available - dt.timedelta(days=2)),
                "transaction_code": row["code"],
                "shares": row.get("shares", 10.0),
                "price": row.get("price", 100.0),
                "plan": row.get("plan", False),
                "period_of_report": row.get("period_of_report", available - dt.timedelta(days=2)),
                "filing_date": available,
                "available_date": available,
                "filing_year": available.year,
                "filing_month": available.month,
            }
        )
    return pl.from_arrow(pa.Table.from_pylist(full, schema=TRANSACTIONS_SCHEMA))


def prices_2021() -> pl.DataFrame:
    """Weekdays of 2021; AAA = 100 + i, BBB = 200 - 0.5 i, CCC = 50 + 0.5 i, EEE = 20 + i (i = day index)."""
    i = np.arange(len(WEEKDAYS_2021), dtype=float)
    paths = {"AAA": 100 + i, "BBB": 200 - 0.5 * i, "CCC": 50 + 0.5 * i, "EEE": 20 + i}
    return pl.concat(pl.DataFrame({"date": WEEKDAYS_2021, "ticker": t, "close": c}) for t, c in paths.items())


def d(month: int, day: int = 15, year: int = 2021) -> dt.date:
    return dt.date(year, month, day)


TRADES = [
    # AAA positive net selling 1000, 3000, 3000, 3000, 5000 -> Q75 = 3000 exactly: the ties are heavy.
    {"ticker": "AAA", "code": "S", "shares": 10, "available_date": d(1)},
    {"ticker": "AAA", "code": "S", "shares": 30, "available_date": d(2)},
    {"ticker": "AAA", "code": "S", "shares": 40, "available_date": d(3)},
    {"ticker": "AAA", "code": "P", "shares": 10, "available_date": d(3, 20)},
    {"ticker": "AAA", "code": "S", "shares": 30, "available_date": d(4)},
    {"ticker": "AAA", "code": "P", "shares": 20, "available_date": d(5)},
    {"ticker": "AAA", "code": "S", "shares": 10, "available_date": d(6)},
    {"ticker": "AAA", "code": "P", "shares": 10, "available_date": d(6, 21)},
    {"ticker": "AAA", "code": "S", "shares": 50, "available_date": d(11)},
    # rows the test must ignore
    {"ticker": "AAA", "code": "S", "shares": 999, "document_type": "5", "available_date": d(1)},
    {"ticker": "AAA", "code": "S", "shares": 999, "is_derivative": True, "available_date": d(1)},
    {"ticker": "AAA", "code": "M", "shares": 999, "available_date": d(1)},
    {"ticker": "AAA", "code": "S", "shares": 0, "available_date": d(1)},
    # BBB: a single positive month (its own 75th percentile: heavy)
    {"ticker": "BBB", "code": "S", "shares": 10, "price": 50.0, "available_date": d(2)},
    {"ticker": "BBB", "code": "P", "shares": 10, "price": 50.0, "available_date": d(3)},
    # CCC: two positive months 1000 and 2000 -> Q75 = 1750, only the larger is heavy
    {"ticker": "CCC", "code": "S", "shares": 10, "available_date": d(1)},
    {"ticker": "CCC", "code": "S", "shares": 20, "available_date": d(4)},
    # DDD has no prices
    {"ticker": "DDD", "code": "S", "shares": 10, "available_date": d(2)},
    # EEE buys only; December 2020 is before the prices start; a sell with no price counts as $0
    {"ticker": "EEE", "code": "P", "shares": 10, "available_date": d(12, 10, 2020)},
    {"ticker": "EEE", "code": "P", "shares": 10, "available_date": d(3)},
    {"ticker": "EEE", "code": "S", "shares": 10, "price": None, "available_date": d(3, 22)},
]


@pytest.fixture(scope="module")
def prices():
    return load_prices(prices_2021())


def quantile_by_hand(values: list[float], q: float) -> float:
    """The q-quantile with linear interpolation between order statistics (numpy's default method)."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (position - below) * (ordered[above] - ordered[below])


def bootstrap_by_loops(a: list[float], b: list[float], n: int, seed: int) -> tuple[float, float]:
    """95% percentile interval of mean(a) - mean(b) from the same draws as bootstrap_spread (one block of
    n resamples of a, then one of b), with plain loops for the means and the quantiles."""
    rng = np.random.default_rng(seed)
    picks_a = rng.integers(0, len(a), size=(n, len(a)))
    picks_b = rng.integers(0, len(b), size=(n, len(b)))
    spreads = [
        sum(a[i] for i in row_a) / len(a) - sum(b[j] for j in row_b) / len(b)
        for row_a, row_b in zip(picks_a.tolist(), picks_b.tolist(), strict=True)
    ]
    return quantile_by_hand(spreads, 0.025), quantile_by_hand(spreads, 0.975)


def test_calendar_facts_used_below():
    assert [max(k for k, x in enumerate(WEEKDAYS_2021) if x.month == m) for m in (1, 2, 3, 4, 5, 6)] == [
        20,
        40,
        63,
        85,
        106,
        128,
    ]
    assert len(WEEKDAYS_2021) == 261


def test_hand_computed_event_test(prices):
    study = heavy_selling_test(transactions(TRADES), prices, bootstrap=2000, seed=7)
    months = study.months
    by = {(r["ticker"], r["month"].month, r["month"].year): r for r in months.iter_rows(named=True)}
    assert months.height == 14
    aaa = [by[("AAA", m, 2021)] for m in (1, 2, 3, 4, 5, 6, 11)]
    assert [r["net_selling"] for r in aaa] == [1000, 3000, 3000, 3000, -2000, 0, 5000]
    assert all(r["threshold"] == 3000 for r in aaa)
    assert [r["heavy"] for r in aaa] == [False, True, True, True, False, False, True]
    assert by[("BBB", 2, 2021)]["heavy"] and by[("BBB", 2, 2021)]["threshold"] == 500
    assert not by[("BBB", 3, 2021)]["heavy"]
    assert by[("CCC", 1, 2021)]["threshold"] == 1750
    assert [by[("CCC", m, 2021)]["heavy"] for m in (1, 4)] == [False, True]
    assert by[("DDD", 2, 2021)]["heavy"] and by[("DDD", 2, 2021)]["status"] == NO_PRICES
    assert by[("EEE", 12, 2020)]["status"] == BEFORE_PRICES and not by[("EEE", 12, 2020)]["heavy"]
    assert by[("AAA", 11, 2021)]["status"] == PAST_DATA
    eee_march = by[("EEE", 3, 2021)]
    assert (eee_march["n_sells"], eee_march["sells"], eee_march["buys"]) == (1, 0.0, 1000.0)

    # forward returns from the month's last trading day (index i0) to i0 + 63
    expected = {
        ("AAA", 1): 63 / 120,
        ("AAA", 2): 63 / 140,
        ("AAA", 3): 63 / 163,
        ("AAA", 4): 63 / 185,
        ("AAA", 5): 63 / 206,
        ("AAA", 6): 63 / 228,
        ("BBB", 2): 148.5 / 180 - 1,
        ("BBB", 3): 137 / 168.5 - 1,
        ("CCC", 1): 91.5 / 60 - 1,
        ("CCC", 4): 124 / 92.5 - 1,
        ("EEE", 3): 146 / 83 - 1,
    }
    for (ticker, month), value in expected.items():
        row = by[(ticker, month, 2021)]
        assert row["status"] == OK
        assert row["fwd_return"] == pytest.approx(value, rel=1e-12)
    assert by[("AAA", 1, 2021)]["start_date"] == dt.date(2021, 1, 29)
    assert by[("AAA", 1, 2021)]["end_date"] == dt.date(2021, 4, 28)

    heavy = [expected[k] for k in [("AAA", 2), ("AAA", 3), ("AAA", 4), ("BBB", 2), ("CCC", 4)]]
    other = [expected[k] for k in [("AAA", 1), ("AAA", 5), ("AAA", 6), ("BBB", 3), ("CCC", 1), ("EEE", 3)]]
    s = study.summary
    assert s.transactions == 17
    assert (s.event_months, s.heavy_n, s.other_n) == (11, 5, 6)
    assert s.heavy_mean == pytest.approx(sum(heavy) / 5, rel=1e-12)
    assert s.other_mean == pytest.approx(sum(other) / 6, rel=1e-12)
    assert s.spread == pytest.approx(sum(heavy) / 5 - sum(other) / 6, rel=1e-12)
    var_heavy = sum((x - sum(heavy) / 5) ** 2 for x in heavy) / 4
    var_other = sum((x - sum(other) / 6) ** 2 for x in other) / 5
    assert s.t_stat == pytest.approx(s.spread / math.sqrt(var_heavy / 5 + var_other / 6), rel=1e-9)
    assert (s.ci_low, s.ci_high) == pytest.approx(bootstrap_by_loops(heavy, other, 2000, seed=7), rel=1e-9)
    assert study.counts["without_price"] == 1
    assert study.missing_prices == ["DDD"]

    aaa_row = study.by_ticker.filter(pl.col("ticker") == "AAA").row(0, named=True)
    assert aaa_row["net_sell"] == 1000 + 3000 * 3 - 2000 + 0 + 5000
    assert (aaa_row["heavy_months"], aaa_row["other_months"]) == (3, 3)
    assert aaa_row["spread"] == pytest.approx(
        (63 / 140 + 63 / 163 + 63 / 185) / 3 - (63 / 120 + 63 / 206 + 63 / 228) / 3
    )
    spreads = study.by_ticker["spread"].to_list()
    known = [x for x in spreads if x is not None]
    assert known == sorted(known) and spreads[len(known) :] == [None] * (len(spreads) - len(known))


def test_expanding_threshold_has_no_look_ahead(prices):
    study = heavy_selling_test(transactions(TRADES), prices, threshold="expanding", bootstrap=0)
    aaa = study.months.filter(pl.col("ticker") == "AAA").sort("month")
    # positive months so far: [1000] -> 1000; [1000, 3000] -> 2500; then 3000, 3000, 3000
    assert aaa["threshold"].to_list() == [1000, 2500, 3000, 3000, None, None, 3000]
    assert aaa["heavy"].to_list() == [True, True, True, True, False, False, True]
    ccc = study.months.filter(pl.col("ticker") == "CCC").sort("month")
    assert ccc["threshold"].to_list() == [1000, 1750] and ccc["heavy"].to_list() == [True, True]


def test_month_by_transaction_date(prices):
    rows = [
        {"ticker": "AAA", "code": "S", "available_date": d(2, 2), "transaction_date": d(1, 29)},
        {
            "ticker": "AAA",
            "code": "S",
            "shares": 20,
            "available_date": d(2, 20),
            "transaction_date": d(2, 18),
        },
    ]
    by_available = heavy_selling_test(transactions(rows), prices, bootstrap=0)
    by_trade = heavy_selling_test(transactions(rows), prices, month_by="transaction_date", bootstrap=0)
    assert by_available.months["net_selling"].to_list() == [3000]
    assert by_trade.months["net_selling"].to_list() == [1000, 2000]
    assert by_trade.months["heavy"].to_list() == [False, True]


def test_amendment_supersedes_original(prices):
    original = {
        "ticker": "AAA",
        "code": "S",
        "shares": 10,
        "available_date": d(2),
        "insider_cik": 7,
        "period_of_report": d(2, 10),
        "accession": "orig",
    }
    amended = dict(original, shares=12, available_date=d(2, 18), document_type="4/A", accession="amend")
    study = heavy_selling_test(transactions([original, amended]), prices, bootstrap=0)
    assert study.months["sells"].to_list() == [1200.0]
    assert study.counts["superseded"] == 1
    literal = heavy_selling_test(
        transactions([original, amended]), prices, bootstrap=0, supersede_amendments=False
    )
    assert literal.months["sells"].to_list() == [2200.0]


def test_no_forward_window_anywhere_gives_defined_empty_result(prices):
    rows = [
        {"ticker": "AAA", "code": "S", "available_date": d(12)},
        {"ticker": "ZZZ", "code": "S", "available_date": d(3)},
    ]
    study = heavy_selling_test(transactions(rows), prices)
    s = study.summary
    assert (s.event_months, s.heavy_n, s.other_n) == (0, 0, 0)
    assert s.heavy_mean is None and s.spread is None and s.t_stat is None and s.ci_low is None
    assert sorted(study.months["status"].to_list()) == sorted([PAST_DATA, NO_PRICES])


def test_empty_transactions(prices):
    study = heavy_selling_test(transactions([]), prices)
    assert study.months.height == 0 and study.summary.transactions == 0


def test_welch_t_against_textbook():
    a = np.array([0.1, -0.2, 0.05, 0.3, 0.0])
    b = np.array([0.2, 0.25, 0.1, 0.4, 0.15, 0.3, 0.05])
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    va = sum((x - ma) ** 2 for x in a) / (len(a) - 1)
    vb = sum((x - mb) ** 2 for x in b) / (len(b) - 1)
    t_expected = (ma - mb) / math.sqrt(va / len(a) + vb / len(b))
    df_expected = (va / len(a) + vb / len(b)) ** 2 / (
        (va / len(a)) ** 2 / (len(a) - 1) + (vb / len(b)) ** 2 / (len(b) - 1)
    )
    t, df = welch_t(a, b)
    assert t == pytest.approx(t_expected, rel=1e-12)
    assert df == pytest.approx(df_expected, rel=1e-12)


def test_bootstrap_is_seeded_and_brackets_the_spread():
    rng = np.random.default_rng(1)
    a, b = rng.normal(-0.05, 0.1, 40), rng.normal(0.02, 0.1, 90)
    first = bootstrap_spread(a, b, n=3000, seed=11)
    assert first == bootstrap_spread(a, b, n=3000, seed=11)
    assert first != bootstrap_spread(a, b, n=3000, seed=12)
    assert first == pytest.approx(bootstrap_by_loops(a.tolist(), b.tolist(), 3000, seed=11), rel=1e-9)
    assert first[0] < a.mean() - b.mean() < first[1]


def test_cluster_buy_events_and_event_time(prices):
    rows = [
        {"ticker": "AAA", "code": "P", "insider_cik": 1, "available_date": d(3, 1)},
        {"ticker": "AAA", "code": "P", "insider_cik": 1, "available_date": d(3, 10)},
        {"ticker": "AAA", "code": "P", "insider_cik": 2, "available_date": d(3, 25)},
        {"ticker": "AAA", "code": "P", "insider_cik": 3, "available_date": d(4, 5)},
        {"ticker": "AAA", "code": "P", "insider_cik": 4, "available_date": d(6, 1)},
        {"ticker": "AAA", "code": "P", "insider_cik": 5, "available_date": d(6, 3), "plan": True},
        {"ticker": "BBB", "code": "P", "insider_cik": 6, "available_date": d(5, 1)},
        {"ticker": "BBB", "code": "P", "insider_cik": 7, "available_date": d(5, 29)},
    ]
    events = cluster_buy_events(transactions(rows))
    # AAA: 2 insiders by 3/25 (event), 3/25..4/5 continues the episode; 6/1 alone (the plan buy ignored).
    # BBB: 5/1 and 5/29 are 28 days apart: 2 insiders in the window on 5/29 (a Saturday).
    assert events.select("ticker", "date").rows() == [("AAA", d(3, 25)), ("BBB", d(5, 29))]
    curve = event_time_returns(prices, events["ticker"], events["date"], before=2, after=3)
    assert curve["tau"].to_list() == [-2, -1, 0, 1, 2, 3]
    i_aaa = WEEKDAYS_2021.index(d(3, 25))
    i_bbb = WEEKDAYS_2021.index(d(5, 31))  # first trading day on or after Saturday 5/29
    for k, tau in enumerate(range(-2, 4)):
        a = (100 + i_aaa + tau) / (100 + i_aaa) - 1
        b = (200 - 0.5 * (i_bbb + tau)) / (200 - 0.5 * i_bbb) - 1
        assert curve["mean_return"][k] == pytest.approx((a + b) / 2, rel=1e-12)
    assert curve["n"].to_list() == [2] * 6


def test_event_time_past_the_calendar_edges(prices):
    curve = event_time_returns(
        prices, pl.Series(["AAA", "AAA", "NOPE"]), pl.Series([d(1, 1), d(12, 30), d(6, 1)]), before=2, after=2
    )
    assert curve["n"].to_list() == [1, 1, 2, 2, 1]
    assert curve["mean_return"][2] == 0.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(-5, 8).map(lambda k: k * 250.0), min_size=1, max_size=14))
def test_thresholds_match_numpy_percentile(nets):
    months = pl.DataFrame(
        {
            "issuer_cik": [1] * len(nets),
            "month": [dt.date(2015 + k // 12, k % 12 + 1, 1) for k in range(len(nets))],
            "net_selling": nets,
        }
    )
    full = heavy_months(months, threshold="full_sample")
    expanding = heavy_months(months, threshold="expanding")
    positives = [v for v in nets if v > 0]
    for k, v in enumerate(nets):
        if positives:
            limit = np.percentile(positives, 75)
            assert full["threshold"][k] == pytest.approx(limit)
            assert full["heavy"][k] == (v > 0 and v >= limit)
        so_far = [x for x in nets[: k + 1] if x > 0]
        if v > 0:
            assert expanding["threshold"][k] == pytest.approx(np.percentile(so_far, 75))
            assert expanding["heavy"][k] == (v >= np.percentile(so_far, 75))
        else:
            assert not expanding["heavy"][k]


def test_issuer_bootstrap_against_a_loop():
    rng = np.random.default_rng(4)
    issuers = np.repeat(np.arange(12), 4)
    heavy = rng.random(len(issuers)) < 0.3
    values = rng.normal(0.0, 0.1, len(issuers)) + 0.05 * (issuers % 3)
    low, high = issuer_bootstrap_spread(values, heavy, issuers, n=4000, seed=9)
    assert (low, high) == issuer_bootstrap_spread(values, heavy, issuers, n=4000, seed=9)
    # the same draws, spread by spread, with plain loops over the resampled issuers
    draws = np.random.default_rng(9).integers(0, 12, size=(4_000_000 // 12, 12))[:6000]
    spreads = []
    for row in draws:
        h = [values[i] for k in row for i in np.nonzero(issuers == k)[0] if heavy[i]]
        o = [values[i] for k in row for i in np.nonzero(issuers == k)[0] if not heavy[i]]
        if h and o:
            spreads.append(sum(h) / len(h) - sum(o) / len(o))
    spreads = np.array(spreads[:4000])
    assert len(spreads) == 4000
    assert (low, high) == pytest.approx(tuple(np.quantile(spreads, [0.025, 0.975])), rel=1e-12)
    spread = values[heavy].mean() - values[~heavy].mean()
    assert low < spread < high
    assert issuer_bootstrap_spread(values, heavy, np.zeros(len(values)), n=100) == (None, None)


def test_bootstrap_by_issuer_in_the_test(prices):
    month = heavy_selling_test(transactions(TRADES), prices, bootstrap=500)
    issuer = heavy_selling_test(transactions(TRADES), prices, bootstrap=500, bootstrap_by="issuer")
    assert issuer.summary.spread == month.summary.spread
    # the hand-computed forward returns of test_hand_computed_event_test, by issuer CIK
    months = {
        (1, 63 / 120): False,
        (1, 63 / 140): True,
        (1, 63 / 163): True,
        (1, 63 / 185): True,
        (1, 63 / 206): False,
        (1, 63 / 228): False,
        (2, 148.5 / 180 - 1): True,
        (2, 137 / 168.5 - 1): False,
        (3, 91.5 / 60 - 1): False,
        (3, 124 / 92.5 - 1): True,
        (5, 146 / 83 - 1): False,
    }
    expected = issuer_bootstrap_spread(
        np.array([value for _, value in months]),
        np.array(list(months.values())),
        np.array([cik for cik, _ in months]),
        n=500,
        seed=0,
    )
    assert (issuer.summary.ci_low, issuer.summary.ci_high) == pytest.approx(expected, rel=1e-9)
    assert (month.summary.ci_low, month.summary.ci_high) != pytest.approx(expected, rel=1e-3)
    assert issuer.summary.bootstrap_by == "issuer"


def test_a_month_made_public_after_its_last_close_starts_when_the_news_is_out(prices):
    # accepted after 16:00 on Friday 2021-07-30, the last trading day of July: available Saturday 07-31
    rows = [
        {"ticker": "AAA", "code": "S", "available_date": d(7, 12)},
        {"ticker": "AAA", "code": "S", "available_date": d(7, 31), "transaction_date": d(7, 28)},
        {"ticker": "AAA", "code": "S", "available_date": d(8, 10)},
    ]
    study = heavy_selling_test(transactions(rows), prices, bootstrap=0)
    july, august = study.months.sort("month").rows(named=True)
    monday = WEEKDAYS_2021.index(d(8, 2))
    assert (july["public_by"], july["start_date"]) == (d(7, 31), d(8, 2))
    assert july["end_date"] == WEEKDAYS_2021[monday + 63]
    assert july["fwd_return"] == pytest.approx(63 / (100 + monday), rel=1e-12)
    assert august["start_date"] == d(8, 31)  # its filings were public by the month's last close
    # by transaction date the published method is kept: the month's last trading day
    by_trade = heavy_selling_test(transactions(rows), prices, bootstrap=0, month_by="transaction_date")
    assert by_trade.months.sort("month")["start_date"].to_list() == [d(7, 30), d(8, 31)]
