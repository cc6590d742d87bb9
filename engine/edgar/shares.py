"""Cover-page shares outstanding, point in time, from the XBRL frames API: the store's ``shares_outstanding``.

One request per quarter, ``api/xbrl/frames/dei/EntityCommonStockSharesOutstanding/shares/CY{YYYY}Q{q}I.json``,
gives one fact per filer (cik, entityName, end, val, accn). A frame has no filing date, and a fact must
not be used before it was filed, so ``filed`` comes from EDGAR's quarterly ``xbrl.idx`` (every XBRL
filing with its date) of the frame's quarter and the next one; a fact whose filing is in neither stays
with ``filed`` null. Each frame is one Parquet file ``<store>/shares_outstanding/frame=CY{YYYY}Q{q}I.parquet``
written atomically and replaced when fetched again (the SEC revises frames as late filers arrive); the
partitioned datasets of ``engine.store.datasets`` are not touched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl
import pyarrow as pa

from engine.edgar.calendar import next_quarter
from engine.edgar.http import EdgarClient, FetchError
from engine.edgar.urls import EdgarUrls
from engine.store.atomic import replace_parquet
from parsers.index import IndexFormatError, parse_index
from parsers.schema import SHARES_OUTSTANDING_SCHEMA

DATASET = "shares_outstanding"
FIRST_FRAME = (2009, 2)
"""Cover-page dei facts start with the 2009 XBRL phase-in."""


def frame_name(year: int, quarter: int) -> str:
    """``CY2024Q3I``: the instantaneous frame at a quarter's end."""
    return f"CY{year}Q{quarter}I"


def parse_frame(data: bytes, *, frame: str, filed: Mapping[str, date]) -> pa.Table:
    """A frames API answer as SHARES_OUTSTANDING_SCHEMA rows; ``filed`` maps accession -> filing date."""
    try:
        facts = json.loads(data)["data"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{frame}: not an XBRL frames answer ({type(exc).__name__}: {exc})") from exc
    rows = {name: [] for name in SHARES_OUTSTANDING_SCHEMA.names}
    for fact in facts:
        accession = fact.get("accn")
        rows["issuer_cik"].append(fact.get("cik"))
        rows["period_end"].append(date.fromisoformat(fact["end"]) if fact.get("end") else None)
        rows["filed"].append(filed.get(accession))
        rows["shares"].append(float(fact["val"]) if fact.get("val") is not None else None)
        rows["accession"].append(accession)
        rows["entity_name"].append(fact.get("entityName"))
        rows["frame"].append(frame)
    return pa.table(rows, schema=SHARES_OUTSTANDING_SCHEMA)


def write_frame(store_root: str | os.PathLike[str], frame: str, table: pa.Table) -> Path:
    """Replace one frame's file atomically (temp file, fsync, rename)."""
    directory = Path(store_root) / DATASET
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"frame={frame}.parquet"
    replace_parquet(path, table)
    return path


def scan_shares_outstanding(store_root: str | os.PathLike[str]) -> pl.LazyFrame:
    """Every stored fact; point in time at ``t`` means using only facts with ``filed <= t``."""
    schema = pl.from_arrow(SHARES_OUTSTANDING_SCHEMA.empty_table()).schema  # type: ignore[union-attr]
    files = sorted((Path(store_root) / DATASET).glob("frame=*.parquet"))
    if not files:
        return pl.LazyFrame(schema=schema)
    return pl.scan_parquet(files, schema=schema)


@dataclass
class SharesReport:
    """Facts stored per frame, and what could not be fetched."""

    frames: dict[str, int] = field(default_factory=dict)
    unfiled: int = 0
    failures: dict[str, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line."""
        return (
            f"shares outstanding: {sum(self.frames.values())} facts in {len(self.frames)} frames, "
            f"{self.unfiled} without a known filing date, {len(self.failures)} frames not fetched"
            + "".join(f"\n  {url}: {reason}" for url, reason in sorted(self.failures.items()))
        )


async def fetch_shares_outstanding(
    store_root: str | os.PathLike[str],
    client: EdgarClient,
    urls: EdgarUrls,
    quarters: Iterable[tuple[int, int]],
) -> SharesReport:
    """Fetch and store the frame of each quarter, with filing dates from the quarterly xbrl.idx."""
    report = SharesReport()
    filed_cache: dict[tuple[int, int], dict[str, date]] = {}

    async def filing_dates(year: int, quarter: int) -> dict[str, date]:
        if (year, quarter) not in filed_cache:
            url = urls.quarterly_index(year, quarter, kind="xbrl")
            dates: dict[str, date] = {}
            try:
                data = await client.get(url, missing_ok=True)
                if data:
                    table = parse_index(data, forms=None)
                    dates = dict(
                        zip(
                            table.column("accession").to_pylist(),
                            table.column("date_filed").to_pylist(),
                            strict=True,
                        )
                    )
            except (FetchError, IndexFormatError) as exc:
                report.failures[url] = str(exc)
            filed_cache[(year, quarter)] = dates
        return filed_cache[(year, quarter)]

    for year, quarter in quarters:
        url = urls.shares_frame(year, quarter)
        try:
            data = await client.get(url, missing_ok=True)
        except FetchError as exc:
            report.failures[url] = exc.reason
            continue
        if data is None:
            report.failures[url] = "no such frame (HTTP 403/404)"
            continue
        filed = {**await filing_dates(*next_quarter((year, quarter))), **await filing_dates(year, quarter)}
        frame = frame_name(year, quarter)
        try:
            table = parse_frame(data, frame=frame, filed=filed)
        except ValueError as exc:
            report.failures[url] = str(exc)
            continue
        write_frame(store_root, frame, table)
        report.frames[frame] = table.num_rows
        report.unfiled += table.column("filed").null_count
    return report
