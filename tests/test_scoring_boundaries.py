"""Boundary-first properties: trades placed exactly on the edges of SCORING.md's windows, the universe
lookback, the 16:00 cutoff and the store's partition pruning, with expected values computed here from
the contract's numbers (written below, not read from the engine's configuration)."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scoring_tables import Book, caps, day

from engine.scoring.reference import reference_score
from engine.scoring.run import score
from parsers.availability import available_date

# SCORING.md, written out: 90-day flow window, 30-day cluster window, 365-day universe, director 0.5.
FLOW_DAYS = 90
CLUSTER_DAYS = 30
UNIVERSE_DAYS = 365
DIRECTOR_WEIGHT = 0.5
T = day(400)  # a Tuesday; the trade's age is counted back from here
EDGES = [0, 1, CLUSTER_DAYS - 2, CLUSTER_DAYS - 1, CLUSTER_DAYS, CLUSTER_DAYS + 1]
EDGES += [FLOW_DAYS - 2, FLOW_DAYS - 1, FLOW_DAYS, FLOW_DAYS + 1]
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)


def expected_raw(trades: list[tuple[int, str, float, float, int]], cap: float) -> tuple[float, int]:
    """``raw`` and ``cluster`` on T from (age in days, code, shares, price, insider), by the contract."""
    flow = [t for t in trades if t[0] <= FLOW_DAYS - 1]
    net = sum(
        (1 if code == "P" else -1) * DIRECTOR_WEIGHT * shares * price / cap
        for _, code, shares, price, _ in flow
    )
    cluster = len({insider for age, *_, insider in trades if age <= CLUSTER_DAYS - 1})
    return net * (1 + math.log(1 + cluster)), cluster


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.sampled_from(EDGES),
            st.sampled_from(["P", "S"]),
            st.sampled_from([100.0, 2500.0]),
            st.sampled_from([10.0, 3.5]),
            st.integers(100, 103),
        ),
        min_size=1,
        max_size=5,
    )
)
def test_trades_on_the_window_edges(trades):
    cap = 1e7
    book = Book()
    book.filing(1, 99, T - dt.timedelta(days=200), [], form="3")
    book.filing(2, 98, T - dt.timedelta(days=200), [("P", 1000.0, 10.0)])  # a second issuer: a cross-section
    for age, code, shares, price, insider in trades:
        book.filing(1, insider, T - dt.timedelta(days=age), [(code, shares, price)])
    market = caps((1, day(0), cap), (2, day(0), cap))
    fast = (
        score(book.tables(), dates=[T], market_caps=market)
        .filter(pl.col("issuer_cik") == 1)
        .row(0, named=True)
    )
    ref = (
        reference_score(book.tables(), [T], market, None, None)
        .filter(pl.col("issuer_cik") == 1)
        .row(0, named=True)
    )
    raw, cluster = expected_raw(trades, cap)
    for row in (fast, ref):
        assert row["cluster"] == cluster
        assert row["raw"] == pytest.approx(raw, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("age, in_universe", [(0, True), (UNIVERSE_DAYS - 1, True), (UNIVERSE_DAYS, False)])
def test_universe_lookback_edge(age, in_universe):
    book = Book()
    book.filing(1, 100, T - dt.timedelta(days=age), [], form="3")
    book.filing(2, 101, T, [], form="3")
    market = caps((1, day(0), 1e6), (2, day(0), 1e6))
    for frame in (
        score(book.tables(), dates=[T], market_caps=market),
        reference_score(book.tables(), [T], market, None, None),
    ):
        assert (1 in frame["issuer_cik"].to_list()) is in_universe


@pytest.mark.parametrize(
    "clock, same_day",
    [((15, 59, 59), True), ((16, 0, 0), False), ((16, 0, 1), False), ((0, 0, 0), True)],
)
def test_the_1600_cutoff_to_the_second(clock, same_day):
    accepted = dt.datetime(2024, 3, 5, *clock)
    expected = dt.date(2024, 3, 5) if same_day else dt.date(2024, 3, 6)
    assert available_date(accepted, None, None) == expected


def test_a_filing_partitioned_a_month_before_it_became_available_is_scored():
    """Filed 31 January after 16:00 -> available 1 February, stored in the January partition; the score
    date whose flow window starts on 1 February must still see it (partition pruning keeps a margin)."""
    available = dt.date(2024, 2, 1)
    t = available + dt.timedelta(days=FLOW_DAYS - 1)
    book = Book()
    book.filing(1, 100, available, [("P", 1000.0, 10.0)])
    book.filing(2, 101, t, [], form="3")
    for table in (book.filings, book.owners, book.transactions):
        for row in table:
            if row["filing_month"] == 2 and row.get("available_date", available) == available:
                row["filing_month"] = 1
    out = score(book.tables(), dates=[t], market_caps=caps((1, day(0), 1e6), (2, day(0), 1e6)))
    row = out.filter(pl.col("issuer_cik") == 1).row(0, named=True)
    assert row["buys"] == pytest.approx(DIRECTOR_WEIGHT * 1000 * 10 / 1e6)
