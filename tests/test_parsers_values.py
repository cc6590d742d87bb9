"""Scalar decoding: booleans, dates, numbers, CIKs, tickers (SCORING.md section 1)."""

from __future__ import annotations

from datetime import date

import pytest

from parsers.values import (
    clean_ticker,
    parse_bool,
    parse_cik,
    parse_compact_date,
    parse_date,
    parse_number,
    text_or_none,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", True),
        ("true", True),
        (" TRUE ", True),
        ("True", True),
        ("0", False),
        ("false", False),
        ("\nFALSE\t", False),
        ("", None),
        ("yes", None),
        ("2", None),
        (None, None),
    ],
)
def test_parse_bool(text, expected) -> None:
    assert parse_bool(text) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-15", date(2024, 1, 15)),
        (" 2024-01-15 ", date(2024, 1, 15)),
        ("2026-07-20-05:00", date(2026, 7, 20)),
        ("2021-09-30Z", date(2021, 9, 30)),
        ("2021-09-30T10:00:00", date(2021, 9, 30)),
        ("2021-02-30", None),
        ("01/02/2020", None),
        ("2021-9-3", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_date(text, expected) -> None:
    assert parse_date(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20200102", date(2020, 1, 2)),
        ("20201302", None),
        ("2020-01-02", None),
        ("2024 1 5", None),  # eight characters whose parts int() would read: still not YYYYMMDD
        ("2024+1+5", None),
        ("202401051", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_compact_date(text, expected) -> None:
    assert parse_compact_date(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("70750.00", 70750.0),
        ("66.903", 66.903),
        (" 1800 ", 1800.0),
        ("1,234,567", 1234567.0),
        ("$12.50", 12.5),
        ("1 000", 1000.0),
        ("$ 1,000.25", 1000.25),
        ("0", 0.0),
        ("", None),
        ("   ", None),
        ("see footnote", None),
        ("nan", None),
        ("inf", None),
        (None, None),
    ],
)
def test_parse_number(text, expected) -> None:
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"), [("0000320193", 320193), (" 42 ", 42), ("", None), ("12a", None), ("-5", None)]
)
def test_parse_cik(text, expected) -> None:
    assert parse_cik(text) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("AAPL", "AAPL"),
        (" aapl ", "AAPL"),
        ("brk.b", "BRK.B"),
        ("NONE", None),
        ("none", None),
        ("N/A", None),
        ("n/a", None),
        ("NA", None),
        ("-", None),
        ("", None),
        ("  ", None),
        (None, None),
    ],
)
def test_clean_ticker(raw, expected) -> None:
    assert clean_ticker(raw) == expected


def test_text_or_none() -> None:
    assert [text_or_none(t) for t in (None, "", "  ", " a b ")] == [None, None, None, "a b"]
