"""The polite HTTP client every remote request goes through: EDGAR's, and the price source's.

:class:`PoliteClient` is the discipline: a declared User-Agent, ``Accept-Encoding: gzip, deflate``, one
shared :class:`~engine.edgar.rate_limit.RateLimiter`; a refusal (429, or what :meth:`PoliteClient.refused`
says a server's refusal looks like) pauses EVERY task (``Retry-After`` honoured, else ``pause_seconds``);
5xx, connection resets, timeouts and truncated bodies are retried with exponential backoff and jitter, a
bounded number of times, then reported as a :class:`FetchError` with the reason. :class:`EdgarClient` adds
the SEC's rules: an e-mail address in the User-Agent, 10 requests/s, and its 403 rate-threshold and
undeclared-tool pages counted as refusals.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Self

import aiohttp

from engine.edgar.rate_limit import SEC_MAX_RATE, RateLimiter
from engine.errors import UserError

log = logging.getLogger(__name__)

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")

RATE_PAGE_MARKERS: tuple[str, ...] = (
    "request rate threshold exceeded",
    "exceeded the sec's maximum allowable",
    "undeclared automated tool",
    "network of automated tools",
    "declare your traffic",
)
"""Lower-case fragments of the SEC's block pages (rate exceeded; undeclared tool)."""

DEFAULT_PAUSE_SECONDS = 600.0
"""The SEC's block lasts 10 minutes and is extended by further requests: wait it out in full."""


