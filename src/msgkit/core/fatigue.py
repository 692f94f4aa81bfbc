"""Frequency caps ("fatigue"): at most N messages per period to one person.

A `FrequencyCap` limits the messages a recipient gets, across campaigns, on one channel
(or all) and optionally under one tag (a topic such as ``"promo"``). Its period is:

- ``"day"``: the recipient's *calendar day* in their own time zone — "3 a day" resets at
  their local midnight, not the server's;
- a `timedelta` (hours, weeks): a *rolling* period — "5 a week" means at most 5 in
  any 7 × 24 hours ending at the send.

A cap counts the recipient's earlier messages in the period *ending at* the send: the
rolling span ``(at - period, at]``, or the local day up to ``at``. A cap is met when that
count has reached its limit; the new message would exceed it.

The history is handed in (`SentRecord`, from the store); this module never fetches it.
`history_since` says how far back a store must look. Whether a campaign is capped at all
is the campaign's choice (notification messages are exempt by default; see
`msgkit.core.policy.SendPolicy.apply_caps`).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Literal

import attrs

from msgkit.core._zones import day_start, utc, zone
from msgkit.core.delivery import Channel

__all__ = [
    "CapCheck",
    "FrequencyCap",
    "SentRecord",
    "check_caps",
    "earliest_allowed",
    "history_since",
]

Period = Literal["day"] | timedelta

#: How far back a calendar-day cap needs history: a local day is at most 25 hours, and
#: the send may be late in it.
_DAY_LOOKBACK = timedelta(days=2)


def _period(value: Period) -> Period:
    if isinstance(value, timedelta):
        if value <= timedelta(0):
            raise ValueError("a cap's period must be positive")
        return value
    if value != "day":
        raise ValueError(
            f"unknown cap period {value!r}: use 'day' (calendar day) or a timedelta (rolling)"
        )
    return value


def _positive(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1; to stop sending, suppress instead")


def _channel_or_none(value: Channel | str | None) -> Channel | None:
    return None if value is None else Channel(value)


def _tags(value: Iterable[str]) -> frozenset[str]:
    return frozenset([value] if isinstance(value, str) else value)


@attrs.frozen(kw_only=True)
class SentRecord:
    """One message a recipient was sent (or is committed to be sent), for caps.

    Attributes:
        at: When it was sent (aware; kept in UTC).
        channel: The channel it went on.
        tags: The tags of its campaign.
    """

    at: datetime = attrs.field(converter=utc)
    channel: Channel = attrs.field(converter=Channel)
    tags: frozenset[str] = attrs.field(factory=frozenset, converter=_tags)


@attrs.frozen(kw_only=True)
class FrequencyCap:
    """At most ``limit`` messages per ``per`` to one recipient.

    Attributes:
        limit: The most messages in one period (at least 1).
        per: ``"day"`` for the recipient's calendar day, or a `timedelta` for a
            rolling period (``timedelta(hours=4)``, ``timedelta(weeks=1)``).
        channel: The channel it counts and binds; None for every channel together.
        tag: Count and bind only messages of campaigns with this tag; None for all.

    Example:
        >>> FrequencyCap(limit=3, per="day", channel="sms").describe()
        'at most 3 sms messages per day'
    """

    limit: int = attrs.field(validator=_positive)
    per: Period = attrs.field(default="day", converter=_period)
    channel: Channel | None = attrs.field(default=None, converter=_channel_or_none)
    tag: str | None = None

    def binds(self, channel: Channel, tags: frozenset[str]) -> bool:
        """Whether the cap limits a message on ``channel`` of a campaign with ``tags``."""
        return (self.channel is None or self.channel is channel) and (
            self.tag is None or self.tag in tags
        )

    def counts(self, record: SentRecord) -> bool:
        """Whether an earlier message counts toward this cap."""
        return self.binds(record.channel, record.tags)

    def period_start(self, at: datetime, zone_name: str) -> datetime:
        """The first instant of the period that ends at ``at`` (the count runs to ``at``).

        For a rolling period the start itself is excluded; for a day it is included.
        """
        if isinstance(self.per, timedelta):
            return at - self.per
        tz = zone(zone_name)
        return day_start(at.astimezone(tz).date(), tz)

    def count(self, times: Sequence[datetime], at: datetime, zone_name: str) -> int:
        """How many of ``times`` (sorted, counted records) fall in the period ending at ``at``."""
        start = self.period_start(at, zone_name)
        first = (
            bisect.bisect_right(times, start)
            if isinstance(self.per, timedelta)
            else bisect.bisect_left(times, start)
        )
        return bisect.bisect_right(times, at) - first

    def describe(self) -> str:
        """The cap in words."""
        noun = "message" if self.limit == 1 else "messages"
        what = f"{self.channel.value} {noun}" if self.channel else noun
        if self.tag:
            what += f" tagged {self.tag!r}"
        period = "day" if self.per == "day" else f"{_span(self.per)} (rolling)"
        return f"at most {self.limit} {what} per {period}"

    def _next_allowed(self, times: Sequence[datetime], at: datetime, zone_name: str) -> datetime:
        """The first instant at or after ``at`` at which this cap is not met."""
        if isinstance(self.per, timedelta):
            # The count only falls when a record leaves the period, at record + per.
            candidates = [at] + [t + self.per for t in times if t + self.per > at]
            for candidate in sorted(candidates):
                if self.count(times, candidate, zone_name) < self.limit:
                    return candidate
            return max(candidates)  # unreachable: past every record, the count is 0
        tz = zone(zone_name)
        candidate = at
        while self.count(times, candidate, zone_name) >= self.limit:
            candidate = day_start(candidate.astimezone(tz).date() + timedelta(days=1), tz)
        return candidate


def _span(period: timedelta) -> str:
    if period % timedelta(weeks=1) == timedelta(0):
        weeks = period // timedelta(weeks=1)
        return "week" if weeks == 1 else f"{weeks} weeks"
    if period % timedelta(days=1) == timedelta(0) and period.days > 1:
        return f"{period.days} days"
    if period % timedelta(hours=1) == timedelta(0):
        hours = period // timedelta(hours=1)
        return "hour" if hours == 1 else f"{hours} hours"
    return f"{period.total_seconds():g} seconds"


@attrs.frozen(kw_only=True)
class CapCheck:
    """The answer of `check_caps`.

    Attributes:
        allowed: Whether the message may be sent at the time asked.
        cap: The cap that is met, when not allowed.
        count: How many counted messages that cap found in its period.
        allowed_at: When not allowed, the first instant every cap would allow it,
            given the same history.
    """

    allowed: bool
    cap: FrequencyCap | None = None
    count: int = 0
    allowed_at: datetime | None = None

    @property
    def detail(self) -> str:
        """A sentence for people: why not, and from when."""
        if self.allowed or self.cap is None:
            return "within every frequency cap"
        when = (
            ""
            if self.allowed_at is None
            else f"; allowed again at {self.allowed_at:%Y-%m-%d %H:%M} UTC"
        )
        return f"already {self.count} sent: {self.cap.describe()}{when}"


def _counted_times(cap: FrequencyCap, history: Iterable[SentRecord]) -> list[datetime]:
    return sorted(r.at for r in history if cap.counts(r))


def check_caps(
    caps: Iterable[FrequencyCap],
    history: Iterable[SentRecord],
    *,
    at: datetime,
    zone_name: str,
    channel: Channel,
    tags: frozenset[str] = frozenset(),
) -> CapCheck:
    """Whether a message on ``channel`` (campaign ``tags``) may be sent at ``at``.

    Args:
        caps: The caps in force.
        history: The recipient's earlier messages (see `history_since`).
        at: The send time asked about.
        zone_name: The recipient's zone, for calendar days.
        channel: The message's channel.
        tags: The tags of the message's campaign.

    Example:
        >>> from datetime import datetime, timezone
        >>> noon = datetime(2024, 6, 3, 4, 0, tzinfo=timezone.utc)  # 12:00 in Taipei
        >>> sent = [SentRecord(at=datetime(2024, 6, 3, 1, 0, tzinfo=timezone.utc), channel="sms")]
        >>> check = check_caps([FrequencyCap(limit=1, per="day")], sent, at=noon,
        ...                    zone_name="Asia/Taipei", channel="sms")
        >>> check.allowed, check.allowed_at.isoformat()  # Taipei's next midnight
        (False, '2024-06-03T16:00:00+00:00')
    """
    at = utc(at)
    history = tuple(history)
    binding = _binding(caps, channel, tags)
    for cap in binding:
        times = _counted_times(cap, history)
        count = cap.count(times, at, zone_name)
        if count >= cap.limit:
            allowed_at = _earliest(binding, history, at, zone_name)
            return CapCheck(allowed=False, cap=cap, count=count, allowed_at=allowed_at)
    return CapCheck(allowed=True)


def _binding(
    caps: Iterable[FrequencyCap], channel: Channel, tags: frozenset[str]
) -> list[FrequencyCap]:
    """The caps that limit a message on ``channel`` of a campaign with ``tags``."""
    channel = Channel(channel)
    return [cap for cap in caps if cap.binds(channel, tags)]


def _earliest(
    binding: Sequence[FrequencyCap], history: Sequence[SentRecord], at: datetime, zone_name: str
) -> datetime:
    timed = [(cap, _counted_times(cap, history)) for cap in binding]
    while True:
        moved = max((cap._next_allowed(times, at, zone_name) for cap, times in timed), default=at)
        if moved == at:
            return at
        at = moved


def earliest_allowed(
    caps: Iterable[FrequencyCap],
    history: Iterable[SentRecord],
    *,
    at: datetime,
    zone_name: str,
    channel: Channel,
    tags: frozenset[str] = frozenset(),
) -> datetime:
    """The first instant at or after ``at`` at which no cap is met (``at`` if none is)."""
    return _earliest(_binding(caps, channel, tags), tuple(history), utc(at), zone_name)


def history_since(caps: Iterable[FrequencyCap], now: datetime) -> datetime | None:
    """How far back a store must read a recipient's history for ``caps``; None if no caps.

    Messages deferred to later than ``now`` only need less: their periods start later.
    """
    spans = [cap.per if isinstance(cap.per, timedelta) else _DAY_LOOKBACK for cap in caps]
    return utc(now) - max(spans) if spans else None
