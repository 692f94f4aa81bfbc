"""Token buckets: at most ``rate`` units per second, with bursts up to ``burst``.

The default burst is small (20 ms worth, at least one unit): a configured rate then holds
over any window, not only on average -- with a second's worth of burst, the first ten
seconds of a run at 500/s would carry 5,500 messages (10 % over).
"""

from __future__ import annotations

import asyncio

from msgkit.engine.clock import Clock

__all__ = ["BURST_SECONDS", "TokenBucket"]

#: The default burst, in seconds of the rate.
BURST_SECONDS = 0.02


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
