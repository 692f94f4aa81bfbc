"""Clocks: the engine reads time and sleeps only through one of these.

`FakeClock` makes tests of retries, backoff, quiet hours and expiry instant and exact:
sleeping advances its time instead of waiting.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Protocol

__all__ = ["Clock", "FakeClock", "SystemClock"]


class Clock(Protocol):
    """Where the engine gets the time from."""

    def now(self) -> datetime:
        """The current time, aware, UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """The current time, aware, UTC."""
        return datetime.now(timezone.utc)

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of real time."""
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock for tests: `sleep` moves time forward at once.

    Args:
        start: The initial time (aware).
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
        if self._now.utcoffset() is None:
            raise ValueError("FakeClock needs an aware start time")
        self.slept: list[float] = []

    def now(self) -> datetime:
        """The fake current time."""
        return self._now

    def advance(self, seconds: float | timedelta) -> None:
        """Move time forward by ``seconds`` (a number, or a `timedelta`); never back."""
        step = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
        self._now += max(step, timedelta(0))

    async def sleep(self, seconds: float) -> None:
        """Move time forward by ``seconds`` and let other tasks run."""
        self.slept.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)
