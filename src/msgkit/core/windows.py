"""When a message may be sent: contact schedules, quiet hours, the China rule, validity.

A `ContactSchedule` is a set of weekly windows in the recipient's local time (Mon–Fri
09:00–20:00, Sat 10:00–14:00) and blackout dates (holidays). It answers two questions,
both about instants (aware datetimes) and a zone:

- `ContactSchedule.is_open`: may a message go out now?
- `ContactSchedule.next_open`: if not, from when? A message due outside the window is
  deferred to the next opening, never dropped, and never sent at 03:00 because the
  server is in another zone.

Semantics, stated once: an instant is open when the recipient's *wall clock* at that
instant reads a time inside a window ``[start, end)`` of that weekday, and its local
date is not a blackout date. A window whose end is not after its start crosses
midnight (``22:00–02:00`` runs into the next day; ``00:00–00:00`` is the whole day); a
blackout date closes the whole local day, including the part of a window that crossed
into it. Daylight saving time follows from the wall-clock rule: on the day New York
springs forward, a window opening at 02:30 opens at the jump (03:00 EDT), and on the
day it falls back, 01:00–01:30 happens, and is open, twice.

The recipient's zone is the contact's own, else the phone number's when it has exactly
one, else the campaign default (`recipient_zone`).

Mainland China: promotional SMS may not be sent between 20:00 and 08:00 local time
(`CHINA_PROMOTIONAL`, in ``Asia/Shanghai``). msgkit applies it to every SMS that is not
a notification whose recipient's number is a mainland number (+86, region ``CN``),
whatever the provider or counting scheme: the law follows the recipient, and a
``"cn"`` provider also carries international traffic (`china_rule_applies`).

Validity: a campaign's messages expire at the earlier of its start plus its validity
and its end date (`expiry`); a message that cannot be sent before then is expired, not
sent late.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import attrs

from msgkit.core._zones import day_start, first_instant, instants, transition, utc, zone
from msgkit.core.contacts import Contact
from msgkit.core.delivery import Channel
from msgkit.core.templates import TemplateKind

__all__ = [
    "CHINA_PROMOTIONAL",
    "CHINA_ZONE",
    "ContactSchedule",
    "Window",
    "china_rule_applies",
    "expiry",
    "recipient_zone",
]

#: How far ahead `ContactSchedule.next_open` looks when nothing bounds it.
HORIZON_DAYS = 400

_DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_ALIASES = {
    "daily": range(7),
    "everyday": range(7),
    "weekdays": range(5),
    "weekends": range(5, 7),
}


def _day_index(name: str) -> int:
    key = name.strip().lower()[:3]
    if key not in _DAY_NAMES:
        raise ValueError(f"unknown day {name!r}: use Mon, Tue, Wed, Thu, Fri, Sat or Sun")
    return _DAY_NAMES.index(key)


def _days(value: Iterable[int | str] | str) -> frozenset[int]:
    """Days from ``"Mon-Fri"``, ``"Sat,Sun"``, ``"daily"``, names or 0 (Mon) … 6 (Sun)."""
    items: Iterable[int | str] = value.split(",") if isinstance(value, str) else value
    days: set[int] = set()
    for item in items:
        if isinstance(item, int):
            if not 0 <= item <= 6:
                raise ValueError(f"day {item} is not 0 (Monday) to 6 (Sunday)")
            days.add(item)
            continue
        text = item.strip().lower().replace("–", "-").replace(" ", "")
        if text in _DAY_ALIASES:
            days.update(_DAY_ALIASES[text])
        elif "-" in text:
            first, _, last = text.partition("-")
            a, b = _day_index(first), _day_index(last)
            days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
        else:
            days.add(_day_index(text))
    if not days:
        raise ValueError("a window needs at least one day")
    return frozenset(days)


def _clock(value: time | str) -> time:
    if isinstance(value, time):
        if value.tzinfo is not None:
            raise ValueError("window times are local wall-clock times: give a naive time")
        return value
    text = value.strip()
    if text == "24:00":
        return time(0)
    hours, sep, minutes = text.partition(":")
    if not sep or not hours.isdigit() or not minutes.isdigit():
        raise ValueError(f"{value!r} is not a time: write HH:MM, e.g. '09:00'")
    return time(int(hours), int(minutes))


@attrs.frozen(kw_only=True)
class Window:
    """One weekly opening in local time.

    Attributes:
        days: The weekdays it starts on, 0 (Monday) to 6 (Sunday); also accepts
            ``"Mon-Fri"``, ``"Sat,Sun"``, ``"daily"``, ``"weekdays"``, ``"weekends"``.
        start: The local time it opens.
        end: The local time it closes (not included). An end not after the start
            crosses midnight into the next day; ``end == start`` is 24 hours.
    """

    days: frozenset[int] = attrs.field(converter=_days)
    start: time = attrs.field(converter=_clock)
    end: time = attrs.field(converter=_clock)

    @property
    def crosses_midnight(self) -> bool:
        """Whether the window runs into the next day."""
        return self.end <= self.start

    def contains(self, weekday: int, clock: time) -> bool:
        """Whether a local wall-clock reading (weekday, time) is inside the window."""
        if not self.crosses_midnight:
            return weekday in self.days and self.start <= clock < self.end
        if weekday in self.days and clock >= self.start:
            return True
        return (weekday - 1) % 7 in self.days and clock < self.end

    @classmethod
    def parse(cls, text: str) -> Window:
        """A window from text such as ``"Mon-Fri 09:00-20:00"`` or ``"daily 22:00-02:00"``.

        Example:
            >>> w = Window.parse("Mon-Fri 09:00-20:00")
            >>> sorted(w.days), w.start, w.end
            ([0, 1, 2, 3, 4], datetime.time(9, 0), datetime.time(20, 0))
        """
        match = _WINDOW.fullmatch(text.strip())
        if match is None:
            raise ValueError(
                f"{text!r} is not a window: write days and hours, e.g. 'Mon-Fri 09:00-20:00'"
            )
        return cls(days=match["days"], start=match["start"], end=match["end"])


_WINDOW = re.compile(
    r"(?P<days>[A-Za-z][A-Za-z ,\-–]*?)\s+(?P<start>\d{1,2}:\d{2})\s*[-–]\s*(?P<end>\d{1,2}:\d{2})"
)


def _windows(value: Iterable[Window | str]) -> tuple[Window, ...]:
    found = tuple(Window.parse(w) if isinstance(w, str) else w for w in value)
    if not found:
        raise ValueError("a schedule needs at least one window; omit the schedule for 'any time'")
    return found


def _dates(value: Iterable[date | str]) -> frozenset[date]:
    return frozenset(date.fromisoformat(d) if isinstance(d, str) else d for d in value)


@attrs.frozen(kw_only=True)
class ContactSchedule:
    """When messages may reach people: weekly windows in local time, minus blackout dates.

    Attributes:
        windows: The weekly openings (`Window`, or text like ``"Sat 10:00-14:00"``).
        blackout: Local dates with no messages at all (holidays); dates or ISO strings.

    Example:
        >>> from datetime import datetime, timezone
        >>> s = ContactSchedule.parse("Mon-Fri 09:00-20:00; Sat 10:00-14:00")
        >>> saturday_night = datetime(2024, 6, 1, 13, 0, tzinfo=timezone.utc)  # 21:00 Taipei
        >>> s.next_open(saturday_night, "Asia/Taipei").isoformat()  # Monday 09:00 Taipei
        '2024-06-03T01:00:00+00:00'
    """

    windows: tuple[Window, ...] = attrs.field(converter=_windows)
    blackout: frozenset[date] = attrs.field(factory=frozenset, converter=_dates)

    @classmethod
    def parse(cls, text: str, *, blackout: Iterable[date | str] = ()) -> ContactSchedule:
        """A schedule from text: windows separated by ``;`` or ``,``.

        Example:
            >>> len(ContactSchedule.parse("Mon-Fri 09:00-20:00; Sat 10:00-14:00").windows)
            2
        """
        found = [m.group(0) for m in _WINDOW.finditer(text)]
        rest = _WINDOW.sub("", text).replace(";", "").replace(",", "").strip()
        if not found or rest:
            raise ValueError(
                f"{text!r} is not a list of windows: write e.g. "
                "'Mon-Fri 09:00-20:00; Sat 10:00-14:00'"
            )
        return cls(windows=tuple(found), blackout=_dates(blackout))

    @classmethod
    def quiet_hours(
        cls, start: time | str, end: time | str, *, blackout: Iterable[date | str] = ()
    ) -> ContactSchedule:
        """Every day, except from ``start`` to ``end`` (e.g. ``"21:00"`` to ``"09:00"``).

        Raises:
            ValueError: When ``start`` equals ``end``: that would be no quiet hours, or
                no sending at all.
        """
        opens, closes = _clock(end), _clock(start)
        if opens == closes:
            raise ValueError("quiet hours need different start and end times")
        return cls(windows=(Window(days=range(7), start=opens, end=closes),), blackout=blackout)

    def is_open(self, at: datetime, zone_name: str) -> bool:
        """Whether a message may go out at the instant ``at`` to someone in ``zone_name``."""
        local = utc(at).astimezone(zone(zone_name))
        if local.date() in self.blackout:
            return False
        weekday, clock = local.weekday(), local.time()
        return any(w.contains(weekday, clock) for w in self.windows)

    def next_open(
        self, at: datetime, zone_name: str, *, until: datetime | None = None
    ) -> datetime | None:
        """The first instant at or after ``at`` that is open, in UTC.

        Args:
            at: The earliest the message could go (an aware datetime).
            zone_name: The recipient's IANA zone.
            until: Stop looking at this instant (the message's expiry); None looks up
                to `HORIZON_DAYS` ahead.

        Returns:
            The instant, or None when there is none before ``until`` (or the horizon).
        """
        at = utc(at)
        found = at if self.is_open(at, zone_name) else self._scan(at, zone_name, until)
        if found is None or (until is not None and found >= until):
            return None
        return found

    def _scan(self, at: datetime, zone_name: str, until: datetime | None) -> datetime | None:
        """The first open instant after ``at`` (closed), day by day in local time."""
        tz = zone(zone_name)
        day = at.astimezone(tz).date() - timedelta(days=1)
        best: datetime | None = None
        for _ in range(HORIZON_DAYS + 2):
            begins = day_start(day, tz)
            if best is not None and best <= begins:
                return best
            if until is not None and begins >= until:
                return best
            following = day_start(day + timedelta(days=1), tz)
            for candidate in self._candidates(day, tz, begins, following):
                earlier = best is None or candidate < best
                if candidate > at and earlier and self.is_open(candidate, zone_name):
                    best = candidate
            day += timedelta(days=1)
        return best

    def _candidates(
        self, day: date, tz: ZoneInfo, begins: datetime, following: datetime
    ) -> list[datetime]:
        """The instants of ``day`` at which the schedule can switch from closed to open:
        a window start, midnight, or a change of UTC offset."""
        walls = {time(0)} | {w.start for w in self.windows if day.weekday() in w.days}
        found: list[datetime] = []
        for clock in walls:
            wall = datetime.combine(day, clock)
            found.extend(instants(wall, tz))
            found.append(first_instant(wall, tz))
        jump = transition(begins, following, tz)
        if jump is not None:
            found.append(jump)
        return found


#: The zone of the China rule.
CHINA_ZONE = "Asia/Shanghai"
#: Mainland China: no promotional SMS between 20:00 and 08:00 (in `CHINA_ZONE`).
CHINA_PROMOTIONAL = ContactSchedule.quiet_hours(time(20), time(8))


def china_rule_applies(*, channel: Channel, kind: TemplateKind, region: str | None) -> bool:
    """Whether the mainland-China quiet hours bind this message.

    They do for an SMS that is not a notification (promotional or multimedia) to a
    mainland number (region ``CN``), whichever provider carries it.
    """
    return channel is Channel.SMS and kind is not TemplateKind.NOTIFICATION and region == "CN"


def recipient_zone(contact: Contact, default: str) -> str:
    """The IANA zone to evaluate a contact's windows and daily caps in.

    The contact's own ``time_zone``; else the phone number's zone when it has exactly
    one (``+886…`` is ``Asia/Taipei``; ``+1…`` may have several); else ``default``.

    Example:
        >>> recipient_zone(Contact(phone="+886912345678"), "UTC")
        'Asia/Taipei'
    """
    if contact.time_zone:
        return contact.time_zone
    if contact.phone is not None and len(contact.phone.time_zones) == 1:
        return contact.phone.time_zones[0]
    return default


def expiry(
    start: datetime, *, validity: timedelta | None, ends_at: datetime | None
) -> datetime | None:
    """When the messages of a campaign that started at ``start`` stop being worth sending.

    The earlier of ``start + validity`` and ``ends_at``; None when neither is set.
    Count ``start`` from the campaign's scheduled start, not from the moment it is
    (re)planned, so that a campaign resumed after downtime does not send stale messages.
    """
    ends = [utc(ends_at)] if ends_at is not None else []
    if validity is not None:
        ends.append(utc(start) + validity)
    return min(ends) if ends else None
