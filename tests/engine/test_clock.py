"""FakeClock: time moves forward by seconds or by a timedelta, never back."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from msgkit.engine.clock import FakeClock

steps = st.lists(
    st.one_of(
        st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
        st.timedeltas(min_value=timedelta(days=-10), max_value=timedelta(days=10)),
    ),
    max_size=20,
)


def _seconds(step: float | timedelta) -> float:
    return step.total_seconds() if isinstance(step, timedelta) else step


@given(steps)
def test_advance_takes_seconds_or_timedeltas_and_never_goes_back(
    moves: list[float | timedelta],
) -> None:
    """advance(n) and advance(timedelta(seconds=n)) move alike; negative steps do nothing."""
    by_number, by_delta = FakeClock(), FakeClock()
    for move in moves:
        before = by_number.now()
        by_number.advance(_seconds(move))
        by_delta.advance(timedelta(seconds=_seconds(move)))
        assert by_number.now() >= before
        assert abs(
            by_number.now() - before - max(timedelta(0), timedelta(seconds=_seconds(move)))
        ) < timedelta(milliseconds=1)
    assert abs(by_number.now() - by_delta.now()) < timedelta(milliseconds=1)
