"""Hand-computed cases, one per rule of SCORING.md, checked on the fast path and on the reference."""

from __future__ import annotations

import datetime as dt
import math
import shutil
from pathlib import Path

import polars as pl
import pytest
from scoring_tables import Book, caps, day, director, officer

from engine.cli.main import main
from engine.errors import UserError
from engine.scoring.config import ScoreConfig
from engine.scoring.reference import reference_score
from engine.scoring.run import score, score_asof, score_run
from engine.scoring.universe import ticker_labels
from parsers.availability import available_date

LN2 = math.log(2)


def both(book: Book, dates: list[dt.date], market, **kwargs) -> pl.DataFrame:
    """The fast path's frame, after checking that the reference gives the same cells."""
    fast = score(book.tables(), dates=dates, market_caps=market, **kwargs)
    config = kwargs.get("config")
    universe = kwargs.get("universe")
    ref = reference_score(
        book.tables(), sorted(set(dates)), market, config, set(universe) if universe else None
    )
    assert fast.select("date", "issuer_cik", "ticker", "cluster", "null_reason").equals(
        ref.select("date", "issuer_cik", "ticker", "cluster", "null_reason")
    )
    for column in ("buys", "sells", "raw", "insider", "pct"):
        a, b = fast[column].to_list(), ref[column].to_list()
        assert [x is None for x in a] == [x is None for x in b], column
        assert all(
            x is None or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12) for x, y in zip(a, b, strict=True)
        )
    return fast


def cell(frame: pl.DataFrame, date: dt.date, issuer: int) -> dict:
    rows = frame.filter((pl.col("date") == date) & (pl.col("issuer_cik") == issuer))
    return rows.row(0, named=True) if rows.height else {}


def test_window_edges_day_89_in_day_90_out():
    book = Book()
    book.filing(1, 100, day(0), [], form="3")
    book.filing(1, 100, day(10), [("P", 1000, 10.0)])
    out = both(book, [day(9), day(10), day(39), day(40), day(99), day(100)], caps((1, day(0), 1e6)))
    term = 0.5 * 1000 * 10 / 1e6
    assert cell(out, day(9), 1)["buys"] == 0
    assert cell(out, day(10), 1)["raw"] == pytest.approx(term * (1 + LN2))
    assert cell(out, day(39), 1)["cluster"] == 1
    assert cell(out, day(40), 1)["cluster"] == 0 and cell(out, day(40), 1)["raw"] == pytest.approx(term)
    assert cell(out, day(99), 1)["buys"] == pytest.approx(term)
    assert cell(out, day(100), 1)["buys"] == 0


def test_acceptance_after_1600_counts_from_the_next_day():
    book = Book()
    before = available_date(dt.datetime(2024, 1, 11, 15, 59), dt.date(2024, 1, 11), None)
    after = available_date(dt.datetime(2024, 1, 11, 16, 0), dt.date(2024, 1, 11), None)
    assert (before, after) == (day(10), day(11))
    book.filing(1, 100, before, [("P", 100, 10.0)])
    book.filing(1, 101, after, [("P", 200, 10.0)])
    out = both(book, [day(10), day(11)], caps((1, day(0), 1e6)))
    assert cell(out, day(10), 1)["n_buys"] == 1 and cell(out, day(10), 1)["cluster"] == 1
    assert cell(out, day(11), 1)["n_buys"] == 2 and cell(out, day(11), 1)["cluster"] == 2


