"""Tests of msgkit.core.windows: contact schedules, quiet hours, the China rule, validity."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from msgkit import Channel, Contact, TemplateKind
from msgkit.core._zones import day_start, first_instant, instants, zone
from msgkit.core.windows import (
    CHINA_PROMOTIONAL,
    CHINA_ZONE,
    ContactSchedule,
    Window,
    china_rule_applies,
    expiry,
    recipient_zone,
)

UTC = timezone.utc
NY = "America/New_York"
BERLIN = "Europe/Berlin"


def wall(*args: int) -> datetime:
    """A local wall-clock reading (naive on purpose)."""
    return datetime(*args)  # type: ignore[arg-type]  # noqa: DTZ001


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def local(zone_name: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone(zone_name)).astimezone(UTC)  # type: ignore[misc]


# --- windows and parsing --------------------------------------------------------------


def test_window_parse_days_and_hours() -> None:
    """Window.parse reads day ranges, lists and aliases, and HH:MM-HH:MM."""
    assert Window.parse("Mon-Fri 09:00-20:00").days == frozenset(range(5))
    assert Window.parse("Sat,Sun 10:00-14:00").days == frozenset({5, 6})
    assert Window.parse("daily 22:00-02:00").crosses_midnight
    assert Window.parse("Fri-Mon 09:00-10:00").days == frozenset({4, 5, 6, 0})
    assert Window.parse("weekdays 08:30-24:00").end == time(0)


@pytest.mark.parametrize("text", ["Mon-Fri", "Funday 09:00-10:00", "Mon 9-10", "Mon 09:00-25:00"])
def test_window_parse_refuses_nonsense(text: str) -> None:
    """Text that is not days plus hours raises ValueError saying how to write it."""
    with pytest.raises(ValueError, match=r"window|day|time|hour"):
        Window.parse(text)


def test_schedule_parse_lists_windows() -> None:
    """ContactSchedule.parse reads windows separated by ';' or ','."""
    s = ContactSchedule.parse("Mon-Fri 09:00-20:00, Sat 10:00-14:00", blackout=["2024-12-25"])
    assert len(s.windows) == 2
    assert s.blackout == frozenset({date(2024, 12, 25)})
    with pytest.raises(ValueError, match="list of windows"):
        ContactSchedule.parse("Mon-Fri 09:00-20:00 and more")


def test_schedule_needs_a_window() -> None:
    """A schedule with no window is refused: it would never open."""
    with pytest.raises(ValueError, match="at least one window"):
        ContactSchedule(windows=())


def test_weekday_window_in_local_time() -> None:
    """Mon-Fri 09:00-20:00 is evaluated on the recipient's wall clock, end excluded."""
    s = ContactSchedule.parse("Mon-Fri 09:00-20:00")
    assert s.is_open(local("Asia/Taipei", 2024, 6, 3, 9, 0), "Asia/Taipei")  # Monday
    assert not s.is_open(local("Asia/Taipei", 2024, 6, 3, 20, 0), "Asia/Taipei")
    assert not s.is_open(local("Asia/Taipei", 2024, 6, 1, 12, 0), "Asia/Taipei")  # Saturday


def test_deferred_to_next_opening_not_dropped() -> None:
    """A time after Friday's window moves to Monday 09:00 local."""
    s = ContactSchedule.parse("Mon-Fri 09:00-20:00")
    friday_night = local("Asia/Taipei", 2024, 5, 31, 21, 0)
    assert s.next_open(friday_night, "Asia/Taipei") == local("Asia/Taipei", 2024, 6, 3, 9, 0)


def test_window_crossing_midnight() -> None:
    """A 22:00-02:00 window opens late in the evening and stays open after midnight."""
    s = ContactSchedule.parse("Fri 22:00-02:00")
    zone_name = "Europe/Paris"
    assert s.is_open(local(zone_name, 2024, 6, 7, 23, 30), zone_name)  # Friday
    assert s.is_open(local(zone_name, 2024, 6, 8, 1, 59), zone_name)  # Saturday morning
    assert not s.is_open(local(zone_name, 2024, 6, 8, 2, 0), zone_name)
    assert not s.is_open(local(zone_name, 2024, 6, 8, 23, 0), zone_name)  # Saturday night
    after = local(zone_name, 2024, 6, 8, 3, 0)
    assert s.next_open(after, zone_name) == local(zone_name, 2024, 6, 14, 22, 0)


