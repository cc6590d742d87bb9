"""The downloader's "already stored?" check: answered from the store's packed accession index, so that its
memory does not grow with the store (8 bytes a stored filing, not a Python string each)."""

from __future__ import annotations

import asyncio
import tracemalloc
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

from engine.edgar.discovery import Target
from engine.edgar.download import Downloader
from engine.edgar.http import EdgarClient
from engine.edgar.urls import EdgarUrls
from engine.store.datasets import Store
from engine.store.manifest import Manifest, ManifestRecord
from parsers.schema import FILINGS_SCHEMA

AGENT = "Insider Engine tests tests@example.com"
DAY = date(2024, 3, 1)
UNUSED_URL = "http://127.0.0.1:9/"
"""No request is made: every target of these tests is known before any would be fetched."""


def accession(n: int) -> str:
    return f"{1_000_000 + n % 1000:010d}-24-{n:06d}"


def filled_store(root: Path, count: int) -> Store:
    """A store holding ``count`` filings rows (filings table only: all the known-check reads)."""
    rows = {
        "accession": [accession(n) for n in range(count)],
        "issuer_cik": [1000 + n % 50 for n in range(count)],
        "filing_date": [DAY] * count,
        "available_date": [DAY] * count,
        "filing_year": [DAY.year] * count,
        "filing_month": [DAY.month] * count,
    }
    columns = [pa.array(rows.get(f.name, [None] * count), f.type) for f in FILINGS_SCHEMA]
    store = Store(root)
    store.write({"filings": pa.Table.from_arrays(columns, schema=FILINGS_SCHEMA)})
    return store


def targets(numbers: range) -> list[Target]:
    return [Target(DAY, accession(n), 1_000_000 + n % 1000, "4") for n in numbers]


async def known_check(store: Store, listed: list[Target]) -> tuple[Downloader, int]:
    """Open a downloader session on ``store``, feed it ``listed``; the Python memory it allocated at peak."""
    async with EdgarClient(AGENT, rate=None) as client:
        downloader = Downloader(store, client, EdgarUrls(UNUSED_URL, UNUSED_URL), workers=1)
        tracemalloc.start()
        try:
            async with downloader:
                await downloader.feed(listed)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return downloader, peak


def test_stored_accessions_are_skipped_without_reading_them_as_strings(tmp_path, monkeypatch):
    store = filled_store(tmp_path, 500)

    def refuse(self):
        raise AssertionError("the downloader read every stored accession as a Python set")

    monkeypatch.setattr(Store, "accessions", refuse)
    monkeypatch.setattr(Manifest, "done", refuse)
    downloader, _ = asyncio.run(known_check(store, targets(range(500))))
    assert downloader.report.listed == 500 and downloader.report.already_done == 500


def test_quarantined_and_queued_accessions_are_not_fetched_again(tmp_path):
    store = filled_store(tmp_path, 10)
    Manifest(store).append(
        [ManifestRecord(accession(10), 1, "4", DAY, "quarantined", "not XML")]
        + [ManifestRecord(accession(11), 1, "4", DAY, "failed", "HTTP 500")]
    )
    listed = targets(range(11))  # 0-9 stored, 10 quarantined: nothing to fetch

    async def twice() -> Downloader:
        async with EdgarClient(AGENT, rate=None) as client:
            downloader = Downloader(store, client, EdgarUrls(UNUSED_URL, UNUSED_URL), workers=1)
            async with downloader:
                await downloader.feed(listed)
                await downloader.feed(listed)
            return downloader

    downloader = asyncio.run(twice())
    assert downloader.report.already_done == 22 and downloader.report.failed == {}


@pytest.mark.slow
def test_memory_of_the_known_check_does_not_grow_with_the_store(tmp_path):
    """Python-side peak of opening a session and checking one day's listing (1,300 filings) against a
    store of N and of 4N filings: the packed index costs ~8 bytes a stored filing (a set of strings
    cost ~100). Polars' own buffers are not traced; benchmarks/bench_update_memory.py measures RSS."""
    small, large = 20_000, 80_000
    day = targets(range(1_300))
    peaks = {}
    for count in (small, large):
        store = filled_store(tmp_path / str(count), count)
        _, peaks[count] = asyncio.run(known_check(store, day))
    per_filing = (peaks[large] - peaks[small]) / (large - small)
    assert per_filing < 24, f"{per_filing:.0f} bytes of Python memory per stored filing ({peaks})"
