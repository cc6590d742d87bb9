"""Checking a request rate end to end: on the client's own send times exactly, at a server with its lag."""

from __future__ import annotations

import time

import pytest

from engine.edgar.rate_limit import RateLimiter
from engine.replay import max_in_window
from engine.replay.server import Hit

SERVER_LAG = 0.1
"""Seconds by which a test server may stamp an arrival late on a loaded machine: measured here at load
average 4 to 6 on 2 cores, 11 requests the client sent 1.04 s apart were stamped by the replay server (in
its own process) as close as 0.9805 s in the worst of 25 runs (60 ms). So at a server no window of
``1 - SERVER_LAG`` seconds may hold more than the limit; the limiter's own pacing is checked exactly on
the client's send times, and on a virtual clock (tests/test_rate_limit_clock.py)."""


def record_sends(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The moments the client writes each rate-limited request's headers (what the limiter paces)."""
    times: list[float] = []
    sent = RateLimiter.sent

    def recording(self: RateLimiter, ticket: int | None) -> None:
        sent(self, ticket)
        if ticket is not None:
            times.append(time.monotonic())

    monkeypatch.setattr(RateLimiter, "sent", recording)
    return times


def most_in_a_second(times: list[float]) -> int:
    """The most of ``times`` within any span of one second."""
    return max_in_window([Hit(at, "", 200, "") for at in times], 1.0)