def test_amendment_supersedes_only_from_its_own_available_date():
    book = Book()
    period = day(8)
    book.filing(1, 100, day(10), [("P", 1000, 10.0)], period=period)
    book.filing(1, 100, day(20), [("P", 3000, 10.0)], period=period, form="4/A")
    book.filing(1, 100, day(12), [("S", 500, 10.0)], period=day(11))
    book.filing(2, 200, day(10), [("P", 1000, 10.0)], period=period)
    book.filing(2, 200, day(10), [("P", 1000, 10.0)], period=period, form="4/A")
    market = caps((1, day(0), 1e6), (2, day(0), 1e6))
    out = both(book, [day(15), day(19), day(20), day(25)], market)
    assert cell(out, day(19), 1)["buys"] == pytest.approx(0.5 * 0.01)
    assert cell(out, day(20), 1)["buys"] == pytest.approx(0.5 * 0.03)
    assert cell(out, day(20), 1)["sells"] == pytest.approx(0.5 * 0.005)
    assert cell(out, day(25), 1)["n_buys"] == 1 and cell(out, day(25), 1)["n_sells"] == 1
    assert cell(out, day(15), 2)["n_buys"] == 2


def test_superseded_trade_leaves_the_cluster_too():
    book = Book()
    book.filing(1, 100, day(10), [("P", 1000, 10.0)], period=day(5))
    book.filing(1, 100, day(20), [], period=day(5), form="4/A")
    out = both(book, [day(19), day(20)], caps((1, day(0), 1e6)))
    assert cell(out, day(19), 1)["cluster"] == 1
    assert cell(out, day(20), 1)["cluster"] == 0 and cell(out, day(20), 1)["buys"] == 0


def test_joint_filing_counts_once_at_the_highest_role():
    book = Book()
    book.filing(
        1, 300, day(10), [("P", 1000, 10.0)], owners=[director(300), officer(200, "Chief Financial Officer")]
    )
    book.filing(1, 200, day(11), [("P", 1000, 10.0)], owners=[officer(200, "CFO")])
    out = both(book, [day(11)], caps((1, day(0), 1e6)))
    row = cell(out, day(11), 1)
    assert row["cluster"] == 1 and row["n_buys"] == 2
    assert row["buys"] == pytest.approx(1.0 * 0.01 + 1.0 * 0.01)


@pytest.mark.parametrize(
    ("owners", "remarks", "weight"),
    [
        ([director(1), {"owner_cik": 2, "is_ten_percent_owner": True}], None, 0.5),
        ([officer(1, "VP Sales")], None, 0.6),
        ([officer(1, "Principal Executive Officer")], None, 1.0),
        (
            [officer(1, "See Remarks", "Chief Executive Officer and Chair")],
            "Chief Executive Officer and Chair",
            1.0,
        ),
        ([officer(1, "SEE REMARKS", "Vice President")], "Vice President", 0.6),
        ([{"owner_cik": 1}], None, 0.25),
        ([{"owner_cik": 1, "is_other": True, "is_director": True}], None, 0.5),
        ([{"owner_cik": 1, "is_ten_percent_owner": True}, officer(2, "Chief Executive Officer")], None, 1.0),
    ],
)
def test_role_weight_is_the_max_over_owners_and_roles(owners, remarks, weight):
    book = Book()
    book.filing(1, 1, day(10), [("P", 1000, 10.0)], owners=owners, remarks=remarks)
    out = both(book, [day(10)], caps((1, day(0), 1e6)))
    assert cell(out, day(10), 1)["buys"] == pytest.approx(weight * 0.01)


def test_plan_flag_from_the_store_drops_plan_trades():
    book = Book()
    book.filing(1, 100, day(10), [("P", 1000, 10.0, True), ("S", 100, 10.0, False)])
    row = cell(both(book, [day(10)], caps((1, day(0), 1e6))), day(10), 1)
    assert (row["buys"], row["n_buys"], row["n_sells"]) == (0, 0, 1)


