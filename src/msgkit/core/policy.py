"""The sending rules of one campaign, as one frozen value: `SendPolicy`.

Every rule the planner applies that is the campaign's choice lives here — validity,
contact schedule, frequency caps and whether they apply, send speed, default time zone,
opt-out scope, short links, test numbers. `msgkit.core.campaigns.Campaign.policy` holds
one; the default is a sensible policy for a bulk campaign.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, Literal

import attrs

from msgkit.core._zones import zone
from msgkit.core.contacts import Phone, parse_phone
from msgkit.core.fatigue import FrequencyCap
from msgkit.core.links import ShortLinks
from msgkit.core.optout import OptOutScope
from msgkit.core.windows import ContactSchedule

__all__ = ["DEFAULT_VALIDITY", "SendPolicy", "SendSpeed"]

#: Long enough to wait out a night of quiet hours and a weekend (Friday 20:00 to
#: Monday 09:00 is 61 hours); short enough that a campaign resumed after days of
#: downtime does not send stale messages.
DEFAULT_VALIDITY = timedelta(days=3)


def _positive_count(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"{attribute.name} must be at least 1")


def _positive_span(_: object, attribute: attrs.Attribute[Any], value: timedelta | None) -> None:
    if value is not None and value <= timedelta(0):
        raise ValueError(f"{attribute.name} must be positive")


@attrs.frozen(kw_only=True)
class SendSpeed:
    """At most ``messages`` per ``per`` for one campaign (the engine enforces it).

    Attributes:
        messages: How many.
        per: In how long (default one second).

    Example:
        >>> SendSpeed(messages=600, per=timedelta(minutes=1)).per_second
        10.0
    """

    messages: int = attrs.field(validator=_positive_count)
    per: timedelta = attrs.field(default=timedelta(seconds=1), validator=_positive_span)

    @property
    def per_second(self) -> float:
        """The rate in messages per second."""
        return self.messages / self.per.total_seconds()

    def duration(self, count: int) -> timedelta:
        """How long ``count`` messages take at this speed."""
        return timedelta(seconds=count / self.per_second)


def _aware(_: object, attribute: attrs.Attribute[Any], value: datetime | None) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{attribute.name} must be an aware datetime")


def _zone_name(_: object, __: object, value: str) -> None:
    zone(value)


def _phones(value: Iterable[Phone | str]) -> tuple[Phone, ...]:
    if isinstance(value, (str, Phone)):
        value = [value]
    return tuple(dict.fromkeys(parse_phone(v) for v in value))


@attrs.frozen(kw_only=True)
class SendPolicy:
    """The rules a campaign's messages are planned under.

    Attributes:
        validity: How long after the campaign's start its messages may still be sent;
            None for no limit. Default `DEFAULT_VALIDITY`.
        ends_at: An end date: nothing is sent at or after it.
        schedule: When messages may reach people, in their local time; None for any
            time. The mainland-China rule applies on top, always.
        outside_schedule: What becomes of a message due outside the ``schedule``:
            ``"defer"`` (default) waits for the next opening, within the validity;
            ``"skip"`` does not send it (skipped as ``outside_schedule``). Checked
            when it is planned and again when it is about to be sent (a message held
            back by the send speed past the window's end).
        time_zone: The zone for recipients whose zone is not known otherwise.
        caps: Frequency caps (across campaigns).
        apply_caps: Whether ``caps`` bind this campaign: None (default) means yes for
            promotional and multimedia templates, no for notifications (exempt);
            True or False decides explicitly.
        when_capped: ``"skip"`` (default) records a capped recipient as skipped;
            ``"defer"`` waits until the caps allow it, within the validity.
        send_speed: The most messages per second or minute; None for unlimited.
        optout_scope: What an opt-out reply to this campaign stops: its sender
            (default), its channel, or everything.
        links: How links are shortened and tracked; None leaves URLs as written.
        link_params: Whether short links carry a per-recipient tracking parameter.
        test_numbers: Numbers (E.164) that test sends go to.
    """

    validity: timedelta | None = attrs.field(default=DEFAULT_VALIDITY, validator=_positive_span)
    ends_at: datetime | None = attrs.field(default=None, validator=_aware)
    schedule: ContactSchedule | None = None
    outside_schedule: Literal["defer", "skip"] = attrs.field(
        default="defer", validator=attrs.validators.in_(("defer", "skip"))
    )
    time_zone: str = attrs.field(default="UTC", validator=_zone_name)
    caps: tuple[FrequencyCap, ...] = attrs.field(default=(), converter=tuple)
    apply_caps: bool | None = None
    when_capped: Literal["skip", "defer"] = attrs.field(
        default="skip", validator=attrs.validators.in_(("skip", "defer"))
    )
    send_speed: SendSpeed | None = None
    optout_scope: OptOutScope = attrs.field(default=OptOutScope.SENDER, converter=OptOutScope)
    links: ShortLinks | None = None
    link_params: bool = True
    test_numbers: tuple[Phone, ...] = attrs.field(default=(), converter=_phones)