class FetchError(Exception):
    """A URL that still failed after every retry (or failed permanently); ``reason`` is one line, ``status``
    the last HTTP status (None when no answer came)."""

    def __init__(self, url: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status


class _Retryable(Exception):
    """A transient failure of one attempt."""


def check_user_agent(user_agent: str | None) -> str:
    """The SEC requires a declared agent: ``"Company or Name contact@example.com"``; refuse anything else."""
    text = (user_agent or "").strip()
    if not EMAIL.search(text):
        raise UserError(
            f"the User-Agent {text!r} does not contain an e-mail address; the SEC blocks undeclared tools",
            fix='pass --user-agent "Your Name or Company you@example.com"',
        )
    return text


def is_rate_page(body: bytes) -> bool:
    """True when a 403 body is the SEC's rate-threshold or undeclared-tool page, not a missing path."""
    text = body[:20000].decode("utf-8", "replace").lower()
    return any(marker in text for marker in RATE_PAGE_MARKERS)


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class ClientStats:
    """Running counters, read by the progress display and the final report."""

    requests: int = 0
    bytes: int = 0
    retries: int = 0
    pauses: int = 0
    paused_seconds: float = 0.0


class PoliteClient:
    """An aiohttp session with the politeness rules built in; use as ``async with``. ``headers`` are sent
    with every request (e.g. an API key); ``service`` names the server in log lines."""

    service = "the server"

    def __init__(
        self,
        user_agent: str,
        *,
        rate: float | None,
        headers: Mapping[str, str] | None = None,
        pause_seconds: float = DEFAULT_PAUSE_SECONDS,
        retries: int = 5,
        backoff: float = 0.5,
        backoff_cap: float = 60.0,
        timeout: float = 60.0,
        connections: int = 10,
        max_pauses: int = 6,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.user_agent = user_agent
        self.headers = dict(headers or {})
        self.limiter = limiter or RateLimiter(rate)
        self.pause_seconds = pause_seconds
        self.retries = retries
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.timeout = timeout
        self.connections = connections
        self.max_pauses = max_pauses
        self.stats = ClientStats()
        self._resume_at = 0.0
        self._session: aiohttp.ClientSession | None = None
        # A rate slot is taken only by a task sure of a free connection: a slot granted to a request
        # that then waits in the connection pool would be spent late, in a burst with later ones.
        self._slots = asyncio.Semaphore(connections)

    def refused(self, status: int, body: bytes) -> bool:
        """True when an answer says "too many requests, wait" (every task then pauses): HTTP 429."""
        return status == 429

    async def __aenter__(self) -> Self:
        tracing = aiohttp.TraceConfig()
        tracing.on_request_headers_sent.append(self._on_headers_sent)
        self._session = aiohttp.ClientSession(
            headers={"User-Agent": self.user_agent, "Accept-Encoding": "gzip, deflate", **self.headers},
            timeout=aiohttp.ClientTimeout(total=self.timeout),
            connector=aiohttp.TCPConnector(limit=self.connections),
            auto_decompress=True,
            trace_configs=[tracing],
        )
        # aiohttp silently re-sends an idempotent request once when a kept-alive connection drops; that
        # send would bypass the rate budget, so every retry goes through get() instead.
        self._session._retry_connection = False
        return self

    async def _on_headers_sent(self, session: object, context: object, params: object) -> None:
        self.limiter.sent(getattr(context, "trace_request_ctx", None))

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def paused(self) -> bool:
        """True while every task is held back by a rate-limit pause."""
        return self._resume_at > time.monotonic()

    def pause(self, seconds: float, reason: str) -> None:
        """Hold back every task for ``seconds`` (extending, never shortening, a pause in progress)."""
        now = time.monotonic()
        until = now + seconds
        if until <= self._resume_at:
            return
        if self._resume_at <= now:
            self.stats.pauses += 1
        self.stats.paused_seconds += until - max(now, self._resume_at)
        log.warning("%s refused a request (%s): pausing every task for %.3g s", self.service, reason, seconds)
        self._resume_at = until

    async def _turn(self) -> int | None:
        """Wait out any pause, then take a slot of the shared rate budget (again if a pause began meanwhile);
        returns the slot's ticket."""
        while True:
            while (delay := self._resume_at - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            ticket = await self.limiter.acquire()
            if not self.paused:
                return ticket

    def _backoff_delay(self, attempt: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff * 2**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    async def get(self, url: str, *, missing_ok: bool = False) -> bytes | None:
        """The body of ``url``; None for a missing path when ``missing_ok`` (404, or a 403 that is not a
        rate page: EDGAR's answer for an index that does not exist yet). Raises :class:`FetchError`."""
        if self._session is None:
            raise RuntimeError(f"{type(self).__name__} must be used inside 'async with'")
        attempt = 0
        pauses = 0
        while True:
            try:
                status, headers, body = await self._send(url)
            except _Retryable as exc:
                reason = str(exc)
            else:
                if status == 200:
                    self.stats.bytes += len(body)
                    return body
                if self.refused(status, body):
                    pauses += 1
                    if pauses > self.max_pauses:
                        raise FetchError(
                            url, f"HTTP {status}: still rate-limited after {self.max_pauses} pauses"
                        )
                    wait = retry_after_seconds(headers.get("Retry-After"))
                    self.pause(self.pause_seconds if wait is None else wait, f"HTTP {status} on {url}")
                    continue
                if status in (403, 404, 410):
                    if missing_ok:
                        return None
                    raise FetchError(url, f"HTTP {status}", status)
                if status < 500 and status != 408:
                    raise FetchError(url, f"HTTP {status}", status)
                reason = f"HTTP {status}"
            if attempt >= self.retries:
                raise FetchError(url, f"{reason} (gave up after {attempt + 1} attempts)")
            self.stats.retries += 1
            delay = self._backoff_delay(attempt)
            attempt += 1
            log.info("retrying %s in %.2f s after %s", url, delay, reason)
            await asyncio.sleep(delay)

    async def _send(self, url: str) -> tuple[int, Mapping[str, str], bytes]:
        """One attempt, holding a connection slot from before its rate slot until its answer is read."""
        async with self._slots:
            ticket = await self._turn()
            self.stats.requests += 1
            return await self._attempt(url, ticket)

    async def _attempt(self, url: str, ticket: int | None) -> tuple[int, Mapping[str, str], bytes]:
        assert self._session is not None
        try:
            async with self._session.get(url, trace_request_ctx=ticket) as response:
                body = await response.read()
                expected = response.content_length
                if (
                    expected is not None
                    and "Content-Encoding" not in response.headers
                    and len(body) != expected
                ):
                    raise _Retryable(f"truncated body: {len(body)} of {expected} bytes")
                return response.status, response.headers, body
        except aiohttp.ClientPayloadError as exc:
            raise _Retryable(f"truncated or corrupt body: {exc}") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientResponseError) as exc:
            raise _Retryable(f"connection error: {type(exc).__name__}: {exc}") from exc
        except TimeoutError as exc:
            raise _Retryable(f"timed out after {self.timeout:g} s") from exc


class EdgarClient(PoliteClient):
    """The polite client with the SEC's rules: an e-mail address in the User-Agent, at most
    ``SEC_MAX_RATE`` requests/s, and a 403 carrying the SEC's rate or undeclared-tool page as a refusal."""

    service = "EDGAR"

    def __init__(self, user_agent: str, *, rate: float | None = SEC_MAX_RATE, **options: Any) -> None:
        super().__init__(check_user_agent(user_agent), rate=rate, **options)

    def refused(self, status: int, body: bytes) -> bool:
        """429, or a 403 whose body is the SEC's rate-threshold or undeclared-tool page."""
        return status == 429 or (status == 403 and is_rate_page(body))
