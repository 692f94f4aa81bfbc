"""The report's figures and the pure rules that make them from the store's counts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

import attrs

from msgkit.core.delivery import Channel, MessageState
from msgkit.core.pricing import Prices
from msgkit.store.base import GroupCounts, Leg, TriggerCounts

__all__ = [
    "ChannelCounts",
    "Funnel",
    "GroupStats",
    "channel_counts",
    "funnel",
    "funnels_by_day",
    "lift",
    "outcome",
]

S = MessageState
#: A message a provider accepted (a first message that fell back included).
SENT = frozenset({S.SUBMITTED, S.DELIVERED, S.UNDELIVERED, S.FALLEN_BACK})
#: Not sent yet.
PENDING = frozenset({S.PLANNED, S.DEFERRED, S.QUEUED, S.SENDING})

#: What a trigger can end in (`outcome`).
OUTCOMES = (
    "skipped",
    "delivered",
    "sent",
    "undelivered",
    "failed",
    "expired",
    "unknown",
    "pending",
    "waiting_fallback",
)


def outcome(first: Leg, fallback: Leg | None) -> tuple[str, str | None]:
    """How one trigger ended, from its first message and its fallback.

    Returns:
        ``(outcome, detail)``: the outcome is one of `OUTCOMES`; the detail is the skip
        reason (``skipped``) or the error code (``failed``).
    """
    if first.state is S.SKIPPED:
        return "skipped", first.reason
    if first.state is S.DELIVERED or (fallback is not None and fallback.state is S.DELIVERED):
        return "delivered", None
    if fallback is not None and fallback.waiting and first.state is not S.FALLEN_BACK:
        return "waiting_fallback", None
    last = fallback if fallback is not None and first.state is S.FALLEN_BACK else first
    if last.state is S.SKIPPED:  # the fallback was due but could not go (opted out, say)
        return "failed", f"fallback {last.reason or 'skipped'}"
    if last.state in (S.SUBMITTED, S.FALLEN_BACK):
        return "sent", None
    if last.state in PENDING:
        return "pending", None
    if last.state is S.FAILED:
        return "failed", last.error_code or "unknown code"
    return last.state.value, None  # undelivered, expired, unknown


def _leg_cost(
    leg: Leg, count: int, prices: Mapping[str, Prices] | None
) -> tuple[Decimal | None, bool]:
    """``(cost, priced)`` of the sent messages of one leg group."""
    if leg.state not in SENT:
        return Decimal(0), True
    table = None if prices is None or leg.provider is None else prices.get(leg.provider)
    if table is None:
        return None, False
    channel = Channel(leg.channel)
    if channel is Channel.SMS:
        cost = table.cost(channel, segments=leg.segments, region=leg.region)
    else:
        one = table.cost(channel, segments=1, region=leg.region)
        cost = None if one is None else one * count
    return cost, cost is not None


@attrs.frozen(kw_only=True)
class Funnel:
    """What became of a campaign's triggers (one row of the report).

    A trigger is one first message planned for one recipient (a contact of a bulk
    campaign, or one `Client.trigger` call) with its fallback, if any: each ends in one
    outcome, so ``planned`` is the sum of the skipped, delivered, sent (accepted, no
    receipt), undelivered, failed, expired, unknown, pending and waiting triggers.

    Attributes:
        planned: Triggers (skipped ones included).
        skipped: Skipped triggers, by reason (``control_group``, ``suppressed``...).
        sent: Triggers a provider accepted a message of (on any step).
        delivered: Triggers delivered on some step.
        first_delivered: Of those, delivered on the first channel.
        fallback_delivered: Of those, delivered by the fallback.
        fallen_back: Triggers forwarded to the fallback channel.
        accepted: Triggers accepted with no receipt (yet).
        undelivered: Triggers whose last message was reported undelivered.
        failed: Triggers whose last message failed, by provider error code.
        expired: Triggers whose validity ended before they went.
        unknown: Triggers whose outcome cannot be known (reported, never resent).
        pending: Triggers not sent yet.
        waiting_fallback: Triggers whose first message went and whose fallback still
            waits for its outcome.
        segments: SMS parts sent (every step).
        messages: Messages sent (every step).
        cost: What the sent messages cost, or None when some has no price.
    """

    planned: int = 0
    skipped: Mapping[str, int] = attrs.field(factory=dict)
    sent: int = 0
    delivered: int = 0
    first_delivered: int = 0
    fallback_delivered: int = 0
    fallen_back: int = 0
    accepted: int = 0
    undelivered: int = 0
    failed: Mapping[str, int] = attrs.field(factory=dict)
    expired: int = 0
    unknown: int = 0
    pending: int = 0
    waiting_fallback: int = 0
    segments: int = 0
    messages: int = 0
    cost: Decimal | None = Decimal(0)

    @property
    def delivery_rate(self) -> float | None:
        """Delivered triggers per sent trigger, or None when none was sent."""
        return None if self.sent == 0 else self.delivered / self.sent


def _add(counts: dict[str, int], key: str, n: int) -> None:
    counts[key] = counts.get(key, 0) + n


def funnel(rows: Iterable[TriggerCounts], prices: Mapping[str, Prices] | None = None) -> Funnel:
    """Sum the store's grouped trigger counts into one `Funnel`."""
    n: dict[str, int] = {}
    skipped: dict[str, int] = {}
    failed: dict[str, int] = {}
    cost: Decimal | None = Decimal(0)
    for row in rows:
        count = row.count
        _add(n, "planned", count)
        kind, detail = outcome(row.first, row.fallback)
        if kind == "skipped":
            _add(skipped, detail or "unknown", count)
            continue
        if kind == "failed":
            _add(failed, detail or "unknown code", count)
        elif kind == "sent":
            _add(n, "accepted", count)
        else:
            _add(n, kind, count)
        legs = [row.first] if row.fallback is None else [row.first, row.fallback]
        if any(leg.state in SENT for leg in legs):
            _add(n, "sent", count)
        if row.first.state is S.DELIVERED:
            _add(n, "first_delivered", count)
        elif row.fallback is not None and row.fallback.state is S.DELIVERED:
            _add(n, "fallback_delivered", count)
        if row.first.state is S.FALLEN_BACK:
            _add(n, "fallen_back", count)
        for leg in legs:
            if leg.state in SENT:
                _add(n, "messages", count)
                _add(n, "segments", leg.segments)
            leg_cost, _ = _leg_cost(leg, count, prices)
            cost = None if cost is None or leg_cost is None else cost + leg_cost
    return Funnel(
        planned=n.get("planned", 0),
        skipped=dict(sorted(skipped.items())),
        sent=n.get("sent", 0),
        delivered=n.get("delivered", 0),
        first_delivered=n.get("first_delivered", 0),
        fallback_delivered=n.get("fallback_delivered", 0),
        fallen_back=n.get("fallen_back", 0),
        accepted=n.get("accepted", 0),
        undelivered=n.get("undelivered", 0),
        failed=dict(sorted(failed.items())),
        expired=n.get("expired", 0),
        unknown=n.get("unknown", 0),
        pending=n.get("pending", 0),
        waiting_fallback=n.get("waiting_fallback", 0),
        segments=n.get("segments", 0),
        messages=n.get("messages", 0),
        cost=cost if prices is not None else None,
    )


