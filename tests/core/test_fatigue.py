"""Tests of msgkit.core.fatigue: frequency caps by calendar day and rolling period."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from msgkit import Channel
from msgkit.core._zones import day_start, zone
from msgkit.core.fatigue import (
    FrequencyCap,
    SentRecord,
    check_caps,
    earliest_allowed,
    history_since,
)

UTC = timezone.utc
NOW = datetime(2024, 6, 3, 4, 0, tzinfo=UTC)  # Monday 12:00 in Taipei


def sms(at: datetime, *tags: str) -> SentRecord:
    return SentRecord(at=at, channel="sms", tags=tags)


def test_daily_cap_counts_the_local_calendar_day() -> None:
    """'1 a day' counts the recipient's day: Taipei's day started at 16:00 UTC."""
    cap = FrequencyCap(limit=1, per="day")
    yesterday_evening = sms(datetime(2024, 6, 2, 15, 30, tzinfo=UTC))  # 23:30 in Taipei
    this_morning = sms(datetime(2024, 6, 2, 16, 30, tzinfo=UTC))  # 00:30 in Taipei
    ok = check_caps([cap], [yesterday_evening], at=NOW, zone_name="Asia/Taipei", channel="sms")
    assert ok.allowed
    capped = check_caps([cap], [this_morning], at=NOW, zone_name="Asia/Taipei", channel="sms")
    assert not capped.allowed
    assert capped.count == 1
    assert capped.allowed_at == datetime(2024, 6, 3, 16, 0, tzinfo=UTC)
    assert "at most 1 message per day" in capped.detail
    # In UTC that record was yesterday: counting the server's day would wrongly allow it.
    assert check_caps([cap], [this_morning], at=NOW, zone_name="UTC", channel="sms").allowed


def test_rolling_week() -> None:
    """'2 a week' is rolling: allowed again 7 days after the older of the two."""
    cap = FrequencyCap(limit=2, per=timedelta(weeks=1), channel="sms")
    history = [sms(NOW - timedelta(days=6)), sms(NOW - timedelta(days=1))]
    check = check_caps([cap], history, at=NOW, zone_name="UTC", channel="sms")
    assert not check.allowed
    assert check.allowed_at == NOW + timedelta(days=1)
    assert "rolling" in check.detail


def test_rolling_boundary_excludes_the_start() -> None:
    """A message exactly one period old no longer counts."""
    cap = FrequencyCap(limit=1, per=timedelta(hours=4))
    history = [sms(NOW - timedelta(hours=4))]
    assert check_caps([cap], history, at=NOW, zone_name="UTC", channel="sms").allowed


def test_caps_filter_by_channel_and_tag() -> None:
    """A cap counts and binds only its channel and tag."""
    cap = FrequencyCap(limit=1, per="day", channel="sms", tag="promo")
    promo = sms(NOW - timedelta(hours=1), "promo")
    news = sms(NOW - timedelta(hours=1), "news")
    line = SentRecord(at=NOW - timedelta(hours=1), channel="line", tags={"promo"})
    tags = frozenset({"promo"})
    check = check_caps([cap], [promo], at=NOW, zone_name="UTC", channel="sms", tags=tags)
    assert not check.allowed
    assert check_caps(
        [cap], [news, line], at=NOW, zone_name="UTC", channel="sms", tags=tags
    ).allowed
    # A campaign without the tag, or on another channel, is not bound at all.
    assert check_caps([cap], [promo], at=NOW, zone_name="UTC", channel="sms").allowed
    assert check_caps([cap], [promo], at=NOW, zone_name="UTC", channel="line", tags=tags).allowed


def test_later_records_do_not_count() -> None:
    """Only messages up to the send count; history is what came before."""
    cap = FrequencyCap(limit=1, per="day")
    later = sms(NOW + timedelta(hours=1))
    assert check_caps([cap], [later], at=NOW, zone_name="UTC", channel="sms").allowed


def test_several_caps_together() -> None:
    """earliest_allowed satisfies every cap at once."""
    caps = [FrequencyCap(limit=1, per=timedelta(hours=6)), FrequencyCap(limit=2, per="day")]
    history = [sms(NOW - timedelta(hours=3)), sms(NOW - timedelta(hours=2))]
    found = earliest_allowed(caps, history, at=NOW, zone_name="UTC", channel="sms")
    assert found == datetime(2024, 6, 4, tzinfo=UTC)  # the daily cap is the later one


def test_cap_values_are_checked() -> None:
    """A limit below 1, an unknown period or a non-positive span is refused."""
    with pytest.raises(ValueError, match="at least 1"):
        FrequencyCap(limit=0)
    with pytest.raises(ValueError, match="calendar day"):
        FrequencyCap(limit=1, per="month")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        FrequencyCap(limit=1, per=timedelta(0))


def test_describe() -> None:
    """describe() says the cap in words."""
    assert FrequencyCap(limit=5, per=timedelta(weeks=1)).describe() == (
        "at most 5 messages per week (rolling)"
    )
    assert FrequencyCap(limit=1, per=timedelta(hours=4), tag="promo").describe() == (
        "at most 1 message tagged 'promo' per 4 hours (rolling)"
    )


def test_history_since() -> None:
    """history_since covers the longest period, and two days for calendar-day caps."""
    assert history_since([], NOW) is None
    assert history_since([FrequencyCap(limit=1, per=timedelta(weeks=1))], NOW) == NOW - timedelta(
        weeks=1
    )
    assert history_since([FrequencyCap(limit=1)], NOW) == NOW - timedelta(days=2)


def test_records_need_aware_times() -> None:
    """A naive send time is refused."""
    with pytest.raises(ValueError, match="naive"):
        SentRecord(at=datetime(2024, 1, 1), channel="sms")  # noqa: DTZ001


# --- properties ----------------------------------------------------------------------

ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Taipei", "America/Bogota"]
periods = st.one_of(
    st.just("day"),
    st.sampled_from(
        [timedelta(hours=1), timedelta(hours=4), timedelta(days=1), timedelta(weeks=1)]
    ),
)
caps_ = st.lists(
    st.builds(
        FrequencyCap,
        limit=st.integers(1, 4),
        per=periods,
        channel=st.sampled_from([None, Channel.SMS, Channel.LINE]),
        tag=st.sampled_from([None, "promo"]),
    ),
    min_size=1,
    max_size=3,
)
records = st.lists(
    st.builds(
        SentRecord,
        at=st.integers(-14 * 24 * 60, 60).map(lambda m: NOW + timedelta(minutes=m)),
        channel=st.sampled_from(list(Channel)),
        tags=st.sampled_from([(), ("promo",), ("news",)]),
    ),
    max_size=20,
)


def _within(
    caps: list[FrequencyCap],
    history: list[SentRecord],
    when: datetime,
    *,
    zone_name: str,
    channel: Channel,
    tags: frozenset[str],
) -> bool:
    for cap in caps:
        if not cap.binds(channel, tags):
            continue
        times = sorted(r.at for r in history if cap.counts(r))
        if cap.per == "day":
            tz = zone(zone_name)
            begins = day_start(when.astimezone(tz).date(), tz)
            count = sum(1 for t in times if begins <= t <= when)
        else:
            assert isinstance(cap.per, timedelta)
            count = sum(1 for t in times if when - cap.per < t <= when)
        if count >= cap.limit:
            return False
    return True


@settings(max_examples=200, deadline=None)
@given(
    caps=caps_,
    history=records,
    zone_name=st.sampled_from(ZONES),
    channel=st.sampled_from(list(Channel)),
    tags=st.sampled_from([frozenset(), frozenset({"promo"})]),
)
def test_earliest_allowed_never_exceeds_a_cap(
    *,
    caps: list[FrequencyCap],
    history: list[SentRecord],
    zone_name: str,
    channel: Channel,
    tags: frozenset[str],
) -> None:
    """At the time earliest_allowed gives, one more message stays within every cap, and
    no earlier switch point would have."""
    found = earliest_allowed(caps, history, at=NOW, zone_name=zone_name, channel=channel, tags=tags)
    assert found >= NOW
    assert _within(caps, history, found, zone_name=zone_name, channel=channel, tags=tags)
    check = check_caps(caps, history, at=NOW, zone_name=zone_name, channel=channel, tags=tags)
    assert check.allowed == (found == NOW)
    assert check.allowed == _within(
        caps, history, NOW, zone_name=zone_name, channel=channel, tags=tags
    )
    if not check.allowed:
        assert check.allowed_at == found
    # Counts only fall when a record leaves a rolling period or a local day begins.
    tz = zone(zone_name)
    probes = {r.at + cap.per for cap in caps for r in history if isinstance(cap.per, timedelta)}
    day = NOW.astimezone(tz).date()
    while (begins := day_start(day, tz)) < found:
        probes.add(begins)
        day += timedelta(days=1)
    for probe in probes:
        if NOW <= probe < found:
            assert not _within(
                caps, history, probe, zone_name=zone_name, channel=channel, tags=tags
            )