@pytest.mark.parametrize(
    ("kwargs", "plan"),
    [
        ({"aff10b5one": True}, True),
        ({"remarks": "Sales under a Rule 10b5-1 trading plan adopted May 1."}, True),
        ({"footnotes": {"F1": "Effected pursuant to a 10b5\u20101 plan."}, "referenced": True}, True),
        ({"footnotes": {"F1": "Effected pursuant to a 10b5-1 plan."}, "referenced": False}, False),
        ({"remarks": "Rule 10b-5 certification only"}, False),
        ({"remarks": "under the company's trading plan"}, True),
    ],
)
def test_plan_recomputed_from_checkbox_remarks_and_referenced_footnotes(kwargs, plan):
    config = ScoreConfig(plan_pattern=r"10b-?5[-\u2010-\u2014 ]?1|trading plan")
    referenced = kwargs.pop("referenced", False)
    book = Book()
    book.filing(1, 100, day(10), [("S", 1000, 10.0, False, ["F1"] if referenced else [])], **kwargs)
    row = cell(both(book, [day(10)], caps((1, day(0), 1e6)), config=config), day(10), 1)
    assert row["n_sells"] == (0 if plan else 1)


def test_zero_or_missing_price_is_value_zero_but_counts_in_the_cluster():
    book = Book()
    book.filing(1, 100, day(10), [("P", 1000, 0.0)])
    book.filing(1, 101, day(10), [("P", 1000, None)])
    book.filing(1, 102, day(10), [("S", 1000, 10.0)])
    row = cell(both(book, [day(10)], caps((1, day(0), 1e6))), day(10), 1)
    assert (row["buys"], row["n_buys"], row["cluster"]) == (0, 2, 3)
    assert row["raw"] == pytest.approx(-0.5 * 0.01 * (1 + math.log(4)))


def test_missing_market_cap_makes_raw_null_while_the_trade_is_in_the_window():
    book = Book()
    book.filing(1, 100, day(10), [("P", 1000, 10.0)])
    book.filing(1, 101, day(60), [("P", 1000, 10.0)])
    book.filing(2, 200, day(10), [("S", 1000, 10.0)])
    book.filing(3, 300, day(10), [("P", 1000, 10.0)])
    market = caps((1, day(30), 1e6), (2, day(0), 1e6), (3, day(0), 1e6))
    run = score_run(book.tables(), dates=[day(10), day(99), day(100)], market_caps=market)
    out = both(book, [day(10), day(99), day(100)], market)
    for date in (day(10), day(99)):
        row = cell(out, date, 1)
        assert row["raw"] is None and row["insider"] is None and row["null_reason"] == "no_market_cap"
        assert cell(out, date, 2)["insider"] == pytest.approx(-1.0)
    row = cell(out, day(100), 1)
    assert row["null_reason"] is None and row["raw"] == pytest.approx(0.005)
    assert any("no market cap" in note for note in run.notes)


def test_universe_lookback_364_days_and_form_3_counts():
    book = Book()
    book.filing(1, 100, day(0), [], form="3")
    book.filing(2, 200, day(0), [("P", 100, 1.0)])
    out = both(book, [day(364), day(365)], caps((2, day(0), 1e6)))
    assert cell(out, day(364), 1) and not cell(out, day(365), 1)
    assert cell(out, day(364), 1)["insider"] == 0 and cell(out, day(364), 2)["insider"] == 0


def test_explicit_universe_replaces_the_default():
    book = Book()
    book.filing(1, 100, day(10), [("P", 1000, 10.0)])
    book.filing(2, 200, day(10), [("S", 1000, 10.0)])
    out = both(book, [day(10)], caps((1, day(0), 1e6), (2, day(0), 1e6)), universe=[1, 9])
    assert out["issuer_cik"].to_list() == [1, 9]
    assert out["ticker"].to_list() == ["TICK", None]
    assert out["insider"].to_list() == pytest.approx([1.0, -1.0])


def test_std_zero_or_single_issuer_gives_zero():
    book = Book()
    book.filing(1, 100, day(10), [("P", 1000, 10.0)])
    book.filing(2, 200, day(10), [("P", 1000, 10.0)])
    out = both(book, [day(10)], caps((1, day(0), 1e6), (2, day(0), 1e6)))
    assert out["insider"].to_list() == [0.0, 0.0]
    single = both(book, [day(10)], caps((1, day(0), 1e6), (2, day(0), 1e6)), universe=[1])
    assert single["insider"].to_list() == [0.0]


