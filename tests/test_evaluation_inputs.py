"""evaluate() at the API boundary: scores, prices and transactions as pandas or pyarrow tables give the
Polars results; a ScoreRun or a Parquet score file brings its provenance into report.md and every table."""

from __future__ import annotations

import datetime as dt
import tomllib

import numpy as np
import pandas as pd
import polars as pl
import pytest
from scoring_tables import Book
from test_event_study import TRADES, WEEKDAYS_2021, prices_2021, transactions

from engine import provenance
from engine.errors import UserError
from engine.evaluation.event_study import cluster_buy_events, heavy_selling_test
from engine.evaluation.prices import load_prices
from engine.evaluation.run import evaluate
from engine.evaluation.tearsheet import tear_sheet
from engine.scoring.config import ScoreConfig
from engine.scoring.run import score_run


def scores() -> pl.DataFrame:
    rng = np.random.default_rng(7)
    tickers = ["AAA", "BBB", "CCC", "EEE"]
    raw = np.where(rng.random((len(WEEKDAYS_2021), 4)) < 0.6, 0.0, rng.normal(0, 1, (len(WEEKDAYS_2021), 4)))
    return pl.DataFrame(
        {
            "date": [d for d in WEEKDAYS_2021 for _ in tickers],
            "ticker": tickers * len(WEEKDAYS_2021),
            "raw": raw.ravel(),
            "insider": raw.ravel() * 2.0,
        }
    )


def run(score_table, price_table, trades):
    return evaluate(
        score_table, price_table, transactions=trades, bootstrap=200, min_names=3, horizons=[1, 5]
    )


def test_pandas_and_pyarrow_inputs_give_the_polars_results():
    expected = run(scores(), prices_2021(), transactions(TRADES))
    as_pandas = run(scores().to_pandas(), prices_2021().to_pandas(), transactions(TRADES).to_pandas())
    as_arrow = run(scores().to_arrow(), prices_2021().to_arrow(), transactions(TRADES).to_arrow())
    for result in (as_pandas, as_arrow):
        assert result.frames().keys() == expected.frames().keys()
        for name, frame in expected.frames().items():
            assert result.frames()[name].equals(frame), name
    # and back out: every result table is a Polars frame with a .to_pandas()
    assert isinstance(as_pandas.tear_sheet.ic_summary.to_pandas(), pd.DataFrame)


def test_the_evaluation_pieces_take_pandas_too():
    prices = load_prices(prices_2021().to_pandas())
    trades = transactions(TRADES)
    study = heavy_selling_test(trades.to_pandas(), prices, bootstrap=100)
    assert study.months.equals(heavy_selling_test(trades, prices, bootstrap=100).months)
    assert cluster_buy_events(trades.to_arrow()).equals(cluster_buy_events(trades))
    sheet = tear_sheet(scores().to_pandas(), prices, horizons=[1], min_names=3)
    assert sheet.ic.equals(tear_sheet(scores(), prices, horizons=[1], min_names=3).ic)


def test_a_pandas_score_panel_indexed_by_date():
    indexed = scores().to_pandas().set_index("date")
    result = run(indexed, prices_2021(), None)
    assert result.tear_sheet.ic_summary.equals(run(scores(), prices_2021(), None).tear_sheet.ic_summary)


def test_bad_score_tables_name_the_argument(tmp_path):
    with pytest.raises(UserError, match="scores: column 'date' has type Int64, not dates"):
        run(
            scores().with_columns(pl.lit(20210104, dtype=pl.Int64).alias("date")).to_pandas(),
            prices_2021(),
            None,
        )
    with pytest.raises(UserError, match="score panel lacks columns \\['insider'\\]"):
        run(scores().drop("insider").to_pandas(), prices_2021(), None)
    with pytest.raises(UserError, match=f"scores file not found: {tmp_path / 'none.parquet'}"):
        run(tmp_path / "none.parquet", prices_2021(), None)
    with pytest.raises(UserError, match="transactions: a list is not a table"):
        run(None, prices_2021(), [1, 2])


def scored() -> tuple:
    """A ScoreRun on 2021 weekdays of a two-issuer book (tickers AAA and BBB of the price table)."""
    book = Book()
    book.filing(1, 100, dt.date(2021, 1, 5), [("P", 1000, 10.0)], ticker="AAA")
    book.filing(2, 200, dt.date(2021, 2, 5), [("S", 1000, 10.0)], ticker="BBB")
    caps = pd.DataFrame({"issuer_cik": [1, 2], "date": [dt.date(2021, 1, 1)] * 2, "market_cap": [1e8, 2e8]})
    config = ScoreConfig(winsorize=0.05)
    return score_run(book.tables(), dates=WEEKDAYS_2021, market_caps=caps, config=config), config


def test_a_score_run_brings_its_provenance_into_the_report_and_the_tables(tmp_path):
    score, config = scored()
    assert score.provenance == {
        provenance.VERSION: provenance.engine_version(),
        provenance.CONFIG: provenance.config_toml(config),
        provenance.STORE_LAST_FILING_DATE: "2021-02-04",  # the day before it became available
        provenance.STORE_LAST_AVAILABLE_DATE: "2021-02-05",
        provenance.STORE_FILING_COUNT: "2",
        provenance.MARKET_CAPS: "market_caps (pandas DataFrame)",
    }
    result = evaluate(score, prices_2021(), min_names=1, horizons=[1])
    assert result.provenance[provenance.SCORES] == "scored in this run"
    assert result.provenance[provenance.SCORED_BY] == provenance.engine_version()
    assert result.provenance[provenance.CONFIG] == provenance.config_toml(config)
    written = result.write(tmp_path)
    text = written["report"].read_text()
    assert "## Provenance" in text and "winsorize = 0.05" in text and "```toml" in text
    assert "- store filings: 2" in text and "- store's last filing date: 2021-02-04" in text
    assert "- market caps: market_caps (pandas DataFrame)" in text
    metadata = provenance.read_parquet(written["table:ic_summary"])
    assert ScoreConfig.from_mapping(tomllib.loads(metadata[provenance.CONFIG])) == config


def test_a_parquet_score_file_keeps_its_provenance_through_evaluate(tmp_path):
    score, config = scored()
    path = tmp_path / "scores.parquet"
    provenance.write_parquet(score.frame, path, score.provenance)
    result = evaluate(path, prices_2021(), min_names=1, horizons=[1])
    assert result.provenance[provenance.SCORES] == f"file {path}"
    for key in (provenance.CONFIG, provenance.STORE_FILING_COUNT, provenance.MARKET_CAPS):
        assert result.provenance[key] == score.provenance[key]
    plain = tmp_path / "plain.parquet"
    score.frame.write_parquet(plain)
    bare = evaluate(plain, prices_2021(), min_names=1, horizons=[1]).provenance
    assert bare == {provenance.VERSION: provenance.engine_version(), provenance.SCORES: f"file {plain}"}
