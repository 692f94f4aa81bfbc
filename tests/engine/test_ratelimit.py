"""Tests of msgkit.engine.ratelimit: the token bucket and the shared bucket on a fake
clock."""

from __future__ import annotations

import asyncio
import heapq
from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from msgkit.engine.clock import FakeClock
from msgkit.engine.ratelimit import (
    AHEAD,
    BLOCK_SECONDS,
    BURST_SECONDS,
    SharedBucket,
    TokenBucket,
)
from msgkit.store.memory import MemoryStore


async def _take_all(bucket: TokenBucket, clock: FakeClock, takes: list[int]) -> list[float]:
    """The time (seconds from the start) at which each take was granted."""
    start = clock.now()
    granted = []
    for units in takes:
        await bucket.take(units)
        granted.append((clock.now() - start).total_seconds())
    return granted


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=5000),
    takes=st.lists(st.integers(min_value=1, max_value=200), min_size=1, max_size=60),
)
def test_never_more_than_the_rate_plus_the_burst(rate: float, takes: list[int]) -> None:
    """By any grant, the units granted are at most the burst plus the rate times the time
    passed; and the last is granted as soon as that allows (no drift)."""
    clock = FakeClock()
    bucket = TokenBucket(rate, clock)
    granted = asyncio.run(_take_all(bucket, clock, takes))
    total = 0
    for units, at in zip(takes, granted, strict=True):
        total += units
        # (clocks count microseconds: a wait may come out one microsecond short)
        assert total <= bucket.burst + rate * (at + 2e-6)
    assert granted[-1] <= max(0.0, (sum(takes) - bucket.burst) / rate) + 1e-6


def test_the_default_burst_is_small() -> None:
    """At 500/s the bucket starts with 10 units (20 ms worth): ten seconds of sends carry
    5,010 messages, not 5,500."""
    clock = FakeClock()
    bucket = TokenBucket(500, clock)
    assert bucket.burst == 500 * BURST_SECONDS == 10
    granted = asyncio.run(_take_all(bucket, clock, [1] * 5010))
    assert abs(granted[-1] - 10.0) < 1e-6
    assert TokenBucket(2, clock).burst == 1


class VirtualClock:
    """Time for concurrent tasks: it moves to the earliest wake-up once every task
    waits (`run`), so workers sleeping on it overlap as real ones do."""

    def __init__(self) -> None:
        self.start = FakeClock().now()
        self.t = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.t)

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self._seq += 1
        heapq.heappush(self._sleepers, (self.t + max(0.0, seconds), self._seq, future))
        await future

    async def run(self, *tasks: asyncio.Task[None]) -> None:
        while not all(t.done() for t in tasks):
            for _ in range(20):  # let every task run until it waits
                await asyncio.sleep(0)
            if self._sleepers:
                at, _, future = heapq.heappop(self._sleepers)
                self.t = max(self.t, at)
                future.set_result(None)
        for task in tasks:
            task.result()


async def _workers_take(rate: float, per_worker: list[list[int]]) -> list[tuple[float, int]]:
    """Workers, each with its own shared bucket of one rate on one store, take their
    units concurrently: ``(seconds from the start, units)`` of each grant, in time order."""
    store = MemoryStore()
    clock = VirtualClock()

    async def reserve(key: str, units: float, rate: float, now: datetime) -> datetime:
        return store.reserve_rate(key, units, rate, now=now, ahead=AHEAD)

    granted: list[tuple[float, int]] = []

    async def worker(takes: list[int]) -> None:
        bucket = SharedBucket("provider:p", rate, clock, reserve)
        for units in takes:
            await bucket.take(units)
            granted.append((clock.t, units))

    try:
        await clock.run(*(asyncio.create_task(worker(t)) for t in per_worker))
    finally:
        store.close()
    return sorted(granted)


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(min_value=1, max_value=2000),
    per_worker=st.lists(
        st.lists(st.integers(min_value=1, max_value=50), min_size=1, max_size=30),
        min_size=1,
        max_size=5,
    ),
)
def test_workers_sharing_a_rate_hold_it_together(rate: float, per_worker: list[list[int]]) -> None:
    """Workers that each keep a shared bucket of one rate on one store are granted, in
    any window, at most the rate over the window plus two blocks per worker -- not the
    rate per worker."""
    granted = asyncio.run(_workers_take(rate, per_worker))
    biggest = max(u for takes in per_worker for u in takes)
    slack = 2 * len(per_worker) * max(rate * BLOCK_SECONDS, biggest) + 1e-6
    for i, (first, _) in enumerate(granted):
        units = 0
        for at, more in granted[i:]:
            units += more
            assert units <= rate * (at - first + 2e-6) + slack


def test_four_workers_share_one_rate_not_four() -> None:
    """Four workers each sending 250 at a shared 100/s take 10 s together, not 2.5 s,
    and not much more (a block reserved is used, not wasted)."""
    granted = asyncio.run(_workers_take(100, [[1] * 250 for _ in range(4)]))
    assert 9.5 <= granted[-1][0] <= 10.5