def test_zscore_is_population_std():
    book = Book()
    for issuer, shares in ((1, 1000), (2, 2000), (3, 6000)):
        book.filing(issuer, issuer * 100, day(10), [("P", shares, 10.0)])
    market = caps(*[(i, day(0), 1e6) for i in (1, 2, 3)])
    out = both(book, [day(10)], market)
    raw = out["raw"].to_list()
    mean = sum(raw) / 3
    std = math.sqrt(sum((r - mean) ** 2 for r in raw) / 3)
    assert out["insider"].to_list() == pytest.approx([(r - mean) / std for r in raw])
    assert out["pct"].to_list() == pytest.approx([1 / 3, 2 / 3, 1.0])


def test_ticker_is_the_latest_filings_cleaned_symbol():
    book = Book()
    book.filing(1, 100, day(10), [("P", 1, 1.0)], ticker=" abc ")
    book.filing(1, 100, day(20), [], ticker="XYZ", form="3")
    book.filing(1, 100, day(30), [], ticker="n/a", form="5")
    out = both(book, [day(15), day(25), day(35)], caps((1, day(0), 1e6)))
    assert out["ticker"].to_list() == ["ABC", "XYZ", None]


@pytest.mark.parametrize("spelling", ["NA", " na ", "none", "N/A", "-", "   "])
def test_every_null_spelling_of_the_latest_ticker_means_no_ticker(spelling):
    """SCORING.md section 1: NONE, N/A, NA, - and blank, in any case and padding, are no ticker."""
    book = Book()
    book.filing(1, 100, day(10), [("P", 1, 1.0)], ticker="ABC")
    book.filing(1, 100, day(20), [], ticker=spelling, form="5")
    out = both(book, [day(15), day(25)], caps((1, day(0), 1e6)))
    assert out["ticker"].to_list() == ["ABC", None]


def test_ticker_labels_clean_each_distinct_symbol_once():
    raw = pl.Series(["msft", " NA", None, "MSFT ", "nab", "-", "na", "N/A"])
    labels, codes = ticker_labels(raw)
    assert labels.to_list() == ["MSFT", "NAB"]
    assert codes.tolist() == [0, -1, -1, 0, 1, -1, -1, -1]


def test_trades_known_after_t_or_of_other_codes_and_forms_do_not_count():
    book = Book()
    book.filing(1, 100, day(10), [("A", 1000, 10.0), ("M", 10, 1.0), ("P", 0, 10.0), ("P", -5, 10.0)])
    book.filing(1, 100, day(10), [("P", 1000, 10.0)], form="5")
    book.filing(1, 101, day(11), [("P", 1000, 10.0)])
    row = cell(both(book, [day(10)], caps((1, day(0), 1e6))), day(10), 1)
    assert (row["n_buys"], row["cluster"], row["raw"]) == (0, 0, 0)
    form5 = both(book, [day(10)], caps((1, day(0), 1e6)), config=ScoreConfig(include_form5=True))
    assert cell(form5, day(10), 1)["n_buys"] == 1


def test_shares_outstanding_only_uses_shares_over_shares_outstanding():
    book = Book()
    book.filing(1, 100, day(10), [("P", 1000, 10.0), ("S", 500, 0.0)])
    market = caps((1, day(0), 100_000), kind="shares_outstanding")
    row = cell(both(book, [day(10)], market), day(10), 1)
    assert row["buys"] == pytest.approx(0.5 * 1000 / 100_000) and row["sells"] == 0


