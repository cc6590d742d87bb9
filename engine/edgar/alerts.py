"""Where ``insider watch`` events go: composed as JSON, remembered by id in the store, written as JSON lines,
and POSTed to a webhook in the background.

An event id is ``rule:accession`` (the first new filing that raised it); every filing that raised it is
remembered under ``rule:accession`` in ``<store>/_watch/emitted.txt`` *before* the event is written, so a
restart never raises the same rule for the same filing twice (at most once, even across a crash). The
webhook sender owns a queue and its own task: a slow or failing endpoint is retried with backoff but never
holds up the poll, and a full queue drops its oldest event with a warning rather than grow without bound.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO

import aiohttp
import polars as pl

from engine.errors import UserError
from engine.scoring.watch_rules import Alert
from parsers.availability import MARKET_CLOSE_HOUR

log = logging.getLogger(__name__)

EMITTED = "emitted.txt"


class EventMemory:
    """The ``rule:accession`` keys already raised, kept in an append-only file of the store's ``_watch``."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / EMITTED
        self._keys: set[str] = set()
        if self.path.exists():
            self._keys = {line.strip() for line in self.path.read_text().splitlines() if line.strip()}

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def __len__(self) -> int:
        return len(self._keys)

    def remember(self, keys: Iterable[str]) -> None:
        """Record keys durably (appended and fsynced)."""
        fresh = [k for k in keys if k not in self._keys]
        if not fresh:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write("".join(f"{key}\n" for key in fresh))
            handle.flush()
            os.fsync(handle.fileno())
        self._keys.update(fresh)


class EventWriter:
    """JSON lines to a file (appended) or to stdout, one flushed line per event."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._stream: TextIO = sys.stdout
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 (kept open for the run)
            except OSError as exc:
                raise UserError(
                    f"cannot write events to {path}: {exc}", fix="pass a writable --events file"
                ) from exc

    def write(self, event: Mapping[str, Any]) -> None:
        """Append one event."""
        self._stream.write(json.dumps(event, default=_json_value, sort_keys=False) + "\n")
        self._stream.flush()

    def close(self) -> None:
        """Close the file (stdout stays open)."""
        if self.path is not None:
            self._stream.close()


def _json_value(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class WebhookSender:
    """POSTs events as JSON to ``url`` from its own task, with retries; ``submit`` never waits."""

    def __init__(
        self,
        url: str,
        *,
        retries: int = 5,
        backoff: float = 1.0,
        timeout: float = 10.0,
        queue_size: int = 1000,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise UserError(
                f"--webhook {url!r} is not an http(s) URL", fix="pass e.g. --webhook https://host/path"
            )
        self.url = url
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=queue_size)
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> WebhookSender:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def submit(self, event: Mapping[str, Any]) -> None:
        """Queue an event for delivery (the oldest queued one is dropped when the queue is full)."""
        if self._queue.full():
            self._queue.get_nowait()
            self._queue.task_done()
            self.dropped += 1
            log.warning("webhook %s is behind: dropped its oldest queued event", self.url)
        self._queue.put_nowait(json.dumps(event, default=_json_value))

    async def close(self, grace: float = 5.0) -> None:
        """Deliver what is queued for up to ``grace`` seconds, then stop."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), timeout=grace)
        except TimeoutError:
            log.warning("webhook %s: %d event(s) not delivered at shutdown", self.url, self._queue.qsize())
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        if self._session is not None:
            await self._session.close()

    async def _run(self) -> None:
        while True:
            body = await self._queue.get()
            try:
                await self._deliver(body)
            finally:
                self._queue.task_done()

    async def _deliver(self, body: str) -> None:
        assert self._session is not None
        reason = ""
        for attempt in range(self.retries + 1):
            try:
                async with self._session.post(
                    self.url, data=body, headers={"Content-Type": "application/json"}
                ) as response:
                    if 200 <= response.status < 300:
                        self.delivered += 1
                        return
                    reason = f"HTTP {response.status}"
                    if response.status < 500 and response.status not in (408, 429):
                        break
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = f"{type(exc).__name__}: {exc}"
            if attempt < self.retries:
                await asyncio.sleep(min(60.0, self.backoff * 2**attempt))
        self.failed += 1
        log.warning("webhook %s: event not delivered (%s)", self.url, reason)


