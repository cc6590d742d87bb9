"""Research output: market-adjusted event-time curves with t bands (checked by hand), the long-short line
of the cumulative chart, the self-contained report.html, and that page rendered by headless Chromium:
not blank, every chart decoded."""

from __future__ import annotations

import math
import re
import shutil
import subprocess

import matplotlib.image
import numpy as np
import polars as pl
import pytest
from test_event_study import TRADES, WEEKDAYS_2021, d, prices_2021, transactions

from engine.evaluation import html
from engine.evaluation.event_time import event_time_returns
from engine.evaluation.prices import load_prices
from engine.evaluation.run import IMAGES, evaluate
from engine.evaluation.tearsheet import LONG_SHORT, t_quantile

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser") if shutil.which(name)), None)


def market_prices() -> pl.DataFrame:
    """``prices_2021`` plus an index series SPY = 300 + 0.2 i."""
    i = np.arange(len(WEEKDAYS_2021), dtype=float)
    return pl.concat(
        [prices_2021(), pl.DataFrame({"date": WEEKDAYS_2021, "ticker": "SPY", "close": 300 + 0.2 * i})]
    )


@pytest.mark.parametrize(
    "df, exact", [(1, 12.7062), (2, 4.3027), (3, 3.1824), (5, 2.5706), (10, 2.2281), (30, 2.0423)]
)
def test_t_quantiles(df, exact):
    assert t_quantile(0.975, df) == pytest.approx(exact, rel=2e-3)


def test_market_adjusted_event_time_with_its_band_by_hand():
    prices = load_prices(market_prices(), market="SPY")
    assert "SPY" not in prices.keys.to_list() and prices.market_name == "SPY"
    keys, dates = pl.Series(["AAA", "BBB", "CCC"]), pl.Series([d(3, 1), d(5, 3), d(7, 1)])
    curve = event_time_returns(prices, keys, dates, before=1, after=5)
    paths = {"AAA": lambda k: 100 + k, "BBB": lambda k: 200 - 0.5 * k, "CCC": lambda k: 50 + 0.5 * k}
    for row in curve.iter_rows(named=True):
        tau = row["tau"]
        values = []
        for ticker, day in zip(keys, dates, strict=True):
            i = WEEKDAYS_2021.index(day)
            stock = paths[ticker](i + tau) / paths[ticker](i) - 1
            values.append(stock - ((300 + 0.2 * (i + tau)) / (300 + 0.2 * i) - 1))
        mean, sd = np.mean(values), np.std(values, ddof=1)
        half = t_quantile(0.975, 2) * sd / math.sqrt(3)
        assert row["n"] == 3 and row["mean_abnormal"] == pytest.approx(mean, abs=1e-15)
        if tau == 0:
            assert row["ci_low"] == row["ci_high"] == 0.0
        else:
            assert (row["ci_low"], row["ci_high"]) == pytest.approx((mean - half, mean + half), rel=1e-12)
    raw = event_time_returns(load_prices(prices_2021()), keys, dates, before=1, after=5)
    assert raw["mean_abnormal"].null_count() == raw.height  # no market: raw returns, banded
    assert raw["mean_return"].to_list() == pytest.approx(curve["mean_return"].to_list())


def report(tmp_path):
    rng = np.random.default_rng(5)
    tickers = ["AAA", "BBB", "CCC", "EEE"]
    raw = np.where(rng.random((len(WEEKDAYS_2021), 4)) < 0.7, 0.0, rng.normal(0, 1, (len(WEEKDAYS_2021), 4)))
    scores = pl.DataFrame(
        {
            "date": [day for day in WEEKDAYS_2021 for _ in tickers],
            "ticker": tickers * len(WEEKDAYS_2021),
            "raw": raw.ravel(),
            "insider": raw.ravel() * 2.0 - 0.1,
        }
    )
    result = evaluate(
        scores, market_prices(), transactions=transactions(TRADES), bootstrap=200, min_names=3, market="SPY"
    )
    return result, result.write(tmp_path / "out")


def test_cumulative_chart_data_has_the_long_short_line(tmp_path):
    result, _ = report(tmp_path)
    sheet = result.tear_sheet
    one_day = sheet.quantile_returns.filter(pl.col("horizon") == 1)
    top = one_day.filter(pl.col("bucket") == sheet.buckets[-1])["mean_return"].fill_null(np.nan).to_numpy()
    bottom = one_day.filter(pl.col("bucket") == sheet.buckets[0])["mean_return"].fill_null(np.nan).to_numpy()
    expected = np.cumprod(1 + np.nan_to_num(top - bottom, nan=0.0))
    got = sheet.cumulative.filter(pl.col("bucket") == LONG_SHORT)["cumulative"].to_numpy()
    assert got == pytest.approx(expected, rel=1e-12)
    assert (sheet.quantile_summary["se_nw"].drop_nulls() > 0).all()


def test_report_html_is_self_contained(tmp_path):
    result, written = report(tmp_path)
    page = written["html"].read_text()
    markdown = written["report"].read_text()
    charts = re.findall(r"^!\[(\w+)\]\(([^)]+)\)$", markdown, flags=re.M)
    assert sorted(name for name, _ in charts) == sorted(IMAGES)
    assert page.count('src="data:image/png;base64,') == len(IMAGES)
    assert not re.search(r"""(src|href)=["'](?!data:)""", page)  # nothing fetched from anywhere
    assert "<table>" in page and "<h2>Event-time returns</h2>" in page and "minus SPY" in markdown
    assert "| cluster buys | 0 |" in markdown or "| heavy-selling months | 0 |" in markdown
    assert html.render("a `b<c>` d\n\n![x](none.png)", tmp_path, title="t").count("was not written") == 1


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (Debian package chromium; .ci/run installs it)")
def test_report_html_renders_in_headless_chromium(tmp_path):
    _, written = report(tmp_path)
    page = written["html"]
    probe = page.with_name("probe.html")
    script = (
        "<script>window.addEventListener('load', () => { for (const img of document.images) "
        "img.setAttribute('data-natural-width', img.naturalWidth); "
        "document.body.setAttribute('data-height', document.documentElement.scrollHeight); });</script>"
    )
    probe.write_text(page.read_text().replace("</body>", script + "</body>"))
    flags = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    dom = subprocess.run(
        [*flags, "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    widths = [int(w) for w in re.findall(r'data-natural-width="(\d+)"', dom)]
    assert len(widths) == len(IMAGES) and all(w > 500 for w in widths), widths  # every chart decoded
    height = int(re.search(r'data-height="(\d+)"', dom).group(1))
    shot = tmp_path / "page.png"
    subprocess.run(
        [*flags, f"--window-size=1200,{height}", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[0] == height and pixels.shape[1] == 1200
    inked = pixels.mean(axis=2) < 0.9
    assert inked.mean() > 0.03 and pixels.std() > 0.1  # text and charts, not a blank page
    colours = np.unique((pixels[::4, ::4] * 15).round().reshape(-1, 3), axis=0)
    assert len(colours) > 40  # the charts' colours, not only black text on white
