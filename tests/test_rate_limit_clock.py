"""The rate limiter on a simulated clock: deterministic, whatever the machine's load."""

from __future__ import annotations

import pytest
from virtual_clock import Clock, install

import engine.edgar.rate_limit as rate_limit
from engine.edgar.rate_limit import RateLimiter

ARRIVAL_JITTER = 0.03
"""Client start to server arrival can differ by tens of milliseconds on a busy machine; the limiter
promises that even then no one-second window at the server holds more than the limit."""


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return install(monkeypatch, rate_limit, Clock())


def starts(limiter: RateLimiter, clock: Clock, n_tasks: int, per_task: int) -> list[float]:
    stamps: list[float] = []

    async def task() -> None:
        for _ in range(per_task):
            ticket = await limiter.acquire()
            stamps.append(clock.monotonic())
            limiter.sent(ticket)

    clock.run(*(task() for _ in range(n_tasks)))
    return sorted(stamps)


@pytest.mark.parametrize("rate, limit", [(10.0, 10), (2.5, 2), (200.0, 200)])
def test_any_limit_plus_one_starts_span_more_than_a_second_plus_jitter(clock: Clock, rate, limit) -> None:
    stamps = starts(RateLimiter(rate), clock, n_tasks=16, per_task=3 * limit // 16 + 4)
    gaps = [stamps[i + limit] - stamps[i] for i in range(len(stamps) - limit)]
    assert len(gaps) > limit and min(gaps) >= 1.0 + ARRIVAL_JITTER


def test_the_pace_still_sustains_96_percent_of_the_limit(clock: Clock) -> None:
    stamps = starts(RateLimiter(10.0), clock, n_tasks=16, per_task=10)
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    assert 9.5 <= rate <= 10.0
