"""``engine.explain``: one cell taken apart agrees with ``score()`` and says why each trade did or did not
count; its kernels have plain-Python twins; ``insider explain`` prints it as a table or JSON."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scoring_tables import Book, caps, day, director, officer, write_store
from test_scoring_properties import CONFIGS, REMARKS, owners, universes

import engine
from engine.cli.main import main
from engine.errors import UserError
from engine.scoring import cross_section, cross_section_reference
from engine.scoring.explain import explain
from engine.scoring.run import score

CELL_FLOATS = ("buys", "sells", "raw", "insider", "pct")
EXACT = ("cluster", "n_buys", "n_sells")


def close(a: float, b: float, scale: float = 1.0, rel: float = 1e-12) -> bool:
    """Equal to ``rel`` relative to ``max(|b|, scale)`` (both NaN counts as equal)."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= rel * max(abs(b), scale)


def signed_terms(counted: pl.DataFrame) -> float:
    terms = counted.select(pl.when(pl.col("side") == "buy").then("term").otherwise(-pl.col("term")))
    return float(terms.to_series().sum())


EDGES = [0, 1, 19, 20, 29, 30, 60, 89, 90, 91]
"""Days after a filing on which to score it: where it enters and leaves the windows of every config."""


@st.composite
def crowded_universes(draw) -> tuple[Book, object, list[dt.date]]:
    """Few issuers and insiders, many trades and amendments within two months, scored on the days
    trades enter and leave the windows: the cases where a cell's story has the most parts."""
    n_issuers = draw(st.integers(1, 3))
    book = Book()
    for _ in range(draw(st.integers(3, 12))):
        insider = draw(st.integers(10, 12))
        owner_rows = draw(owners(insider))
        remarks = draw(st.sampled_from(REMARKS))
        trades = [
            (
                draw(st.sampled_from(["P", "S", "P", "S", "A"])),
                draw(st.sampled_from([100.0, 2500.0, 40.0, 0.0, None])),
                draw(st.sampled_from([10.0, 2.5, 0.0, None])),
                draw(st.booleans()),
                draw(st.sampled_from([[], ["F1"]])),
            )
            for _ in range(draw(st.integers(1, 3)))
        ]
        book.filing(
            draw(st.integers(1, n_issuers)),
            insider,
            day(draw(st.integers(0, 60))),
            trades,
            form=draw(st.sampled_from(["4", "4", "4", "4/A", "4/A", "5"])),
            period=day(draw(st.sampled_from([0, 30]))),
            owners=owner_rows,
            ticker=draw(st.sampled_from(["AAA", "BBB", None])),
            remarks=remarks,
            aff10b5one=draw(st.sampled_from([None, False, True])),
            footnotes={"F1": draw(st.sampled_from(["a 10b5-1 plan", "gift"]))},
        )
    cap_rows = {
        (issuer, day(draw(st.integers(0, 60)))): draw(st.floats(1e5, 1e9))
        for issuer in range(1, n_issuers + 1)
        for _ in range(draw(st.integers(1, 2)))
    }
    anchors = [f["available_date"] for f in book.filings]
    dates = {
        draw(st.sampled_from(anchors)) + dt.timedelta(days=draw(st.sampled_from(EDGES)))
        for _ in range(draw(st.integers(2, 6)))
    }
    return book, caps(*((i, d, c) for (i, d), c in cap_rows.items())), sorted(dates)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(universes(), crowded_universes()), CONFIGS)
