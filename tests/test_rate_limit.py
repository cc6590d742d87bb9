"""The shared request budget: never more than the limit in any window, and no slower than it allows."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.edgar.rate_limit import RateLimiter, SlidingWindow
from engine.errors import UserError


def _max_in_window(times: list[float], period: float) -> int:
    times = sorted(times)
    best = 0
    for i, start in enumerate(times):
        j = i
        while j < len(times) and times[j] < start + period - 1e-12:
            j += 1
        best = max(best, j - i)
    return best


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(1, 12),
    period=st.floats(0.1, 2.0),
    gaps=st.lists(st.floats(0.0, 0.5), min_size=1, max_size=80),
)
def test_no_window_ever_holds_more_than_the_limit(limit: int, period: float, gaps: list[float]) -> None:
    window = SlidingWindow(limit, period)
    now, grants = 0.0, []
    for gap in gaps:
        now += gap
        _, grant = window.reserve(now)
        assert grant >= now
        assert not grants or grant >= grants[-1]
        grants.append(grant)
    assert _max_in_window(grants, period) <= limit


@given(limit=st.integers(1, 20), n=st.integers(1, 200))
def test_a_burst_is_paced_evenly_at_exactly_the_limit(limit: int, n: int) -> None:
    window = SlidingWindow(limit, 1.0)
    grants = [window.reserve(0.0)[1] for _ in range(n)]
    assert grants == pytest.approx([i / limit for i in range(n)])


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(1, 8),
    ahead=st.integers(1, 20),
    lateness=st.lists(st.floats(0.0, 0.3), min_size=1, max_size=60),
)
def test_late_starts_are_never_turned_into_a_burst(limit: int, ahead: int, lateness: list[float]) -> None:
    """Tickets booked ahead by many tasks, each really starting late: starts still respect the limit."""
    window = SlidingWindow(limit, 1.0)
    booked = [window.reserve(0.0) for _ in range(min(ahead, len(lateness)))]
    starts: list[float] = []
    for i, late in enumerate(lateness):
        if i >= len(booked):
            booked.append(window.reserve(starts[-1]))
        ticket, start = booked[i]
        woke = max(start, window.not_before(ticket), starts[-1] if starts else 0.0)
        window.started(ticket, woke + late)
        starts.append(woke + late)
    assert _max_in_window(starts, 1.0) <= limit


def test_fractional_and_sub_one_rates_round_down() -> None:
    assert RateLimiter(2.5, margin=0)._window.limit == 2  # type: ignore[union-attr]
    slow = RateLimiter(0.5, margin=0)._window
    assert (slow.limit, slow.period) == (1, 2.0)  # type: ignore[union-attr]


@pytest.mark.parametrize("rate", [0, -3])
def test_a_non_positive_rate_is_refused(rate: float) -> None:
    with pytest.raises(UserError, match="--rate"):
        RateLimiter(rate)


def test_concurrent_tasks_share_one_budget() -> None:
    limiter = RateLimiter(20)
    stamps: list[float] = []

    async def task() -> None:
        for _ in range(5):
            await limiter.acquire()
            stamps.append(time.monotonic())

    async def main() -> None:
        await asyncio.gather(*(task() for _ in range(10)))

    began = time.monotonic()
    asyncio.run(main())
    assert len(stamps) == 50
    assert _max_in_window(stamps, 1.0) <= 20
    assert 2.0 <= time.monotonic() - began < 3.5


def test_unlimited_never_waits() -> None:
    limiter = RateLimiter(None)

    async def main() -> None:
        for _ in range(1000):
            await limiter.acquire()

    began = time.monotonic()
    asyncio.run(main())
    assert time.monotonic() - began < 0.5
