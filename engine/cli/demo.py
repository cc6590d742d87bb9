"""The whole pipeline on the real filings bundled with the package, with no network.

A local EDGAR replay (:mod:`engine.replay`) serves the bundled filings under EDGAR's URL layout with
generated daily and quarterly indexes; the real downloader fetches them into a store; the issuer-to-ticker
table joins them with the SEC's ticker map; the prices the universe needs go into the store's ``prices/``
dataset; point-in-time market caps (shares outstanding x closes as traded) score the universe; the score is
evaluated against those prices, market-adjusted by SPY; then ``insider watch`` follows the replay's
current-filings feed for a few seconds (``demo_watch``).

Bundled in ``engine/data/demo/`` (real data, see ``tests/fixtures`` READMEs for the sources): the 608
filings; ``prices.parquet``, yfinance daily closes of 34 US symbols 2020-09..2025-09 (split- and
dividend-adjusted, with each day's dividend and split factor, so the traded closes can be rebuilt);
``shares_outstanding.csv``, the share counts of an S&P 500 snapshot taken at the close of 2024-11-14
(market cap / price) for 17 of them; ``company_tickers_exchange.json``, the SEC's ticker map (Sep 2025)
cut to the filings' issuers.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tarfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from engine.cli.demo_watch import WatchDemo, watch_demo
from engine.edgar.download import DownloadReport, download_range
from engine.edgar.http import EdgarClient
from engine.edgar.urls import EdgarUrls
from engine.errors import UserError
from engine.evaluation import kernels as evaluation_kernels
from engine.evaluation.event_study import cluster_buy_events, eligible_trades
from engine.evaluation.price_sources import FilePrices
from engine.evaluation.price_store import PriceReport, plan_requests, update_prices
from engine.evaluation.prices import load_prices
from engine.evaluation.run import EvaluationReport, evaluate
from engine.jit import compile_in_background
from engine.replay import FakeEdgar
from engine.scoring import cross_section
from engine.scoring import kernels as scoring_kernels
from engine.scoring.caps_from_prices import CapsBuild, point_in_time_caps
from engine.scoring.run import ScoreRun, score_run
from engine.scoring.tickers import TickerTable, read_company_tickers, save_current, ticker_table
from engine.store.datasets import Store
from engine.store.prices import scan_prices, store_price_table
from engine.store.shares import scan_shares_outstanding, write_frame
from parsers.schema import SHARES_OUTSTANDING_SCHEMA

DEMO_DATA = Path(__file__).parents[1] / "data" / "demo"
FILINGS_ARCHIVE = DEMO_DATA / "filings.tar.gz"
PRICES = DEMO_DATA / "prices.parquet"
SHARES_OUTSTANDING = DEMO_DATA / "shares_outstanding.csv"
COMPANY_TICKERS = DEMO_DATA / "company_tickers_exchange.json"

USER_AGENT = "insider-engine demo demo@example.com"
REPLAY_RATE = 200.0
"""Requests per second against the local replay only; the SEC's own limit (10/s) binds real EDGAR."""
DOWNLOAD_START = date(2009, 1, 1)
MARKET = "SPY"
CLUSTER_DAYS = 90
SNAPSHOT_FRAME = "snapshot-2024-11-14"
SCORES_FILE = "scores.parquet"
MARKET_CAPS_FILE = "market_caps.parquet"
"""The score panel and the market caps it used, written beside the store (for compare and explain)."""


@dataclass(frozen=True)
class Activity:
    """The latest date with insider activity and what the score says about it."""

    date: date | None
    """The last score date on which an eligible trade became public that moved its issuer's score (a
    non-zero ``raw``: a 10b5-1 plan trade weighs 0, an issuer without a market cap has none)."""
    trades: int
    """Eligible open-market trades that became public that day (any issuer)."""
    buys: pl.DataFrame
    """That day's issuers with a positive ``raw``, strongest first (score columns)."""
    sells: pl.DataFrame
    """That day's issuers with a negative ``raw``, strongest first."""
    clusters: pl.DataFrame
    """Cluster buys (two or more insiders buying within 30 days) in the ``CLUSTER_DAYS`` days to it."""
    clusters_ever: int
    """Cluster buys in the whole store."""


@dataclass(frozen=True)
class DemoResult:
    """Everything the demo produced, and where it is on disk."""

    mirror_filings: int
    base_url: str
    download: DownloadReport
    store: Store
    tickers: TickerTable
    prices: PriceReport
    caps: CapsBuild
    scores: ScoreRun
    activity: Activity
    evaluation: EvaluationReport
    written: dict[str, Path]
    watch: WatchDemo
    seconds: float


def unpack_filings(destination: Path) -> Path:
    """Extract the bundled filings (real EDGAR submissions and XML documents) under ``destination``."""
    # Python before 3.11.4 has no extraction filters; the archive is the package's own data.
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    with tarfile.open(FILINGS_ARCHIVE) as archive:
        archive.extractall(destination, **safe)
    return destination / "filings"


def demo_shares() -> pl.DataFrame:
    """The snapshot's share counts as shares-outstanding facts (``SHARES_OUTSTANDING_SCHEMA``), counted and
    known on the snapshot day."""
    shares = pl.read_csv(SHARES_OUTSTANDING, try_parse_dates=True)
    schema = pl.from_arrow(SHARES_OUTSTANDING_SCHEMA.empty_table()).schema  # type: ignore[union-attr]
    return shares.select(
        "issuer_cik",
        pl.col("as_of").alias("period_end"),
        pl.col("as_of").alias("filed"),
        pl.col("shares_outstanding").alias("shares"),
        pl.lit(None, pl.String).alias("accession"),
        pl.col("ticker").alias("entity_name"),
        pl.lit(SNAPSHOT_FRAME).alias("frame"),
    ).cast(dict(schema))


