"""One request budget shared by every task: at most ``limit`` requests in ANY span of ``period`` seconds.

A sliding-window log, not an averaging token bucket: a grant is placed no earlier than ``period`` (plus a
small safety margin absorbing scheduling jitter between the grant and the request reaching the server)
after the grant ``limit`` places before it, so no window anywhere can hold more than ``limit`` grants.
"""

from __future__ import annotations

import asyncio
import math
import time

from engine.errors import UserError

SEC_MAX_RATE = 10.0
"""The SEC's published fair-access ceiling, requests per second per user across all machines."""

DEFAULT_MARGIN = 0.04
"""Seconds added to each window: starts are timed on the client, the window is judged by the server, and
a busy machine can delay one arrival (or its timestamp) by tens of milliseconds. At the SEC's 10/s this
still sustains 10 / 1.04 = 9.6 requests/s."""


class SlidingWindow:
    """The pure scheduling rule over numbered requests ("tickets").

    Request ``k`` is booked ``period / limit`` after the booking of request ``k - 1`` (an even pace, no
    bursts for the server) and may start no earlier than ``period`` after the real start of request
    ``k - limit``, so no span of ``period`` holds more than ``limit`` starts. ``started`` records a real
    start when it is later than booked (a busy event loop wakes a task late, the socket write happens
    after the wake-up) and ``not_before`` re-derives the bound from the real starts, so lateness is never
    turned into a burst, while the pace itself does not drift with it.
    """

    def __init__(self, limit: int, period: float = 1.0) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("limit must be >= 1 and period > 0")
        self.limit = limit
        self.period = period
        self._starts: dict[int, float] = {}
        self._booked: dict[int, float] = {}
        self._next = 0
        self._keep = 4 * limit + 4096
        self._spacing = period / limit

    def not_before(self, ticket: int) -> float:
        """The earliest start of ``ticket`` allowed by the starts recorded so far."""
        bound = self._booked.get(ticket - 1, float("-inf")) + self._spacing
        back = self._starts.get(ticket - self.limit)
        return bound if back is None else max(bound, back + self.period)

    def reserve(self, now: float) -> tuple[int, float]:
        """Book the next ticket at the earliest allowed instant at or after ``now``: ``(ticket, start)``."""
        ticket = self._next
        self._next += 1
        start = max(now, self.not_before(ticket))
        self._starts[ticket] = self._booked[ticket] = start
        self._starts.pop(ticket - self._keep, None)
        self._booked.pop(ticket - self._keep, None)
        return ticket, start

    def started(self, ticket: int, when: float) -> None:
        """Record that ``ticket`` really started at ``when`` (kept only when later than booked)."""
        if when > self._starts.get(ticket, when):
            self._starts[ticket] = when


class RateLimiter:
    """Async gate over a :class:`SlidingWindow`; ``rate=None`` means unlimited (mirrors and benchmarks only).

    A fractional rate is rounded down for the per-window count (2.5/s allows 2 in any second); a rate
    below 1/s becomes one request per ``1 / rate`` seconds.
    """

    def __init__(self, rate: float | None = SEC_MAX_RATE, *, margin: float = DEFAULT_MARGIN) -> None:
        if rate is not None and not (math.isfinite(rate) and rate > 0):
            raise UserError(f"--rate must be a finite positive number, got {rate}", fix="pass e.g. --rate 8")
        self.rate = rate
        self._window: SlidingWindow | None = None
        if rate is not None:
            limit = max(1, int(rate))
            self._window = SlidingWindow(limit, max(1.0, limit / rate) + margin)

    async def acquire(self) -> int | None:
        """Wait for this request's turn; returns its ticket (None when unlimited) for :meth:`sent`.

        The slot is booked at once (waiting tasks are served in order) and checked again on waking."""
        if self._window is None:
            return None
        ticket, start = self._window.reserve(time.monotonic())
        while (delay := max(start, self._window.not_before(ticket)) - time.monotonic()) > 0:
            await asyncio.sleep(delay)
        self._window.started(ticket, time.monotonic())
        return ticket

    def sent(self, ticket: int | None) -> None:
        """The request of ``ticket`` has just been written to the socket: account it from now."""
        if ticket is not None and self._window is not None:
            self._window.started(ticket, time.monotonic())
