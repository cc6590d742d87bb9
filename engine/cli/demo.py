"""The whole pipeline on the real filings bundled with the package, with no network.

A local EDGAR replay (:mod:`engine.replay.server`) serves the bundled filings under EDGAR's URL layout with
generated daily and quarterly indexes; the real downloader fetches them into a store; the universe is
scored with market caps built from bundled real prices and shares outstanding; the score is evaluated.
"""

from __future__ import annotations

import asyncio
import tarfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from engine.edgar.download import DownloadReport, download_range
from engine.edgar.http import EdgarClient
from engine.edgar.urls import EdgarUrls
from engine.errors import UserError
from engine.evaluation import kernels as evaluation_kernels
from engine.evaluation.run import EvaluationReport, evaluate
from engine.jit import compile_in_background
from engine.replay.server import FakeEdgar
from engine.scoring import kernels as scoring_kernels
from engine.scoring.run import ScoreRun, score_run
from engine.store.datasets import Store

DEMO_DATA = Path(__file__).parents[1] / "data" / "demo"
FILINGS_ARCHIVE = DEMO_DATA / "filings.tar.gz"
PRICES = DEMO_DATA / "prices.parquet"
SHARES_OUTSTANDING = DEMO_DATA / "shares_outstanding.csv"

USER_AGENT = "insider-engine demo demo@example.com"
REPLAY_RATE = 200.0
"""Requests per second against the local replay only; the SEC's own limit (10/s) binds real EDGAR."""
DOWNLOAD_START = date(2009, 1, 1)


@dataclass(frozen=True)
class DemoResult:
    """Everything the demo produced, and where it is on disk."""

    mirror_filings: int
    base_url: str
    download: DownloadReport
    store: Store
    scores: ScoreRun
    market_cap_tickers: list[str]
    evaluation: EvaluationReport
    written: dict[str, Path]
    seconds: float


def unpack_filings(destination: Path) -> Path:
    """Extract the bundled filings (real EDGAR submissions and XML documents) under ``destination``."""
    # Python before 3.11.4 has no extraction filters; the archive is the package's own data.
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    with tarfile.open(FILINGS_ARCHIVE) as archive:
        archive.extractall(destination, **safe)
    return destination / "filings"


def demo_market_caps() -> pl.DataFrame:
    """``date, ticker, close, shares_outstanding``: bundled daily adjusted closes (2020-09..2025-09) times
    the share counts of a late-2024 S&P 500 snapshot, for the tickers that have both."""
    shares = pl.read_csv(SHARES_OUTSTANDING, schema={"ticker": pl.String, "shares_outstanding": pl.Float64})
    return pl.read_parquet(PRICES).join(shares, on="ticker", how="inner").sort("ticker", "date")


async def _download(store: Store, base_url: str, end: date) -> DownloadReport:
    async with EdgarClient(USER_AGENT, rate=REPLAY_RATE) as client:
        return await download_range(
            store, client, EdgarUrls(base_url, base_url), DOWNLOAD_START, end, today=end
        )


def run_demo(workdir: Path) -> DemoResult:
    """Replay, download, score and evaluate inside ``workdir`` (created if needed)."""
    began = time.perf_counter()
    try:
        workdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fix = "pass --dir a directory you can write to"
        raise UserError(f"cannot create the demo directory {workdir}: {exc}", fix=fix) from exc
    compile_in_background(scoring_kernels.warm_up, evaluation_kernels.warm_up)
    edgar = FakeEdgar.from_directory(unpack_filings(workdir / "mirror"))
    base_url = edgar.start_in_thread()
    try:
        store = Store(workdir / "store")
        download = asyncio.run(_download(store, base_url, edgar.today))
    finally:
        edgar.stop_thread()
    caps = demo_market_caps()
    prices = pl.read_parquet(PRICES)
    scores = score_run(store, prices["date"].min(), prices["date"].max(), market_caps=caps)
    evaluation = evaluate(scores.frame, prices, transactions=store.scan("transactions"))
    written = evaluation.write(workdir / "report")
    return DemoResult(
        mirror_filings=len(edgar.filings),
        base_url=base_url,
        download=download,
        store=store,
        scores=scores,
        market_cap_tickers=sorted(caps["ticker"].unique()),
        evaluation=evaluation,
        written=written,
        seconds=time.perf_counter() - began,
    )
