"""Wall-clock time in IANA zones, with the DST gaps and overlaps made explicit.

A wall-clock time (a naive `datetime`) names zero instants in a DST gap (02:30 on the
day New York springs forward), two in an overlap (01:30 on the day it falls back), and
one otherwise. The rules of msgkit are stated in wall-clock time ("not before 09:00
local"), so they need "the first instant at which the local clock reads at least
09:00" — which, in a gap, is the transition itself. These helpers compute that.
"""

from __future__ import annotations

import math
import zoneinfo
from datetime import date, datetime, time, timedelta, timezone
from functools import cache, lru_cache

__all__ = ["day_start", "first_instant", "instants", "transition", "utc", "zone"]

_SECOND = timedelta(seconds=1)


@cache
def zone(name: str) -> zoneinfo.ZoneInfo:
    """The `ZoneInfo` for an IANA name, cached.

    Raises:
        ValueError: For a name that is not a known zone.
    """
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}: use an IANA name such as 'Asia/Taipei'"
        ) from None


def utc(at: datetime) -> datetime:
    """``at`` in UTC; refuses naive datetimes (core never guesses a zone)."""
    if at.utcoffset() is None:
        raise ValueError(
            "a naive datetime has no instant: add a time zone, e.g. tzinfo=timezone.utc"
        )
    return at.astimezone(timezone.utc)


def _wall(at: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    return at.astimezone(tz).replace(tzinfo=None)


def transition(lo: datetime, hi: datetime, tz: zoneinfo.ZoneInfo) -> datetime | None:
    """The instant in ``(lo, hi]`` at which the UTC offset of ``tz`` changes, if any.

    Assumes at most one change between ``lo`` and ``hi`` (true for any span shorter
    than a few weeks). Exact to the second, which is how zones are defined.
    """
    before = lo.astimezone(tz).utcoffset()
    if hi.astimezone(tz).utcoffset() == before:
        return None
    a, b = math.floor(lo.timestamp()), math.ceil(hi.timestamp())
    while b - a > 1:  # the offset at a is `before`, at b it is not
        middle = (a + b) // 2
        if datetime.fromtimestamp(middle, tz).utcoffset() == before:
            a = middle
        else:
            b = middle
    return datetime.fromtimestamp(b, timezone.utc)


def instants(wall: datetime, tz: zoneinfo.ZoneInfo) -> tuple[datetime, ...]:
    """Every UTC instant whose local clock in ``tz`` reads ``wall``: 0, 1 or 2 of them."""
    found = []
    for fold in (0, 1):
        at = wall.replace(tzinfo=tz, fold=fold).astimezone(timezone.utc)
        if _wall(at, tz) == wall and at not in found:
            found.append(at)
    return tuple(sorted(found))


def first_instant(wall: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    """The first UTC instant at which the local clock in ``tz`` reads ``wall`` or later.

    Outside a gap this is the (earlier) instant of ``wall``; inside a gap, the clock
    jumps over ``wall``, and this is the instant of the jump.
    """
    exists = instants(wall, tz)
    if exists:
        return exists[0]
    # In a gap: fold=1 reads the wall with the offset after the jump (an earlier
    # instant), fold=0 with the offset before it (a later one); the jump is between.
    early = wall.replace(tzinfo=tz, fold=1).astimezone(timezone.utc)
    late = wall.replace(tzinfo=tz, fold=0).astimezone(timezone.utc)
    lo, hi = min(early, late), max(early, late)
    jump = transition(lo - _SECOND, hi, tz)
    return hi if jump is None else jump


@lru_cache(maxsize=4096)
def day_start(day: date, tz: zoneinfo.ZoneInfo) -> datetime:
    """The first instant of the local calendar day ``day`` in ``tz`` (UTC); cached, as
    daily caps and schedules ask for the same few days again and again."""
    return first_instant(datetime.combine(day, time(0)), tz)
