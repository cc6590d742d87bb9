"""Price sources and the store's prices dataset: traded closes rebuilt from adjusted ones (checked on real
Alpha Vantage data), the user's files resolved by date (FB then META), and Tiingo's API through the polite
client against a local fake of it: incremental, refetched after a corporate action, resumable, faults."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from engine.errors import UserError
from engine.evaluation.price_sources import (
    FilePrices,
    PriceRequest,
    TiingoPrices,
    normalise,
    raw_closes,
    tiingo_client,
)
from engine.evaluation.price_store import plan_requests, update_prices
from engine.replay.tiingo import FakeTiingo
from engine.scoring.tickers import read_company_tickers, save_current, ticker_table
from engine.store.datasets import Store
from engine.store.ingest import ingest
from engine.store.prices import read_series, scan_prices, series_path

FIXTURES = Path(__file__).parent / "fixtures"
AV_ADJUSTED = FIXTURES / "prices" / "av_daily_adjusted_aapl_msft_1999_2020.parquet"
AV_9 = FIXTURES / "prices" / "av_daily_9_1999_2020.parquet"
YF_34 = FIXTURES / "prices" / "yf_daily_34_us_2020_2025.parquet"
EXCHANGE = FIXTURES / "index" / "tickers" / "company_tickers_exchange.json"
KEY = "k3y"
META, MSFT, TSLA = 1326801, 789019, 1318605


@pytest.mark.parametrize("ticker, tolerance", [("AAPL", 5e-4), ("MSFT", 3e-3)])
def test_traded_closes_rebuilt_from_adjusted_ones_match_the_real_ones(ticker, tolerance):
    rows = pl.read_parquet(AV_ADJUSTED).filter(pl.col("ticker") == ticker).sort("date")
    split = rows["split_coefficient"].to_numpy()
    later_splits = np.concatenate([np.cumprod(split[::-1])[::-1][1:], [1.0]])
    dividend = rows["dividend_amount"].to_numpy() / later_splits  # per share of today, as Yahoo gives it
    rebuilt = raw_closes(rows["adjusted_close"].to_numpy(), dividend, split)
    error = np.abs(rebuilt / rows["close"].to_numpy() - 1.0)
    assert error.max() < tolerance  # Alpha Vantage rounds adjusted closes to 4 decimals
    assert (split != 1).sum() >= 1 and rows["close"].max() / rows["adjusted_close"].max() > 1.0


def test_a_yahoo_style_table_gets_its_traded_closes():
    table = pl.DataFrame(
        {
            "Date": ["2024-06-06", "2024-06-07", "2024-06-10", "2024-06-11"],
            "Ticker": ["NVDA"] * 4,
            "Close": [120.0, 120.9, 121.7, 120.9],
            "Dividends": [0.0, 0.0, 0.0, 0.01],
            "Stock Splits": [0.0, 0.0, 10.0, 0.0],
        }
    )
    rows = normalise(table, "prices")
    assert rows["adj_close"].to_list() == [120.0, 120.9, 121.7, 120.9]
    assert rows["split_factor"].to_list() == [1.0, 1.0, 10.0, 1.0]
    before = 121.7 + 0.01  # the close before the ex-day, rebuilt
    scale = 1 - 0.01 / before
    assert rows["close"].to_list() == pytest.approx([1200.0 / scale, 1209.0 / scale, 121.7 / scale, 120.9])


@pytest.fixture(scope="module")
def store(tmp_path_factory, filings_dir: Path) -> Store:
    store = Store(tmp_path_factory.mktemp("prices") / "store")
    ingest([filings_dir], store, workers=1)
    save_current(store, read_company_tickers(EXCHANGE))
    return store


def test_file_prices_follow_a_renamed_ticker_by_date(store: Store):
    tickers = ticker_table(store.scan("filings"), read_company_tickers(EXCHANGE))
    source = FilePrices([AV_9, YF_34], tickers)
    request = PriceRequest("META", META, dt.date(2020, 9, 1), dt.date(2020, 10, 30))
    rows = asyncio.run(source.history(request))
    assert rows["date"].is_unique().all() and set(rows["ticker"]) == {"META"}
    assert set(rows["issuer_cik"]) == {META}
    yf = pl.read_parquet(YF_34).filter(
        (pl.col("ticker") == "META") & (pl.col("date") >= dt.date(2020, 9, 28))
    )
    fb = pl.read_parquet(AV_9).filter((pl.col("ticker") == "FB") & (pl.col("date") < dt.date(2020, 9, 28)))
    joined = rows.join(pl.concat([fb, yf]).filter(pl.col("date") <= dt.date(2020, 10, 30)), on="date")
    assert joined.height == rows.height > 40
    assert (joined["adj_close"] == joined["close_right"]).all()  # FB's rows before META's file begins
    without_table = asyncio.run(FilePrices([YF_34]).history(request))  # by symbol only: META's own rows
    assert without_table["date"].min() == dt.date(2020, 9, 28) and set(without_table["issuer_cik"]) == {META}
    unknown = PriceRequest("NOPE", 1, request.start, request.end)
    assert asyncio.run(FilePrices([YF_34]).history(unknown)) is None


def fake_prices() -> pl.DataFrame:
    """The real yfinance closes of the fixture, as a Tiingo would serve them (no corporate actions)."""
    return normalise(pl.read_parquet(YF_34), "prices").with_columns(pl.col("adj_close").alias("close"))


def run_update(store: Store, url: str, requests: list[PriceRequest], **options) -> object:
    async def go():
        client = tiingo_client(KEY, rate=None, retries=options.pop("retries", 2), connections=2)
        client.backoff = 0.01
        client.pause_seconds = 0.05
        async with client:
            return await update_prices(store, TiingoPrices(client, url), requests, concurrency=2)

    return asyncio.run(go())


def test_tiingo_fetch_is_incremental_resumable_and_refetches_after_a_dividend(store: Store):
    fake = FakeTiingo(fake_prices(), api_key=KEY)
    url = fake.start_in_thread()
    try:
        first, last = dt.date(2021, 1, 4), dt.date(2021, 6, 30)
        requests, left_out = plan_requests(store, first, last)
        assert requests[-1] == PriceRequest("SPY", None, first, last)
        assert "its last ticker belongs to another company now" in set(left_out["reason"])
        report = run_update(store, url, requests)
        served = sorted(set(fake_prices()["ticker"]) & {r.ticker for r in requests})
        assert sorted(report.fetched) == served and report.complete
        assert len(report.missing) == len(requests) - len(served) and len(fake.hits) == len(requests)
        stored = scan_prices(store).collect()
        assert stored["date"].min() >= first and stored["date"].max() <= last
        assert stored.filter(pl.col("ticker") == "MSFT")["issuer_cik"].unique().to_list() == [MSFT]
        assert stored.filter(pl.col("ticker") == "SPY")["issuer_cik"].null_count() > 0

        fake.hits.clear()
        again = run_update(store, url, [r for r in requests if r.ticker in served])
        assert sorted(again.current) == served and not fake.hits  # nothing asked twice

        series_path(store, "TSLA").unlink()  # as if the run had stopped before TSLA
        resumed = run_update(store, url, [r for r in requests if r.ticker in served])
        assert resumed.fetched == ["TSLA"] and [h.ticker for h in fake.hits] == ["TSLA"]

        fake.hits.clear()
        later = [
            PriceRequest(r.ticker, r.issuer_cik, first, dt.date(2021, 12, 31))
            for r in requests
            if r.ticker in served
        ]
        ex_day = dt.date(2021, 8, 18)
        fake.prices = fake.prices.with_columns(
            pl.when((pl.col("ticker") == "MSFT") & (pl.col("date") == ex_day))
            .then(0.56)
            .otherwise(pl.col("dividend"))
            .alias("dividend"),
            pl.when((pl.col("ticker") == "MSFT") & (pl.col("date") < ex_day))
            .then(pl.col("adj_close") * 0.998)
            .otherwise(pl.col("adj_close"))
            .alias("adj_close"),
        )
        extended = run_update(store, url, later)
        assert extended.refetched == ["MSFT"] and sorted(extended.extended) == sorted(set(served) - {"MSFT"})
        assert {h.start for h in fake.hits if h.ticker == "TSLA"} == {"2021-06-30"}  # only the new days
        msft, meta = read_series(series_path(store, "MSFT"))
        served_msft = fake.prices.filter(
            (pl.col("ticker") == "MSFT") & pl.col("date").is_between(first, dt.date(2021, 12, 31))
        )
        assert msft["adj_close"].to_list() == served_msft["adj_close"].to_list()
        assert meta["from"] == "2021-01-04" and meta["through"] == "2021-12-31" and meta["source"] == "tiingo"

        fake.hits.clear()
        earlier = PriceRequest("TSLA", TSLA, dt.date(2020, 10, 1), dt.date(2021, 3, 31))
        assert run_update(store, url, [earlier]).fetched == ["TSLA"]  # starts before the stored span
        assert [(h.start, h.end) for h in fake.hits] == [("2020-10-01", "2021-12-31")]  # nothing dropped
        tsla, meta = read_series(series_path(store, "TSLA"))
        assert tsla["date"].max() == dt.date(2021, 12, 31) and meta["from"] == "2020-10-01"
    finally:
        fake.stop_thread()


def test_tiingo_faults_are_retried_or_reported_and_a_bad_key_stops(store: Store, tmp_path):
    fresh = Store(tmp_path / "store")
    fake = FakeTiingo(fake_prices(), api_key=KEY)
    url = fake.start_in_thread()
    try:
        day = dt.date(2022, 3, 1)
        one = [PriceRequest("NVDA", 1045810, day, day + dt.timedelta(days=30))]
        fake.inject(500)
        fake.inject(429, retry_after="0")
        assert run_update(fresh, url, one).fetched == ["NVDA"]
        assert [h.status for h in fake.hits] == [500, 429, 200]
        fake.inject(503, times=3)
        failed = run_update(fresh, url, [PriceRequest("AAPL", 320193, day, day)], retries=2)
        assert "HTTP 503" in failed.failed["AAPL"] and not series_path(fresh, "AAPL").exists()
        with pytest.raises(UserError, match="Tiingo refused the API key"):

            async def wrong_key():
                async with tiingo_client("wrong", rate=None) as client:
                    amzn = [PriceRequest("AMZN", 1018724, day, day)]
                    await update_prices(fresh, TiingoPrices(client, url), amzn)

            asyncio.run(wrong_key())
    finally:
        fake.stop_thread()
    with pytest.raises(UserError, match="no Tiingo API key"):
        tiingo_client("  ")


def test_cli_prices_from_files_and_from_the_fake_tiingo(store: Store, tmp_path, capsys, monkeypatch):
    from engine.cli.main import main

    assert (
        main(
            [
                "prices",
                "--store",
                str(store.root),
                "--from",
                "2022-01-03",
                "--to",
                "2022-02-28",
                "--files",
                str(YF_34),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert f"from file {YF_34}" in out and "fetched" in out
    fake = FakeTiingo(fake_prices(), api_key=KEY)
    url = fake.start_in_thread()
    monkeypatch.setenv("TIINGO_API_KEY", KEY)
    try:
        argv = [
            "prices",
            "--store",
            str(store.root),
            "--from",
            "2022-01-03",
            "--to",
            "2022-03-31",
            "--base-url",
            url,
            "--rate",
            "100",
        ]
        assert main(argv) == 0
    finally:
        fake.stop_thread()
    assert "from Tiingo" in capsys.readouterr().out and fake.hits
    assert all(h.start == "2022-02-28" for h in fake.hits if h.status == 200)  # extends the files' series
