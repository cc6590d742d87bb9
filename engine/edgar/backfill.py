"""History in bulk: the SEC's quarterly Insider Transactions Data Sets into the store.

One request per quarter (``{YYYY}q{N}_form345.zip``, 2006 Q1 on) through the same polite client as
the downloader, or a zip already on disk. Each zip is parsed by :mod:`parsers.form345_dataset` and
written as one store batch; accessions already stored (for instance from the XML downloader, which
carries acceptance times) are skipped, so backfill and download can be run in either order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from engine.edgar.http import EdgarClient, FetchError
from engine.edgar.urls import EdgarUrls
from engine.errors import UserError
from engine.store.datasets import Store
from parsers.form345_dataset import DatasetError, parse_dataset

FIRST_DATASET = (2006, 1)
"""The first quarter the SEC published a data set for."""


@dataclass
class QuarterResult:
    """What one data set contributed."""

    source: str
    filings: int = 0
    duplicates: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class BackfillReport:
    """Every quarter's result and the run's timing."""

    quarters: list[QuarterResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """True when every quarter was read and stored."""
        return all(q.error is None for q in self.quarters)

    def summary(self) -> str:
        """One line per quarter, then the totals."""
        lines = []
        for q in self.quarters:
            if q.error:
                lines.append(f"  {q.source}: NOT STORED: {q.error}")
                continue
            transactions = q.rows.get("transactions", 0)
            lines.append(
                f"  {q.source}: {q.filings} filings, {transactions} transaction rows, "
                f"{q.duplicates} already stored"
            )
            lines.extend(f"    warning: {w}" for w in q.warnings)
        stored = sum(q.filings for q in self.quarters)
        failed = sum(q.error is not None for q in self.quarters)
        lines.append(
            f"{len(self.quarters)} data sets, {stored} filings stored, {failed} failed, {self.seconds:.1f} s"
        )
        return "\n".join(lines)


def ingest_dataset(store: Store, data: bytes, *, source: str) -> QuarterResult:
    """Parse one data-set zip and write it to the store as one batch."""
    result = QuarterResult(source)
    try:
        parsed = parse_dataset(data, source=source)
    except DatasetError as exc:
        result.error = str(exc)
        return result
    written = store.write(parsed.tables)
    result.filings = written.filings
    result.duplicates = written.duplicates
    result.rows = dict(written.rows)
    result.warnings = parsed.warnings
    return result


def ingest_zip_files(store: Store, paths: Iterable[Path]) -> BackfillReport:
    """Backfill from data-set zips already on disk."""
    began = time.monotonic()
    report = BackfillReport()
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise UserError(f"cannot read {path}: {exc.strerror or exc}", fix="check the path") from exc
        report.quarters.append(ingest_dataset(store, data, source=Path(path).name))
    report.seconds = time.monotonic() - began
    return report


async def backfill_quarters(
    store: Store, client: EdgarClient, urls: EdgarUrls, quarters: Iterable[tuple[int, int]]
) -> BackfillReport:
    """Download and store the data set of each quarter; a quarter not published yet is reported, not fatal.

    The next zip downloads while the previous one is parsed and written."""
    began = time.monotonic()
    report = BackfillReport()
    store.check_writable()

    async def fetch(year: int, quarter: int) -> tuple[str, bytes | None, str | None]:
        url = urls.dataset_zip(year, quarter)
        try:
            data = await client.get(url, missing_ok=True)
        except FetchError as exc:
            return url, None, exc.reason
        return url, data, None if data is not None else "not published (HTTP 403/404)"

    pending = list(quarters)
    ahead = asyncio.create_task(fetch(*pending[0])) if pending else None
    for i in range(len(pending)):
        assert ahead is not None
        url, data, error = await ahead
        ahead = asyncio.create_task(fetch(*pending[i + 1])) if i + 1 < len(pending) else None
        name = url.rsplit("/", 1)[-1]
        if data is None:
            report.quarters.append(QuarterResult(name, error=f"{url}: {error}"))
            continue
        report.quarters.append(await asyncio.to_thread(ingest_dataset, store, data, source=name))
    report.seconds = time.monotonic() - began
    return report