def test_full_day_window() -> None:
    """A window with the same start and end lasts 24 hours."""
    s = ContactSchedule(windows=[Window(days="Sun", start="00:00", end="00:00")])
    assert s.is_open(local("UTC", 2024, 6, 2, 23, 59), "UTC")
    assert not s.is_open(local("UTC", 2024, 6, 3, 0, 0), "UTC")


def test_quiet_hours() -> None:
    """quiet_hours(21:00, 09:00) is open every day from 09:00 to 21:00."""
    s = ContactSchedule.quiet_hours("21:00", "09:00")
    assert s.is_open(local(BERLIN, 2024, 6, 2, 9, 0), BERLIN)
    assert not s.is_open(local(BERLIN, 2024, 6, 2, 21, 0), BERLIN)
    assert s.next_open(local(BERLIN, 2024, 6, 2, 3, 0), BERLIN) == local(BERLIN, 2024, 6, 2, 9, 0)
    with pytest.raises(ValueError, match="different"):
        ContactSchedule.quiet_hours("09:00", "09:00")


def test_blackout_closes_the_whole_local_day() -> None:
    """A blackout date closes the day, including a window that crossed into it."""
    s = ContactSchedule.parse("daily 22:00-02:00", blackout=[date(2024, 12, 25)])
    zone_name = "Asia/Tokyo"
    assert not s.is_open(local(zone_name, 2024, 12, 25, 1, 0), zone_name)
    assert s.is_open(local(zone_name, 2024, 12, 24, 23, 0), zone_name)
    # The window of the 25th never opens; the 26th's continuation after midnight does.
    start = local(zone_name, 2024, 12, 25, 0, 0)
    assert s.next_open(start, zone_name) == local(zone_name, 2024, 12, 26, 0, 0)


def test_next_open_respects_until() -> None:
    """With until, next_open gives None when the next opening is later."""
    s = ContactSchedule.parse("Mon 09:00-10:00")
    saturday = local("UTC", 2024, 6, 1, 12, 0)
    assert s.next_open(saturday, "UTC", until=saturday + timedelta(days=1)) is None
    assert s.next_open(saturday, "UTC") == local("UTC", 2024, 6, 3, 9, 0)
    open_now = local("UTC", 2024, 6, 3, 9, 30)
    assert s.next_open(open_now, "UTC", until=open_now) is None
    assert s.next_open(open_now, "UTC", until=open_now + timedelta(minutes=1)) == open_now


# --- daylight saving time -----------------------------------------------------------


def test_dst_spring_forward_new_york() -> None:
    """On the day New York springs forward, 09:00 EDT is 13:00 UTC, not 14:00."""
    s = ContactSchedule.parse("daily 09:00-20:00")
    saturday_night = at(2024, 3, 10, 2, 0)  # 21:00 EST on Saturday
    assert s.next_open(saturday_night, NY) == at(2024, 3, 10, 13, 0)
    assert s.next_open(at(2024, 3, 9, 2, 0), NY) == at(2024, 3, 9, 14, 0)  # EST the day before


def test_window_starting_in_the_gap_opens_at_the_jump() -> None:
    """A window opening at 02:30, which does not exist that day, opens at 03:00 EDT."""
    s = ContactSchedule.parse("daily 02:30-04:00")
    assert s.next_open(at(2024, 3, 10, 5, 0), NY) == at(2024, 3, 10, 7, 0)
    assert s.is_open(at(2024, 3, 10, 7, 0), NY)
    assert not s.is_open(at(2024, 3, 10, 6, 59, 59), NY)


def test_window_in_the_overlap_happens_twice() -> None:
    """On the day New York falls back, 01:00-01:30 is open twice (EDT, then EST)."""
    s = ContactSchedule.parse("daily 01:00-01:30")
    first, second = instants(wall(2024, 11, 3, 1, 0), zone(NY))
    assert s.next_open(first - timedelta(minutes=1), NY) == first
    assert s.next_open(first + timedelta(minutes=45), NY) == second
    assert second - first == timedelta(hours=1)


