"""Incremental score files: an append equals a full rescore of the whole range, whatever was stored
since (late filings included), and refuses to mix two different scores in one file."""

from __future__ import annotations

import datetime as dt
from unittest.mock import patch

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scoring_tables import Book, caps, day

from engine.cli.main import main
from engine.errors import UserError
from engine.scoring import incremental
from engine.scoring.config import ScoreConfig
from engine.scoring.incremental import read_inputs, score_file
from engine.scoring.run import score
from engine.store.datasets import Store
from parsers.schema import STORE_TABLES

EXACT = ("date", "issuer_cik", "ticker", "cluster", "n_buys", "n_sells", "null_reason")
FLOATS = ("buys", "sells", "raw", "insider", "pct")
CONFIGS = [ScoreConfig(), ScoreConfig(exclude_routine=True), ScoreConfig(include_form5=True, plan_weight=0.5)]


def weekdays(first: int, last: int) -> int:
    """How many weekdays ``day(first)`` to ``day(last)`` holds."""
    return sum(day(n).weekday() < 5 for n in range(first, last + 1))


def assert_same_panel(got: pl.DataFrame, want: pl.DataFrame) -> None:
    """Equal keys, labels and counts; floats equal to 1e-12 with the same nulls."""
    assert got.schema == want.schema
    assert got.select(EXACT).equals(want.select(EXACT))
    for column in FLOATS:
        a, b = got[column].to_numpy().astype(float), want[column].to_numpy().astype(float)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12, equal_nan=True, err_msg=column)


def subset(tables: dict[str, pl.LazyFrame], accessions: list[str]) -> dict[str, pl.LazyFrame]:
    """The rows of the given filings only: what the store held before the others were stored."""
    return {name: frame.filter(pl.col("accession").is_in(accessions)) for name, frame in tables.items()}


@st.composite
def histories(draw):
    """A book of filings over ~260 days, each stored early (before the file was made) or late (any
    available date, so late filings land inside the file's range too), market caps of which some
    arrive late, two score ends and a config."""
    book = Book()
    early = []
    for _ in range(draw(st.integers(1, 16))):
        trades = [
            (
                draw(st.sampled_from(["P", "S", "S", "A"])),
                draw(st.sampled_from([100.0, 2500.0, 1e5])),
                draw(st.sampled_from([10.0, 2.5, 0.0])),
                draw(st.booleans()),
            )
            for _ in range(draw(st.integers(0, 3)))
        ]
        accession = book.filing(
            draw(st.integers(1, 4)),
            draw(st.integers(10, 13)),
            day(draw(st.integers(0, 260))),
            trades,
            form=draw(st.sampled_from(["4", "4", "4/A", "3", "5"])),
            period=day(draw(st.sampled_from([0, 60, 120]))),
            ticker=draw(st.sampled_from(["AAA", "BBB", None])),
            traded=day(draw(st.integers(0, 260))),
        )
        if not early or draw(st.booleans()):
            early.append(accession)
    cap_values = {(issuer, 0): 1e7 for issuer in range(1, 5) if draw(st.booleans())}
    for issuer in range(1, 5):
        for _ in range(draw(st.integers(0, 2))):
            cap_values[(issuer, draw(st.integers(1, 250)))] = draw(st.sampled_from([1e6, 3e7, 5e8]))
    cap_rows = [(issuer, day(n), value) for (issuer, n), value in cap_values.items()]
    late_caps = [n > 0 and draw(st.booleans()) for (_, n) in cap_values]
    end1 = draw(st.integers(20, 200))
    end2 = draw(st.integers(end1, 265))
    group_rows = draw(st.sampled_from([3, 20, incremental.ROW_GROUP_ROWS]))
    return book, early, cap_rows, late_caps, end1, end2, draw(st.sampled_from(CONFIGS)), group_rows


def market(rows: list[tuple]):
    return caps(*rows) if rows else caps((99, day(0), 1.0))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_append_equals_a_full_rescore(tmp_path_factory, history):
    book, early, cap_rows, late_caps, end1, end2, config, group_rows = history
    tables = book.tables()
    path = tmp_path_factory.mktemp("scores") / "scores.parquet"
    first_caps = market([row for row, late in zip(cap_rows, late_caps, strict=True) if not late])
    with patch.object(incremental, "ROW_GROUP_ROWS", group_rows):
        score_file(path, subset(tables, early), day(0), day(end1), market_caps=first_caps, config=config)
        appended = score_file(
            path, tables, day(0), day(end2), market_caps=market(cap_rows), config=config, append=True
        )
    full = score(tables, day(0), day(end2), market_caps=market(cap_rows), config=config)
    assert_same_panel(pl.read_parquet(path), full)
    assert appended.rows == full.height


