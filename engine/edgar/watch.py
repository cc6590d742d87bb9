"""``insider watch``: EDGAR's current-filings feed, polled inside the one shared rate budget, new filings
stored through the downloader, the live cross-section rescored and events raised after each batch.

Each poll reads the feed of every watched form type newest first, page by page (feed pages are requests
like any other: same client, same limiter, same pauses on 429/403), back to the newest acceptance time it
has processed (less ``overlap``, for filings disseminated out of order) or, on a first run, to the store's
last filing day. Accessions the manifest or the store already hold are skipped. New filings go through
:class:`engine.edgar.download.Downloader` (same store, manifest and quarantine as ``insider update``),
then :func:`engine.scoring.live.live_scores` rescores the batch's score dates and
:func:`engine.scoring.watch_rules.evaluate` raises the alerts.

When the feed cannot reach back that far (it scrolled past the last entry seen: an outage, a burst), the
missing span is a gap: reported, and filled from each day's daily index once EDGAR publishes it. Every day
the watch stored filings for is settled the same way, with every ownership form, so that a watch-fed store
ends equal to what ``insider update`` makes of those days. ``<store>/_watch/state.json`` keeps the high-water
mark, the days still to settle and the filings stored but not yet evaluated, so a restart resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

import polars as pl

from engine.edgar.alerts import EventMemory, EventWriter, WebhookSender, compose
from engine.edgar.discovery import Target, targets_from_index
from engine.edgar.download import Downloader
from engine.edgar.http import EdgarClient, FetchError
from engine.edgar.urls import EdgarUrls
from engine.edgar.watch_state import (
    NEW_YORK,
    STATE,
    WATCH_DIR,
    WatchReport,
    WatchSettings,
    WatchState,
    poll_interval,
)
from engine.errors import UserError
from engine.scoring.live import first_score_date, live_market_caps, live_scores, market_caps_source
from engine.scoring.market_caps import MarketSource
from engine.scoring.watch_rules import evaluate
from engine.store.atomic import replace_bytes
from engine.store.datasets import Store
from parsers.feed import FeedEntry, FeedFormatError, parse_feed
from parsers.index import IndexFormatError, parse_index
from parsers.schema import OWNERSHIP_FORMS

log = logging.getLogger(__name__)

FEED_PAGE = 100
INDEX_BUILT = clock_time(22, 0)
"""A day's daily index is built from about 22:00 New York that night."""
INDEX_GIVE_UP = timedelta(days=4)
"""A day whose daily index is still missing this long after (a holiday) is no longer waited for."""
CATCH_UP_DAYS = 7
"""A first run reads back to the store's last filing day only when it is this recent; an older store is
``insider update``'s job (the watch then starts from what the feed holds, and says so)."""


@dataclass
class _FeedRead:
    targets: list[Target]
    newest: datetime | None
    gap: tuple[datetime | date, datetime] | None


