"""The polite HTTP client every remote request goes through: EDGAR's, and the price source's.

:class:`PoliteClient` is the discipline: a declared User-Agent, ``Accept-Encoding: gzip, deflate``, a
shared :class:`~engine.edgar.rate_limit.RateLimiter`; a refusal (429, or what :meth:`PoliteClient.refused`
says a server's refusal looks like) pauses EVERY task (``Retry-After`` honoured, else ``pause_seconds``; a
wait over ``max_wait`` ends the run); 5xx, connection resets, timeouts and damaged bodies (cut short, a
compressed stream cut short, or refused by the caller's ``check``) are retried with exponential backoff
and jitter, a bounded number of times, then reported as a :class:`FetchError`. :class:`EdgarClient` adds
the SEC's rules: an e-mail address in the User-Agent; every host under sec.gov spends one budget of at
most the SEC's 10/s whatever rate is asked for (a higher rate only ever applies to other hosts: mirrors);
a 403 (or even a 200) carrying the SEC's rate-threshold or undeclared-tool page is a refusal, and the
pause after an SEC refusal is never shorter than the SEC's 10-minute block.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import re
import time
import unicodedata
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, Self

import aiohttp

from engine.edgar.calendar import NEW_YORK
from engine.edgar.rate_limit import SEC_MAX_RATE, RateLimiter
from engine.edgar.urls import is_sec_url
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
"""The SEC's block lasts 10 minutes and is extended by further requests: wait it out in full. Also the
shortest pause after a refusal by an SEC host that gives no Retry-After (a shorter one would extend it)."""

MAX_WAIT_SECONDS = 3600.0
"""The longest pause a run sits through: a Retry-After beyond it ends the run (what was fetched is
stored), with the time to run it again, instead of holding a process for as long as asked."""

MAX_USER_AGENT_LENGTH = 256


class FetchError(Exception):
    """A URL that still failed after every retry (or failed permanently); ``reason`` is one line, ``status``
    the last HTTP status (None when no answer came)."""

    def __init__(self, url: str, reason: str, status: int | None = None) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status


class EdgarBlocked(UserError):
    """A server (EDGAR, or a price source) asked for a longer wait than a run sits through: the run ends,
    to be run again later."""

    def __init__(
        self, url: str, status: int, seconds: float, max_wait: float, service: str = "EDGAR"
    ) -> None:
        when = (
            f"after {datetime.now(NEW_YORK) + timedelta(seconds=seconds):%Y-%m-%d %H:%M} New York time"
            if seconds < 1e9
            else "later"
        )
        super().__init__(
            f"{service} answered HTTP {status} to {url} with Retry-After {seconds:.0f} s, longer than the "
            f"{max_wait:.0f} s a run waits: stopped, after storing what was already fetched",
            fix=f"run the same command again {when}: it fetches only what is not stored yet",
        )


class _Retryable(Exception):
    """A transient failure of one attempt."""


def check_user_agent(user_agent: str | None) -> str:
    """The SEC requires a declared agent: ``"Company or Name contact@example.com"``, one header line;
    refuse anything else."""
    text = (user_agent or "").strip()
    fix = 'pass --user-agent "Your Name or Company you@example.com"'
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise UserError(
            f"the User-Agent {text!r} contains a line break or another control character; it is sent as "
            "one HTTP header line",
            fix=fix,
        )
    if len(text) > MAX_USER_AGENT_LENGTH:
        raise UserError(
            f"the User-Agent is {len(text)} characters long, over {MAX_USER_AGENT_LENGTH}", fix=fix
        )
    if not EMAIL.search(text):
        raise UserError(
            f"the User-Agent {text!r} does not contain an e-mail address; the SEC blocks undeclared tools",
            fix=fix,
        )
    return text


def is_rate_page(body: bytes) -> bool:
    """True when a 403 body is the SEC's rate-threshold or undeclared-tool page, not a missing path."""
    text = body[:20000].decode("utf-8", "replace").lower()
    return any(marker in text for marker in RATE_PAGE_MARKERS)


def is_html_page(body: bytes) -> bool:
    """True when a body is an HTML page (an error or block page), which no EDGAR file the engine reads is."""
    return body[:1024].lstrip().lower().startswith((b"<!doctype html", b"<html"))


def is_refusal(status: int, body: bytes) -> bool:
    """A rate-limit answer: a 429, or the SEC's block page sent as a 403 or even as a 200."""
    if status == 429:
        return True
    return (status == 403 or (status == 200 and is_html_page(body))) and is_rate_page(body)