def test_an_append_scores_only_new_dates_and_those_late_filings_reach(tmp_path):
    book = Book()
    book.filing(1, 10, day(3), [("P", 100.0, 10.0)])
    book.filing(2, 11, day(10), [("S", 50.0, 10.0)])
    market_caps = caps((1, day(0), 1e6), (2, day(0), 2e6))
    path = tmp_path / "scores.parquet"
    made = score_file(path, book.tables(), day(0), day(400), market_caps=market_caps)
    assert made.scored_dates == made.new_dates == weekdays(0, 400)
    same = score_file(path, book.tables(), day(0), day(400), market_caps=market_caps, append=True)
    assert same.scored_dates == 0 and same.rows == made.rows
    book.filing(1, 12, day(405), [("P", 100.0, 10.0)])
    nextday = score_file(path, book.tables(), day(0), day(406), market_caps=market_caps, append=True)
    assert (nextday.scored_dates, nextday.new_dates) == (weekdays(401, 406), weekdays(401, 406))
    book.filing(2, 12, day(30), [("P", 100.0, 10.0)])
    late = score_file(path, book.tables(), day(0), day(406), market_caps=market_caps, append=True)
    assert (late.scored_dates, late.new_dates) == (weekdays(30, 30 + 364), 0)
    assert_same_panel(pl.read_parquet(path), score(book.tables(), day(0), day(406), market_caps=market_caps))


def test_a_late_market_cap_rescores_every_later_date(tmp_path):
    book = Book()
    book.filing(1, 10, day(3), [("S", 10.0, 10.0)])
    book.filing(1, 11, day(50), [("P", 100.0, 10.0)])
    path = tmp_path / "scores.parquet"
    score_file(path, book.tables(), day(0), day(100), market_caps=caps((1, day(0), 1e6)))
    later = caps((1, day(0), 1e6), (1, day(40), 4e6))
    result = score_file(path, book.tables(), day(0), day(100), market_caps=later, append=True)
    assert result.scored_dates == weekdays(40, 100)
    assert_same_panel(pl.read_parquet(path), score(book.tables(), day(0), day(100), market_caps=later))


def test_a_late_filing_rescores_routine_status_years_on(tmp_path):
    """Under exclude_routine a trade known in 2024 makes the same insider's March trade of 2027 routine
    (the same month in each of the three years before), far beyond the 365-day universe."""
    config = ScoreConfig(exclude_routine=True)
    book = Book()
    march = [dt.date(year, 3, 4) for year in (2024, 2025, 2026, 2027)]
    accessions = [book.filing(1, 10, when, [("P", 100.0, 10.0)], traded=when) for when in march]
    book.filing(2, 20, dt.date(2027, 1, 5), [("S", 100.0, 10.0)])
    tables = book.tables()
    market_caps = caps((1, day(0), 1e6), (2, day(0), 1e6))
    path = tmp_path / "scores.parquet"
    early = [a for a in book_accessions(tables) if a != accessions[0]]
    end = dt.date(2027, 4, 30)
    score_file(path, subset(tables, early), day(0), end, market_caps=market_caps, config=config)
    score_file(path, tables, day(0), end, market_caps=market_caps, config=config, append=True)
    full = score(tables, day(0), end, market_caps=market_caps, config=config)
    assert (
        full.filter(pl.col("date") == dt.date(2027, 3, 10), pl.col("issuer_cik") == 1)["n_buys"].item() == 0
    )
    assert_same_panel(pl.read_parquet(path), full)


def book_accessions(tables: dict[str, pl.LazyFrame]) -> list[str]:
    return tables["filings"].select("accession").collect().to_series().to_list()


def arrow_batch(tables: dict[str, pl.LazyFrame], accessions: list[str]) -> dict[str, pa.Table]:
    """The rows of the given filings as a Store.write batch."""
    return {
        name: pa.Table.from_pylist(frame.collect().to_dicts(), schema=STORE_TABLES[name])
        for name, frame in subset(tables, accessions).items()
    }