class Watcher:
    """One watch session over one store and one polite client; ``run`` until ``stop`` is set."""

    def __init__(
        self,
        store: Store,
        client: EdgarClient,
        urls: EdgarUrls,
        settings: WatchSettings,
        writer: EventWriter,
        *,
        webhook: WebhookSender | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(NEW_YORK),
        workers: int = 8,
        status: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.client = client
        self.urls = urls
        self.settings = settings
        self.writer = writer
        self.webhook = webhook
        self.now = now
        self.workers = workers
        self.status = status or (lambda line: None)
        self.report = WatchReport()
        directory = store.side_directory(WATCH_DIR)
        self.state_path = directory / STATE
        self.state = WatchState.load(self.state_path)
        self.memory = EventMemory(directory)
        self.caps_source: MarketSource | None = None
        self._downloader: Downloader | None = None
        self._reference_day: date | None = None
        self._index_tries: dict[date, float] = {}
        self._sources: dict[str, str] = {}
        # pending accessions whose fetch is over (all of a crashed session's are): ready to evaluate
        self._ready: set[str] = set(self.state.pending)
        self._evaluator: asyncio.Task[None] | None = None
        self._save_lock: asyncio.Lock | None = None
        self._memory_lock: asyncio.Lock | None = None

    # the session

    async def __aenter__(self) -> Watcher:
        """Open the session: check the store and the market data, start the downloader's workers."""
        self.store.check_writable()
        self.caps_source = market_caps_source(self.store, self.settings.market_caps)
        self._save_lock, self._memory_lock = asyncio.Lock(), asyncio.Lock()
        if self.state.high_water is None:
            self._reference_day = self._catch_up_from()
        downloader = Downloader(self.store, self.client, self.urls, workers=self.workers)
        self._downloader = await downloader.__aenter__()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        """Close the session once the events of the stored filings are raised; after an error or a stop
        the fetched filings not yet written are dropped (the manifest does not list them, so the next
        session fetches them again) and so are events not raised yet (the next session raises them)."""
        if exc_type is None:
            await self.evaluated()
        elif self._evaluator is not None:
            self._evaluator.cancel()
            await asyncio.gather(self._evaluator, return_exceptions=True)
        downloader, self._downloader = self._downloader, None
        if downloader is not None:
            await downloader.__aexit__(exc_type, *exc)

    async def run(self, stop: asyncio.Event, *, once: bool = False) -> WatchReport:
        """Poll until ``stop`` is set (or once); a stop mid-poll abandons that poll cleanly."""
        try:
            async with self:
                while not stop.is_set():
                    began = time.monotonic()
                    if not await self._interruptible(self.cycle(), stop):
                        raise _Stopped
                    if once:
                        break
                    # polls start an interval apart: a busy poll is not followed by a full interval's wait
                    delay = poll_interval(self.now(), self.settings, self.client.limiter.rate)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(
                            stop.wait(), timeout=max(0.0, began + delay - time.monotonic())
                        )
        except _Stopped:
            log.info("watch stopped during a poll; its unwritten filings are fetched again next time")
        return self.report

    def _catch_up_from(self) -> date | None:
        """The store's last filing day, where a first run reads the feed back to (None: not recent)."""
        last = self.store.last_filing_date()
        today = self.now().astimezone(NEW_YORK).date()
        if last is not None and today - last > timedelta(days=CATCH_UP_DAYS):
            log.warning(
                "the store's last filing day is %s: the watch starts from what the feed holds; run "
                "`insider update` to fetch %s..%s",
                last,
                last,
                today,
            )
            return None
        return last

    @staticmethod
    async def _interruptible(work: Any, stop: asyncio.Event) -> bool:
        """Run ``work`` unless ``stop`` is set first (then cancel it); True when it finished."""
        task = asyncio.ensure_future(work)
        stopper = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if task in done:
            task.result()
            return True
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return False

    async def cycle(self) -> None:
        """One poll: read the feed, store what is new, settle days whose index is out. The events of what
        is stored (and of what an earlier poll or a crashed session stored but could not evaluate) are
        raised in the background, so that polls keep their pace: ``evaluated`` waits for them."""
        self.report.polls += 1
        self._kick()
        try:
            found = await self._read_feed()
        except (FetchError, FeedFormatError) as exc:
            self.report.feed_errors += 1
            self.report.last_error = str(exc)
            log.warning("the current-filings feed could not be read (%s); trying again next poll", exc)
            found = None
        if found is not None:
            before = (self.state.high_water, dict(self.state.days))
            if found.gap is not None:
                await self._open_gap(*found.gap)
            self.report.new_filings += len(found.targets)
            if found.targets:
                await self._store(found.targets, "feed")
                for target in found.targets:
                    self.state.days.setdefault(target.filing_date, "watched")
            if found.newest is not None and (
                self.state.high_water is None or found.newest > self.state.high_water
            ):
                self.state.high_water = found.newest
            self._reference_day = None
            if (self.state.high_water, self.state.days) != before:  # an idle poll writes nothing
                await self._save()
        await self._settle_days()

    # reading the feed

    async def _read_feed(self) -> _FeedRead:
        """New filings of every watched form type, one target per accession (its smallest CIK, as the
        daily index gives it), the newest acceptance time seen, and the gap if the feed ended first."""
        assert self._downloader is not None
        lines: dict[str, list[FeedEntry]] = {}
        newest: datetime | None = None
        gap: tuple[datetime | date, datetime] | None = None
        for form_type in self.settings.feed_types:
            reached, oldest = False, None
            for page_number in range(self.settings.max_pages):
                url = self.urls.current_feed(form_type, start=page_number * FEED_PAGE, count=FEED_PAGE)
                body = await self.client.get(url)
                assert body is not None
                page = parse_feed(body)
                for problem in page.skipped:
                    log.warning("feed page %s: %s (entry skipped)", url, problem)
                for entry in page.entries:
                    if entry.updated is not None:
                        newest = entry.updated if newest is None else max(newest, entry.updated)
                        oldest = entry.updated
                    if self._reached(entry):
                        reached = True
                    elif entry.form_type in self.settings.forms and not self._downloader.is_known(
                        entry.accession
                    ):
                        lines.setdefault(entry.accession, []).append(entry)
                if reached or len(page.entries) < FEED_PAGE:
                    break
            reference = self.state.high_water or self._reference_day
            if not reached and reference is not None and oldest is not None and _after(oldest, reference):
                gap = (reference, oldest) if gap is None else (reference, max(oldest, gap[1]))
        targets = []
        for accession, entries in lines.items():
            target = _target(entries)
            if target is None:
                log.warning("feed entry of %s has neither a filing date nor a time (skipped)", accession)
            else:
                targets.append(target)
        return _FeedRead(targets, newest, gap)

    def _reached(self, entry: FeedEntry) -> bool:
        """Whether an entry is older than what earlier polls (or the store) already cover."""
        if self.state.high_water is not None:
            return entry.updated is not None and entry.updated < self.state.high_water - self.settings.overlap
        if self._reference_day is not None:
            day = entry.filing_date or (entry.updated.astimezone(NEW_YORK).date() if entry.updated else None)
            return day is not None and day < self._reference_day
        return False

    async def _open_gap(self, since: datetime | date, until: datetime) -> None:
        """Record the days a gap spans (to fill from their daily index) and report it."""
        first = since.astimezone(NEW_YORK).date() if isinstance(since, datetime) else since
        last = until.astimezone(NEW_YORK).date()
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        days = [d for d in days if d.weekday() < 5]
        for day in days:
            self.state.days[day] = "gap"
        self.report.gaps += 1
        event_id = f"feed_gap:{since.isoformat()}"
        log.warning("the feed scrolled past the last entry seen: gap from %s to %s", since, until)
        gap = {
            "id": event_id,
            "rule": "feed_gap",
            "status": "open",
            "since": since,
            "until": until,
            "days": days,
            "detail": "the feed no longer reaches back to the last entry seen; these days are filled "
            "from their daily index once EDGAR publishes it (from about 22:00 New York)",
            "emitted_at": self.now(),
        }
        await self._emit_all([([event_id], gap)])

    # storing, scoring, raising

    async def _store(self, targets: list[Target], source: str) -> None:
        """Fetch and store targets through the downloader, then raise their events."""
        assert self._downloader is not None
        accessions = [t.accession for t in targets]
        self.state.pending = sorted(set(self.state.pending) | set(accessions))
        await self._save()
        await self._downloader.feed(targets)
        await self._downloader.drain()
        failed = [a for a in accessions if not self._downloader.is_known(a)]
        for accession in failed:
            log.warning(
                "%s could not be fetched (%s); it is tried again when its day is settled from its index",
                accession,
                self._downloader.report.failed.get(accession),
            )
        self.report.failed += len(failed)
        self._sources.update(dict.fromkeys(accessions, source))
        self._ready.update(accessions)
        self._kick()

    def _kick(self) -> None:
        """Start raising the pending filings' events in the background, unless that is under way; an
        unexpected error of the previous round (a bug, not bad data) ends the session here."""
        if self._evaluator is not None and self._evaluator.done():
            if not self._evaluator.cancelled():
                self._evaluator.result()
            self._evaluator = None
        if self._ready and self._evaluator is None:
            self._evaluator = asyncio.create_task(self._raise_pending())

    async def evaluated(self) -> None:
        """Wait until the events of every filing stored so far are raised (or could not be: then they
        stay pending for the next poll)."""
        while self._evaluator is not None and not self._evaluator.done():
            await self._evaluator

    async def _raise_pending(self) -> None:
        """Evaluate the stored filings whose events are not raised yet, batch after batch as polls add
        them; on failure (market data missing, an unreadable store file) they stay pending and the next
        poll tries again."""
        while self._ready:
            batch = sorted(self._ready)
            try:
                self.report.stored += await self._evaluate(batch, dict(self._sources))
            except (UserError, OSError, pl.exceptions.PolarsError) as exc:
                self.report.last_error = str(exc)
                log.warning(
                    "events of %d filing(s) not raised yet (%s); trying again next poll", len(batch), exc
                )
                return
            done = set(batch)
            self._ready -= done
            self.state.pending = [a for a in self.state.pending if a not in done]
            for accession in done:
                self._sources.pop(accession, None)
            await self._save()

    async def _evaluate(self, accessions: Collection[str], sources: dict[str, str]) -> int:
        """Rescore the batch's score dates and emit the events it raises (each id once); returns how
        many of the accessions the store holds."""
        batch = await asyncio.to_thread(self._batch, list(accessions))
        if batch.is_empty():
            return 0
        events = await asyncio.to_thread(self._events, batch, sources)
        await self._emit_all(events)
        self.status(
            f"{batch.height} filing(s) stored for {batch['issuer_cik'].n_unique()} issuer(s); "
            f"{len(events)} event(s) raised"
        )
        return batch.height

    def _batch(self, accessions: list[str]) -> pl.DataFrame:
        """The batch's stored filings (quarantined and failed ones are not in the store), with the score
        date each first counts on."""
        frame = (
            self.store.scan("filings")
            .filter(pl.col("accession").is_in(pl.Series(accessions, dtype=pl.String).implode()))
            .filter(pl.col("issuer_cik").is_not_null() & pl.col("available_date").is_not_null())
            .select("accession", "issuer_cik", "issuer_name", "ticker", "accepted_at", "available_date")
            .collect()
        )
        dates = [first_score_date(d) for d in frame["available_date"]]
        return frame.with_columns(pl.Series("date", dates, dtype=pl.Date))

    def _events(self, batch: pl.DataFrame, sources: dict[str, str]) -> list[tuple[list[str], dict[str, Any]]]:
        """The new events of a batch as ``(remembered keys, event)``; alerts already raised are left out."""
        assert self.caps_source is not None
        config = self.settings.score_config
        accessions = batch["accession"].to_list()
        dates = batch["date"].unique().to_list()
        scores, notes = live_scores(
            self.store, accessions, dates, market_caps=self.caps_source, config=config
        )
        for note in notes:
            log.info("score: %s", note)
        caps = live_market_caps(self.store, self.caps_source, max(dates))
        alerts = evaluate(self.store, batch, scores, caps, self.settings.rules, config)
        involved = sorted({a for alert in alerts for a in alert.accessions})
        owners = (
            self.store.scan("owners")
            .filter(pl.col("accession").is_in(pl.Series(involved, dtype=pl.String).implode()))
            .select("accession", "owner_index", "owner_cik", "owner_name", "role", "officer_title")
            .collect()
        )
        events = []
        for alert in alerts:
            keys = [f"{alert.rule}:{accession}" for accession in alert.triggers]
            fresh = [key for key in keys if key not in self.memory]
            if fresh:
                event = compose(alert, fresh[0], batch, owners, scores, now=self.now(), sources=sources)
                events.append((keys, event))
        return events

    async def _emit_all(self, events: list[tuple[list[str], dict[str, Any]]]) -> None:
        """Remember (one fsync, off the event loop), then write and post, the events whose keys are not
        all remembered yet."""
        assert self._memory_lock is not None
        async with self._memory_lock:
            fresh = [(keys, event) for keys, event in events if not all(key in self.memory for key in keys)]
            await asyncio.to_thread(self.memory.remember, [key for keys, _ in fresh for key in keys])
            for _, event in fresh:
                self.writer.write(event)
                if self.webhook is not None:
                    self.webhook.submit(event)
                self.report.events += 1

    async def _save(self) -> None:
        """Save the state as it is now, off the event loop (an fsync takes milliseconds that fetches
        should not wait for); saves land in the order they were asked for."""
        assert self._save_lock is not None
        async with self._save_lock:
            await asyncio.to_thread(replace_bytes, self.state_path, self.state.encode())

    # settling days from the daily index

    async def _settle_days(self) -> None:
        """Store every ownership filing of each watched or gap day whose daily index is out (what
        ``insider update`` would fetch for it); report the gaps filled."""
        assert self._downloader is not None
        now = self.now().astimezone(NEW_YORK)
        for day, kind in sorted(self.state.days.items()):
            built = datetime.combine(day, INDEX_BUILT, NEW_YORK)
            if now < built or time.monotonic() < self._index_tries.get(day, 0.0):
                continue
            url = self.urls.daily_index(day)
            try:
                data = await self.client.get(url, missing_ok=True)
                targets = (
                    None if data is None else targets_from_index(parse_index(data, forms=OWNERSHIP_FORMS))
                )
            except (FetchError, IndexFormatError) as exc:
                log.warning("the daily index %s could not be read (%s); trying again later", url, exc)
                self._index_tries[day] = time.monotonic() + self.settings.index_retry
                continue
            if targets is None:  # not built yet (EDGAR answers 403 or 404)
                if now - built > INDEX_GIVE_UP:
                    await self._close_day(day, kind, None, "no daily index was published (a holiday?)")
                else:
                    self._index_tries[day] = time.monotonic() + self.settings.index_retry
                continue
            missing = [t for t in targets if not self._downloader.is_known(t.accession)]
            if missing:
                await self._store(missing, "daily-index")
            await self._close_day(day, kind, len(missing), None)

    async def _close_day(self, day: date, kind: str, recovered: int | None, problem: str | None) -> None:
        """A day settled (or given up): forget it, and report a gap day as filled (or not)."""
        del self.state.days[day]
        await self._save()
        self.report.days_settled += recovered is not None
        if kind == "gap":
            event_id = f"feed_gap_filled:{day.isoformat()}"
            report = {
                "id": event_id,
                "rule": "feed_gap",
                "status": "filled" if recovered is not None else "unfilled",
                "day": day,
                "filings_recovered": recovered,
                "detail": problem or "filled from the day's daily index",
                "emitted_at": self.now(),
            }
            await self._emit_all([([event_id], report)])


class _Stopped(Exception):
    """A stop signal arrived in the middle of a poll."""


def _after(moment: datetime, reference: datetime | date) -> bool:
    if isinstance(reference, datetime):
        return moment > reference
    return moment.astimezone(NEW_YORK).date() >= reference


def _target(entries: list[FeedEntry]) -> Target | None:
    """One filing's feed lines (issuer, owners) as the downloader's target, keyed as the index keys it."""
    first = entries[0]
    filed = first.filing_date or (first.updated.astimezone(NEW_YORK).date() if first.updated else None)
    if filed is None:
        return None
    return Target(filed, first.accession, min(e.cik for e in entries), first.form_type)
