"""Price input: formats, the trading calendar, forward returns, and every defect reported (gaps, suspect
moves, bad rows, conflicting duplicates, horizons past the data)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from engine.errors import UserError
from engine.evaluation.prices import load_prices

PRICES = Path(__file__).parent / "fixtures" / "prices"
YF = PRICES / "yf_daily_34_us_2020_2025.parquet"
AV = PRICES / "av_daily_9_1999_2020.parquet"

D = [dt.date(2024, 1, 1) + dt.timedelta(days=k) for k in range(14)]
WEEKDAYS = [x for x in D if x.weekday() < 5]  # 10 days, 2024-01-01 .. 2024-01-12


def frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["date", "ticker", "close"], orient="row")


def test_calendar_forward_returns_and_horizon_past_the_data():
    rows = [(d, "AAA", 10.0 + k) for k, d in enumerate(WEEKDAYS)] + [(d, "BBB", 5.0) for d in WEEKDAYS[:4]]
    prices = load_prices(frame(rows))
    assert prices.calendar.tolist() == WEEKDAYS
    assert prices.keys.to_list() == ["AAA", "BBB"]
    fwd = prices.forward_returns(3)
    assert fwd[0, 0] == pytest.approx(13.0 / 10.0 - 1)
    assert np.isnan(fwd[7:, 0]).all()  # t + 3 past the calendar
    assert fwd[0, 1] == 0.0 and np.isnan(fwd[1:, 1]).all()  # BBB ends on day 4: no close after it
    assert np.isnan(prices.forward_returns(10)).all()
    assert prices.key_index(pl.Series(["BBB", "ZZZ", "AAA"])).tolist() == [1, -1, 0]
    assert prices.date_index(pl.Series([WEEKDAYS[2], dt.date(2024, 1, 6)])).tolist() == [2, -1]
    assert prices.next_trading_index(pl.Series([dt.date(2024, 1, 6), dt.date(2024, 2, 1)])).tolist() == [
        5,
        -1,
    ]


def test_gaps_are_filled_up_to_the_limit_and_reported():
    keep = [0, 1, 2, 6, 7, 8, 9]  # days 3, 4, 5 missing
    rows = [(WEEKDAYS[k], "AAA", 10.0 + k) for k in keep] + [(d, "BBB", 1.0) for d in WEEKDAYS]
    prices = load_prices(frame(rows), max_fill=2)
    col = prices.close[:, 0]
    assert col[3] == col[4] == 12.0 and math.isnan(col[5]) and col[6] == 16.0
    gaps = prices.issues.gaps.row(0, named=True)
    assert (gaps["key"], gaps["first_missing"], gaps["last_missing"], gaps["trading_days"]) == (
        "AAA",
        WEEKDAYS[3],
        WEEKDAYS[5],
        3,
    )
    text = "\n".join(prices.describe())
    assert "Price gaps: 1 runs of missing trading days inside 1 securities' histories, 3 days in all" in text
    assert "carried forward up to 2 trading days" in text
    assert math.isnan(prices.forward_returns(1)[4, 0])  # ends on the unfilled day 5


def test_suspect_moves_reported_with_their_numbers():
    closes = [100.0, 101.0, 25.0, 25.5, 26.0, 26.0, 60.0, 60.0, 61.0, 61.0]  # a 4:1 split, then +131%
    prices = load_prices(frame([(d, "SPLT", c) for d, c in zip(WEEKDAYS, closes, strict=True)]))
    moves = prices.issues.suspect_moves
    assert moves["date"].to_list() == [WEEKDAYS[2], WEEKDAYS[6]]
    assert moves["move"].to_list() == pytest.approx([25 / 101 - 1, 60 / 26 - 1])
    text = "\n".join(prices.describe())
    assert "Suspect one-day moves (beyond +-60%, possibly unadjusted splits): 2." in text
    assert f"SPLT {WEEKDAYS[2]}: 101 -> 25 (-75.2%)" in text


def test_bad_rows_left_out_and_counted():
    rows = [
        (WEEKDAYS[0], "AAA", 10.0),
        (WEEKDAYS[1], "AAA", None),
        (WEEKDAYS[2], "AAA", -1.0),
        (None, "AAA", 3.0),
        (WEEKDAYS[3], None, 3.0),
        (WEEKDAYS[4], "AAA", 11.0),
    ]
    prices = load_prices(frame(rows))
    bad = prices.issues.bad_rows
    assert bad["row"].to_list() == [2, 3, 4, 5]
    assert bad["reason"].to_list() == ["no close", "close <= 0", "no date", "no ticker"]
    assert "Price rows left out: 4 (1 close <= 0, 1 no close, 1 no date, 1 no ticker)." in prices.describe()
    assert int(prices.observed.sum()) == 2


def test_duplicates_agreeing_are_kept_once_and_conflicts_raise():
    rows = [(WEEKDAYS[0], "AAA", 10.0), (WEEKDAYS[0], "AAA", 10.0), (WEEKDAYS[1], "AAA", 11.0)]
    assert int(load_prices(frame(rows)).observed.sum()) == 2
    with pytest.raises(UserError, match=r"first AAA on 2024-01-02"):
        load_prices(frame([*rows, (WEEKDAYS[1], "AAA", 11.5)]))


def test_the_real_files_overlap_with_different_adjustments():
    with pytest.raises(UserError, match="prices disagree") as err:
        load_prices([YF, AV])
    assert "overlapping" in str(err.value)


def test_yfinance_style_csv_and_adjusted_close_preferred(tmp_path):
    csv = tmp_path / "p.csv"
    csv.write_text(
        "Date,Symbol,Close,Adj_Close\n"
        "2020-09-28 00:00:00-04:00,tsla,140.0,139.0\n"
        "2020-09-29 00:00:00-04:00,tsla,141.0,140.0\n"
    )
    with pytest.raises(UserError, match="needs date, ticker or issuer_cik, and close"):
        load_prices(csv)
    csv.write_text(csv.read_text().replace("Symbol", "Ticker"))
    prices = load_prices(csv)
    assert prices.keys.to_list() == ["TSLA"] and prices.close_column == "Adj_Close"
    assert prices.close[:, 0].tolist() == [139.0, 140.0]
    assert prices.calendar.tolist() == [dt.date(2020, 9, 28), dt.date(2020, 9, 29)]


def test_issuer_cik_key_and_weekend_dates(tmp_path):
    path = tmp_path / "p.parquet"
    pl.DataFrame({"date": D[:7], "issuer_cik": [1318605] * 7, "close": np.arange(1.0, 8.0)}).write_parquet(
        path
    )
    prices = load_prices(path)
    assert prices.key == "issuer_cik" and prices.keys.to_list() == [1318605]
    assert prices.issues.weekend_dates == 2
    assert any("2 weekend dates" in line for line in prices.describe())


def test_unreadable_inputs_name_the_file(tmp_path):
    with pytest.raises(UserError, match="prices file not found"):
        load_prices(tmp_path / "nope.parquet")
    odd = tmp_path / "prices.xlsx"
    odd.write_bytes(b"x")
    with pytest.raises(UserError, match="neither Parquet nor CSV"):
        load_prices(odd)


def test_real_fixture_is_clean():
    prices = load_prices(YF)
    assert len(prices.keys) == 34 and prices.n_dates == 1256
    assert prices.issues.bad_rows.height == 0 and prices.issues.weekend_dates == 0
    tsla = prices.close[:, prices.key_index(pl.Series(["TSLA"]))[0]]
    raw = pl.read_parquet(YF).filter(pl.col("ticker") == "TSLA").sort("date")
    assert tsla[-1] == raw["close"][-1]


def test_no_usable_rows_is_a_clear_error():
    with pytest.raises(UserError, match=r"no usable price rows \(1 no close\)"):
        load_prices(frame([(WEEKDAYS[0], "AAA", None)]))
    with pytest.raises(UserError, match="the table is empty"):
        load_prices(pl.DataFrame(schema={"date": pl.Date, "ticker": pl.String, "close": pl.Float64}))


def test_pandas_and_pyarrow_prices_load_like_polars():
    rows = [(d, "aaa", 10.0 + k) for k, d in enumerate(WEEKDAYS)]
    expected = load_prices(frame(rows))
    indexed = frame(rows).to_pandas().set_index("date")  # the usual pandas layout: dates as the index
    for source in (frame(rows).to_pandas(), indexed, frame(rows).to_arrow(), [frame(rows).lazy()]):
        prices = load_prices(source)
        assert prices.keys.to_list() == ["AAA"] and np.array_equal(prices.close, expected.close)
        assert prices.calendar.tolist() == WEEKDAYS


def test_unreadable_dates_are_their_own_reason_and_tickers_are_cleaned():
    table = pl.DataFrame(
        {"date": ["2024-01-02", "01/03/2024", None, "2024-01-04"], "ticker": ["aaa ", "AAA", "AAA", "N/A"]}
    ).with_columns(close=pl.lit(10.0))
    prices = load_prices(table)
    assert prices.keys.to_list() == ["AAA"]
    bad = prices.issues.bad_rows
    assert bad["row"].to_list() == [2, 3, 4]
    assert bad["reason"].to_list() == ["date not readable", "no date", "no ticker"]
    assert bad["source"].unique().to_list() == ["prices (Polars DataFrame)"]


def test_a_wrong_date_type_names_the_price_table(tmp_path):
    path = tmp_path / "p.parquet"
    pl.DataFrame({"date": [20240102], "ticker": ["AAA"], "close": [1.0]}).write_parquet(path)
    with pytest.raises(UserError) as err:
        load_prices(path)
    assert str(err.value).startswith(f"prices file {path}: column 'date' has type Int64, not dates")
