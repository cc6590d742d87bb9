"""Fetch ownership filings into the store: one request per filing, parsed as it arrives, written in batches.

Workers take targets from a bounded queue, fetch ``Archives/edgar/data/{cik}/{accession}.txt`` through
the shared polite client and hand the bytes to a :class:`parsers.tables.TableBuilder` at once. Every
``batch_size`` filings the builder's tables go to ``Store.write`` and then the batch's outcomes to the
manifest, so memory holds one batch whatever the date range, and a restart after a kill refetches only
what the manifest does not record (the store skips any accession it already holds). A run that ends
early (Ctrl-C, SIGTERM, EDGAR asking for a wait too long to sit through) stores what it fetched first,
and records where it stopped so that ``insider update`` starts no later than that.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from engine.edgar.calendar import quarter_chunks, today_in_new_york
from engine.edgar.discovery import Target, discover
from engine.edgar.http import EdgarBlocked, EdgarClient, FetchError, is_html_page
from engine.edgar.progress import Progress
from engine.edgar.urls import EdgarUrls
from engine.store.datasets import Store
from engine.store.indexes import AccessionIndex
from engine.store.manifest import Manifest, ManifestRecord
from parsers.submission import is_sgml
from parsers.tables import TableBuilder

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 1000
DEFAULT_WORKERS = 16


@dataclass
class DownloadReport:
    """What a download did; ``failed`` maps accession to the reason it could not be fetched."""

    listed: int = 0
    already_done: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    index_failures: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    bytes: int = 0
    retries: int = 0
    pauses: int = 0
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """True when nothing failed: every listed filing is in the store and every index was read."""
        return not self.failed and not self.index_failures

    def summary(self) -> str:
        """A few human lines for the end of a run."""
        lines = [
            f"{self.listed} filings listed, {self.already_done} already in the store, {self.stored} stored, "
            f"{self.quarantined} quarantined, {self.duplicates} duplicates, {len(self.failed)} failed",
            f"{self.requests} requests, {self.bytes / 1e6:.1f} MB, {self.retries} retries, "
            f"{self.pauses} rate-limit pauses, {self.seconds:.1f} s",
        ]
        for url, reason in sorted(self.index_failures.items()):
            lines.append(f"  index not read {url}: {reason}")
        for accession, reason in sorted(self.failed.items())[:20]:
            lines.append(f"  failed {accession}: {reason}")
        if len(self.failed) > 20:
            lines.append(f"  ... and {len(self.failed) - 20} more (the store's _manifest lists them all)")
        return "\n".join(lines)


SUBMISSION_ENDS = (b"</SEC-DOCUMENT>", b"-----END PRIVACY-ENHANCED MESSAGE-----")
"""How a whole full submission ends: its SGML envelope closed (the older ones inside a PEM envelope)."""


def submission_problem(body: bytes) -> str | None:
    """Why a 200 answer to a filing's URL is not its whole submission (None when it is): an HTML page, or
    a body cut short. Such an answer is a failed fetch, retried now and by the next run, never a filing
    to quarantine."""
    if is_html_page(body):
        return "an HTML page instead of the submission"
    if not is_sgml(body):
        return "not an EDGAR submission"
    if not body[-200:].rstrip().endswith(SUBMISSION_ENDS):
        return f"the submission is cut short (no closing </SEC-DOCUMENT> in {len(body)} bytes)"
    return None


def source_path(target: Target) -> str:
    """The mirror-independent name a stored filing keeps as its ``source``."""
    return f"Archives/edgar/data/{target.cik}/{target.accession}.txt"


class Downloader:
    """Fetches targets into one store through one client, as an ``async with`` session fed by ``feed``.

    Workers live for the whole session, so discovering the next part of a range overlaps with fetching
    the current one; the last partial batch is written when the session closes normally.
    """

    def __init__(
        self,
        store: Store,
        client: EdgarClient,
        urls: EdgarUrls,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        workers: int = DEFAULT_WORKERS,
        progress: Progress | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.urls = urls
        self.manifest = Manifest(store)
        self.batch_size = batch_size
        self.workers = workers
        self.progress = progress
        self.report = DownloadReport()
        self._builder = TableBuilder()
        self._records: list[ManifestRecord] = []
        self._flush_lock = asyncio.Lock()
        self._queue: asyncio.Queue[Target | None] = asyncio.Queue(maxsize=workers * 4)
        self._tasks: list[asyncio.Task[None]] = []
        self._queued = AccessionIndex(pl.Series("accession", [], dtype=pl.String))
        self._pending: dict[str, date] = {}
        self._stopped: EdgarBlocked | None = None

    async def __aenter__(self) -> Downloader:
        self.manifest.compact()
        self._queued = AccessionIndex(self.manifest.quarantined())
        await asyncio.to_thread(self.store.missing, [])  # loads the store's accession index off the loop
        self._tasks = [asyncio.create_task(self._worker()) for _ in range(self.workers)]
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        """Let the workers finish (or cancel them when the run is ending early), then store what they
        fetched, in every case; raises :class:`EdgarBlocked` when EDGAR stopped the run."""
        if exc_type is None:
            for _ in self._tasks:
                await self._queue.put(None)
            await asyncio.gather(*self._tasks)
        else:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._flush()
        if exc_type is None and self._stopped is not None:
            raise self._stopped

    def unfinished(self) -> set[date]:
        """The filing days of targets queued and not fetched (yet)."""
        return set(self._pending.values())

    async def feed(self, targets: Iterable[Target]) -> None:
        """Queue every target not stored, quarantined or queued before (waits while the queue is full).

        "Stored?" is asked of the store's packed accession index, and what this session queued or the
        manifest quarantined is kept packed too: memory stays flat however many filings the store holds."""
        targets = list(targets)
        fresh = set(self.store.missing(self._queued.missing([t.accession for t in targets])))
        todo = [t for t in targets if t.accession in fresh]
        self._queued.add([t.accession for t in todo])
        self._pending.update((t.accession, t.filing_date) for t in todo)
        self.report.listed += len(targets)
        self.report.already_done += len(targets) - len(todo)
        if self.progress is not None:
            self.progress.add_total(len(todo))
        for target in todo:
            if self._stopped is not None:
                raise self._stopped
            await self._queue.put(target)

    def is_known(self, accession: str) -> bool:
        """Whether ``feed`` would skip an accession: stored, quarantined, or queued in this session."""
        return not self.store.missing(self._queued.missing([accession]))

    async def drain(self) -> None:
        """Wait until every target fed so far is fetched, then write the partial batch (``insider watch``
        stores each poll's filings at once instead of waiting for a full batch)."""
        await self._queue.join()
        await self._flush()

    async def run(self, targets: Iterable[Target]) -> DownloadReport:
        """Fetch a list of targets in one session; returns the session's report."""
        async with self:
            await self.feed(targets)
        return self.report

    async def _worker(self) -> None:
        while (target := await self._queue.get()) is not None:
            try:
                if self._stopped is not None:
                    continue  # the run is ending: the target stays unfetched, for the next run
                try:
                    await self._fetch(target)
                except EdgarBlocked as exc:
                    self._stopped = exc
                    continue
                if len(self._records) >= self.batch_size:
                    await self._flush()
            finally:
                self._queue.task_done()

    async def _fetch(self, target: Target) -> None:
        record = dict(
            accession=target.accession,
            cik=target.cik,
            form_type=target.form_type,
            filing_date=target.filing_date,
        )
        try:
            body = await self.client.get(
                self.urls.filing(target.cik, target.accession), check=submission_problem
            )
        except FetchError as exc:
            self._records.append(ManifestRecord(**record, status="failed", reason=exc.reason))
            self._pending.pop(target.accession, None)
            self.report.failed[target.accession] = exc.reason
            self._queued.remove([target.accession])  # a later feed of this session may try it again
            if self.progress is not None:
                self.progress.update(failed=1)
            return
        assert body is not None
        stored = self._builder.add(
            body, source=source_path(target), accession=target.accession, filing_date=target.filing_date
        )
        self._records.append(ManifestRecord(**record, status="stored" if stored else "quarantined"))
        self._pending.pop(target.accession, None)
        if self.progress is not None:
            self.progress.update(done=1, nbytes=len(body))

    async def _flush(self) -> None:
        """Write the current batch (store first, then manifest); later batches wait for earlier ones.

        The batch is taken only once the lock is held, so a flush cancelled while waiting for it holds
        nothing: what was fetched stays in the current batch for the next flush."""
        async with self._flush_lock:
            builder, records = self._builder, self._records
            self._builder, self._records = TableBuilder(), []
            if not records:
                return
            write = asyncio.ensure_future(asyncio.to_thread(self._write, builder, records))
            try:
                await asyncio.shield(write)
            except asyncio.CancelledError:
                await write  # a batch being written is finished, never abandoned halfway
                raise

    def _write(self, builder: TableBuilder, records: list[ManifestRecord]) -> None:
        tables = builder.build()
        result = self.store.write(tables)
        quarantine = tables["quarantine"]
        reasons = dict(
            zip(
                quarantine.column("accession").to_pylist(),
                quarantine.column("reason").to_pylist(),
                strict=True,
            )
        )
        self.manifest.append(
            ManifestRecord(**{**r.__dict__, "reason": reasons.get(r.accession)})
            if r.status == "quarantined"
            else r
            for r in records
        )
        self.report.stored += result.filings
        self.report.duplicates += result.duplicates
        self.report.quarantined += sum(r.status == "quarantined" for r in records)


async def download_range(
    store: Store,
    client: EdgarClient,
    urls: EdgarUrls,
    start: date,
    end: date,
    *,
    today: date | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    workers: int = DEFAULT_WORKERS,
    progress: Progress | None = None,
) -> DownloadReport:
    """Every Form 3/4/5 (and amendment) filed from ``start`` to ``end`` into ``store``.

    The range is discovered quarter by quarter, one quarter ahead of the fetching, so memory holds one
    quarter's target list and one batch of rows whatever the range. Filings that failed in an earlier
    run are tried again even when they lie outside the range (``insider update`` starts at the last day).

    A run that ends early (cancelled, interrupted, :class:`EdgarBlocked`) stores what it fetched and
    records as an index gap the first day it may have left unfinished, then raises."""
    began = time.monotonic()
    today = today or today_in_new_york()
    store.check_writable()
    chunks = list(quarter_chunks(start, end))
    gaps: dict[str, date] = {}
    listed_until = start - timedelta(days=1)
    downloader = Downloader(store, client, urls, batch_size=batch_size, workers=workers, progress=progress)
    try:
        async with downloader:
            ahead = asyncio.create_task(discover(client, urls, *chunks[0], today=today)) if chunks else None
            try:
                await downloader.feed(earlier_failures(downloader.manifest, start, end))
                for i in range(len(chunks)):
                    assert ahead is not None
                    found = await ahead
                    ahead = (
                        asyncio.create_task(discover(client, urls, *chunks[i + 1], today=today))
                        if i + 1 < len(chunks)
                        else None
                    )
                    log.info("%s..%s: %d filings listed", *chunks[i], len(found.targets))
                    downloader.report.index_failures.update(found.failures)
                    gaps.update(found.failed_days)
                    await downloader.feed(found.targets)
                    listed_until = chunks[i][1]
            finally:
                if ahead is not None:
                    ahead.cancel()
    except BaseException:
        unlisted = [listed_until + timedelta(days=1)] if listed_until < end else []
        pending = [day for day in downloader.unfinished() if start <= day <= end]
        if unlisted or pending:
            gaps[f"run over {start}..{end} ended early"] = min(unlisted + pending)
        downloader.manifest.record_index_gaps(start, end, gaps)
        raise
    downloader.manifest.record_index_gaps(start, end, gaps)
    report = downloader.report
    report.requests = client.stats.requests
    report.bytes = client.stats.bytes
    report.retries = client.stats.retries
    report.pauses = client.stats.pauses
    report.seconds = time.monotonic() - began
    return report


def earlier_failures(manifest: Manifest, start: date, end: date) -> list[Target]:
    """Filings whose latest attempt failed and that were filed outside ``start..end`` (discovery lists
    those inside it again)."""
    frame = manifest.latest_with("failed").filter(~pl.col("filing_date").is_between(start, end))
    return sorted(
        Target(filed, accession, cik, form)
        for accession, cik, form, filed in frame.select(
            "accession", "cik", "form_type", "filing_date"
        ).iter_rows()
    )


def update_start(store: Store) -> date | None:
    """Where ``insider update`` resumes: the store's last filing day (again: its index may have grown), or
    the first day of an index file that an earlier run could not read, if earlier."""
    manifest = Manifest(store)
    days = [d for d in (store.last_filing_date(), manifest.last_filing_date()) if d is not None]
    starts = [max(days)] if days else []
    starts.extend(manifest.index_gaps().values())
    return min(starts) if starts else None
