"""Flat memory at EDGAR scale: the downloader's "already stored?" check is answered from the store's packed
accession index (8 bytes a stored filing, not a Python string each), and the manifest is read and folded
part by part (memory holds one part and the few failed or quarantined accessions)."""

from __future__ import annotations

import asyncio
import tracemalloc
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.edgar.discovery import Target
from engine.edgar.download import Downloader
from engine.edgar.http import EdgarClient
from engine.edgar.urls import EdgarUrls
from engine.store import indexes
from engine.store.datasets import Store
from engine.store.indexes import AccessionIndex
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


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


keys = st.tuples(st.integers(0, 30), st.integers(0, 3)).map(lambda t: f"{t[0]:010d}-24-{t[1]:06d}")
operations = st.lists(
    st.tuples(st.sampled_from(["add", "remove", "ask"]), st.lists(keys | st.sampled_from(["sha1-ab", "x"]))),
    max_size=30,
)


@given(stored=st.lists(keys, unique=True), steps=operations)
def test_the_index_stays_a_set_while_recent_keys_fold_into_the_main_array(stored, steps, monkeypatch_module):
    """The index's two arrays (stored keys, and keys added since, folded in once numerous: here after 2)
    answer like a set through any sequence of adds and removals."""
    monkeypatch_module.setattr(indexes, "RECENT_KEYS", 2)
    index, reference = AccessionIndex(pl.Series(stored, dtype=pl.String)), set(stored)
    for operation, accessions in steps:
        if operation == "add":
            new = index.missing(list(dict.fromkeys(accessions)))
            index.add(new)
            reference.update(new)
        elif operation == "remove":
            index.remove(accessions)
            reference.difference_update(accessions)
        assert index.missing(accessions) == [a for a in accessions if a not in reference]
        assert len(index) == len(reference)


statuses = st.sampled_from(["stored", "quarantined", "failed"])
records = st.lists(st.tuples(st.integers(0, 12), statuses), min_size=1, max_size=60)


@settings(max_examples=40, deadline=None)
@given(history=st.lists(records, min_size=1, max_size=8))
def test_the_manifest_read_part_by_part_and_folded_keeps_the_latest_record(tmp_path_factory, history):
    """Parts of records (accession, status) appended in order, an accession again in the same part too:
    every query equals the latest-record-wins reading of the whole history, before and after the fold."""
    manifest = Manifest(Store(tmp_path_factory.mktemp("manifest")))
    latest: dict[str, tuple[str, date]] = {}
    for part in history:
        rows = [
            ManifestRecord(accession(n), 1, "4", date(2024, 1, 1 + n), status, status) for n, status in part
        ]
        manifest.append(rows)
        latest.update((r.accession, (r.status, r.filing_date)) for r in rows)
    for fold in (False, True):
        if fold:
            assert manifest.compact(threshold=0)
        with_status = {s: {a for a, (t, _) in latest.items() if t == s} for s in ("quarantined", "failed")}
        assert set(manifest.quarantined().to_list()) == with_status["quarantined"]
        assert manifest.failures() == dict.fromkeys(with_status["failed"], "failed")
        assert manifest.done() == {a for a, (t, _) in latest.items() if t != "failed"}
        assert manifest.last_filing_date() == max(day for _, day in latest.values())
        assert manifest.frame().height == len(latest)