def test_append_on_a_store_reads_only_partitions_whose_files_changed(tmp_path):
    book = Book()
    old = [book.filing(1, 10, day(n), [("P", 100.0 + n, 10.0)]) for n in (3, 40, 75)]
    store = Store(tmp_path / "store")
    store.write(arrow_batch(book.tables(), old))
    market_caps = caps((1, day(0), 1e6))
    path = tmp_path / "scores.parquet"
    score_file(path, store, day(0), day(100), market_caps=market_caps)
    before = read_inputs(path).filings
    late = [book.filing(1, 11, day(41), [("S", 70.0, 10.0)]), book.filing(1, 12, day(104), [("P", 9.0, 3.0)])]
    store.write(arrow_batch(book.tables(), late))
    result = score_file(path, store, day(0), day(106), market_caps=market_caps, append=True)
    after = read_inputs(path).filings
    assert before["filing_year=2024/filing_month=1"] == after["filing_year=2024/filing_month=1"]
    assert before["filing_year=2024/filing_month=2"] != after["filing_year=2024/filing_month=2"]
    assert result.new_dates == 4
    assert_same_panel(pl.read_parquet(path), score(store, day(0), day(106), market_caps=market_caps))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"config": ScoreConfig(flow_window=60)}, "another config"),
        ({"market_caps": "other.parquet"}, "another market caps"),
        ({"start": day(1)}, "starts on 2024-01-01"),
        ({"end": day(20)}, "already ends on 2024-01-31"),
        ({"universe": [1]}, "another universe"),
    ],
)
def test_append_refuses_to_mix_two_scores(tmp_path, change, message):
    book = Book()
    book.filing(1, 10, day(3), [("P", 100.0, 10.0)])
    market_file = tmp_path / "caps.parquet"
    pl.DataFrame({"date": [day(0)], "issuer_cik": [1], "market_cap": [1e6]}).write_parquet(market_file)
    other = tmp_path / "other.parquet"
    pl.read_parquet(market_file).write_parquet(other)
    path = tmp_path / "scores.parquet"
    score_file(path, book.tables(), day(0), day(30), market_caps=str(market_file))
    before = path.read_bytes()
    arguments = {"start": day(0), "end": day(31), "market_caps": str(market_file), "config": None, **change}
    if change.get("market_caps"):
        arguments["market_caps"] = str(other)
    with pytest.raises(UserError, match=message):
        score_file(path, book.tables(), append=True, **arguments)
    assert path.read_bytes() == before


def test_append_refuses_a_file_without_a_record_of_its_inputs(tmp_path):
    book = Book()
    book.filing(1, 10, day(3), [("P", 100.0, 10.0)])
    path = tmp_path / "scores.parquet"
    score(book.tables(), day(0), day(30), market_caps=caps((1, day(0), 1e6))).write_parquet(path)
    with pytest.raises(UserError, match="no record of what it was computed from"):
        score_file(path, book.tables(), day(0), day(31), market_caps=caps((1, day(0), 1e6)), append=True)


def test_append_to_a_missing_file_scores_the_whole_range(tmp_path):
    book = Book()
    book.filing(1, 10, day(3), [("P", 100.0, 10.0)])
    path = tmp_path / "scores.parquet"
    result = score_file(path, book.tables(), day(0), day(30), market_caps=caps((1, day(0), 1e6)), append=True)
    assert result.new_dates == weekdays(0, 30)
    assert_same_panel(
        pl.read_parquet(path), score(book.tables(), day(0), day(30), market_caps=caps((1, day(0), 1e6)))
    )


def test_score_command_appends_a_day(tmp_path, capsys):
    book = Book()
    first = [book.filing(1, 10, day(n), [("P", 100.0 + n, 10.0)]) for n in (3, 40)]
    store = Store(tmp_path / "store")
    store.write(arrow_batch(book.tables(), first))
    market_file = tmp_path / "caps.parquet"
    pl.DataFrame({"date": [day(0)], "issuer_cik": [1], "market_cap": [1e6]}).write_parquet(market_file)
    out = tmp_path / "scores.parquet"
    argv = ["score", "--store", str(store.root), "--market-caps", str(market_file), "--start", "2024-01-01"]
    assert main([*argv, "--end", "2024-03-01", "--out", str(out)]) == 0
    monday = [book.filing(1, 11, day(63), [("S", 5.0, 10.0)])]
    store.write(arrow_batch(book.tables(), monday))
    assert main([*argv, "--end", "2024-03-04", "--out", str(out), "--append"]) == 0
    assert "this run scored 1 date(s), 1 of them new" in capsys.readouterr().out
    full = score(store, day(0), day(63), market_caps=str(market_file))
    assert_same_panel(pl.read_parquet(out), full)
    assert main([*argv, "--end", "2024-03-04", "--out", str(tmp_path / "scores.csv"), "--append"]) == 2
    assert "--append needs a Parquet --out" in capsys.readouterr().err


def test_a_dated_universe_that_grows_rescores_only_its_new_dates(tmp_path):
    book = Book()
    book.filing(1, 10, day(3), [("P", 100.0, 10.0)])
    book.filing(2, 11, day(5), [("S", 50.0, 10.0)])
    market_caps = caps((1, day(0), 1e6), (2, day(0), 2e6))
    members = [(1, day(n)) for n in range(0, 40)] + [(2, day(n)) for n in range(0, 40, 2)]
    universe = pl.DataFrame({"issuer_cik": [m[0] for m in members], "date": [m[1] for m in members]})
    path = tmp_path / "scores.parquet"
    score_file(path, book.tables(), day(0), day(40), market_caps=market_caps, universe=universe)
    grown = pl.concat([universe, pl.DataFrame({"issuer_cik": [2], "date": [day(9)]})])
    result = score_file(
        path, book.tables(), day(0), day(40), market_caps=market_caps, universe=grown, append=True
    )
    assert (result.scored_dates, result.new_dates) == (1, 0)
    full = score(book.tables(), day(0), day(40), market_caps=market_caps, universe=grown)
    assert_same_panel(pl.read_parquet(path), full)