def test_duplicate_rows_count_once_and_are_reported():
    book = Book()
    book.filing(1, 100, day(10), [("P", 1000, 10.0)])
    book.transactions.append(dict(book.transactions[-1]))
    run = score_run(book.tables(), dates=[day(10)], market_caps=caps((1, day(0), 1e6)))
    assert run.frame["n_buys"].to_list() == [1]
    assert any("duplicate" in note for note in run.notes)


def test_dedupe_affiliated_counts_a_block_once_across_filings_sharing_an_owner():
    """One purchase reported by a fund (500) and its general partner (600) in one accession, by the general
    partner and the manager (700) in the next, the same day; an unrelated holder (800) buys the same
    amount at the same price that day; the fund files the same block again the next day."""

    def holders(*ciks: int) -> list[dict]:
        return [{"owner_cik": cik, "is_ten_percent_owner": True} for cik in ciks]

    def build() -> Book:
        book = Book()
        block = [("P", 1000, 10.0)]
        for owners, available in (((500, 600), 10), ((600, 700), 10), ((800,), 10), ((500,), 11)):
            book.filing(1, owners[0], day(available), block, owners=holders(*owners), traded=day(8))
        book.filing(2, 900, day(10), [("P", 1000, 10.0)] * 2, owners=holders(900), traded=day(8))
        return book

    market = caps((1, day(0), 1e6), (2, day(0), 1e6))
    term = 0.25 * 1000 * 10.0 / 1e6
    off = both(build(), [day(11)], market)
    on = both(build(), [day(11)], market, config=ScoreConfig(dedupe_affiliated=True))
    assert (cell(off, day(11), 1)["n_buys"], cell(off, day(11), 1)["cluster"]) == (4, 3)
    assert cell(off, day(11), 1)["buys"] == pytest.approx(4 * term)
    # the second accession (600, 700) repeats the first (500, 600): it goes; 800 shares no owner, and the
    # next day's report is not the same day: both stay
    assert (cell(on, day(11), 1)["n_buys"], cell(on, day(11), 1)["cluster"]) == (3, 2)
    assert cell(on, day(11), 1)["buys"] == pytest.approx(3 * term)
    # two equal rows of one accession (two lots) are not repeats of each other
    assert cell(on, day(11), 2)["n_buys"] == cell(off, day(11), 2)["n_buys"] == 2
    run = score_run(
        build().tables(), dates=[day(11)], market_caps=market, config=ScoreConfig(dedupe_affiliated=True)
    )
    assert "1 trade row(s) repeating an affiliated filer's block" in " ".join(run.notes)


def test_score_asof_is_one_cross_section_of_score():
    book = Book()
    book.filing(1, 100, day(10), [("P", 1000, 10.0)])
    book.filing(2, 200, day(12), [("S", 1000, 10.0)])
    market = caps((1, day(0), 1e6), (2, day(0), 1e6))
    panel = score(book.tables(), day(0), day(30), market_caps=market)
    asof = score_asof(book.tables(), day(15), market_caps=market)
    assert asof.equals(panel.filter(pl.col("date") == day(15)))


def test_a_range_without_filings_is_empty_with_a_note():
    book = Book()
    book.filing(1, 100, day(10), [("P", 1000, 10.0)])
    run = score_run(book.tables(), day(500), day(510), market_caps=caps((1, day(0), 1e6)))
    assert run.frame.height == 0 and run.frame.columns == list(
        score(book.tables(), day(10), day(10), market_caps=caps((1, day(0), 1e6))).columns
    )
    assert any("no issuer" in note for note in run.notes)


@pytest.mark.parametrize(
    ("market", "match"),
    [
        (pl.DataFrame({"issuer_cik": [1], "date": [day(0)], "market_cap": [-5.0]}), "not a positive number"),
        (pl.DataFrame({"issuer_cik": [1, 1], "date": [day(0)] * 2, "market_cap": [1.0, 2.0]}), "conflicting"),
        (pl.DataFrame({"issuer_cik": [1], "date": [day(0)]}), "no market_cap"),
        (pl.DataFrame({"cik": [1], "date": [day(0)], "market_cap": [1.0]}), "no issuer_cik or ticker"),
        (None, "no market caps"),
    ],
)
def test_bad_market_data_is_a_user_error(market, match):
    book = Book()
    book.filing(1, 100, day(10), [("P", 1000, 10.0)])
    with pytest.raises(UserError, match=match):
        score(book.tables(), day(10), day(10), market_caps=market)