def funnels_by_day(
    rows: Iterable[TriggerCounts], zone: str, prices: Mapping[str, Prices] | None = None
) -> dict[date, Funnel]:
    """One `Funnel` per trigger date (in ``zone``): every step of a trigger counts for
    the day it was triggered, its fallback sent the next day included."""
    tz = ZoneInfo(zone)
    days: dict[date, list[TriggerCounts]] = {}
    for row in rows:
        days.setdefault(row.hour.astimezone(tz).date(), []).append(row)
    return {day: funnel(days[day], prices) for day in sorted(days)}


@attrs.frozen(kw_only=True)
class ChannelCounts:
    """The messages of one channel (first messages and fallbacks that went on it).

    Attributes:
        channel: The channel.
        sent: Messages a provider accepted.
        delivered: Messages delivered.
        undelivered: Messages reported undelivered.
        fallen_back: Messages forwarded to the fallback.
        failed: Failed messages, by provider error code.
        expired: Messages whose validity ended.
        unknown: Messages whose outcome cannot be known.
        pending: Messages not sent yet (a fallback waiting for its parent included).
        segments: SMS parts sent.
        cost: What they cost, or None when some has no price.
    """

    channel: str
    sent: int = 0
    delivered: int = 0
    undelivered: int = 0
    fallen_back: int = 0
    failed: Mapping[str, int] = attrs.field(factory=dict)
    expired: int = 0
    unknown: int = 0
    pending: int = 0
    segments: int = 0
    cost: Decimal | None = Decimal(0)