def demo_market_caps() -> pl.DataFrame:
    """``issuer_cik, date, market_cap, carried_back``: the bundled closes as traded x the snapshot's share
    counts, point in time from the snapshot day on and carried back, split-adjusted, before it (see
    ``engine.scoring.caps_from_prices``); the same caps ``insider demo`` scores with."""
    shares = demo_shares()
    ciks = dict(zip(shares["entity_name"], shares["issuer_cik"], strict=True))
    prices = FilePrices([PRICES]).frame.filter(pl.col("ticker").is_in(list(ciks)))
    prices = prices.with_columns(
        pl.col("ticker").replace_strict(ciks, return_dtype=pl.Int64).alias("issuer_cik")
    )
    return point_in_time_caps(shares, prices, carry_back=True).table


async def _download(store: Store, base_url: str, end: date) -> DownloadReport:
    async with EdgarClient(USER_AGENT, rate=REPLAY_RATE) as client:
        return await download_range(
            store, client, EdgarUrls(base_url, base_url), DOWNLOAD_START, end, today=end
        )


def latest_activity(scores: pl.DataFrame, transactions: pl.LazyFrame, top: int) -> Activity:
    """The latest score date on which a trade that moved its issuer's score became public, that date's
    strongest buys and sells (non-zero ``raw`` only), and the cluster buys of the ``CLUSTER_DAYS`` days
    up to it."""
    trades, _ = eligible_trades(transactions)
    scored = scores.filter(pl.col("raw").is_not_null() & (pl.col("raw") != 0)).select("date", "issuer_cik")
    days = trades.select(pl.col("available_date").alias("date"), "issuer_cik").join(
        scored, on=["date", "issuer_cik"], how="semi"
    )
    last = days["date"].max()
    clusters = cluster_buy_events(transactions)
    if last is None:
        empty = scores.head(0)
        return Activity(None, 0, empty, empty, clusters.head(0), clusters.height)
    cross = scores.filter((pl.col("date") == last) & pl.col("raw").is_not_null())
    since = last - dt.timedelta(days=CLUSTER_DAYS - 1)
    return Activity(
        date=last,
        trades=trades.filter(pl.col("available_date") == last).height,
        buys=cross.filter(pl.col("raw") > 0).sort("raw", descending=True).head(top),
        sells=cross.filter(pl.col("raw") < 0).sort("raw").head(top),
        clusters=clusters.filter(pl.col("date").is_between(since, last)).sort("date", descending=True),
        clusters_ever=clusters.height,
    )


def run_demo(workdir: Path, *, top: int = 5) -> DemoResult:
    """Replay, download, map tickers, load prices, score and evaluate inside ``workdir`` (created if
    needed); ``top`` issuers are kept at each end of the latest active day."""
    began = time.perf_counter()
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fix = "pass --dir a directory you can write to"
        raise UserError(f"cannot create the demo directory {workdir}: {exc}", fix=fix) from exc
    compile_in_background(scoring_kernels.warm_up, cross_section.warm_up, evaluation_kernels.warm_up)
    edgar = FakeEdgar.from_directory(unpack_filings(workdir / "mirror"))
    base_url = edgar.start_in_thread()
    try:
        store = Store(workdir / "store")
        download = asyncio.run(_download(store, base_url, edgar.today))
    finally:
        edgar.stop_thread()
    current = read_company_tickers(COMPANY_TICKERS)
    save_current(store, current)
    tickers = ticker_table(store.scan("filings"), current)
    bundled = FilePrices([PRICES], tickers)
    first, last = bundled.frame["date"].min(), bundled.frame["date"].max()
    requests, _ = plan_requests(store, first, last, market=MARKET, tickers=tickers)
    prices = asyncio.run(update_prices(store, bundled, requests, concurrency=1))
    write_frame(store, SNAPSHOT_FRAME, demo_shares().to_arrow())
    caps = point_in_time_caps(scan_shares_outstanding(store), scan_prices(store), carry_back=True)
    panel = load_prices(store_price_table(store), key="issuer_cik", market=MARKET)
    source = f"demo: snapshot share counts x the store's closes as traded ({store.root})"
    scores = score_run(store, first, last, market_caps=caps.market_caps(source))
    cap_table = caps.table.select("date", "issuer_cik", "market_cap")
    cap_table.write_parquet(workdir / MARKET_CAPS_FILE)
    scores.frame.write_parquet(workdir / SCORES_FILE)
    activity = latest_activity(scores.frame, store.scan("transactions"), top)
    evaluation = evaluate(scores, panel, transactions=store)
    written = evaluation.write(workdir / "report")
    watch = watch_demo(edgar.filings, cap_table, workdir, user_agent=USER_AGENT, rate=REPLAY_RATE)
    return DemoResult(
        mirror_filings=len(edgar.filings),
        base_url=base_url,
        download=download,
        store=store,
        tickers=tickers,
        prices=prices,
        caps=caps,
        scores=scores,
        activity=activity,
        evaluation=evaluation,
        written=written,
        watch=watch,
        seconds=time.perf_counter() - began,
    )
