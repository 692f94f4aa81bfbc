"""The report's pure rules: a trigger's outcome, funnels, days and channels."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from msgkit.core.delivery import MessageState
from msgkit.core.pricing import Prices
from msgkit.reports._model import (
    OUTCOMES,
    channel_counts,
    funnel,
    funnels_by_day,
    outcome,
)
from msgkit.store.base import Leg, TriggerCounts

S = MessageState
START = datetime(2026, 8, 3, tzinfo=timezone.utc)

legs = st.builds(
    Leg,
    channel=st.sampled_from(["sms", "line"]),
    provider=st.sampled_from(["sms", "line", None]),
    region=st.sampled_from(["TW", None]),
    state=st.sampled_from(list(MessageState)),
    reason=st.sampled_from([None, "control_group", "cancelled"]),
    error_code=st.sampled_from([None, "E1"]),
    waiting=st.booleans(),
    segments=st.integers(0, 5),
)
rows = st.lists(
    st.builds(
        TriggerCounts,
        hour=st.integers(0, 96).map(lambda h: START + timedelta(hours=h)),
        first=legs,
        fallback=st.none() | legs,
        count=st.integers(1, 5),
    ),
    max_size=20,
)


@given(legs, st.none() | legs)
def test_every_trigger_has_one_known_outcome(first: Leg, fallback: Leg | None) -> None:
    """outcome is total: every pair of legs ends in one of OUTCOMES."""
    kind, _ = outcome(first, fallback)
    assert kind in OUTCOMES


@given(rows)
def test_the_outcomes_of_a_funnel_add_up_to_its_triggers(found: list[TriggerCounts]) -> None:
    """planned is the sum of every outcome; delivered is first plus fallback delivered."""
    f = funnel(found)
    assert f.planned == sum(r.count for r in found)
    assert f.planned == (
        sum(f.skipped.values())
        + f.delivered
        + f.accepted
        + f.undelivered
        + sum(f.failed.values())
        + f.expired
        + f.unknown
        + f.pending
        + f.waiting_fallback
    )
    assert f.delivered == f.first_delivered + f.fallback_delivered
    assert f.delivered <= f.sent + f.planned
    assert f.cost is None  # no prices, no cost


@given(rows, st.sampled_from(["UTC", "Asia/Taipei", "America/New_York"]))
def test_the_days_add_up_to_the_total(found: list[TriggerCounts], zone: str) -> None:
    """Attributing triggers to days loses and adds nothing."""
    total = funnel(found)
    days = funnels_by_day(found, zone)
    for name in ("planned", "sent", "delivered", "fallen_back", "messages", "segments"):
        assert sum(getattr(d, name) for d in days.values()) == getattr(total, name)
    assert list(days) == sorted(days)


def _leg(state: MessageState, **fields: object) -> Leg:
    return Leg(channel=str(fields.pop("channel", "line")), state=state, **fields)  # type: ignore[arg-type]


def test_a_fallback_sent_the_next_day_counts_for_the_trigger_date() -> None:
    """A trigger at 23:30 in Taipei whose SMS went the next day counts for its own day."""
    late = datetime(2026, 8, 3, 15, 30, tzinfo=timezone.utc)  # 23:30 in Taipei
    row = TriggerCounts(
        hour=late.replace(minute=0),
        first=_leg(S.FALLEN_BACK),
        fallback=_leg(S.DELIVERED, channel="sms", segments=1),
        count=1,
    )
    days = funnels_by_day([row], "Asia/Taipei")
    assert [d.isoformat() for d in days] == ["2026-08-03"]
    assert days[next(iter(days))].fallback_delivered == 1


def test_a_waiting_fallback_is_its_own_outcome_and_counts_as_sent() -> None:
    """First message submitted, fallback waiting: waiting_fallback, sent, not delivered."""
    f = funnel(
        [
            TriggerCounts(
                hour=START,
                first=_leg(S.SUBMITTED),
                fallback=_leg(S.DEFERRED, channel="sms", waiting=True),
                count=3,
            )
        ]
    )
    assert (f.waiting_fallback, f.sent, f.delivered) == (3, 3, 0)
    line, sms = channel_counts(
        [
            TriggerCounts(
                hour=START,
                first=_leg(S.SUBMITTED),
                fallback=_leg(S.DEFERRED, channel="sms", waiting=True),
                count=3,
            )
        ]
    )
    assert (line.channel, line.sent, sms.channel, sms.pending) == ("line", 3, "sms", 3)


def test_failures_are_counted_by_code_and_a_skipped_fallback_says_why() -> None:
    """A failed trigger counts under its code; a fallback that could not go under its reason."""
    f = funnel(
        [
            TriggerCounts(hour=START, first=_leg(S.FAILED, error_code="E42"), count=2),
            TriggerCounts(
                hour=START,
                first=_leg(S.FALLEN_BACK),
                fallback=_leg(S.SKIPPED, channel="sms", reason="suppressed"),
                count=1,
            ),
        ]
    )
    assert f.failed == {"E42": 2, "fallback suppressed": 1}


def test_cost_is_per_part_for_sms_and_per_message_otherwise() -> None:
    """SMS costs its parts times the price; LINE the price per message; unpriced is None."""
    prices = {"sms": Prices(default="0.04"), "line": Prices(default="0.01")}
    found = [
        TriggerCounts(
            hour=START,
            first=_leg(S.FALLEN_BACK, provider="line"),
            fallback=_leg(S.DELIVERED, channel="sms", provider="sms", segments=6),
            count=3,
        )
    ]
    assert funnel(found, prices).cost == Decimal("0.03") + Decimal("0.24")
    assert funnel(found, {"sms": Prices(default="0.04")}).cost is None
