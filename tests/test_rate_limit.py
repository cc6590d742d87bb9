"""The shared request budget: never more than the limit in any window, and no slower than it allows."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from virtual_clock import Clock, install

import engine.edgar.rate_limit as rate_limit
from engine.edgar.rate_limit import RateLimiter, SlidingWindow
from engine.errors import UserError


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return install(monkeypatch, rate_limit, Clock())


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


def test_concurrent_tasks_share_one_budget(clock: Clock) -> None:
    """10 tasks x 5 requests at 20/s: one pace for all, 1.04 / 20 = 0.052 s apart (the 0.04 s margin
    widens each 1 s window), so the 50th request starts 49 x 0.052 s after the first."""
    limiter = RateLimiter(20)
    stamps: list[float] = []

    async def task() -> None:
        for _ in range(5):
            await limiter.acquire()
            stamps.append(clock.monotonic())

    began = clock.now
    clock.run(*(task() for _ in range(10)))
    assert len(stamps) == 50
    assert _max_in_window(stamps, 1.0) <= 20
    assert sorted(stamps) == pytest.approx([began + i * 0.052 for i in range(50)])


def test_unlimited_never_waits(clock: Clock) -> None:
    limiter = RateLimiter(None)

    async def main() -> list[int | None]:
        return [await limiter.acquire() for _ in range(1000)]

    (tickets,) = clock.run(main())
    assert tickets == [None] * 1000 and clock.sleeps == [] and clock.now == 1000.0


def test_a_window_without_a_period_allows_limit_requests_per_second() -> None:
    window = SlidingWindow(2)
    assert [window.reserve(0.0) for _ in range(5)] == [(0, 0.0), (1, 0.5), (2, 1.0), (3, 1.5), (4, 2.0)]


@pytest.mark.parametrize(("limit", "period"), [(0, 1.0), (-1, 1.0), (1, 0.0), (1, -1.0), (0, 0.0)])
def test_a_window_needs_a_positive_limit_and_period(limit: int, period: float) -> None:
    with pytest.raises(ValueError, match=r"^limit must be >= 1 and period > 0$"):
        SlidingWindow(limit, period)


@pytest.mark.parametrize("rate", [0, -3, float("nan"), float("inf")])
def test_the_rate_error_names_the_option_the_value_and_the_fix(rate: float) -> None:
    with pytest.raises(UserError) as error:
        RateLimiter(rate)
    message = f"--rate must be a finite positive number, got {rate}\n  fix: pass e.g. --rate 8"
    assert str(error.value) == message


def test_a_long_run_keeps_bounded_bookkeeping_and_its_pace() -> None:
    """100,000 requests at 2/s: the window forgets old tickets (a few thousand kept, not 100,000) and the
    pace is still exactly one request every half second."""
    window = SlidingWindow(2, 1.0)
    grants = [window.reserve(0.0) for _ in range(100_000)]
    assert grants[-3:] == [(99_997, 49_998.5), (99_998, 49_999.0), (99_999, 49_999.5)]
    assert len(window._starts) < 10_000 and len(window._booked) < 10_000


def test_bookkeeping_stays_bounded_at_the_secs_ten_per_second_too() -> None:
    """50,000 requests at the SEC's own 10/s, not only at 2/s: the window still forgets old tickets (a few
    thousand kept, not 50,000)."""
    window = SlidingWindow(10, 1.0)
    for _ in range(50_000):
        window.reserve(0.0)
    assert len(window._starts) < 10_000 and len(window._booked) < 10_000


def test_a_start_reported_for_a_forgotten_ticket_is_ignored() -> None:
    window = SlidingWindow(1, 1.0)
    for _ in range(100_000):
        window.reserve(0.0)
    window.started(0, 1e9)
    assert window.reserve(0.0) == (100_000, 100_000.0)


def test_a_task_woken_late_is_accounted_from_its_wake_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every sleep overruns by 0.3 s and no request reports ``sent``: the wake-up itself is recorded as
    the start, so at 1/s the next request waits a full second after it (1000, 1001.3, 1002.6), never
    only after the booked instant (1000, 1001.3, 1002.0 would be two starts 0.7 s apart)."""
    clock = install(monkeypatch, rate_limit, Clock(oversleep=0.3))
    limiter = RateLimiter(1.0, margin=0.0)

    async def main() -> list[float]:
        stamps = []
        for _ in range(3):
            await limiter.acquire()
            stamps.append(clock.monotonic())
        return stamps

    (stamps,) = clock.run(main())
    assert stamps == pytest.approx([1000.0, 1001.3, 1002.6])


def test_a_request_sent_late_pushes_the_window_back(clock: Clock) -> None:
    """At 1/s, a request written to the socket 0.5 s after its slot counts from then: the next one
    starts a second after the late send (1001.5), not after the slot (1001.0)."""
    limiter = RateLimiter(1.0, margin=0.0)

    async def main() -> list[float]:
        first = await limiter.acquire()
        clock.now += 0.5
        limiter.sent(first)
        await limiter.acquire()
        return [clock.monotonic()]

    (stamps,) = clock.run(main())
    assert stamps == [1001.5]


def test_tickets_are_numbered_in_booking_order(clock: Clock) -> None:
    limiter = RateLimiter(50.0)

    async def main() -> list[int | None]:
        return [await limiter.acquire() for _ in range(4)]

    assert clock.run(main()) == [[0, 1, 2, 3]]
