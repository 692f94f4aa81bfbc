"""Rate limits: token buckets (one process), and shared buckets (every worker on a store).

A `TokenBucket` holds at most ``rate`` units per second, with bursts up to ``burst``.

The default burst is small (20 ms worth, at least one unit): a configured rate then holds
over any window, not only on average -- with a second's worth of burst, the first ten
seconds of a run at 500/s would carry 5,500 messages (10 % over).

A `SharedBucket` holds a rate across every worker of a store together: before units
go, it reserves their slot in the store (`msgkit.core.rates`), a block of a short
window's worth at a time (`BLOCK_SECONDS`), and waits until the slot begins.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from msgkit.engine.clock import Clock

__all__ = ["AHEAD", "BLOCK_SECONDS", "BURST_SECONDS", "Reserve", "SharedBucket", "TokenBucket"]

#: The default burst, in seconds of the rate.
BURST_SECONDS = 0.02
#: A shared bucket reserves this many seconds of its rate at a time (at least what is
#: asked): one store transaction per block, not per message (at 5,000/s, 20 a second).
BLOCK_SECONDS = 0.05
#: A shared rate's next slot further ahead than this was set by another clock (a test's
#: fake clock, a clock that jumped). Reservations waiting ahead stay far below it unless
#: the rate is below (workers x concurrency) / 600 s: 0.1/s for 4 workers of 16.
AHEAD = timedelta(minutes=10)

#: Reserves a slot in the store: ``(key, units, rate, now) -> when it begins``.
Reserve = Callable[[str, float, float, datetime], Awaitable[datetime]]


class TokenBucket:
    """A token bucket on a clock.

    Args:
        rate: Units per second.
        clock: The clock to wait on.
        burst: The most units available at once (default: 20 ms worth, >= 1).
    """

    def __init__(self, rate: float, clock: Clock, *, burst: float | None = None) -> None:
        if rate <= 0:
            raise ValueError("a rate limit must be positive")
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate * BURST_SECONDS)
        self._clock = clock
        self._tokens = self.burst
        self._stamp = clock.now()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock.now()
        elapsed = (now - self._stamp).total_seconds()
        if elapsed > 0:
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
            self._stamp = now

    async def take(self, units: float = 1.0) -> None:
        """Wait until ``units`` are available, then use them.

        Asking for more than the burst waits for the deficit: a batch of 100 messages
        on a 10/s bucket waits 10 seconds, spread out by the caller's batching.
        """
        async with self._lock:
            self._refill()
            self._tokens -= units
            if self._tokens < 0:
                await self._clock.sleep(-self._tokens / self.rate)
                self._refill()


class SharedBucket:
    """A rate held by every worker on a store together.

    Units are taken from a block reserved in the store (``reserve``), whose slot begins
    when the store says; a worker uses its block's units from then on, however long it
    takes (a worker slowed by its store writes wastes no part of the rate). A worker
    holds at most one block's units unused, so over any window every worker together
    sends at most ``rate`` units a second plus two blocks per worker. Within its blocks
    a worker is paced by its own `TokenBucket` of the same rate (one worker alone sends
    as smoothly as before).

    Args:
        key: The rate's name in the store (``provider:NAME``, ``campaign:ID``).
        rate: Units per second, for all workers together.
        clock: The clock to read and wait on.
        reserve: Reserves a slot (the store's `reserve_rate`, off the event loop).
    """

    def __init__(self, key: str, rate: float, clock: Clock, reserve: Reserve) -> None:
        if rate <= 0:
            raise ValueError("a rate limit must be positive")
        self.key = key
        self.rate = rate
        self._clock = clock
        self._reserve = reserve
        self._left = 0.0
        self._start: datetime | None = None
        self._lock = asyncio.Lock()
        self._local = TokenBucket(rate, clock)

    async def take(self, units: float = 1.0) -> None:
        """Wait until units are reserved and their slot has begun (reserving a block
        when the one held has too few left; what it had left is given up)."""
        await self._local.take(units)
        async with self._lock:
            if self._start is None or self._left < units:
                block = max(units, self.rate * BLOCK_SECONDS)
                self._start = await self._reserve(self.key, block, self.rate, self._clock.now())
                self._left = block
            self._left -= units
            now = self._clock.now()
            if self._start > now:
                await self._clock.sleep((self._start - now).total_seconds())
