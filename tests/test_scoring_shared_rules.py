"""One rule, every caller: the score and the event study judge eligibility, amendments and tickers alike
(each case here is a place where the two once drifted apart)."""

from __future__ import annotations

import datetime as dt
import warnings
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from scoring_tables import Book, caps, day

from engine.evaluation.event_study import eligible_trades, issuer_labels
from engine.scoring import rules
from engine.scoring.amendments import amendment_dates, with_superseded
from engine.scoring.explain import explain
from engine.scoring.rules import clean_ticker
from engine.scoring.run import score
from parsers.values import clean_ticker as clean_ticker_text

NEW_YORK = ZoneInfo("America/New_York")


def counted(book: Book, date: dt.date, **study) -> tuple[int, int]:
    """Trades of issuer 1 the score counts on ``date`` and trades the event study keeps."""
    scored = score(book.tables(), dates=[date], market_caps=caps((1, day(0), 1e6)))
    row = scored.filter(pl.col("issuer_cik") == 1).row(0, named=True)
    trades, _ = eligible_trades(book.tables()["transactions"], **study)
    return row["n_buys"] + row["n_sells"], trades.height


def test_null_is_derivative_and_non_finite_shares_are_judged_alike():
    book = Book()
    book.filing(1, 100, day(10), [("S", 1000, 10.0), ("S", 500, 10.0), ("P", 100, 10.0), ("P", 100, 10.0)])
    book.transactions[1]["is_derivative"] = None
    book.transactions[2]["shares"] = float("nan")
    book.transactions[3]["shares"] = float("inf")
    assert counted(book, day(10)) == (2, 2)


def test_a_null_holding_flag_counts_and_a_null_share_count_does_not_in_both_paths():
    book = Book()
    book.filing(1, 100, day(10), [("S", 1000, 10.0), ("P", 200, 10.0), ("S", 300, 10.0)])
    book.transactions[1]["is_holding"] = None
    book.transactions[2]["shares"] = None
    assert counted(book, day(10)) == (2, 2)


def forms_and_codes(*rows: tuple[str, str], shares: float = 10.0) -> pl.LazyFrame:
    """Non-derivative trades of the given forms and codes, each of ``shares``."""
    return pl.LazyFrame(
        {
            "document_type": [form for form, _ in rows],
            "transaction_code": [code for _, code in rows],
            "is_derivative": [False] * len(rows),
            "is_holding": [False] * len(rows),
            "shares": [shares] * len(rows),
        }
    )


ROWS = [("4", "P"), ("4", "S"), ("4", "A"), ("4/A", "P"), ("5", "P"), ("5", "A"), ("3", "P")]


def test_trades_are_eligible_by_the_forms_and_codes_asked_for():
    def kept(**rule) -> list[tuple[str, str]]:
        frame = rules.eligible_trades(forms_and_codes(*ROWS), **rule).collect()
        return list(frame.select("document_type", "transaction_code").iter_rows())

    assert kept() == [("4", "P"), ("4", "S"), ("4/A", "P")]
    assert kept(forms=("4", "5"), codes=("P", "A")) == [("4", "P"), ("4", "A"), ("5", "P"), ("5", "A")]


def test_open_market_trades_are_of_the_forms_and_codes_asked_for_whatever_their_share_count():
    """The event study's candidates: eligible but for the share count (none is positive here)."""

    def candidates(**rule) -> list[tuple[str, str]]:
        frame = forms_and_codes(*ROWS, shares=0.0).filter(rules.open_market(**rule)).collect()
        return list(frame.select("document_type", "transaction_code").iter_rows())

    assert candidates() == [("4", "P"), ("4", "S"), ("4/A", "P")]
    assert candidates(forms=("4", "5"), codes=("P", "A")) == [("4", "P"), ("4", "A"), ("5", "P"), ("5", "A")]


def test_explain_names_the_one_condition_a_trade_fails():
    """``insider explain`` lists every trade of the cell with why it did not count: a grant by its code,
    a Form 5 by its form, a zero share count, an option exercise as derivative."""
    book = Book()
    book.filing(1, 100, day(0), [], form="3")
    book.filing(1, 100, day(10), [("P", 1000, 10.0), ("A", 10, 0.0), ("P", 0, 10.0), ("M", 5, 1.0)])
    book.transactions[-1]["is_derivative"] = True
    book.filing(1, 101, day(11), [("P", 100, 10.0)], form="5")
    trades = explain(book.tables(), 1, day(20), market_caps=caps((1, day(0), 1e6))).trades
    assert sorted(trades["status"].to_list()) == [
        "code A",
        "counted",
        "derivative",
        "form 5",
        "no positive share count",
    ]


def test_a_second_original_filing_for_the_same_period_supersedes_nothing_in_both_paths():
    """Only an amendment supersedes: two Form 4s of one insider for one period both count."""
    book = Book()
    book.filing(1, 100, day(10), [("S", 1000, 10.0)], period=day(5))
    book.filing(1, 100, day(30), [("S", 1200, 10.0)], period=day(5))
    assert counted(book, day(40)) == (2, 2)


