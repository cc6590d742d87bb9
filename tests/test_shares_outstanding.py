"""Shares outstanding from XBRL frames, dated by the xbrl.idx filing dates, stored per frame."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

import polars as pl

from engine.cli.main import main
from engine.edgar.http import EdgarClient
from engine.edgar.shares import fetch_shares_outstanding
from engine.edgar.urls import EdgarUrls
from engine.replay import FakeEdgar, load_filings
from engine.store.datasets import Store
from engine.store.shares import scan_shares_outstanding
from parsers.xbrl_frames import parse_frame

FRAME = {
    "taxonomy": "dei",
    "tag": "EntityCommonStockSharesOutstanding",
    "ccp": "CY2024Q3I",
    "uom": "shares",
    "label": "Entity Common Stock, Shares Outstanding",
    "description": "...",
    "pts": 3,
    "data": [
        {
            "accn": "0000320193-24-000123",
            "cik": 320193,
            "entityName": "Apple Inc.",
            "loc": "US-CA",
            "end": "2024-10-18",
            "val": 15115823000,
        },
        {
            "accn": "0000950170-24-087843",
            "cik": 789019,
            "entityName": "MICROSOFT CORPORATION",
            "loc": "US-WA",
            "end": "2024-07-25",
            "val": 7433038381,
        },
        {
            "accn": "0001234567-24-000001",
            "cik": 1234567,
            "entityName": "Late Filer Corp",
            "loc": "US-NY",
            "end": "2024-09-30",
            "val": 1000,
        },
    ],
}


def xbrl_index(rows: list[tuple[int, str, str, str, str]]) -> bytes:
    """An xbrl.idx in EDGAR's master layout."""
    head = [
        "Description:           XBRL Index of EDGAR Dissemination Feed",
        "Last Data Received:    x",
        "Comments:              webmaster@sec.gov",
        "Anonymous FTP:         ftp://ftp.sec.gov/edgar/",
        " ",
        "CIK|Company Name|Form Type|Date Filed|Filename",
        "-" * 80,
    ]
    lines = [
        f"{cik}|{name}|{form}|{filed}|edgar/data/{cik}/{accession}.txt"
        for cik, name, form, filed, accession in rows
    ]
    return ("\n".join(head + lines) + "\n").encode()


INDEXES = {
    "/Archives/edgar/full-index/2024/QTR3/xbrl.idx": xbrl_index(
        [(789019, "MICROSOFT CORP", "10-K", "2024-07-30", "0000950170-24-087843")]
    ),
    "/Archives/edgar/full-index/2024/QTR4/xbrl.idx": xbrl_index(
        [(320193, "Apple Inc.", "10-K", "2024-11-01", "0000320193-24-000123")]
    ),
}


def test_a_frame_becomes_point_in_time_rows() -> None:
    table = parse_frame(
        json.dumps(FRAME).encode(), frame="CY2024Q3I", filed={"0000320193-24-000123": date(2024, 11, 1)}
    )
    rows = pl.from_arrow(table).sort("issuer_cik")
    assert rows.get_column("issuer_cik").to_list() == [320193, 789019, 1234567]
    assert rows.row(0, named=True) == {
        "issuer_cik": 320193,
        "period_end": date(2024, 10, 18),
        "filed": date(2024, 11, 1),
        "shares": 15115823000.0,
        "accession": "0000320193-24-000123",
        "entity_name": "Apple Inc.",
        "frame": "CY2024Q3I",
    }
    assert rows.get_column("filed").null_count() == 2


def test_frames_are_fetched_dated_and_replaced(filings_dir: Path, tmp_path: Path) -> None:
    async def run():
        async with FakeEdgar(
            load_filings(filings_dir)[:1], frames={(2024, 3): json.dumps(FRAME).encode()}, files=INDEXES
        ) as server:
            urls = EdgarUrls(server.base_url, server.base_url)
            async with EdgarClient("tests tests@example.com", rate=100) as client:
                first = await fetch_shares_outstanding(Store(tmp_path), client, urls, [(2024, 3), (2024, 4)])
                again = await fetch_shares_outstanding(Store(tmp_path), client, urls, [(2024, 3)])
            return server, first, again

    server, first, again = asyncio.run(run())
    assert first.frames == {"CY2024Q3I": 3} and first.unfiled == 1
    assert list(first.failures) == [
        server.base_url + "api/xbrl/frames/dei/EntityCommonStockSharesOutstanding/shares/CY2024Q4I.json"
    ]
    assert again.frames == {"CY2024Q3I": 3}
    stored = scan_shares_outstanding(Store(tmp_path)).collect().sort("issuer_cik")
    assert stored.height == 3
    assert stored.get_column("filed").to_list() == [date(2024, 11, 1), date(2024, 7, 30), None]
    as_of = scan_shares_outstanding(Store(tmp_path)).filter(pl.col("filed") <= date(2024, 9, 1)).collect()
    assert as_of.get_column("issuer_cik").to_list() == [789019]


def test_an_empty_store_scans_as_an_empty_typed_frame(tmp_path: Path) -> None:
    frame = scan_shares_outstanding(Store(tmp_path)).collect()
    assert frame.height == 0 and frame.schema["filed"] == pl.Date


def test_backfill_fetches_frames_on_request(filings_dir: Path, tmp_path: Path, capsys) -> None:
    server = FakeEdgar(
        load_filings(filings_dir)[:1],
        frames={(2024, 3): json.dumps(FRAME).encode()},
        files=INDEXES,
        datasets={},
    )
    base = server.start_in_thread()
    try:
        code = main(
            [
                "backfill",
                "--store",
                str(tmp_path),
                "--from",
                "2024q3",
                "--to",
                "2024q3",
                "--shares-outstanding",
                "--user-agent",
                "tests tests@example.com",
                "--base-url",
                base,
                "--data-base-url",
                base,
            ]
        )
    finally:
        server.stop_thread()
    out = capsys.readouterr().out
    assert code == 1 and "NOT STORED" in out and "3 facts in 1 frames, 1 without a known filing date" in out
    assert scan_shares_outstanding(Store(tmp_path)).collect().height == 3
