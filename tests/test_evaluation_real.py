"""The whole evaluation on real data: the fixture filings ingested into a fresh store, the real daily price
file, the engine's own scores. Every number checked here is recomputed independently in plain Python from
the store's rows and the raw price file, then looked up in the written report."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from pathlib import Path

import matplotlib.image
import numpy as np
import polars as pl
import pytest

from engine.cli.main import main
from engine.evaluation.run import IMAGES, evaluate
from engine.scoring.run import score
from engine.store.datasets import Store
from engine.store.ingest import ingest

pytestmark = pytest.mark.slow

PRICES = Path(__file__).parent / "fixtures" / "prices"
YF = PRICES / "yf_daily_34_us_2020_2025.parquet"
SHARES = PRICES / "sp500_snapshot_2024_shares.csv"
NULL_TICKERS = {"", "NONE", "N/A", "NA", "-"}


@pytest.fixture(scope="module")
def store(tmp_path_factory, filings_dir) -> Path:
    root = tmp_path_factory.mktemp("real") / "store"
    report = ingest([filings_dir], Store(root), workers=1)
    assert report.filings == 608
    return root


@pytest.fixture(scope="module")
def rows(store) -> list[dict]:
    return Store(store).scan("transactions").collect().to_dicts()


@pytest.fixture(scope="module")
def price_table() -> tuple[list[dt.date], dict[str, dict[dt.date, float]]]:
    closes: dict[str, dict[dt.date, float]] = defaultdict(dict)
    for date, ticker, close in pl.read_parquet(YF).iter_rows():
        closes[ticker][date] = close
    calendar = sorted({d for series in closes.values() for d in series})
    return calendar, closes


def independent_event_test(rows, calendar, closes, horizon=63):
    """The published method written out with loops, dicts and numpy.percentile."""
    amended_on = defaultdict(list)  # the score's rule: a 4/A supersedes from its own available date on
    for r in rows:
        key = (r["issuer_cik"], r["insider_cik"], r["period_of_report"])
        if r["document_type"] == "4/A" and r["available_date"] is not None and None not in key:
            amended_on[key].append(r["available_date"])
    labels: dict[int, tuple] = {}
    for r in rows:
        t = (r["ticker"] or "").strip().upper()
        if r["issuer_cik"] is None or t in NULL_TICKERS:
            continue
        rank = (r["available_date"] or dt.date.min, r["accession"])
        if r["issuer_cik"] not in labels or rank > labels[r["issuer_cik"]][0]:
            labels[r["issuer_cik"]] = (rank, t)
    candidates = [
        r
        for r in rows
        if r["document_type"] in ("4", "4/A")
        and not r["is_derivative"]
        and not r["is_holding"]
        and r["transaction_code"] in ("S", "P")
        and r["shares"] is not None
        and math.isfinite(r["shares"])
        and r["shares"] > 0
        and r["available_date"] is not None
        and r["issuer_cik"] is not None
    ]
    judged: dict[tuple, dt.date] = {}  # a month is judged when its last trade is public
    for r in candidates:
        key = (r["issuer_cik"], r["available_date"].replace(day=1))
        judged[key] = max(judged.get(key, r["available_date"]), r["available_date"])
    eligible, superseded = [], []
    for r in candidates:
        later = [
            a
            for a in amended_on[(r["issuer_cik"], r["insider_cik"], r["period_of_report"])]
            if a > r["available_date"]
        ]
        month = (r["issuer_cik"], r["available_date"].replace(day=1))
        (superseded if later and min(later) <= judged[month] else eligible).append(r)
    net: dict[tuple, float] = defaultdict(float)
    public: dict[tuple, dt.date] = {}
    for r in eligible:
        value = r["shares"] * (r["price"] or 0.0)
        month = r["available_date"].replace(day=1)
        key = (r["issuer_cik"], month)
        net[key] += value if r["transaction_code"] == "S" else -value
        public[key] = max(public.get(key, month), r["available_date"])
    positives = defaultdict(list)
    for (issuer, _), v in net.items():
        if v > 0:
            positives[issuer].append(v)
    months = []
    for (issuer, month), v in net.items():
        heavy = v > 0 and v >= np.percentile(positives[issuer], 75)
        ticker = labels.get(issuer, (None, None))[1]
        following = (month + dt.timedelta(days=32)).replace(day=1)
        before = [d for d in calendar if d < following]
        fwd = None
        if ticker in closes and before and before[-1] >= month and calendar[-1] >= following:
            i = calendar.index(before[-1])
            if public[(issuer, month)] > calendar[i]:  # made public after the month's last close
                later = [k for k, d in enumerate(calendar) if d >= public[(issuer, month)]]
                i = later[0] if later else len(calendar)
            if i + horizon < len(calendar):
                start, end = closes[ticker].get(calendar[i]), closes[ticker].get(calendar[i + horizon])
                if start is not None and end is not None:
                    fwd = end / start - 1
        months.append({"issuer": issuer, "ticker": ticker, "net": v, "heavy": heavy, "fwd": fwd})
    return eligible, superseded, months


def test_event_test_numbers_come_from_the_data(store, rows, price_table, tmp_path):
    calendar, closes = price_table
    eligible, superseded, months = independent_event_test(rows, calendar, closes)
    result = evaluate(None, YF, transactions=Store(store).scan("transactions"), bootstrap=2000, seed=3)
    written = result.write(tmp_path / "out")
    text = written["report"].read_text()
    summary = result.summary(max_tickers=None)

    heavy = [m["fwd"] for m in months if m["heavy"] and m["fwd"] is not None]
    other = [m["fwd"] for m in months if not m["heavy"] and m["fwd"] is not None]
    assert len(rows) == 3594 and len(eligible) > 1000 and len(heavy) >= 5 and len(other) >= 5
    expected_lines = [
        f"Transactions analyzed: {len(eligible):,}",
        f"Event months with forward returns: {len(heavy) + len(other):,}",
        f"Heavy-selling months: {len(heavy):,}, avg forward return {sum(heavy) / len(heavy):.1%}",
        f"Other insider-active months: {len(other):,}, avg forward return {sum(other) / len(other):.1%}",
        f"Heavy-minus-other spread: {sum(heavy) / len(heavy) - sum(other) / len(other):.1%}",
    ]
    for line in expected_lines:
        assert line in summary.splitlines()
        assert line in text
    assert f"{len(rows):,} transaction rows; {len(eligible):,} open-market S/P rows" in text
    assert f"{len(superseded):,} superseded by a later 4/A" in text
    no_window = sum(1 for m in months if m["fwd"] is None)
    assert f"Insider-active months without a forward return: {no_window:,} (" in summary

    # Welch t from the same two samples, textbook formula
    va = np.var(heavy, ddof=1) / len(heavy)
    vb = np.var(other, ddof=1) / len(other)
    t = (np.mean(heavy) - np.mean(other)) / math.sqrt(va + vb)
    assert f"Welch t= {t:.2f} " in summary

    # one line per ticker with an event month, numbers recomputed per ticker
    by_ticker = defaultdict(lambda: {"net": 0.0, "heavy": [], "other": []})
    for m in months:
        entry = by_ticker[m["ticker"]]
        entry["net"] += m["net"]
        if m["fwd"] is not None:
            entry["heavy" if m["heavy"] else "other"].append(m["fwd"])
    shown = [t for t, e in by_ticker.items() if e["heavy"] or e["other"]]
    assert {"TSLA", "PLTR"} <= set(shown)
    for ticker in shown:
        e = by_ticker[ticker]
        h = sum(e["heavy"]) / len(e["heavy"]) if e["heavy"] else None
        o = sum(e["other"]) / len(e["other"]) if e["other"] else None
        millions = abs(e["net"]) / 1e6
        money = f"${millions:,.0f}M" if millions >= 10 else f"${millions:,.1f}M"
        money = ("-" if e["net"] < 0 and round(millions, 1) > 0 else "") + money
        line = (
            f"net_sell= {money}  heavy_months= {len(e['heavy'])}  "
            f"heavy_fwd= {'n/a' if h is None else f'{h:.1%}'}  "
            f"other_fwd= {'n/a' if o is None else f'{o:.1%}'}  "
            f"spread= {'n/a' if h is None or o is None else f'{h - o:.1%}'}"
        )
        matching = [x for x in summary.splitlines() if x.startswith(ticker + " ")]
        assert len(matching) == 1 and matching[0].endswith(line), (ticker, matching, line)
    spreads = [
        float(x.rsplit("spread= ", 1)[1].rstrip("%"))
        for x in summary.splitlines()
        if "spread= " in x and not x.rstrip().endswith("n/a")
    ]
    assert spreads == sorted(spreads)

    # tickers without prices are named, not dropped
    unpriced = sorted({m["ticker"] for m in months if m["ticker"] is not None and m["ticker"] not in closes})
    assert f"Securities without prices: {', '.join(unpriced)}." in text
    assert_pngs(written, ["distributions", "event_time"])


def assert_pngs(written: dict[str, Path], keys: list[str]) -> None:
    for key in keys:
        path = written[key]
        assert path.name == IMAGES[key]
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
        pixels = matplotlib.image.imread(path)
        assert pixels.shape[0] > 300 and pixels.shape[1] > 600
        assert float(pixels[..., :3].std()) > 0.05  # drawn, not blank


@pytest.fixture(scope="module")
def real_scores(store) -> pl.DataFrame:
    prices = pl.read_parquet(YF)
    caps = prices.join(pl.read_csv(SHARES).select("ticker", "shares_outstanding"), on="ticker")
    return score(store, market_caps=caps, dates=sorted(prices["date"].unique().to_list()))


def test_tear_sheet_on_the_engines_scores(store, real_scores, price_table, tmp_path):
    calendar, closes = price_table
    result = evaluate(real_scores, YF, horizons=(1, 21), min_names=3)
    sheet = result.tear_sheet
    written = result.write(tmp_path / "out")
    text = written["report"].read_text()

    # independent 21-day rank IC: per date, Spearman over tickers with a score and both closes
    ranked = real_scores.filter(pl.col("insider").is_not_null())
    per_date = defaultdict(list)
    for date, ticker, value in ranked.select("date", "ticker", "insider").iter_rows():
        per_date[date].append((ticker, value))
    index = {d: i for i, d in enumerate(calendar)}
    ics = []
    for date in sorted(per_date):
        if date not in index or index[date] + 21 >= len(calendar):
            continue
        end = calendar[index[date] + 21]
        pairs = [
            (v, closes[t][end] / closes[t][date] - 1)
            for t, v in per_date[date]
            if t in closes and date in closes[t] and end in closes[t]
        ]
        if len(pairs) < 3:
            continue
        x = pl.Series([p[0] for p in pairs]).rank("average").to_numpy()
        y = pl.Series([p[1] for p in pairs]).rank("average").to_numpy()
        if x.std() == 0 or y.std() == 0:
            continue
        ics.append(float(np.corrcoef(x, y)[0, 1]))
    row = sheet.ic_summary.filter(pl.col("horizon") == 21).row(0, named=True)
    assert row["n_dates"] == len(ics) > 50
    assert row["mean_ic"] == pytest.approx(sum(ics) / len(ics), rel=1e-9)
    assert f"| 21 | {len(ics)} | {sum(ics) / len(ics):.4g} |" in text
    assert f"insider 21-day rank IC: mean= {sum(ics) / len(ics):.4f}" in result.summary()

    scored_with_price = sum(
        1
        for date, ticker, _ in ranked.select("date", "ticker", "insider").iter_rows()
        if ticker in closes and date in closes[ticker]
    )
    assert int(sheet.coverage["priced"].sum()) == scored_with_price
    assert f"{scored_with_price:,} with a close" in text
    nonzero = real_scores.filter(pl.col("raw").is_not_null() & (pl.col("raw") != 0)).height
    unpriced = real_scores.filter(
        pl.col("raw").is_not_null()
        & (pl.col("raw") != 0)
        & ~pl.col("ticker").is_in(list(closes)).fill_null(False)
    ).height
    assert int(sheet.coverage["nonzero"].sum()) == nonzero - unpriced
    assert "securities without prices: left out" in text
    assert_pngs(written, ["cumulative", "bucket_means", "ic"])


def test_cli_writes_the_report_and_prints_the_summary(store, rows, price_table, tmp_path, capsys):
    calendar, closes = price_table
    eligible, _, _ = independent_event_test(rows, calendar, closes)
    out = tmp_path / "cli"
    code = main(
        ["evaluate", "--store", str(store), "--prices", str(YF), "--out", str(out), "--bootstrap", "500"]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert printed.startswith(f"Transactions analyzed: {len(eligible):,}\n")
    assert f"report: {out / 'report.md'} and report.html (2 charts, 4 Parquet tables beside them)" in printed
    assert "tear sheet was skipped" in (out / "report.md").read_text()
    assert sorted(p.name for p in out.iterdir()) == [
        "event_by_ticker.parquet",
        "event_months.parquet",
        "event_time.png",
        "event_time_cluster_buys.parquet",
        "event_time_heavy-selling_months.parquet",
        "heavy_vs_other.png",
        "report.html",
        "report.md",
    ]


def test_cli_errors_are_user_errors(store, tmp_path, capsys):
    code = main(
        ["evaluate", "--store", str(store), "--prices", str(tmp_path / "none.csv"), "--out", str(tmp_path)]
    )
    assert code == 2
    assert "prices file not found" in capsys.readouterr().err


def test_cli_with_a_score_file(store, real_scores, tmp_path, capsys):
    scores = tmp_path / "scores.parquet"
    real_scores.write_parquet(scores)
    out = tmp_path / "cli"
    argv = [
        "evaluate",
        "--store",
        str(store),
        "--prices",
        str(YF),
        "--scores",
        str(scores),
        "--out",
        str(out),
    ]
    assert main([*argv, "--bootstrap", "200", "--horizons", "1,21", "--min-names", "3"]) == 0
    printed = capsys.readouterr().out
    expected = evaluate(real_scores, YF, horizons=(1, 21), min_names=3).tear_sheet.ic_summary
    for row in expected.iter_rows(named=True):
        assert f"insider {row['horizon']}-day rank IC: mean= {row['mean_ic']:.4f}" in printed
    assert f"report: {out / 'report.md'} and report.html (5 charts, 13 Parquet tables beside them)" in printed
    assert len(list(out.glob("*.png"))) == 5
