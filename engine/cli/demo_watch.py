"""The last act of ``insider demo``: a few seconds of ``insider watch`` on a scripted stretch of today.

The replay publishes copies of bundled filings in its current-filings feed over about three seconds from
now, among them one CEO's open-market buy of TSLA copied as three insiders' buys (a cluster); the real
watcher polls the feed, stores each filing through the downloader into a store of its own
(``<dir>/watch/store``: the demo's main store and its summary stay as downloaded), rescores and writes
the events it raises to ``<dir>/watch/events.jsonl``.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from engine.edgar.alerts import EventWriter
from engine.edgar.http import EdgarClient
from engine.edgar.urls import EdgarUrls
from engine.edgar.watch import Watcher
from engine.edgar.watch_state import NEW_YORK, WatchReport, WatchSettings
from engine.replay import FakeEdgar
from engine.replay.feed import CurrentFeed, Publication, ReplayClock, as_owner, restamp
from engine.replay.filings import ReplayFiling, synthetic_copies
from engine.store.datasets import Store

WATCH_SECONDS = 5.0
POLL_SECONDS = 0.5
CEO_BUY = "0001494730-20-000001"
"""Elon Musk's open-market purchase of TSLA, February 2020 (a bundled filing)."""
OTHERS = 8


@dataclass(frozen=True)
class WatchDemo:
    """What the watch saw: the scripted publications, the session's counters and its events."""

    published: int
    report: WatchReport
    events: list[dict]
    path: Path


def script(filings: list[ReplayFiling], now: datetime) -> list[Publication]:
    """Eight ordinary Form 4s and the TSLA CEO's buy as three insiders', published from ``now`` on."""
    ceo = next(f for f in filings if f.accession == CEO_BUY)
    others = [f for f in filings if f.form_type == "4" and f.accession != CEO_BUY][:OTHERS]
    sources = [
        *others[:4],
        ceo,
        *others[4:],
        as_owner(ceo, 9000001, "Demo Insider One"),
        as_owner(ceo, 9000002, "Demo Insider Two"),
    ]
    publications = []
    for number, source in enumerate(sources):
        moment = now + timedelta(seconds=0.3 * (number + 1))
        (copy,) = synthetic_copies([source], 1, start=moment.date(), first=number)
        publications.append(Publication(moment, restamp(copy, moment)))
    return publications


def watch_demo(
    filings: list[ReplayFiling],
    market_caps: pl.DataFrame,
    workdir: Path,
    *,
    user_agent: str,
    rate: float,
) -> WatchDemo:
    """Serve a feed that grows for a few seconds and watch it (at ``rate`` requests/s against the local
    replay) into ``<workdir>/watch/store``."""
    now = datetime.now(NEW_YORK).replace(tzinfo=None, microsecond=0)
    publications = script(filings, now)
    edgar = FakeEdgar(filings, feed=CurrentFeed(publications, ReplayClock(now)), today=now.date())
    base_url = edgar.start_in_thread()
    path = workdir / "watch" / "events.jsonl"
    path.unlink(missing_ok=True)
    store = Store(workdir / "watch" / "store")
    writer = EventWriter(path)
    try:
        client = EdgarClient(user_agent, rate=rate)
        report = asyncio.run(_watch(store, client, base_url, market_caps, writer))
    finally:
        writer.close()
        edgar.stop_thread()
    events = [json.loads(line) for line in path.read_text().splitlines()]
    return WatchDemo(len(publications), report, events, path)


async def _watch(
    store: Store, client: EdgarClient, base_url: str, market_caps: pl.DataFrame, writer: EventWriter
) -> WatchReport:
    settings = WatchSettings(interval=POLL_SECONDS, night_interval=POLL_SECONDS, market_caps=market_caps)
    async with client:
        watcher = Watcher(store, client, EdgarUrls(base_url, base_url), settings, writer)
        async with watcher:
            deadline = time.monotonic() + WATCH_SECONDS
            while time.monotonic() < deadline:
                await watcher.cycle()
                await asyncio.sleep(POLL_SECONDS)
    return watcher.report
