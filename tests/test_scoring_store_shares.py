"""`insider score`'s default market data end to end: a real filing ingested, XBRL shares-outstanding
frames fetched from the local fake EDGAR into the store, scored with ``market_caps="store"``, cells
checked by hand."""

from __future__ import annotations

import asyncio
import json
import math
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from engine.cli.main import main
from engine.edgar.http import EdgarClient
from engine.edgar.shares import fetch_shares_outstanding
from engine.edgar.urls import EdgarUrls
from engine.replay import FakeEdgar, load_filings
from engine.store.datasets import Store

AAR = 1750  # AAR Corp (AIR): an officer sells 1,500 shares at $66.903, accepted Saturday 2025-01-11
FILING = "0001127602-25-001055.txt"
OLD_SHARES, NEW_SHARES = 36_000_000, 9_000_000


def frame(ccp: str, accession: str, shares: int) -> bytes:
    fact = {"accn": accession, "cik": AAR, "entityName": "AAR CORP", "loc": "US-IL", "end": "2024-09-30"}
    return json.dumps({"ccp": ccp, "data": [{**fact, "val": shares}]}).encode()


def xbrl_index(filed: str, accession: str) -> bytes:
    head = "CIK|Company Name|Form Type|Date Filed|Filename\n" + "-" * 80 + "\n"
    return (head + f"{AAR}|AAR CORP|10-Q|{filed}|edgar/data/{AAR}/{accession}.txt\n").encode()


@pytest.fixture
def store(filings_dir: Path, tmp_path: Path) -> Path:
    """The AAR filing ingested, then two frames: 36M shares filed in October 2024, and 9M shares filed
    on 2025-01-20, after the trade became public (so it must never scale that trade)."""
    single = tmp_path / "in"
    single.mkdir()
    shutil.copy(filings_dir / FILING, single / FILING)
    root = tmp_path / "store"
    assert main(["ingest", str(single), "--store", str(root)]) == 0
    files = {
        "/Archives/edgar/full-index/2024/QTR4/xbrl.idx": xbrl_index("2024-10-29", "0001127602-24-000001"),
        "/Archives/edgar/full-index/2025/QTR1/xbrl.idx": xbrl_index("2025-01-20", "0001127602-25-000002"),
    }
    frames = {
        (2024, 3): frame("CY2024Q3I", "0001127602-24-000001", OLD_SHARES),
        (2024, 4): frame("CY2024Q4I", "0001127602-25-000002", NEW_SHARES),
    }

    async def fetch() -> None:
        async with FakeEdgar(load_filings(single), frames=frames, files=files) as server:
            urls = EdgarUrls(server.base_url, server.base_url)
            async with EdgarClient("tests tests@example.com", rate=100) as client:
                report = await fetch_shares_outstanding(Store(root), client, urls, [(2024, 3), (2024, 4)])
        assert report.frames == {"CY2024Q3I": 1, "CY2024Q4I": 1} and not report.failures

    asyncio.run(fetch())
    return root


def test_score_from_the_stores_shares_outstanding(store: Path, tmp_path: Path) -> None:
    out = tmp_path / "scores.parquet"
    code = main(
        ["score", "--store", str(store), "--start", "2025-01-10", "--end", "2025-01-21", "--out", str(out)]
    )
    assert code == 0
    panel = pl.read_parquet(out).filter(pl.col("issuer_cik") == AAR).sort("date")
    by_date = {row["date"]: row for row in panel.iter_rows(named=True)}
    assert date(2025, 1, 10) not in by_date  # the Saturday filing is not public yet: no universe
    # SCORING.md: shares outstanding without a price -> value / market cap = shares / shares outstanding;
    # an officer (SVP, GC, CAO) weighs 0.6; one insider -> cluster 1 -> factor 1 + ln 2.
    sells = 0.6 * 1500 / OLD_SHARES
    for day in (date(2025, 1, 13), date(2025, 1, 21)):  # 21 January: after the 9M frame was filed
        row = by_date[day]
        assert row["ticker"] == "AIR" and row["cluster"] == 1 and row["null_reason"] is None
        assert row["sells"] == pytest.approx(sells, rel=1e-12)
        assert row["raw"] == pytest.approx(-sells * (1 + math.log(2)), rel=1e-12)
