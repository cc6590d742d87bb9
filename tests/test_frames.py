"""The one table reader at the API boundary (engine/frames.py): every accepted form gives the same frame,
dates coerce one way, and a wrong type, a missing column or an unreadable date is a one-line UserError naming
the argument, the file or row, and the fix. Then the scoring entry points fed pandas and pyarrow tables."""

from __future__ import annotations

import datetime as dt
import gzip
import subprocess
import sys

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scoring_tables import Book, day

from engine import frames
from engine.errors import UserError
from engine.scoring.run import score, score_asof, score_run

TABLE = pl.DataFrame(
    {
        "date": [dt.date(2024, 1, 2), dt.date(2024, 1, 3)],
        "ticker": ["AAA", "BBB"],
        "market_cap": [1e6, 2.5e6],
    }
)


def one_line(error: UserError) -> str:
    """The message without the fix line; it must be a single line."""
    message = str(error).split("\n  fix: ")[0]
    assert "\n" not in message and error.fix
    return message


@pytest.fixture
def paths(tmp_path):
    parquet, csv, gz, tsv = (tmp_path / n for n in ("t.parquet", "t.csv", "t.csv.gz", "t.tsv"))
    TABLE.write_parquet(parquet)
    TABLE.write_csv(csv)
    gz.write_bytes(gzip.compress(csv.read_bytes()))
    TABLE.write_csv(tsv, separator="\t")
    unsuffixed = tmp_path / "t.data"
    unsuffixed.write_bytes(parquet.read_bytes())
    return [parquet, str(csv), gz, tsv, unsuffixed]


def test_every_form_reads_to_the_same_frame(paths):
    forms = [*paths, TABLE, TABLE.lazy(), TABLE.to_pandas(), TABLE.to_arrow()]
    for source in forms:
        read = frames.frame(source, "market_caps")
        read = read.with_columns(frames.as_date(read.schema["date"], "date"))
        assert read.equals(TABLE), type(source)
        assert frames.lazy(source, "market_caps").collect().height == 2


def test_a_named_pandas_index_becomes_a_column():
    indexed = TABLE.to_pandas().set_index("date")
    assert frames.frame(indexed, "prices").columns == ["date", "ticker", "market_cap"]
    assert frames.frame(TABLE.to_pandas(), "prices").columns == TABLE.columns  # an unnamed index is dropped


def test_a_parquet_directory_is_one_table(tmp_path):
    for year in (2023, 2024):
        (tmp_path / f"year={year}").mkdir()
        TABLE.write_parquet(tmp_path / f"year={year}" / "part.parquet")
    read = frames.lazy(tmp_path, "transactions").collect()
    assert read.height == 4 and read["year"].unique().sort().to_list() == [2023, 2024]


def test_descriptions_name_the_argument_and_the_form(tmp_path):
    assert frames.describe(tmp_path / "c.csv", "market_caps") == f"market_caps file {tmp_path / 'c.csv'}"
    assert frames.describe(TABLE.to_pandas(), "prices") == "prices (pandas DataFrame)"
    assert frames.describe(TABLE.lazy(), "scores") == "scores (Polars LazyFrame)"
    assert frames.describe(TABLE.to_arrow(), "universe") == "universe (pyarrow Table)"


def test_bad_sources_are_one_line_errors(tmp_path):
    odd = tmp_path / "t.xlsx"
    odd.write_bytes(b"PK\x03\x04")
    broken = tmp_path / "t.parquet"
    broken.write_bytes(b"not parquet")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (42, "market_caps: a int is not a table"),
        (tmp_path / "nope.csv", f"market_caps file not found: {tmp_path / 'nope.csv'}"),
        (odd, f"market_caps file {odd} is neither Parquet nor CSV"),
        (broken, f"cannot read market_caps file {broken}"),
        (empty, f"market_caps: no Parquet file under {empty}"),
    ]
    for source, message in cases:
        with pytest.raises(UserError) as err:
            frames.frame(source, "market_caps")
        assert one_line(err.value).startswith(message)


def test_dates_coerce_one_way():
    table = pl.DataFrame(
        {
            "date": [dt.date(2024, 1, 2)],
            "stamp": [dt.datetime(2024, 1, 2, 23, 0)],
            "text": ["2024-01-02 00:00:00-04:00"],
            "category": pl.Series(["2024-01-02"], dtype=pl.Categorical),
            "garbled": ["02/01/2024"],
        }
    )
    out = table.select(frames.as_date(table.schema[c], c) for c in table.columns)
    assert out.row(0) == (dt.date(2024, 1, 2),) * 4 + (None,)
    with pytest.raises(UserError) as err:
        frames.as_date(pl.Int64(), "date", "prices file p.csv")
    assert one_line(err.value) == "prices file p.csv: column 'date' has type Int64, not dates"


def test_parse_dates_names_the_first_unreadable_row():
    table = pl.DataFrame({"date": ["2024-01-02", None, "2024-13-45", "soon"]})
    with pytest.raises(UserError) as err:
        frames.parse_dates(table, "date", "market_caps file caps.csv")
    message = one_line(err.value)
    assert message == (
        "market_caps file caps.csv, row 3: date '2024-13-45' is not a date (1 more rows like it)"
    )
    fine = frames.parse_dates(table.head(2), "date", "x")
    assert fine["date"].to_list() == [dt.date(2024, 1, 2), None]


