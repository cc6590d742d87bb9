"""Charts and report rendering: PNGs of the figure's size showing what each chart was given, also when
there is nothing to draw (then saying why); number formats; evaluate() end to end on small constructed
frames, its tables written as Parquet with the provenance."""

from __future__ import annotations

import struct
from pathlib import Path

import matplotlib.image
import numpy as np
import polars as pl
import pytest
from matplotlib.figure import Figure
from test_event_study import TRADES, WEEKDAYS_2021, prices_2021, transactions

from engine import provenance
from engine.errors import UserError
from engine.evaluation import plots
from engine.evaluation.event_study import heavy_selling_test
from engine.evaluation.prices import load_prices
from engine.evaluation.report import money, pct
from engine.evaluation.run import evaluate
from engine.evaluation.tearsheet import tear_sheet

WIDE = (990, 528)
"""Pixels of a 9 x 4.8 inch chart at 110 dpi."""
RED = (0xCC, 0x33, 0x33)
"""The first curve's colour (#c33)."""


def assert_png(path: Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """A PNG (of ``size`` (width, height) pixels when given), not one flat colour; returns its RGB pixels."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert size is None or (width, height) == size
    pixels = matplotlib.image.imread(path)[..., :3]
    assert pixels.shape[:2] == (height, width)
    assert float(pixels.std()) > 0.02
    return pixels


def plot_area(pixels: np.ndarray, figure: Figure, axes: int = 0) -> np.ndarray:
    """The pixels inside one axes' frame."""
    x0, y0, x1, y1 = figure.axes[axes].get_window_extent().extents
    height = pixels.shape[0]
    return pixels[round(height - y1) : round(height - y0), round(x0) : round(x1)]


def pixels_of(area: np.ndarray, rgb: tuple[int, int, int]) -> int:
    """How many pixels have exactly this colour (to 1/255)."""
    return int((np.abs(area * 255 - np.array(rgb)) < 1.5).all(axis=-1).sum())


@pytest.fixture
def drawn(monkeypatch) -> dict[str, Figure]:
    """Every figure engine.plots saves, by file name: a spy that records it and calls the real save."""
    figures: dict[str, Figure] = {}
    save = plots._save

    def recording_save(figure: Figure, path: Path) -> Path:
        figures[path.name] = figure
        return save(figure, path)

    monkeypatch.setattr(plots, "_save", recording_save)
    return figures


def test_charts_with_nothing_to_draw_still_say_why(tmp_path, drawn):
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


def test_event_time_chart_draws_the_curve_and_band_it_is_given(tmp_path, drawn):
    curve = pl.DataFrame(
        {
            "tau": [-1, 0, 1, 2],
            "mean_return": [-0.01, 0.0, 0.02, 0.05],
            "mean_abnormal": [-0.02, 0.0, 0.01, 0.03],
            "ci_low": [-0.03, 0.0, -0.01, None],
            "ci_high": [0.01, 0.0, 0.05, None],
            "n": [2, 2, 2, 1],
        }
    )
    pixels = assert_png(plots.event_time({"cluster buys": curve}, tmp_path / "e.png"), WIDE)
    [ax] = drawn["e.png"].axes
    line = ax.lines[0]
    assert (line.get_xdata().tolist(), line.get_ydata().tolist()) == ([-1, 0, 1, 2], [-0.01, 0.0, 0.02, 0.05])
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["cluster buys (2 events)"]
    assert ax.get_xlabel() == "trading days from the event close"
    assert ax.get_ylabel() == "mean cumulative return"
    [band] = ax.collections  # the 95% band over the three days that have one
    xs = band.get_paths()[0].vertices[:, 0]
    assert (xs.min(), xs.max()) == (-1, 1)
    assert pixels_of(plot_area(pixels, drawn["e.png"]), RED) > 500
    plots.event_time({"cluster buys": curve}, tmp_path / "m.png", market="SPY")
    [ax] = drawn["m.png"].axes
    assert ax.lines[0].get_ydata().tolist() == [-0.02, 0.0, 0.01, 0.03]
    assert ax.get_ylabel() == "mean cumulative return minus SPY's"


def test_heavy_vs_other_chart_labels_the_hand_computed_groups(tmp_path, drawn):
    """Group sizes and means of test_event_study's hand-computed study: heavy months AAA 2, 3, 4, BBB 2,
    CCC 4 average 26.85%; the six other months 36.74%."""
    study = heavy_selling_test(transactions(TRADES), load_prices(prices_2021()), bootstrap=0)
    pixels = assert_png(plots.heavy_vs_other_distributions(study, tmp_path / "h.png"), WIDE)
    [ax] = drawn["h.png"].axes
    assert [text.get_text() for text in ax.texts] == ["n=6, mean 36.7%", "n=5, mean 26.9%"]
    means = [line.get_ydata()[0] for line in ax.lines if line.get_linewidth() == 1.5]  # the mean bars
    assert means == pytest.approx([0.36737225943, 0.26851682971])
    assert [len(points.get_offsets()) for points in ax.collections] == [6, 5]
    assert float(plot_area(pixels, drawn["h.png"]).std()) > 0.05


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
