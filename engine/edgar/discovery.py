"""Which ownership filings exist in a date range, from EDGAR's form indexes.

A quarter wholly inside the range and already over is read from its quarterly
``full-index/{YYYY}/QTR{q}/form.idx`` (one request); any other part of the range from the daily
``daily-index/{YYYY}/QTR{q}/form.{YYYYMMDD}.idx`` of each weekday. An index that does not exist (a
holiday, a day not yet indexed: EDGAR answers 403 or 404) is empty. EDGAR lists a filing once per CIK
involved (issuer and every owner); each accession becomes one target, fetched under its smallest CIK.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import NamedTuple

import pyarrow as pa

from engine.edgar.calendar import quarter_bounds, quarter_chunks, quarter_of, today_in_new_york
from engine.edgar.http import EdgarClient, FetchError
from engine.edgar.urls import EdgarUrls
from parsers.index import IndexFormatError, parse_index
from parsers.schema import OWNERSHIP_FORMS


@dataclass(frozen=True, order=True)
class Target:
    """One filing to fetch: ordered by filing date then accession, the order downloads run in."""

    filing_date: date
    accession: str
    cik: int
    form_type: str


class IndexFile(NamedTuple):
    """One index file to read: a day's, or (``quarterly``) the quarter's starting on ``day``."""

    url: str
    day: date
    quarterly: bool


def index_urls(
    urls: EdgarUrls, start: date, end: date, today: date, *, quarterly: bool = True
) -> list[IndexFile]:
    """The index files covering ``start..end``: a quarterly one for each whole quarter already over."""
    plan: list[IndexFile] = []
    for chunk_start, chunk_end in quarter_chunks(start, end):
        first, last = quarter_bounds(chunk_start.year, quarter_of(chunk_start))
        if quarterly and chunk_start == first and chunk_end == last and last < today:
            plan.append(IndexFile(urls.quarterly_index(first.year, quarter_of(first)), first, True))
            continue
        day = chunk_start
        while day <= min(chunk_end, today):
            if day.weekday() < 5:
                plan.append(IndexFile(urls.daily_index(day), day, False))
            day += timedelta(days=1)
    return plan


def targets_from_index(table: pa.Table, forms: frozenset[str] = OWNERSHIP_FORMS) -> list[Target]:
    """One target per accession of the ownership forms in an INDEX_SCHEMA table, smallest CIK kept."""
    best: dict[str, Target] = {}
    for form, cik, filed, accession in zip(
        table.column("form_type").to_pylist(),
        table.column("cik").to_pylist(),
        table.column("date_filed").to_pylist(),
        table.column("accession").to_pylist(),
        strict=True,
    ):
        if form not in forms or accession is None or cik is None:
            continue
        known = best.get(accession)
        if known is None or cik < known.cik:
            best[accession] = Target(filed, accession, cik, form)
    return list(best.values())


@dataclass
class Discovery:
    """The targets of a range, the index files that could not be fetched or read (url -> reason), and the
    first day each of those covers (url -> day)."""

    targets: list[Target]
    failures: dict[str, str]
    failed_days: dict[str, date] = field(default_factory=dict)


async def discover(
    client: EdgarClient,
    urls: EdgarUrls,
    start: date,
    end: date,
    *,
    today: date | None = None,
    forms: frozenset[str] = OWNERSHIP_FORMS,
) -> Discovery:
    """Every ownership filing EDGAR's indexes list for ``start..end``, one target per accession, sorted;
    indexes after ``today`` (default: New York's) are not asked for."""
    failures: dict[str, str] = {}
    failed_days: dict[str, date] = {}
    if end < start:
        return Discovery([], failures)
    today = today or today_in_new_york()

    async def fetch(index: IndexFile) -> list[Target]:
        try:
            data = await client.get(index.url, missing_ok=True)
            if data is None and index.quarterly:
                first, last = quarter_bounds(index.day.year, quarter_of(index.day))
                daily = index_urls(urls, max(first, start), min(last, end), today, quarterly=False)
                return [t for found in await asyncio.gather(*(fetch(d) for d in daily)) for t in found]
            return targets_from_index(parse_index(data, forms=forms), forms) if data else []
        except FetchError as exc:
            failures[index.url] = exc.reason
            failed_days[index.url] = index.day
        except IndexFormatError as exc:
            failures[index.url] = f"unreadable index: {exc}"
            failed_days[index.url] = index.day
        return []

    found: dict[str, Target] = {}
    plan = index_urls(urls, start, end, today)
    for targets in await asyncio.gather(*(fetch(index) for index in plan)):
        for target in targets:
            known = found.get(target.accession)
            if known is None or target.cik < known.cik:
                found[target.accession] = target
    return Discovery(sorted(found.values()), failures, failed_days)