def decode_body(body: bytes, encoding: str | None) -> bytes:
    """A body under its ``Content-Encoding``; a compressed stream cut short or corrupt is a transient
    failure (aiohttp's own decoder returns a gzip stream cut short as if it were whole)."""
    encoding = (encoding or "identity").strip().lower()
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise _Retryable(f"unsupported Content-Encoding {encoding!r}")
    bits = 16 + zlib.MAX_WBITS
    if encoding == "deflate":
        try:
            return _inflate(body, zlib.MAX_WBITS, encoding)
        except zlib.error:
            bits = -zlib.MAX_WBITS  # raw deflate, without the zlib wrapper, as some servers send it
    try:
        return _inflate(body, bits, encoding)
    except zlib.error as exc:
        raise _Retryable(f"corrupt {encoding} stream: {exc}") from exc


def _inflate(body: bytes, bits: int, encoding: str) -> bytes:
    parts, data = [], body
    while data:  # one stream after another: gzip allows several members
        stream = zlib.decompressobj(bits)
        parts.append(stream.decompress(data))
        if not stream.eof:
            raise _Retryable(f"{encoding} stream cut short after {len(body)} bytes")
        data = stream.unused_data
    return b"".join(parts)


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
    with every request (e.g. an API key); ``service`` names the server in log lines and errors."""

    service = "the server"

    def __init__(
        self,
        user_agent: str,
        *,
        rate: float | None,
        headers: Mapping[str, str] | None = None,
        limiter: RateLimiter | None = None,
        pause_seconds: float = DEFAULT_PAUSE_SECONDS,
        retries: int = 5,
        backoff: float = 0.5,
        backoff_cap: float = 60.0,
        timeout: float = 60.0,
        connections: int = 10,
        max_pauses: int = 6,
        max_wait: float = MAX_WAIT_SECONDS,
    ) -> None:
        self.user_agent = user_agent
        self.headers = dict(headers or {})
        for name, value in (("pause_seconds", pause_seconds), ("timeout", timeout), ("max_wait", max_wait)):
            if not (math.isfinite(value) and value > 0):
                raise UserError(f"{name} must be a finite positive number of seconds, got {value}")
        self.limiter = limiter or RateLimiter(rate)
        self.pause_seconds = pause_seconds
        self.retries = retries
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.timeout = timeout
        self.connections = connections
        self.max_pauses = max_pauses
        self.max_wait = max_wait
        self.stats = ClientStats()
        self._resume_at = 0.0
        self._blocked: tuple[str, int, float] | None = None
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
            auto_decompress=False,
            trace_configs=[tracing],
        )
        # aiohttp silently re-sends an idempotent request once when a kept-alive connection drops; that
        # send would bypass the rate budget, so every retry goes through get() instead.
        self._session._retry_connection = False
        return self

    async def _on_headers_sent(self, session: object, context: object, params: object) -> None:
        spent = getattr(context, "trace_request_ctx", None)
        if spent is not None:
            limiter, ticket = spent
            limiter.sent(ticket)

    def limiter_for(self, url: str) -> RateLimiter:
        """The budget a request to ``url`` spends."""
        return self.limiter

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

    def _check_blocked(self) -> None:
        if self._blocked is not None:
            raise EdgarBlocked(*self._blocked, self.max_wait, self.service)

    def wait_after_refusal(self, url: str, headers: Mapping[str, str]) -> float:
        """Seconds to hold every task after a rate-limit answer from ``url``: its Retry-After when given,
        else the configured pause."""
        wait = retry_after_seconds(headers.get("Retry-After"))
        return self.pause_seconds if wait is None else wait

    def _refused(self, url: str, status: int, headers: Mapping[str, str]) -> None:
        """A rate-limit answer: pause every task, or end the run when asked to wait too long."""
        wait = self.wait_after_refusal(url, headers)
        if wait > self.max_wait:
            self._blocked = (url, status, wait)
            self._check_blocked()
        self.pause(wait, f"HTTP {status} on {url}")

    async def _turn(self, limiter: RateLimiter) -> int | None:
        """Wait out any pause, then take a slot of ``limiter`` (again if a pause began meanwhile); returns
        the slot's ticket. Raises :class:`EdgarBlocked` once the run is to end."""
        while True:
            self._check_blocked()
            while (delay := self._resume_at - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            ticket = await limiter.acquire()
            self._check_blocked()
            if not self.paused:
                return ticket

    def _backoff_delay(self, attempt: int) -> float:
        """Seconds before retry ``attempt + 1``: ``backoff`` doubled per attempt up to ``backoff_cap``, drawn
        from the upper half of that ceiling (jitter spreads tasks that failed together)."""
        ceiling = min(self.backoff_cap, self.backoff * 2**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    async def get(
        self, url: str, *, missing_ok: bool = False, check: Callable[[bytes], str | None] | None = None
    ) -> bytes | None:
        """The body of ``url``; None for a missing path when ``missing_ok`` (404, or a 403 that is not a
        rate page: EDGAR's answer for an index that does not exist yet). ``check`` says why a 200 body is
        not what was asked for (None when it is): such a body is retried like a truncated one. Raises
        :class:`FetchError`, or :class:`EdgarBlocked` once EDGAR has asked for a wait over ``max_wait``
        (for every later call too)."""
        if self._session is None:
            raise RuntimeError(f"{type(self).__name__} must be used inside 'async with'")
        attempt = 0
        pauses = 0
        answered: int | None = None
        while True:
            try:
                status, headers, body = await self._send(url, check)
            except _Retryable as exc:
                reason = str(exc)
            else:
                answered = status
                if self.refused(status, body):
                    pauses += 1
                    if pauses > self.max_pauses:
                        raise FetchError(
                            url, f"HTTP {status}: still rate-limited after {self.max_pauses} pauses", status
                        )
                    self._refused(url, status, headers)
                    continue
                if status == 200:
                    self.stats.bytes += len(body)
                    return body
                if status in (403, 404, 410):
                    if missing_ok:
                        return None
                    raise FetchError(url, f"HTTP {status}", status)
                if status < 500 and status != 408:
                    raise FetchError(url, f"HTTP {status}", status)
                reason = f"HTTP {status}"
            if attempt >= self.retries:
                raise FetchError(url, f"{reason} (gave up after {attempt + 1} attempts)", answered)
            self.stats.retries += 1
            delay = self._backoff_delay(attempt)
            attempt += 1
            log.info("retrying %s in %.2f s after %s", url, delay, reason)
            await asyncio.sleep(delay)

    async def _send(
        self, url: str, check: Callable[[bytes], str | None] | None
    ) -> tuple[int, Mapping[str, str], bytes]:
        """One attempt, holding a connection slot from before its rate slot until its answer is read; a
        damaged answer (cut short, or a 200 that ``check`` refuses) raises :class:`_Retryable`."""
        async with self._slots:
            limiter = self.limiter_for(url)
            ticket = await self._turn(limiter)
            self.stats.requests += 1
            status, headers, body = await self._attempt(url, (limiter, ticket))
        if status == 200 and check is not None and not self.refused(status, body):
            problem = check(body)
            if problem is not None:
                raise _Retryable(f"damaged answer: {problem}")
        return status, headers, body

    async def _attempt(
        self, url: str, spent: tuple[RateLimiter, int | None]
    ) -> tuple[int, Mapping[str, str], bytes]:
        assert self._session is not None
        try:
            async with self._session.get(url, trace_request_ctx=spent) as response:
                body = await response.read()  # shorter than its Content-Length: ClientPayloadError
                encoding = response.headers.get("Content-Encoding")
                return response.status, response.headers, decode_body(body, encoding)
        except aiohttp.ClientPayloadError as exc:
            raise _Retryable(f"truncated or corrupt body: {exc}") from exc
        except (aiohttp.ClientConnectionError, aiohttp.ClientResponseError) as exc:
            raise _Retryable(f"connection error: {type(exc).__name__}: {exc}") from exc
        except TimeoutError as exc:
            raise _Retryable(f"timed out after {self.timeout:g} s") from exc


class EdgarClient(PoliteClient):
    """The polite client with the SEC's rules: an e-mail address in the User-Agent, one budget of at most
    ``SEC_MAX_RATE`` requests/s for every SEC host, the SEC's block pages as refusals, and pauses after an
    SEC refusal never shorter than its 10-minute block."""

    service = "EDGAR"

    def __init__(self, user_agent: str, *, rate: float | None = SEC_MAX_RATE, **options: Any) -> None:
        super().__init__(check_user_agent(user_agent), rate=rate, **options)
        within_sec_limit = rate is not None and rate <= SEC_MAX_RATE
        self.sec_limiter = self.limiter if within_sec_limit else RateLimiter(SEC_MAX_RATE)

    def refused(self, status: int, body: bytes) -> bool:
        """429, or the SEC's rate-threshold or undeclared-tool page sent as a 403 or even as a 200."""
        return is_refusal(status, body)

    def limiter_for(self, url: str) -> RateLimiter:
        """One budget shared by every SEC host, capped at the SEC's limit; the rate asked for (which may
        be higher) only for other hosts."""
        return self.sec_limiter if is_sec_url(url) else self.limiter

    def wait_after_refusal(self, url: str, headers: Mapping[str, str]) -> float:
        """Retry-After when given, else the configured pause, never shorter than the SEC's block for an SEC
        host (the block lasts 10 minutes and grows with every request made during it)."""
        wait = retry_after_seconds(headers.get("Retry-After"))
        if wait is not None:
            return wait
        return max(self.pause_seconds, DEFAULT_PAUSE_SECONDS) if is_sec_url(url) else self.pause_seconds