@pytest.mark.parametrize(
    "value",
    [
        dt.date(2024, 1, 2),
        dt.datetime(2024, 1, 2, 15, 30),
        pd.Timestamp("2024-01-02 09:30"),
        np.datetime64("2024-01-02"),
        "2024-01-02",
        "2024-01-02T10:00",
    ],
)
def test_scalar_dates(value):
    assert frames.to_date(value, "start") == dt.date(2024, 1, 2)


def test_a_scalar_that_is_not_a_date_names_the_argument():
    for value in (20240102, "01/02/2024", None):
        with pytest.raises(UserError) as err:
            frames.to_date(value, "end")
        assert one_line(err.value).startswith(f"end: {value!r}")


def test_column_names_fold_case_and_clashes_are_errors():
    assert frames.lower_columns(pl.DataFrame({" Date ": [1], "TICKER": ["a"]}), "x").columns == [
        "date",
        "ticker",
    ]
    with pytest.raises(UserError, match="repeat"):
        frames.lower_columns(pl.DataFrame({"Close": [1.0], "close": [2.0]}), "prices")


def test_the_readers_do_not_import_pandas():
    code = "import sys, engine.frames, engine.evaluation.prices; print('pandas' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "False"


# the scoring entry points


def book() -> Book:
    out = Book()
    out.filing(1, 100, day(10), [("P", 1000, 10.0)], ticker="AAA")
    out.filing(2, 200, day(10), [("S", 1000, 10.0)], ticker="BBB")
    return out


MARKET = pl.DataFrame({"issuer_cik": [1, 2], "date": [day(0), day(0)], "market_cap": [1e6, 2e6]})


def test_score_takes_pandas_and_pyarrow_tables_everywhere():
    tables = book().tables()
    expected = score(tables, dates=[day(10), day(11)], market_caps=MARKET)
    as_pandas = {name: frame.collect().to_pandas() for name, frame in tables.items()}
    as_arrow = {name: frame.collect().to_arrow() for name, frame in tables.items()}
    for source, market, universe in [
        (tables, MARKET.to_pandas(), pd.DataFrame({"issuer_cik": [1, 2]})),
        (as_pandas, MARKET.to_arrow(), pl.DataFrame({"issuer_cik": [1, 2]}).to_arrow()),
        (as_arrow, MARKET.to_pandas(), pd.Series([1, 2])),
    ]:
        out = score(
            source, pd.Timestamp(day(10)), np.datetime64(day(11)), market_caps=market, universe=universe
        )
        assert out.equals(expected)
    asof = score_asof(as_pandas, pd.Timestamp(day(10)), market_caps=MARKET.to_pandas())
    assert asof.equals(expected.filter(pl.col("date") == day(10)))
    assert isinstance(asof.to_pandas(), pd.DataFrame)


def test_market_caps_by_ticker_from_pandas_with_a_date_index():
    by_ticker = pd.DataFrame(
        {"ticker": ["aaa", "BBB"], "market_cap": [1e6, 2e6]},
        index=pd.DatetimeIndex([day(0)] * 2, name="date"),
    )
    run = score_run(book().tables(), dates=[day(10)], market_caps=by_ticker)
    assert run.frame["buys"].to_list() == pytest.approx([0.005, 0.0])
    assert run.provenance["insider_engine.market_caps"] == "market_caps (pandas DataFrame)"


def test_score_argument_errors_name_the_argument(tmp_path):
    tables = book().tables()
    cases = [
        (dict(start=20240110, end=day(11)), "start: 20240110 (int) is not a date"),
        (dict(dates=[day(10), "tomorrow"]), "dates: 'tomorrow' (str) is not a date"),
        (dict(dates=[day(10)], config={"winsorise": 0.01}), "config: unknown key(s) winsorise"),
        (dict(dates=[day(10)], config=3), "config: a int is not a score config"),
        (
            dict(
                dates=[day(10)],
                source={**tables, "filings": tables["filings"].with_columns(available_date=1)},
            ),
            "source['filings']: column 'available_date' has type Int32, not dates",
        ),
        (
            dict(dates=[day(10)], universe=pd.DataFrame({"cik": [1]})),
            "universe (pandas DataFrame): no column issuer_cik (columns: cik)",
        ),
        (
            dict(
                dates=[day(10)],
                market_caps=pd.DataFrame({"issuer_cik": [1], "date": [10], "market_cap": [1.0]}),
            ),
            "market_caps (pandas DataFrame): column 'date' has type Int64, not dates",
        ),
    ]
    for kwargs, message in cases:
        kwargs = {"source": tables, "market_caps": MARKET, **kwargs}
        with pytest.raises(UserError) as err:
            score(**kwargs)
        assert one_line(err.value) == message
    config = tmp_path / "c.toml"
    config.write_text("winsorize = 0.01\n")
    assert score(tables, dates=[day(10)], market_caps=MARKET, config=config).height == 2


def test_score_asof_takes_the_store_first():
    tables = book().tables()
    with pytest.raises(UserError) as err:
        score_asof(day(10), tables, market_caps=MARKET)
    assert one_line(err.value) == "score_asof takes the store first: score_asof(source, date)"
    with pytest.raises(UserError, match="a single frame cannot be scored"):
        score(tables["transactions"].collect().to_pandas(), dates=[day(10)], market_caps=MARKET)
