"""Market data with repeated (issuer, date) rows: exact repeats collapse, conflicting values are refused
with the row to fix; the result is one sorted row per issuer and date whatever the input order."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from engine.errors import UserError
from engine.scoring.market_caps import load_market_caps

D = dt.date(2024, 1, 2)


def test_exact_repeats_collapse_and_rows_come_out_sorted():
    frame = pl.DataFrame(
        {
            "date": [D, D, D - dt.timedelta(days=1), D],
            "issuer_cik": [2, 1, 1, 2],
            "market_cap": [5.0, 7.0, 6.0, 5.0],
        }
    )
    table = load_market_caps(frame).table
    assert table.rows() == [(1, D - dt.timedelta(days=1), 6.0), (1, D, 7.0), (2, D, 5.0)]


def test_conflicting_values_name_the_first_row():
    frame = pl.DataFrame({"date": [D, D, D], "issuer_cik": [3, 1, 1], "market_cap": [1.0, 7.0, 8.0]})
    message = r"issuer 1 has 2 conflicting values on 2024-01-02 \(first at row 2\)"
    with pytest.raises(UserError, match=message):
        load_market_caps(frame)
