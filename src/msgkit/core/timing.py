"""When a planned message may go: the timing rules the planner and the send-time check share.

`send_time` is the one rule: from the earliest moment a message may go, it applies the
recipient's contact schedule (or skips what falls outside it, by the campaign's
choice), the mainland-China promotional hours, the frequency caps that bind it
(`caps_in_force`: skip or defer), and the validity; `at_send` applies it again, just
before a message leaves, with the campaign's current policy. Pure: every input is given,
``now`` included.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

import attrs

from msgkit.core._zones import utc, zone
from msgkit.core.campaigns import Campaign
from msgkit.core.delivery import Channel, SkipReason
from msgkit.core.fatigue import FrequencyCap, SentRecord, check_caps, earliest_allowed
from msgkit.core.policy import SendPolicy
from msgkit.core.templates import TemplateKind
from msgkit.core.windows import (
    CHINA_PROMOTIONAL,
    CHINA_ZONE,
    ContactSchedule,
    china_rule_applies,
)

__all__ = ["SendTime", "at_send", "caps_in_force", "is_capped", "send_time", "utc_text"]

_MAX_ROUNDS = 64


@attrs.frozen
class SendTime:
    """When a message may go (`send_time`, `at_send`), or why it may not.

    Attributes:
        at: The first instant it may go; None when it may not go at all.
        reason: Why not, when ``at`` is None (``expired``, ``capped``,
            ``outside_schedule``).
        detail: Why not, in a sentence for people.
    """

    at: datetime | None
    reason: SkipReason | None = None
    detail: str = ""


def utc_text(at: datetime) -> str:
    """A time as people read it in logs and details: ``2026-01-05 09:00 UTC``."""
    return f"{at:%Y-%m-%d %H:%M} UTC"


def is_capped(policy: SendPolicy, *, kind: TemplateKind | str, test: bool = False) -> bool:
    """Whether the caps bind (and count) a message of this template kind: never a test
    send; else ``policy.apply_caps`` decides, and by default notifications are exempt
    while promotional and multimedia messages are capped."""
    if test:
        return False
    apply = policy.apply_caps
    return TemplateKind(kind) is not TemplateKind.NOTIFICATION if apply is None else apply


def caps_in_force(
    policy: SendPolicy,
    *,
    kind: TemplateKind | str,
    channel: Channel | str,
    tags: frozenset[str],
    test: bool = False,
) -> tuple[FrequencyCap, ...]:
    """The caps that bind a message of this template kind, channel and campaign tags.

    None for a test send; for the rest, ``policy.apply_caps`` decides, and by default
    notifications are exempt while promotional and multimedia messages are capped. A
    message the caps bind also counts toward them.
    """
    if not is_capped(policy, kind=kind, test=test):
        return ()
    channel = Channel(channel)
    return tuple(c for c in policy.caps if c.binds(channel, tags))


def send_time(
    earliest: datetime,
    *,
    expires: datetime | None,
    schedule: ContactSchedule | None,
    outside_schedule: Literal["defer", "skip"] = "defer",
    zone_name: str,
    china: bool,
    caps: tuple[FrequencyCap, ...] = (),
    history: Iterable[SentRecord] = (),
    when_capped: Literal["skip", "defer"] = "skip",
    channel: Channel,
    tags: frozenset[str] = frozenset(),
) -> SendTime:
    """The first instant at or after ``earliest`` a message may go, or why it may not.

    The one rule of *when*, for the planner and for the moment before sending (see
    `at_send`). The time must be inside the recipient's contact ``schedule`` (their
    ``zone_name``), outside the mainland-China quiet hours when ``china``, within the
    frequency ``caps`` given the ``history``, and before ``expires``:

    - outside the schedule at ``earliest``: with ``outside_schedule="skip"`` the
      message is skipped (``outside_schedule``); with ``"defer"`` it waits for the next
      opening. Time added by another rule (the China rule, a deferring cap) always
      waits for the next opening;
    - a cap met: ``when_capped="skip"`` skips it (``capped``); ``"defer"`` waits until
      every cap allows it;
    - no such time before ``expires``: ``expired`` (or ``capped``, when a deferring
      cap is what pushes it past).

    Example:
        >>> from datetime import datetime, timezone
        >>> from msgkit.core.windows import ContactSchedule
        >>> evening = datetime(2024, 6, 3, 13, 0, tzinfo=timezone.utc)  # 21:00 in Taipei
        >>> window = ContactSchedule.parse("daily 09:00-20:00")
        >>> send_time(evening, expires=None, schedule=window, zone_name="Asia/Taipei",
        ...           china=False, channel=Channel.SMS).at.isoformat()
        '2024-06-04T01:00:00+00:00'
        >>> send_time(evening, expires=None, schedule=window, outside_schedule="skip",
        ...           zone_name="Asia/Taipei", china=False, channel=Channel.SMS).reason
        <SkipReason.OUTSIDE_SCHEDULE: 'outside_schedule'>
    """
    at = utc(earliest)
    history = tuple(history) if caps else ()
    defer = when_capped == "defer" and bool(history)
    if (
        schedule is not None
        and outside_schedule == "skip"
        and (expires is None or at < expires)
        and not schedule.is_open(at, zone_name)
    ):
        local = at.astimezone(zone(zone_name))
        return SendTime(
            None,
            SkipReason.OUTSIDE_SCHEDULE,
            f"due at {local:%a %H:%M} {zone_name}, outside the contact schedule "
            "(the campaign skips rather than defers)",
        )
    for _ in range(_MAX_ROUNDS):
        if expires is not None and at >= expires:
            return SendTime(
                None, SkipReason.EXPIRED, f"the campaign's validity ended at {utc_text(expires)}"
            )
        moved = at
        if schedule is not None:
            opens = schedule.next_open(moved, zone_name, until=expires)
            if opens is None:  # no opening before expiry
                return SendTime(
                    None,
                    SkipReason.EXPIRED,
                    f"no opening of the contact schedule ({zone_name}) before the campaign "
                    f"ends{'' if expires is None else ' at ' + utc_text(expires)}",
                )
            moved = opens
        if china:
            opens = CHINA_PROMOTIONAL.next_open(moved, CHINA_ZONE, until=expires)
            if opens is None:  # no opening before expiry
                return SendTime(
                    None,
                    SkipReason.EXPIRED,
                    "mainland-China quiet hours (20:00-08:00) last past the campaign's end",
                )
            moved = opens
        if defer:
            allowed = earliest_allowed(
                caps, history, at=moved, zone_name=zone_name, channel=channel, tags=tags
            )
            if expires is not None and allowed >= expires:
                check = check_caps(
                    caps, history, at=moved, zone_name=zone_name, channel=channel, tags=tags
                )
                return SendTime(None, SkipReason.CAPPED, f"{check.detail}, after the campaign ends")
            moved = allowed
        if moved == at:
            break
        at = moved
    else:
        return SendTime(
            None, SkipReason.EXPIRED, "no send time satisfies the schedule and the rules"
        )
    if history:
        check = check_caps(caps, history, at=at, zone_name=zone_name, channel=channel, tags=tags)
        if not check.allowed:
            return SendTime(None, SkipReason.CAPPED, check.detail)
    return SendTime(at)


def at_send(
    campaign: Campaign,
    *,
    now: datetime,
    channel: Channel | str,
    kind: TemplateKind | str,
    zone_name: str,
    region: str | None,
    expires_at: datetime | None,
    history: Iterable[SentRecord] = (),
    test: bool = False,
) -> SendTime:
    """Whether a planned message may go *now*, checked again just before it is sent.

    Time passes between planning and sending: the send speed holds messages back
    (past the end of a window), another campaign sends first (and uses up a cap), a
    worker was down. The same rule as the planner's (`send_time`), from ``now``, with
    the campaign's current policy: ``at == now`` sends now; a later ``at`` defers the
    message to then; None skips it (``capped``, ``outside_schedule``) or expires it.

    Args:
        campaign: The message's campaign (its policy and tags).
        now: The current time.
        channel: The message's channel.
        kind: Its template kind.
        zone_name: The recipient's zone, as the planner chose it.
        region: The recipient number's region (for the China rule), if a phone.
        expires_at: When the message expires (the campaign's current ``ends_at`` too).
        history: The recipient's sends in the caps' periods, those in flight included,
            this message excluded; read only when `caps_in_force` gives caps.
        test: A test send: no schedule and no caps (the China rule still applies).
    """
    channel = Channel(channel)
    kind = TemplateKind(kind)
    policy = campaign.policy
    if policy.ends_at is not None:  # an end date edited since planning holds too
        expires_at = policy.ends_at if expires_at is None else min(expires_at, policy.ends_at)
    return send_time(
        now,
        expires=expires_at,
        schedule=None if test else policy.schedule,
        outside_schedule=policy.outside_schedule,
        zone_name=zone_name,
        china=china_rule_applies(channel=channel, kind=kind, region=region),
        caps=caps_in_force(policy, kind=kind, channel=channel, tags=campaign.tags, test=test),
        history=history,
        when_capped=policy.when_capped,
        channel=channel,
        tags=campaign.tags,
    )