def test_explain_agrees_with_score_on_every_cell(universe, config):
    book, market, dates = universe
    panel = score(book.tables(), dates=dates, market_caps=market, config=config)
    for row in panel.iter_rows(named=True):
        cell = explain(book.tables(), row["issuer_cik"], row["date"], market_caps=market, config=config)
        got = cell.cell
        scale = 3 * ((row["buys"] or 0) + (row["sells"] or 0)) + 1e-300
        for column in CELL_FLOATS:
            want = math.nan if row[column] is None else row[column]
            unit = scale if column in ("buys", "sells", "raw") else 1.0
            assert close(got[column], want, unit), (column, got[column], want, row)
        assert {c: got[c] for c in EXACT} == {c: row[c] for c in EXACT}
        assert got["null_reason"] == row["null_reason"]
        assert cell.ticker == row["ticker"]
        counted = cell.counted
        assert counted.height == row["n_buys"] + row["n_sells"]
        assert len(cell.cluster_members) == row["cluster"]
        if row["null_reason"] is None:
            assert close(signed_terms(counted), row["buys"] - row["sells"], scale)


def trades_book() -> tuple[Book, object]:
    """Issuer 1 with a counted buy, a superseded one, a plan sale, a grant, an option exercise, a trade
    after the date and one long before the window; issuers 2 and 3 of raws of the same size for the
    cross-section."""
    book = Book()
    book.filing(1, 100, day(0), [], form="3")
    book.filing(1, 100, day(10), [("P", 1000, 10.0)], period=day(8))
    book.filing(1, 100, day(20), [("P", 3000, 10.0)], period=day(8), form="4/A")
    book.filing(
        1,
        101,
        day(12),
        [("S", 500, 20.0), ("S", 70, 20.0, True, ["F1"]), ("A", 40, 0.0)],
        owners=[officer(101, "Chief Executive Officer"), director(105)],
        footnotes={"F1": "Sold under a Rule 10b5-1 trading plan."},
    )
    book.filing(1, 102, day(15), [("M", 5, 1.0)])
    book.transactions[-1]["is_derivative"] = True
    book.filing(1, 103, day(40), [("P", 100, 10.0)])
    book.filing(1, 104, day(-80), [("S", 100, 10.0)])
    book.filing(2, 200, day(5), [("P", 2000, 10.0)])
    book.filing(3, 300, day(6), [("S", 1000, 10.0)])
    return book, caps((1, day(-100), 1e6), (2, day(0), 1e6), (3, day(0), 1e6))


def test_each_trade_is_listed_with_why_it_counted_or_not():
    book, market = trades_book()
    book.transactions.append(dict(book.transactions[1]))
    cell = explain(book.tables(), 1, day(25), market_caps=market)
    repeated = cell.trades.filter(pl.col("accession").str.ends_with("02"))["status"].to_list()
    assert sorted(repeated) == ["counted", "duplicate row"]  # two equal copies: which is first is not fixed
    by_status = {
        (r["accession"][-2:], r["row_index"]): r
        for r in cell.trades.to_dicts()
        if r["status"] != "duplicate row"
    }
    amended = by_status[("01", 0)]
    assert amended["status"] == "superseded" and amended["superseded_on"] == day(20)
    assert amended["superseded_by"] == book.filings[2]["accession"]
    assert by_status[("02", 0)]["status"] == "counted"
    ceo_sale = by_status[("03", 0)]
    assert ceo_sale["status"] == "counted" and ceo_sale["roles"] == "ceo+director"
    assert ceo_sale["role_weight"] == 1.0 and ceo_sale["market_cap"] == 1e6
    assert ceo_sale["market_cap_date"] == day(-100) and ceo_sale["term"] == pytest.approx(500 * 20 / 1e6)
    plan_sale = by_status[("03", 1)]
    assert plan_sale["status"] == "plan" and plan_sale["plan_why"] == "footnote F1"
    assert by_status[("03", 2)]["status"] == "code A"
    assert by_status[("04", 0)]["status"] == "derivative"
    assert by_status[("05", 0)]["status"] == "not yet available"
    assert by_status[("06", 0)]["status"] == "outside the window"
    assert cell.cluster_members == [100, 101]
    assert cell.cell["raw"] == pytest.approx((0.015 - 0.01) * (1 + math.log(3)))