def test_each_trade_is_superseded_by_the_first_amendment_available_after_it():
    """Amendments listed out of order; the trade of day 10 is superseded from day 20, of day 25 from
    day 30, of day 45 from day 60, and another insider's trade never (and Polars warns of nothing)."""
    amendments = [(100, 40), (100, 20), (100, 60), (100, 30), (101, 5), (101, None)]
    filings = pl.LazyFrame(
        {
            "issuer_cik": [1] * len(amendments),
            "insider_cik": [insider for insider, _ in amendments],
            "period_of_report": [day(1)] * len(amendments),
            "document_type": ["4/A"] * len(amendments),
            "available_date": [None if at is None else day(at) for _, at in amendments],
        }
    )
    trades = pl.LazyFrame(
        {
            "issuer_cik": [1, 1, 1, 1],
            "insider_cik": [100, 100, 100, 102],
            "period_of_report": [day(1)] * 4,
            "available_date": [day(45), day(10), day(25), day(10)],
        }
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        joined = with_superseded(trades, amendment_dates(filings)).collect()
    assert sorted(joined.select("insider_cik", "available_date", "superseded").iter_rows()) == [
        (100, day(10), day(20)),
        (100, day(25), day(30)),
        (100, day(45), day(60)),
        (102, day(10), None),
    ]
    assert [str(warning.message) for warning in caught] == []


def test_a_price_missing_zero_negative_or_not_finite_is_value_zero_in_both_paths():
    prices = [None, 0.0, -5.0, float("nan"), float("inf"), 2.0]
    book = Book()
    book.filing(1, 100, day(10), [("S", 10, price) for price in prices])
    scored = score(book.tables(), dates=[day(10)], market_caps=caps((1, day(0), 1e6)))
    assert scored["sells"].to_list() == [pytest.approx(0.5 * 20 / 1e6)]
    trades, counts = eligible_trades(book.tables()["transactions"])
    assert sorted(trades["value"]) == [0, 0, 0, 0, 0, 20] and counts["without_price"] == 5


@pytest.mark.parametrize("accepted", [False, True])
def test_a_4a_available_the_same_day_supersedes_in_neither_path(accepted):
    book = Book()
    book.filing(1, 100, day(10), [("S", 1000, 10.0)], period=day(5))
    book.filing(1, 100, day(10), [("S", 1200, 10.0)], period=day(5), form="4/A")
    if accepted:
        for hour, row in zip((9, 11), book.transactions, strict=True):
            row["accepted_at"] = dt.datetime(2024, 1, 11, hour, tzinfo=NEW_YORK)
    assert counted(book, day(10)) == (2, 2)


def test_an_amendment_supersedes_from_its_own_day_in_both_paths():
    book = Book()
    book.filing(1, 100, day(10), [("S", 1000, 10.0)], period=day(5))
    book.filing(1, 100, day(70), [("S", 1200, 10.0)], period=day(5), form="4/A")
    for row in book.transactions:
        row["transaction_date"] = day(5)
    assert counted(book, day(40))[0] == 1 and counted(book, day(70))[0] == 1
    # by available date, January judged the original as filed and March judges the amendment
    trades, counts = eligible_trades(book.tables()["transactions"])
    assert trades["shares"].to_list() == [1000, 1200] and counts["superseded"] == 0
    # by transaction date both trades fall in January, judged once the amendment is public
    trades, counts = eligible_trades(book.tables()["transactions"], month_by="transaction_date")
    assert trades["shares"].to_list() == [1200] and counts["superseded"] == 1


RAW_TICKERS = [" abc ", "n/a", "NA", " - ", "None", "", "\x1cxyz\x1f", "brk.b", "\u019b"]


def test_tickers_are_cleaned_by_the_parse_time_rule_everywhere():
    book = Book()
    for issuer, raw in enumerate(RAW_TICKERS, start=1):
        book.filing(issuer, 100 + issuer, day(10), [("P", 1, 1.0)], ticker=raw)
        book.transactions[-1]["ticker"] = raw
    expected = {issuer: clean_ticker_text(raw) for issuer, raw in enumerate(RAW_TICKERS, start=1)}
    assert expected[1] == "ABC" and expected[7] == "XYZ" and expected[2] is expected[3] is None
    market = caps(*[(issuer, day(0), 1e6) for issuer in expected])
    scored = score(book.tables(), dates=[day(10)], market_caps=market)
    assert dict(scored.select("issuer_cik", "ticker").iter_rows()) == expected
    labels = issuer_labels(book.tables()["transactions"].collect())
    assert dict(labels.iter_rows()) == {k: v for k, v in expected.items() if v is not None}
    as_expr = pl.DataFrame({"raw": RAW_TICKERS}).select(clean_ticker("raw"))["ticker"]
    assert as_expr.to_list() == list(expected.values())