def test_empty_store_and_bad_dates_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="no filings"):
        score(Book().tables(), day(10), day(10), market_caps=caps((1, day(0), 1e6)))
    with pytest.raises(UserError, match="no store"):
        score(tmp_path, day(10), day(10), market_caps=caps((1, day(0), 1e6)))
    book = Book()
    book.filing(1, 100, day(10), [("P", 1000, 10.0)])
    with pytest.raises(UserError, match="before start"):
        score(book.tables(), day(10), day(5), market_caps=caps((1, day(0), 1e6)))


def test_market_caps_by_ticker_map_through_the_filings():
    book = Book()
    book.filing(1, 100, day(10), [("P", 1000, 10.0)], ticker="AAA")
    book.filing(2, 200, day(10), [("S", 1000, 10.0)], ticker="BBB")
    market = pl.DataFrame(
        {"ticker": ["aaa", "BBB", "ZZZ"], "date": [day(0)] * 3, "market_cap": [1e6, 2e6, 1.0]}
    )
    run = score_run(book.tables(), dates=[day(10)], market_caps=market)
    assert run.frame["buys"].to_list() == pytest.approx([0.005, 0.0])
    assert run.frame["sells"].to_list() == pytest.approx([0.0, 0.0025])
    assert any("ZZZ" in note for note in run.notes)


def test_tables_without_partition_or_unused_columns_still_score():
    book = Book()
    book.filing(1, 100, day(10), [("P", 1000, 10.0)])
    tables = {
        name: frame.drop("filing_year", "filing_month")
        for name, frame in book.tables().items()
        if name != "footnotes"
    }
    tables["transactions"] = tables["transactions"].drop("security_title", "ticker")
    out = score(tables, dates=[day(10)], market_caps=caps((1, day(0), 1e6)))
    assert out["buys"].to_list() == pytest.approx([0.005])


def test_a_trade_whose_term_is_zero_needs_no_market_cap():
    book = Book()
    book.filing(1, 100, day(10), [("P", 1000, 0.0)])
    book.filing(1, 101, day(10), [("S", 1000, None)])
    book.filing(1, 102, day(10), [("P", 1000, 10.0, True)])
    book.filing(2, 200, day(10), [("S", 1000, 10.0)])
    run = score_run(book.tables(), dates=[day(10)], market_caps=caps((2, day(0), 1e6)))
    out = both(book, [day(10)], caps((2, day(0), 1e6)))
    row = cell(out, day(10), 1)
    assert (row["null_reason"], row["buys"], row["sells"], row["raw"]) == (None, 0, 0, 0)
    assert (row["n_buys"], row["n_sells"], row["cluster"]) == (1, 1, 2)
    assert cell(out, day(10), 2)["insider"] == pytest.approx(-1.0)
    assert not any("no market cap" in note for note in run.notes)