def test_the_cross_section_mean_and_std_give_the_z_score():
    book, market = trades_book()
    cell = explain(book.tables(), 1, day(25), market_caps=market)
    section = cell.section
    scored = score(book.tables(), dates=[day(25)], market_caps=market)
    raws = scored["raw"].to_numpy()
    assert section["size"] == 3 and section["mean"] == pytest.approx(raws.mean())
    assert section["std"] == pytest.approx(raws.std())
    z = (section["value"] - section["mean"]) / section["std"]
    assert close(cell.cell["insider"], scored.filter(pl.col("issuer_cik") == 1)["insider"].item())
    assert close(cell.cell["insider"], z)


def test_a_ticker_is_resolved_as_of_the_date_and_unknown_issuers_are_refused():
    book = Book()
    book.filing(1, 100, day(0), [("P", 10, 1.0)], ticker="OLD")
    book.filing(2, 200, day(50), [("P", 10, 1.0)], ticker="OLD")
    market = caps((1, day(0), 1e6), (2, day(0), 1e6))
    assert explain(book.tables(), "old", day(10), market_caps=market).issuer_cik == 1
    assert explain(book.tables(), "OLD", day(60), market_caps=market).issuer_cik == 2
    with pytest.raises(UserError, match="ticker 'NOPE'"):
        explain(book.tables(), "NOPE", day(10), market_caps=market)
    with pytest.raises(UserError, match="CIK 999"):
        explain(book.tables(), 999, day(10), market_caps=market)


def test_an_issuer_outside_the_universe_is_explained_without_a_score():
    book, market = trades_book()
    cell = explain(book.tables(), 1, day(500), market_caps=market)
    assert not cell.cell["in_universe"] and math.isnan(cell.cell["insider"])
    assert any("not in the universe" in note for note in cell.notes)


def test_table_and_json_read_back():
    book, market = trades_book()
    cell = engine.explain(book.tables(), 1, day(25), market_caps=market)
    text = cell.table()
    assert "counted (2)" in text and "superseded by 0000000000-00-000002 from 2024-01-21" in text
    assert max(len(line) for line in text.splitlines()) < 160
    data = json.loads(json.dumps(cell.to_dict()))
    assert data["date"] == "2024-01-26" and len(data["counted"]) == 2


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([0.0, 0.0, 1.5, -2.0, 3.25, 1e-9, -7.0]), min_size=1, max_size=12),
    st.sampled_from([0.0, 0.1, 0.3]),
    st.booleans(),
    st.sampled_from([0, 1]),
)
def test_cross_section_helper_kernels_equal_their_twins(values, winsorize, rank, ddof):
    x = np.array(values)
    fast_values, fast_ranks = cross_section.scored_values(x.copy(), winsorize, rank)
    slow_values, slow_ranks = cross_section_reference.scored_values(list(x), winsorize, rank)
    np.testing.assert_allclose(fast_values, slow_values, rtol=1e-12)
    np.testing.assert_allclose(fast_ranks, slow_ranks, rtol=1e-12)
    fast = cross_section.zscore_moments(fast_values, ddof)
    slow = cross_section_reference.zscore_moments(list(slow_values), ddof)
    np.testing.assert_allclose(fast, slow, rtol=1e-12)


def test_cli_explain_prints_the_table_and_json(tmp_path, capsys):
    book, market = trades_book()
    store = write_store(book, tmp_path / "store")
    caps_file = tmp_path / "caps.csv"
    market.table.rename({"cap": "market_cap"}).write_csv(caps_file)
    args = ["explain", "--store", str(store), "--issuer", "1", "--date", str(day(25))]
    assert main([*args, "--market-caps", str(caps_file)]) == 0
    assert "counted (2)" in capsys.readouterr().out
    assert main([*args, "--market-caps", str(caps_file), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["issuer_cik"] == 1
    assert main([*args[:-1], "2024-13-01", "--market-caps", str(caps_file)]) == 2
    assert "not a date" in capsys.readouterr().err
