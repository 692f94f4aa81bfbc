"""Durations and speeds as people write them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from msgkit.core.durations import format_duration, parse_duration, parse_speed


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["s", "m", "h", "d"]))
def test_a_duration_with_a_unit_is_that_many_units(count: int, unit: str) -> None:
    """parse_duration reads N followed by a unit as N of that unit."""
    size = {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
    assert parse_duration(f"{count}{unit}") == timedelta(seconds=count * size)


@given(st.integers(min_value=0, max_value=10**7))
def test_a_number_is_seconds(seconds: int) -> None:
    """parse_duration takes a bare number (or numeric text) as seconds."""
    assert parse_duration(seconds) == parse_duration(str(seconds)) == timedelta(seconds=seconds)


@given(st.integers(min_value=0, max_value=10**7).map(lambda s: timedelta(seconds=s)))
def test_format_duration_reads_back(span: timedelta) -> None:
    """format_duration writes what parse_duration reads back to the same span."""
    assert parse_duration(format_duration(span)) == span


@pytest.mark.parametrize("bad", ["", "5 weeks", "-3s", "abc", "1.2.3m", True, float("inf")])
def test_a_bad_duration_says_how_to_write_one(bad: object) -> None:
    """parse_duration refuses what is not a duration, with an example."""
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(bad)  # type: ignore[arg-type]


@given(st.integers(min_value=1, max_value=10**6), st.sampled_from(["s", "min", "h"]))
def test_a_speed_is_messages_per_unit(count: int, unit: str) -> None:
    """parse_speed reads N/unit as N messages per that unit."""
    per = {"s": 1, "min": 60, "h": 3600}[unit]
    assert parse_speed(f"{count}/{unit}") == (count, timedelta(seconds=per))


@pytest.mark.parametrize("bad", ["10", "0/s", "ten/s", "10/week"])
def test_a_bad_speed_says_how_to_write_one(bad: str) -> None:
    """parse_speed refuses what is not a speed, with an example."""
    with pytest.raises(ValueError, match="not a speed"):
        parse_speed(bad)