@pytest.mark.parametrize(("shares", "price"), [(1e308, 1e308), (1e308, 1.0), (1e200, 1e200)])
def test_a_non_finite_or_overflowing_term_nulls_only_its_own_issuer(shares, price):
    book = Book()
    bad = book.filing(1, 100, day(10), [("P", shares, price)])
    book.filing(1, 101, day(10), [("S", 1000, 10.0)])
    book.filing(2, 200, day(10), [("P", 1000, 10.0)])
    book.filing(3, 300, day(10), [("S", 1000, 10.0)])
    market = caps((1, day(0), 1e6), (2, day(0), 1e6), (3, day(0), 1e6))
    dates = [day(10), day(99), day(100)]
    run = score_run(book.tables(), dates=dates, market_caps=market)
    out = both(book, dates, market)
    for date in (day(10), day(99)):
        row = cell(out, date, 1)
        assert (row["raw"], row["insider"], row["buys"], row["null_reason"]) == (
            None,
            None,
            None,
            "non_finite_term",
        )
        assert (cell(out, date, 2)["insider"], cell(out, date, 3)["insider"]) == pytest.approx((1.0, -1.0))
    assert cell(out, day(100), 1)["null_reason"] is None
    assert [note for note in run.notes if bad in note and "non_finite_term" in note]


@pytest.fixture
def one_filing_store(filings_dir, tmp_path) -> Path:
    """A store of one real Form 4 (Tesla sales, 2021-11-09), ingested through the CLI."""
    single = tmp_path / "in"
    single.mkdir()
    shutil.copy(filings_dir / ONE_FILING, single / ONE_FILING)
    root = tmp_path / "store"
    assert main(["ingest", str(single), "--store", str(root)]) == 0
    return root


ONE_FILING = "0000899243-21-044225.xml"
EMPTY_CAPS = [
    "date,ticker,market_cap\n",
    "date,issuer_cik,market_cap\n",
    "date,issuer_cik,close,shares_outstanding\n",
]


@pytest.mark.parametrize("header", EMPTY_CAPS)
def test_an_empty_market_caps_file_is_an_error_naming_it(header, tmp_path):
    book = Book()
    book.filing(1, 100, day(10), [("P", 1000, 10.0)], ticker="AAA")
    path = tmp_path / "caps.csv"
    path.write_text(header)
    with pytest.raises(UserError) as err:
        score(book.tables(), dates=[day(10)], market_caps=path)
    assert str(err.value).startswith(f"market_caps file {path} has no rows")
    empty = tmp_path / "caps.parquet"
    pl.DataFrame(schema={"date": pl.Date, "issuer_cik": pl.Int64, "market_cap": pl.Float64}).write_parquet(
        empty
    )
    with pytest.raises(UserError, match=f"market_caps file {empty} has no rows"):
        score(book.tables(), dates=[day(10)], market_caps=empty)


@pytest.mark.parametrize(("key", "value"), [("ticker", "AAA"), ("issuer_cik", "1")])
def test_market_caps_with_unreadable_dates_are_an_error_naming_the_file_and_row(key, value, tmp_path):
    book = Book()
    book.filing(1, 100, day(10), [("P", 1000, 10.0)], ticker="AAA")
    path = tmp_path / "caps.csv"
    path.write_text(
        f"date,{key},market_cap\n2024-01-01,{value},1e6\n01/02/2024,{value},1e6\n2024-02-30,{value},1e6\n"
    )
    with pytest.raises(UserError) as err:
        score(book.tables(), dates=[day(10)], market_caps=path)
    message, fix = str(err.value).split("\n  fix: ")
    assert message == f"market_caps file {path}, row 2: date '01/02/2024' is not a date (1 more rows like it)"
    assert "YYYY-MM-DD" in fix


def test_the_score_command_fails_on_empty_or_undated_market_caps(one_filing_store, tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("date,ticker,market_cap\n")
    undated = tmp_path / "undated.csv"
    undated.write_text("date,ticker,market_cap\n11/30/2021,TSLA,1e12\n")
    for caps_file, message in [
        (empty, f"{empty} has no rows"),
        (undated, f"{undated}, row 1: date '11/30/2021'"),
    ]:
        argv = ["score", "--store", str(one_filing_store), "--start", "2021-12-01", "--end", "2021-12-03"]
        code = main([*argv, "--market-caps", str(caps_file), "--out", str(tmp_path / "s.parquet")])
        err = capsys.readouterr().err
        assert code == 2 and message in err and "Traceback" not in err