def test_falling_back_into_a_window_reopens_it() -> None:
    """When the clock falls back from 02:00 to 01:00, 00:30-01:30 opens again at the change."""
    s = ContactSchedule.parse("daily 00:30-01:30")
    edt_0145 = at(2024, 11, 3, 5, 45)
    assert not s.is_open(edt_0145, NY)
    assert s.next_open(edt_0145, NY) == at(2024, 11, 3, 6, 0)  # 01:00 EST


def test_dst_berlin() -> None:
    """In Berlin 08:00 is 07:00 UTC before the spring change and 06:00 UTC after it."""
    s = ContactSchedule.parse("daily 08:00-20:00")
    assert s.next_open(at(2024, 3, 30, 20, 0), BERLIN) == at(2024, 3, 31, 6, 0)
    assert s.next_open(at(2024, 3, 29, 20, 0), BERLIN) == at(2024, 3, 30, 7, 0)
    assert s.next_open(at(2024, 10, 26, 20, 0), BERLIN) == at(2024, 10, 27, 7, 0)


def test_zone_helpers_in_gaps_and_overlaps() -> None:
    """instants() finds 0, 1 or 2 instants; first_instant() gives the jump in a gap."""
    ny = zone(NY)
    assert instants(wall(2024, 3, 10, 2, 30), ny) == ()
    assert len(instants(wall(2024, 11, 3, 1, 30), ny)) == 2
    assert first_instant(wall(2024, 3, 10, 2, 30), ny) == at(2024, 3, 10, 7, 0)
    # Santiago springs forward at midnight: 11 September 2022 starts at 01:00.
    assert day_start(date(2022, 9, 11), zone("America/Santiago")) == at(2022, 9, 11, 4, 0)


def test_unknown_zone_is_refused() -> None:
    """A zone name that does not exist raises ValueError with an example of a good one."""
    with pytest.raises(ValueError, match="IANA"):
        ContactSchedule.parse("daily 09:00-10:00").is_open(at(2024, 1, 1), "Mars/Olympus")


# --- UTC+8 and UTC-5 in the same campaign --------------------------------------------


def test_same_instant_different_local_decisions() -> None:
    """At 03:00 UTC, Taipei (UTC+8) is inside 09:00-20:00 and Bogota (UTC-5) is not."""
    s = ContactSchedule.parse("daily 09:00-20:00")
    now = at(2024, 1, 15, 3, 0)
    assert s.next_open(now, "Asia/Taipei") == now
    assert s.next_open(now, "America/Bogota") == at(2024, 1, 15, 14, 0)


# --- the China rule, zones, validity ---------------------------------------------------


def test_china_rule() -> None:
    """No promotional SMS to +86 numbers from 20:00 to 08:00 Beijing time."""
    assert china_rule_applies(channel=Channel.SMS, kind=TemplateKind.PROMOTIONAL, region="CN")
    assert china_rule_applies(channel=Channel.SMS, kind=TemplateKind.MULTIMEDIA, region="CN")
    assert not china_rule_applies(channel=Channel.SMS, kind=TemplateKind.NOTIFICATION, region="CN")
    assert not china_rule_applies(channel=Channel.SMS, kind=TemplateKind.PROMOTIONAL, region="TW")
    assert not china_rule_applies(channel=Channel.LINE, kind=TemplateKind.PROMOTIONAL, region="CN")
    evening = local(CHINA_ZONE, 2024, 6, 3, 20, 0)
    assert CHINA_PROMOTIONAL.next_open(evening, CHINA_ZONE) == local(CHINA_ZONE, 2024, 6, 4, 8, 0)


def test_recipient_zone_order() -> None:
    """The contact's zone wins, then the phone's single zone, then the default."""
    assert recipient_zone(Contact(phone="+886912345678", time_zone="Asia/Tokyo"), "UTC") == (
        "Asia/Tokyo"
    )
    assert recipient_zone(Contact(phone="+886912345678"), "UTC") == "Asia/Taipei"
    assert recipient_zone(Contact(key="web-1"), "Europe/Berlin") == "Europe/Berlin"