def channel_counts(
    rows: Iterable[TriggerCounts], prices: Mapping[str, Prices] | None = None
) -> list[ChannelCounts]:
    """The messages of each channel, first messages and fallbacks alike (skipped ones,
    such as a fallback cancelled because the first message was delivered, left out)."""
    found: dict[str, dict[str, int]] = {}
    failed: dict[str, dict[str, int]] = {}
    costs: dict[str, Decimal | None] = {}
    for row in rows:
        for leg in (row.first, row.fallback):
            if leg is None or leg.state is S.SKIPPED:
                continue
            n = found.setdefault(leg.channel, {})
            cost, _ = _leg_cost(leg, row.count, prices)
            before = costs.get(leg.channel, Decimal(0))
            costs[leg.channel] = None if before is None or cost is None else before + cost
            if leg.state in SENT:
                _add(n, "sent", row.count)
                _add(n, "segments", leg.segments)
            if leg.state in PENDING:
                _add(n, "pending", row.count)
            elif leg.state is S.FAILED:
                _add(
                    failed.setdefault(leg.channel, {}), leg.error_code or "unknown code", row.count
                )
            elif leg.state is not S.SUBMITTED:
                _add(n, leg.state.value, row.count)
    return [
        ChannelCounts(
            channel=channel,
            sent=n.get("sent", 0),
            delivered=n.get("delivered", 0),
            undelivered=n.get("undelivered", 0),
            fallen_back=n.get("fallen_back", 0),
            failed=dict(sorted(failed.get(channel, {}).items())),
            expired=n.get("expired", 0),
            unknown=n.get("unknown", 0),
            pending=n.get("pending", 0),
            segments=n.get("segments", 0),
            cost=costs.get(channel) if prices is not None else None,
        )
        for channel, n in sorted(found.items())
    ]


@attrs.frozen(kw_only=True)
class GroupStats:
    """One side of the control-group comparison.

    Attributes:
        triggers: Triggers in the group (the control group's were held out).
        clicked: Those with a click on one of their links.
        replied: Those whose recipient wrote back after the trigger.
    """

    triggers: int = 0
    clicked: int = 0
    replied: int = 0

    @classmethod
    def of(cls, counts: GroupCounts) -> GroupStats:
        """The stats of the store's counts."""
        return cls(triggers=counts.triggers, clicked=counts.clicked, replied=counts.replied)

    @property
    def click_rate(self) -> float | None:
        """Clicked per trigger, or None for an empty group."""
        return None if self.triggers == 0 else self.clicked / self.triggers

    @property
    def reply_rate(self) -> float | None:
        """Replied per trigger, or None for an empty group."""
        return None if self.triggers == 0 else self.replied / self.triggers


def lift(treated: float | None, control: float | None) -> float | None:
    """The lift of a rate: treated minus control (None when a group is empty)."""
    if treated is None or control is None:
        return None
    return treated - control
