"""Tests of msgkit.core.rates: the rate slot rule shared by workers."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from msgkit.core.rates import reserve_slot

AHEAD = 60_000_000


@settings(max_examples=300)
@given(
    rate=st.floats(min_value=0.1, max_value=10_000),
    asks=st.lists(
        st.tuples(st.integers(min_value=0, max_value=2_000_000), st.integers(1, 500)),
        min_size=1,
        max_size=80,
    ),
)
def test_slots_never_overlap_and_hold_the_rate(rate: float, asks: list[tuple[int, int]]) -> None:
    """Whoever reserves, in whatever order (times never going back): slots follow each
    other without overlap, none begins before it is asked for, and the units of the
    slots that begin in any window fit the rate over the window plus one reservation."""
    due: int | None = None
    now = 0
    slots: list[tuple[int, int, int]] = []
    for gap, units in asks:
        now += gap
        start, due = reserve_slot(due, now, units, rate, ahead=10**13)
        assert start >= now
        slots.append((start, due, units))
    for (_, end, _), (start, _, _) in itertools.pairwise(slots):
        assert start >= end
    for i, (first, _, _) in enumerate(slots):
        for j in range(i, len(slots)):
            last_start = slots[j][0]
            units = sum(u for _, _, u in slots[i : j + 1])
            assert units <= rate * (last_start - first) / 1_000_000 + slots[j][2] + 1e-6


@given(
    due=st.integers(min_value=0, max_value=10**15),
    now=st.integers(min_value=0, max_value=10**15),
    units=st.floats(min_value=0.001, max_value=1e6),
    rate=st.floats(min_value=0.001, max_value=1e6),
)
def test_a_slot_begins_now_or_at_a_believable_due(
    due: int, now: int, units: float, rate: float
) -> None:
    """A slot begins at the due time when it is ahead of now by at most ``ahead``, else
    now; it lasts ``units / rate`` (rounded up to the microsecond)."""
    start, after = reserve_slot(due, now, units, rate, ahead=AHEAD)
    assert start == (due if now <= due <= now + AHEAD else now)
    assert 0 <= after - start - units * 1_000_000 / rate < 1 + 1e-9 * after


@pytest.mark.parametrize(("units", "rate"), [(0, 1.0), (1, 0.0), (-1, 1.0), (1, float("nan"))])
def test_nothing_or_no_rate_is_refused(units: float, rate: float) -> None:
    """A reservation of no units, or at no rate, is a programming error: ValueError."""
    with pytest.raises(ValueError, match="positive"):
        reserve_slot(None, 0, units, rate, ahead=AHEAD)
