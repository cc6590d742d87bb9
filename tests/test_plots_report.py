"""Charts and report rendering: valid, non-blank PNGs also when there is nothing to draw; number formats;
evaluate() end to end on small constructed frames, its tables written as Parquet with the provenance."""

from __future__ import annotations

import matplotlib.image
import numpy as np
import polars as pl
import pytest
from test_event_study import TRADES, WEEKDAYS_2021, prices_2021, transactions

from engine import provenance
from engine.errors import UserError
from engine.evaluation import plots
from engine.evaluation.event_study import heavy_selling_test
from engine.evaluation.prices import load_prices
from engine.evaluation.report import money, pct
from engine.evaluation.run import evaluate
from engine.evaluation.tearsheet import tear_sheet


def assert_png(path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
    pixels = matplotlib.image.imread(path)
    assert pixels.ndim == 3 and pixels.shape[0] > 200
    assert float(pixels[..., :3].std()) > 0.02


def test_charts_with_nothing_to_draw_still_say_why(tmp_path):
    prices = load_prices(prices_2021())
    study = heavy_selling_test(transactions([]), prices, bootstrap=0)
    empty_scores = pl.DataFrame(schema={"date": pl.Date, "ticker": pl.String, "insider": pl.Float64})
    sheet = tear_sheet(empty_scores, prices, horizons=[1, 5])
    empty_curve = pl.DataFrame(
        schema={
            "tau": pl.Int64,
            "mean_return": pl.Float64,
            "mean_abnormal": pl.Float64,
            "ci_low": pl.Float64,
            "ci_high": pl.Float64,
            "n": pl.Int64,
        }
    )
    for path in (
        plots.heavy_vs_other_distributions(study, tmp_path / "a.png"),
        plots.event_time({"cluster buys": empty_curve}, tmp_path / "b.png"),
        plots.cumulative_quantile_returns(sheet, tmp_path / "c.png"),
        plots.ic_over_time(sheet, tmp_path / "d.png"),
        plots.bucket_means(sheet, tmp_path / "e.png"),
        plots.event_time({"cluster buys": empty_curve}, tmp_path / "f.png", market="SPY"),
    ):
        assert_png(path)


def test_formats():
    assert money(1_678_000_000) == "$1,678M"
    assert money(-15_400_000) == "-$15M"
    assert money(2_440_000) == "$2.4M"
    assert money(-20_000) == "$0.0M"
    assert money(None) == "n/a"
    assert pct(-0.156) == "-15.6%" and pct(0.133) == "13.3%" and pct(None) == "n/a"


def test_evaluate_end_to_end_on_constructed_frames(tmp_path):
    rng = np.random.default_rng(5)
    tickers = ["AAA", "BBB", "CCC", "EEE"]
    raw = np.where(rng.random((len(WEEKDAYS_2021), 4)) < 0.7, 0.0, rng.normal(0, 1, (len(WEEKDAYS_2021), 4)))
    scores = pl.DataFrame(
        {
            "date": [d for d in WEEKDAYS_2021 for _ in tickers],
            "ticker": tickers * len(WEEKDAYS_2021),
            "raw": raw.ravel(),
            "insider": raw.ravel() * 2.0 - 0.1,
        }
    )
    result = evaluate(scores, prices_2021(), transactions=transactions(TRADES), bootstrap=500, min_names=3)
    assert result.tear_sheet.sign_column == "raw"  # chosen automatically for the engine's insider
    written = result.write(tmp_path)
    tables = [f"{name}.parquet" for name in result.frames()]
    assert {"ic.parquet", "ic_summary.parquet", "quantile_returns.parquet", "event_months.parquet"} <= set(
        tables
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [
            "report.md",
            "report.html",
            "heavy_vs_other.png",
            "event_time.png",
            "cumulative_quantile_returns.png",
            "bucket_mean_returns.png",
            "ic_over_time.png",
            *tables,
        ]
    )
    for name, frame in result.frames().items():
        assert pl.read_parquet(tmp_path / f"{name}.parquet").equals(frame), name
        assert provenance.read_parquet(tmp_path / f"{name}.parquet") == result.provenance
    for key in ("distributions", "event_time", "cumulative", "bucket_means", "ic"):
        assert_png(written[key])
    text = written["report"].read_text()
    for heading in (
        "## Heavy insider selling",
        "## Factor tear sheet: `insider`",
        "### Information coefficient",
    ):
        assert heading in text
    assert "![ic](ic_over_time.png)" in text
    assert "Transactions analyzed: 17" in result.summary()
    assert set(result.frames()) >= {"event_months", "ic", "quantile_returns", "turnover", "coverage"}
    # the frames are plain Polars DataFrames
    assert all(isinstance(f, pl.DataFrame) for f in result.frames().values())
    assert (
        result.event_time["heavy-selling months"].filter(pl.col("tau") == 0)["n"][0] == 6
    )  # AAA 2, 3, 4, 11; BBB 2; CCC 4


def test_evaluate_needs_something():
    with pytest.raises(UserError, match="nothing to evaluate"):
        evaluate(None, prices_2021())


def test_cli_user_mistakes_are_one_line_errors(tmp_path, capsys):
    from engine.cli.main import main

    prices = tmp_path / "prices.parquet"
    prices_2021().write_parquet(prices)
    scores = tmp_path / "scores.csv"
    scores.write_text("day,sym,px\n2021-01-04,AAA,1.0\n")
    not_a_dir = tmp_path / "report.md"
    not_a_dir.write_text("")
    cases = [
        (["--scores", str(scores), "--out", str(tmp_path / "out")], "score panel lacks columns ['date'"),
        (["--scores", str(scores), "--out", str(not_a_dir)], f"create the report directory {not_a_dir}"),
    ]
    for argv, message in cases:
        assert main(["evaluate", "--prices", str(prices), *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and "fix: " in err and "Traceback" not in err


@pytest.mark.parametrize("option", ["--seed", "--bootstrap", "--nw-lags", "--max-tickers"])
def test_cli_rejects_negative_counts(option, tmp_path, capsys):
    from engine.cli.main import main

    prices = tmp_path / "prices.parquet"
    prices_2021().write_parquet(prices)
    with pytest.raises(SystemExit) as exit_:
        main(["evaluate", "--prices", str(prices), "--out", str(tmp_path), option, "-1"])
    assert exit_.value.code == 2
    assert f"argument {option}: must be >= 0: -1" in capsys.readouterr().err
