"""The 608 real filings ingested into a store and scored end to end, with market caps from real closes
x shares outstanding (tests/fixtures/prices), checked against the reference and through the CLI."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from test_scoring_properties import assert_match

from engine.cli.main import main
from engine.errors import UserError
from engine.evaluation.compare import compare
from engine.scoring.incremental import score_file
from engine.scoring.market_caps import load_market_caps
from engine.scoring.reference import reference_score
from engine.scoring.run import score, score_asof, score_run
from engine.scoring.universe import filing_events
from engine.store.datasets import Store
from engine.store.ingest import ingest

PRICES = Path(__file__).parent / "fixtures" / "prices"


@pytest.fixture(scope="module")
def store(filings_dir, tmp_path_factory) -> Store:
    root = tmp_path_factory.mktemp("scored_store")
    store = Store(root)
    ingest([filings_dir], store, workers=1)
    return store


@pytest.fixture(scope="module")
def market_file(tmp_path_factory) -> Path:
    """Closes (Alpha Vantage to 2020-09, yfinance after) x the 2024 snapshot's shares, by ticker."""
    old = pl.read_parquet(PRICES / "av_daily_9_1999_2020.parquet").filter(
        pl.col("date") < dt.date(2020, 9, 28)
    )
    closes = pl.concat([old, pl.read_parquet(PRICES / "yf_daily_34_us_2020_2025.parquet")])
    shares = pl.read_csv(PRICES / "sp500_snapshot_2024_shares.csv").select("ticker", "shares_outstanding")
    path = tmp_path_factory.mktemp("market") / "caps.parquet"
    closes.join(shares, on="ticker").write_parquet(path)
    return path


def test_real_filings_score_like_the_reference(store, market_file):
    run = score_run(store, "2024-01-01", "2024-12-31", market_caps=market_file)
    frame = run.frame
    assert frame.height > 0 and frame["date"].n_unique() == 262
    msft = frame.filter((pl.col("ticker") == "MSFT") & (pl.col("date") == dt.date(2024, 4, 1)))
    assert msft["n_buys"].item() + msft["n_sells"].item() > 0 and msft["null_reason"].item() is None
    no_cap = frame.filter(pl.col("null_reason").is_not_null())
    assert no_cap.height and no_cap["raw"].null_count() == no_cap.height == no_cap["insider"].null_count()
    assert any("no market cap" in note for note in run.notes)
    assert frame.filter(pl.col("raw").is_null() & pl.col("null_reason").is_null()).height == 0

    tables = {name: store.scan(name) for name in ("filings", "owners", "transactions", "footnotes")}
    caps = load_market_caps(market_file, filing_events(tables["filings"], dt.date(2024, 12, 31)))
    dates = [dt.date(2024, 3, 28), dt.date(2024, 5, 31), dt.date(2024, 12, 2)]
    fast = frame.filter(pl.col("date").is_in(dates))
    assert_match(fast, reference_score(tables, dates, caps))


def test_tesla_sales_of_late_2021_score_negative(store, market_file):
    out = score_asof(store, "2021-12-31", market_caps=market_file)
    tsla = out.filter(pl.col("ticker") == "TSLA")
    assert tsla["n_sells"].item() > 100 and tsla["sells"].item() > 0 and tsla["raw"].item() < 0
    assert tsla["insider"].item() < 0 and tsla["pct"].item() == out["pct"].min()


def test_score_command_writes_the_panel_and_a_summary(store, market_file, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    code = main(
        [
            "score",
            "--store",
            str(store.root),
            "--start",
            "2021-12-01",
            "--end",
            "2021-12-31",
            "--market-caps",
            str(market_file),
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0 and "issuers x 23 dates" in printed and "top:" in printed and "TSLA" in printed
    assert "note:" in printed
    assert pl.read_csv(out).height > 0


def test_score_command_reports_a_missing_shares_table(store, tmp_path, capsys):
    code = main(
        [
            "score",
            "--store",
            str(store.root),
            "--start",
            "2021-12-01",
            "--end",
            "2021-12-31",
            "--out",
            str(tmp_path / "x.parquet"),
        ]
    )
    assert code == 2 and "no shares_outstanding table" in capsys.readouterr().err


def test_score_command_names_an_output_directory_it_cannot_create(store, market_file, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    argv = ["score", "--store", str(store.root), "--start", "2021-12-01", "--end", "2021-12-31"]
    code = main([*argv, "--market-caps", str(market_file), "--out", str(blocker / "scores.parquet")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot create the directory of --out" in err and "fix:" in err


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_score_command_refuses_an_out_that_is_a_directory_before_scoring(
    store, market_file, tmp_path, capsys, monkeypatch, suffix
):
    out = tmp_path / f"scores{suffix}"
    out.mkdir()
    monkeypatch.setattr("engine.scoring.run.trade_events", lambda *a, **k: pytest.fail("scored anyway"))
    argv = ["score", "--store", str(store.root), "--start", "2021-12-01", "--end", "2021-12-31"]
    code = main([*argv, "--market-caps", str(market_file), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and f"--out {out} is a directory" in err and "fix:" in err
    assert len(err.strip().splitlines()) == 2 and list(tmp_path.iterdir()) == [out]


def test_score_file_and_compare_refuse_a_directory_as_their_file(store, market_file, tmp_path):
    out = tmp_path / "panel.parquet"
    out.mkdir()
    with pytest.raises(UserError, match="is a directory"):
        score_file(out, store, "2021-12-01", "2021-12-31", market_caps=market_file)
    assert list(tmp_path.iterdir()) == [out]
    panel = score(store, "2021-12-01", "2021-12-31", market_caps=market_file)
    with pytest.raises(UserError, match="is a directory"):
        compare(panel, panel).write_mismatches(out)
