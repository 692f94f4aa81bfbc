"""Tests of msgkit.engine.ratelimit: the token bucket on a fake clock."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from msgkit.engine.clock import FakeClock
from msgkit.engine.ratelimit import BURST_SECONDS, TokenBucket


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
