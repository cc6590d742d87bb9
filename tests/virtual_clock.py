"""A simulated clock for code that reads ``time.monotonic`` and waits with ``asyncio.sleep``: deterministic
timing tests, whatever the machine's load."""

from __future__ import annotations

import asyncio
import heapq
import types
from collections.abc import Coroutine
from typing import Any

import pytest


class Clock:
    """Virtual time: when every running task is asleep, the earliest sleeper wakes and the clock jumps to
    its deadline (as an event loop's timers would, without waiting). ``oversleep`` wakes every sleeper
    that much after its deadline, as a busy event loop does."""

    def __init__(self, oversleep: float = 0.0) -> None:
        self.now = 1000.0
        self.oversleep = oversleep
        self.running = 0
        self.sleeps: list[float] = []
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        self.sleeps.append(delay)
        waker = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + max(0.0, delay) + self.oversleep, id(waker), waker))
        self.running -= 1
        await waker

    async def drive(self) -> None:
        while self.running or self._sleepers:
            await asyncio.sleep(0)
            if not self.running and self._sleepers:
                deadline, _, waker = heapq.heappop(self._sleepers)
                self.now = max(self.now, deadline)
                self.running += 1  # counted from its wake-up, before it runs again
                waker.set_result(None)

    def run(self, *coroutines: Coroutine[Any, Any, Any]) -> list[Any]:
        """Run the coroutines concurrently on this clock; their results, in order."""

        async def tracked(coroutine: Coroutine[Any, Any, Any]) -> Any:
            try:
                return await coroutine
            finally:
                self.running -= 1

        async def main() -> list[Any]:
            self.running = len(coroutines)
            results = await asyncio.gather(self.drive(), *(tracked(c) for c in coroutines))
            return results[1:]

        return asyncio.run(main())


def install(monkeypatch: pytest.MonkeyPatch, module: types.ModuleType, clock: Clock) -> Clock:
    """Make ``module`` read ``clock`` for ``time.monotonic`` and ``asyncio.sleep`` (its other uses of
    ``asyncio`` and ``time`` are left as they are)."""
    monkeypatch.setattr(module, "time", types.SimpleNamespace(monotonic=clock.monotonic))
    virtual = types.SimpleNamespace(**{name: getattr(asyncio, name) for name in asyncio.__all__})
    virtual.sleep = clock.sleep
    monkeypatch.setattr(module, "asyncio", virtual)
    return clock
