"""The rate limiter on a simulated clock: deterministic, whatever the machine's load."""

from __future__ import annotations

import asyncio
import heapq
import types

import pytest

import engine.edgar.rate_limit as rate_limit
from engine.edgar.rate_limit import RateLimiter

ARRIVAL_JITTER = 0.03
"""Client start to server arrival can differ by tens of milliseconds on a busy machine; the limiter
promises that even then no one-second window at the server holds more than the limit."""


class Clock:
    """Virtual time: when every running task is asleep, the earliest sleeper wakes and the clock jumps to
    its deadline (as an event loop's timers would, without waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.running = 0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        waker = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, delay), id(waker), waker))
        self.running -= 1
        await waker
        self.running += 1

    async def drive(self) -> None:
        while self.running or self._sleepers:
            await asyncio.sleep(0)
            if not self.running and self._sleepers:
                deadline, _, waker = heapq.heappop(self._sleepers)
                self.now = max(self.now, deadline)
                waker.set_result(None)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(rate_limit, "time", types.SimpleNamespace(monotonic=fake.monotonic))
    monkeypatch.setattr(rate_limit, "asyncio", types.SimpleNamespace(sleep=fake.sleep))
    return fake


def starts(limiter: RateLimiter, clock: Clock, n_tasks: int, per_task: int) -> list[float]:
    stamps: list[float] = []

    async def task() -> None:
        for _ in range(per_task):
            ticket = await limiter.acquire()
            stamps.append(clock.monotonic())
            limiter.sent(ticket)
        clock.running -= 1

    async def main() -> None:
        clock.running = n_tasks
        await asyncio.gather(clock.drive(), *(task() for _ in range(n_tasks)))

    asyncio.run(main())
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