def availability(accepted_at: datetime | None, available: date, score_date: date) -> str:
    """Why the filing counts from ``available`` (SCORING.md section 3), in one sentence."""
    if accepted_at is None:
        when = f"acceptance time unknown: counts from the day after filing, {available}"
    elif accepted_at.hour >= MARKET_CLOSE_HOUR:
        when = (
            f"accepted {accepted_at:%H:%M:%S} New York, at or after the {MARKET_CLOSE_HOUR}:00 close: "
            f"counts from the next calendar day, {available}"
        )
    else:
        when = (
            f"accepted {accepted_at:%H:%M:%S} New York, before the {MARKET_CLOSE_HOUR}:00 close: "
            f"counts from {available}"
        )
    if score_date != available:
        when += f"; first scored on the next weekday, {score_date}"
    return when


def compose(
    alert: Alert,
    event_id: str,
    filings: pl.DataFrame,
    owners: pl.DataFrame,
    scores: pl.DataFrame,
    *,
    now: datetime,
    sources: Mapping[str, str],
) -> dict[str, Any]:
    """The JSON event of an alert. ``filings``: the batch's filings (accession, issuer_name, ticker,
    accepted_at, available_date, date); ``owners``: owners of every accession involved (accession,
    owner_cik, owner_name, role, officer_title); ``scores``: the live cross-sections."""
    triggers = filings.filter(pl.col("accession").is_in(alert.triggers)).sort("accepted_at", nulls_last=False)
    trigger = triggers.row(-1, named=True)
    score = scores.filter((pl.col("issuer_cik") == alert.issuer_cik) & (pl.col("date") == alert.date))
    scored = score.row(0, named=True) if score.height else {}
    accepted_at = trigger["accepted_at"]
    wall_clock = accepted_at.replace(tzinfo=None) if accepted_at is not None else None
    return {
        "id": event_id,
        "rule": alert.rule,
        "issuer_cik": alert.issuer_cik,
        "issuer_name": trigger["issuer_name"],
        "ticker": scored.get("ticker") or trigger["ticker"],
        "accessions": alert.accessions,
        "trigger_accessions": alert.triggers,
        "insiders": _insiders(alert, owners),
        "values": alert.values,
        "score": {
            "date": alert.date,
            "insider": scored.get("insider"),
            "raw": scored.get("raw"),
            "cluster": scored.get("cluster"),
            "rank": scored.get("rank"),
            "of": scored.get("ranked"),
            "pct": scored.get("pct"),
            "previous_insider": scored.get("previous_insider"),
        },
        "accepted_at": accepted_at,
        "available_date": trigger["available_date"],
        "availability": availability(wall_clock, trigger["available_date"], alert.date),
        "latency_seconds": round((now - accepted_at).total_seconds(), 3) if accepted_at is not None else None,
        "source": sources.get(trigger["accession"], "feed"),
        "emitted_at": now,
    }


def _insiders(alert: Alert, owners: pl.DataFrame) -> list[dict[str, Any]]:
    """The insiders of an alert: its insider keys when it names them (a cluster), else every reporting
    owner of the filings that raised it; one entry per CIK."""
    rows = owners.filter(pl.col("accession").is_in(alert.accessions if alert.insiders else alert.triggers))
    if alert.insiders:
        rows = rows.filter(pl.col("owner_cik").is_in(alert.insiders))
    seen: dict[int, dict[str, Any]] = {}
    for row in rows.sort("accession", "owner_index").iter_rows(named=True):
        seen.setdefault(
            row["owner_cik"],
            {
                "cik": row["owner_cik"],
                "name": row["owner_name"],
                "role": row["role"],
                "title": row["officer_title"],
            },
        )
    return list(seen.values())