def test_expiry() -> None:
    """Messages expire at the earlier of start + validity and the end date."""
    start = at(2024, 6, 1)
    assert expiry(start, validity=timedelta(days=1), ends_at=None) == at(2024, 6, 2)
    assert expiry(start, validity=timedelta(days=3), ends_at=at(2024, 6, 2)) == at(2024, 6, 2)
    assert expiry(start, validity=None, ends_at=None) is None


# --- properties ----------------------------------------------------------------------

ZONES = [
    "UTC",
    NY,
    BERLIN,
    "America/Santiago",
    "America/Bogota",
    "Asia/Taipei",
    "Asia/Shanghai",
    "Asia/Kathmandu",
    "Australia/Lord_Howe",
    "Australia/Adelaide",
    "Pacific/Chatham",
]
# Moments near daylight-saving changes, so that the examples often straddle one.
CHANGES = [
    at(2024, 3, 10, 7),
    at(2024, 11, 3, 6),
    at(2024, 3, 31, 1),
    at(2024, 10, 27, 1),
    at(2024, 4, 6, 15),
    at(2024, 9, 8, 4),
    at(2024, 10, 5, 15),
]
quarter_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
windows = st.builds(
    Window,
    days=st.frozensets(st.integers(0, 6), min_size=1),
    start=quarter_times,
    end=quarter_times,
)
instants_ = st.one_of(
    st.datetimes(wall(2023, 1, 1), wall(2026, 12, 31), timezones=st.just(UTC)),
    st.builds(
        lambda base, minutes: base + timedelta(minutes=minutes),
        st.sampled_from(CHANGES),
        st.integers(-3 * 24 * 60, 3 * 24 * 60),
    ),
)


@st.composite
def schedules(draw: st.DrawFn) -> ContactSchedule:
    found = draw(st.lists(windows, min_size=1, max_size=3))
    blackout = draw(st.lists(st.dates(date(2023, 1, 1), date(2026, 12, 31)), max_size=2))
    return ContactSchedule(windows=found, blackout=blackout)


@settings(max_examples=300, deadline=None)
@given(schedule=schedules(), start=instants_, zone_name=st.sampled_from(ZONES))
def test_next_open_is_the_first_open_instant(
    schedule: ContactSchedule, start: datetime, zone_name: str
) -> None:
    """next_open gives an open instant at or after the start, and none earlier is open."""
    found = schedule.next_open(start, zone_name)
    assert found is not None  # every window opens within a week, blackouts are few
    assert found >= start
    assert schedule.is_open(found, zone_name)
    assert (found == start) == schedule.is_open(start, zone_name)
    # Every switch happens on a quarter hour (window times, offsets and DST changes
    # here are quarter hours): check each quarter hour in between is closed.
    probe = start.replace(minute=start.minute - start.minute % 15, second=0, microsecond=0)
    stop = min(found, start + timedelta(days=10))
    while probe < stop:
        if probe > start:
            assert not schedule.is_open(probe, zone_name), probe
        probe += timedelta(minutes=15)


@settings(max_examples=100, deadline=None)
@given(schedule=schedules(), start=instants_, zone_name=st.sampled_from(ZONES))
def test_next_open_is_stable(schedule: ContactSchedule, start: datetime, zone_name: str) -> None:
    """Asking again from the answer gives the same answer (it is a fixed point)."""
    found = schedule.next_open(start, zone_name)
    assert found is not None
    assert schedule.next_open(found, zone_name) == found


@given(day=st.dates(date(2020, 1, 1), date(2030, 12, 31)), zone_name=st.sampled_from(ZONES))
def test_day_start_is_the_first_instant_of_the_local_day(day: date, zone_name: str) -> None:
    """day_start gives an instant on that local date, and the second before is the day before."""
    tz = zone(zone_name)
    begins = day_start(day, tz)
    assert begins.astimezone(tz).date() == day
    assert (begins - timedelta(seconds=1)).astimezone(tz).date() < day
