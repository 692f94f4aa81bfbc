"""Tests of msgkit.core.rfm: quintile scoring, named segments, the pre-pass."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from msgkit import Audience, ConfigError, Contact, Rule
from msgkit.core.rfm import (
    NAMED_SEGMENTS,
    RFM,
    Quintiles,
    RFMSegment,
    needs_scores,
    with_scores,
)
from msgkit.store.codec import dumps, loads

NOW = datetime(2026, 1, 5, tzinfo=timezone.utc)
MODEL = RFM(recency="last", frequency="orders", monetary="spent")

VALUES = st.lists(
    st.one_of(st.integers(-50, 50), st.floats(-1e6, 1e6, allow_nan=False)), max_size=200
)


def _rule_score(value: float, values: list[float]) -> int:
    below = sum(1 for v in values if v < value)
    return 1 + (5 * below) // len(values)


@given(VALUES)
def test_scores_follow_the_rank_rule(values: list[float]) -> None:
    """Every value scores 1 + floor(5 * below / n), in 1..5."""
    quintiles = Quintiles.of(values)
    for value in values:
        score = quintiles.score(value)
        assert 1 <= score <= 5
        assert score == _rule_score(value, values)


@given(VALUES, st.floats(-2e6, 2e6, allow_nan=False), st.floats(-2e6, 2e6, allow_nan=False))
def test_scores_are_monotone(values: list[float], a: float, b: float) -> None:
    """A larger value never scores lower, whether or not it was in the list."""
    quintiles = Quintiles.of(values)
    low, high = sorted((a, b))
    assert quintiles.score(low) <= quintiles.score(high)


@given(st.lists(st.integers(-(2**53), 2**53), min_size=1, max_size=300, unique=True))
def test_distinct_values_fill_balanced_quintiles(values: list[int]) -> None:
    """With distinct values, each score holds floor or ceil of n / 5 contacts."""
    quintiles = Quintiles.of([float(v) for v in values])
    sizes = Counter(quintiles.score(v) for v in values)
    n = len(values)
    for score in range(1, 6):
        assert n // 5 <= sizes.get(score, 0) <= -(-n // 5)


@given(st.lists(st.integers(0, 4), min_size=1, max_size=100), st.randoms())
def test_ties_share_a_score_whatever_the_order(values: list[int], rng: object) -> None:
    """Equal values share a score, and the list's order changes nothing."""
    shuffled = list(values)
    rng.shuffle(shuffled)  # type: ignore[attr-defined]
    assert Quintiles.of(values) == Quintiles.of(shuffled)
    quintiles = Quintiles.of(values)
    by_value: dict[int, set[int]] = {}
    for v in values:
        by_value.setdefault(v, set()).add(quintiles.score(v))
    assert all(len(scores) == 1 for scores in by_value.values())


def _contact(key: str, last: object, orders: object, spent: object) -> Contact:
    return Contact(key=key, attributes={"last": last, "orders": orders, "spent": spent})


def test_missing_and_unreadable_values_score_zero() -> None:
    """Blank, missing or unreadable cells score 0 and take no part in the cut points."""
    people = [_contact(f"c{i}", date(2025, 1, i + 1), i, 10 * i) for i in range(5)]
    odd = _contact("odd", "", "many", None)
    cuts = MODEL.cuts([*people, odd])
    assert cuts.contacts == 6
    assert MODEL.scores(odd, cuts) == (0, 0, 0)
    assert MODEL.scores(people[-1], cuts) == (5, 5, 5)
    assert not MODEL.score().with_cuts(cuts).matches(odd, now=NOW)
    assert MODEL.score().with_cuts(cuts).matches(people[0], now=NOW)


def test_dates_as_text_and_datetimes_count_as_recency() -> None:
    """ISO text, dates and datetimes are all read as the last purchase."""
    people = [
        _contact("a", "2025-01-01", 1, 1),
        _contact("b", date(2025, 2, 1), 1, 1),
        _contact("c", datetime(2025, 3, 1, 12, tzinfo=timezone.utc), 1, 1),
    ]
    cuts = MODEL.cuts(people)
    assert [MODEL.scores(p, cuts)[0] for p in people] == [1, 2, 4]


def test_named_segments() -> None:
    """Named segments are sets of allowed scores; an unknown name lists the names."""
    champions = MODEL.segment("champions")
    assert (champions.r, champions.f, champions.m) == ({5}, {5}, {5})
    at_risk = MODEL.segment("at_risk")
    assert (at_risk.r, at_risk.f, at_risk.m) == ({1, 2}, {3, 4, 5}, {1, 2, 3, 4, 5})
    assert set(NAMED_SEGMENTS) >= {"champions", "at_risk", "loyal", "hibernating"}
    with pytest.raises(ConfigError, match="champions"):
        MODEL.segment("whales")
    with pytest.raises(ConfigError, match="between 1 and 5"):
        MODEL.score(f=(0, 1))


def test_unscored_segment_refuses_to_match() -> None:
    """An RFM segment without its list's cut points says how to get them."""
    with pytest.raises(ConfigError, match="quintiles"):
        MODEL.segment("champions").matches(_contact("a", "2025-01-01", 1, 1), now=NOW)


def test_with_scores_reaches_nested_segments_in_one_pass() -> None:
    """The pre-pass scores every RFM segment in a combined condition, reading once."""
    people = [_contact(f"c{i}", date(2025, 1, i + 1), i, i) for i in range(10)]
    reads = 0

    def stream() -> object:
        nonlocal reads
        reads += 1
        yield from people

    condition = MODEL.segment("champions") | ~(MODEL.score(r=1) & Rule(field="orders", op="exists"))
    assert needs_scores(condition)
    scored = with_scores(condition, stream())  # type: ignore[arg-type]
    assert reads == 1
    assert not needs_scores(scored)
    keys = [p.key for p in people if scored.matches(p, now=NOW)]
    assert keys == [f"c{i}" for i in range(2, 10)]


def test_an_audience_with_a_scored_segment_is_stored_as_it_is() -> None:
    """An audience holding a scored RFM segment reads back equal from the store codec."""
    people = [_contact(f"c{i}", date(2025, 1, i + 1), i, i) for i in range(7)]
    segment = with_scores(MODEL.segment("at_risk") & Rule(field="x", op="exists"), people)
    audience = Audience(lists=["l1"], segment=segment)
    assert loads(dumps(audience)) == audience
    unscored = Audience(lists=["l1"], segment=MODEL.segment("loyal"))
    assert loads(dumps(unscored)) == unscored
    assert isinstance(unscored.segment, RFMSegment)
