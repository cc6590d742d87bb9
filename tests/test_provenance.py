"""Provenance: the config as TOML that reads back to the same config; `insider score` writes the engine
version, config, store facts and market-cap source into the score file's Parquet metadata, and `insider
evaluate` carries them into report.md and its Parquet tables."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import polars as pl
import pytest

from engine import provenance
from engine.cli.main import main
from engine.errors import UserError
from engine.scoring.config import ScoreConfig
from engine.store.datasets import Store

PRICES = Path(__file__).parent / "fixtures" / "prices"
TESLA_FILINGS = [  # three bare XML Form 4s of November 2021 (no filing date) and a full submission of 2022
    "0000899243-21-044060.xml",
    "0000899243-21-044225.xml",
    "0000899243-21-044232.xml",
    "0000899243-22-035394.txt",
]


@pytest.mark.parametrize(
    "config",
    [
        ScoreConfig(),
        ScoreConfig(winsorize=0.01, exclude_routine=True, score_method="rank", ddof=1, include_form5=True),
        ScoreConfig(
            role_weights={"ceo": 2.5, "other": 0.0},
            plan_pattern='10b5-1|"plan"\\s+\u2013 adopted',
            buy_codes=("P", "A"),
            plan_weight=0.5,
        ),
    ],
)
def test_the_config_toml_reads_back_to_the_same_config(config, tmp_path):
    text = provenance.config_toml(config)
    assert ScoreConfig.from_mapping(tomllib.loads(text)) == config
    path = tmp_path / "c.toml"
    path.write_text(text, encoding="utf-8")
    assert ScoreConfig.from_toml(path) == config


@pytest.fixture(scope="module")
def store(filings_dir, tmp_path_factory) -> Path:
    """Four Tesla Form 4s, ingested through the CLI."""
    folder = tmp_path_factory.mktemp("filings")
    for name in TESLA_FILINGS:
        shutil.copy(filings_dir / name, folder / name)
    root = tmp_path_factory.mktemp("provenance") / "store"
    assert main(["ingest", str(folder), "--store", str(root)]) == 0
    return root


@pytest.fixture(scope="module")
def caps(tmp_path_factory) -> Path:
    closes = pl.read_parquet(PRICES / "yf_daily_34_us_2020_2025.parquet")
    shares = pl.read_csv(PRICES / "sp500_snapshot_2024_shares.csv").select("ticker", "shares_outstanding")
    path = tmp_path_factory.mktemp("caps") / "caps.csv"
    closes.join(shares, on="ticker").write_csv(path)
    return path


def test_the_score_file_records_what_produced_it(store, caps, tmp_path, capsys):
    config = tmp_path / "variant.toml"
    config.write_text("winsorize = 0.02\nflow_window = 60\n")
    out = tmp_path / "scores.parquet"
    argv = ["score", "--store", str(store), "--start", "2021-11-01", "--end", "2021-12-31"]
    assert main([*argv, "--market-caps", str(caps), "--config", str(config), "--out", str(out)]) == 0
    capsys.readouterr()
    metadata = provenance.read_parquet(out)
    assert metadata[provenance.VERSION] == provenance.engine_version()
    expected = ScoreConfig(winsorize=0.02, flow_window=60)
    assert ScoreConfig.from_mapping(tomllib.loads(metadata[provenance.CONFIG])) == expected
    filings = Store(store).scan("filings").collect()
    assert metadata[provenance.STORE_FILING_COUNT] == str(filings.height) == str(len(TESLA_FILINGS))
    assert metadata[provenance.STORE_LAST_FILING_DATE] == str(Store(store).last_filing_date()) == "2022-11-08"
    assert metadata[provenance.STORE_LAST_AVAILABLE_DATE] == str(filings["available_date"].max())
    assert metadata[provenance.MARKET_CAPS] == f"market_caps file {caps}"
    assert pl.read_parquet(out).height > 0  # the data is untouched by the metadata

    report_dir = tmp_path / "eval"
    argv = ["evaluate", "--store", str(store), "--prices", str(PRICES / "yf_daily_34_us_2020_2025.parquet")]
    assert main([*argv, "--scores", str(out), "--out", str(report_dir), "--bootstrap", "100"]) == 0
    printed = capsys.readouterr().out
    assert "Parquet tables beside them" in printed
    report = (report_dir / "report.md").read_text()
    assert f"- scores: file {out}" in report and f"- market caps: market_caps file {caps}" in report
    assert f"- store filings: {len(TESLA_FILINGS)}" in report and "flow_window = 60" in report
    assert f"- transactions: store {store} ({len(TESLA_FILINGS)} filings, last filed" in report
    for table in ("ic", "ic_summary", "quantile_returns", "event_months"):
        written = provenance.read_parquet(report_dir / f"{table}.parquet")
        assert written[provenance.CONFIG] == metadata[provenance.CONFIG]
        assert written[provenance.SCORED_BY] == metadata[provenance.VERSION]


def test_unreadable_metadata_is_a_user_error(tmp_path):
    broken = tmp_path / "scores.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(UserError, match=f"cannot read the metadata of {broken}"):
        provenance.read_parquet(broken)
