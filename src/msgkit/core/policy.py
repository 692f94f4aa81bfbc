"""The sending rules of one campaign, as one frozen value: `SendPolicy`.

Every rule the planner applies that is the campaign's choice lives here — validity,
contact schedule, frequency caps and whether they apply, send speed, default time zone,
opt-out scope, short links, test numbers, and what text may go out (`ContentPolicy`).
`msgkit.core.campaigns.Campaign.policy` holds one; the default is a sensible policy for
a bulk campaign.
"""

from __future__ import annotations

import re
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

__all__ = ["DEFAULT_VALIDITY", "ContentPolicy", "SendPolicy", "SendSpeed"]

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


#: C0 and C1 control characters but tab, line feed and carriage return (NUL included):
#: invisible, refused or mangled by gateways, and never meant by a person.
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
#: Bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069):
#: they make a text read differently from what it is ("Trojan Source" spoofing of
#: links and amounts). The marks U+200E/U+200F, which right-to-left text needs, pass.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


@attrs.frozen(kw_only=True)
class ContentPolicy:
    """What a rendered message may contain before it goes out.

    Applied to each message when it is planned (the template and the recipient's
    values together); a refused message is skipped as ``unsafe_content`` with the
    reason, a stripped one goes without the characters.

    Attributes:
        control: Control characters (NUL, escape, C1...; not tab or line breaks):
            ``"strip"`` (default) removes them, ``"refuse"`` skips the message.
        bidi: Bidirectional overrides and isolates: ``"refuse"`` (default) skips the
            message, ``"strip"`` removes them.
        max_length: The longest text, in characters, when the provider states no
            limit of its own (Twilio's 1,600 by default; a 2 MB value is never sent
            as thousands of SMS parts).

    Example:
        >>> ContentPolicy().screen("Hi\\x00 Ann")
        ('Hi Ann', None)
        >>> ContentPolicy().screen("pay \\u202e0001")[1].startswith("the text holds a bidi")
        True
    """

    control: Literal["strip", "refuse"] = attrs.field(
        default="strip", validator=attrs.validators.in_(("strip", "refuse"))
    )
    bidi: Literal["strip", "refuse"] = attrs.field(
        default="refuse", validator=attrs.validators.in_(("strip", "refuse"))
    )
    max_length: int = attrs.field(default=1600, validator=_positive_count)

    def screen(self, text: str) -> tuple[str, str | None]:
        """The text as it may go out, and None; or the text and why it may not go."""
        for pattern, rule, what in (
            (CONTROL_CHARACTERS, self.control, "a control character"),
            (BIDI_CONTROLS, self.bidi, "a bidirectional override"),
        ):
            found = pattern.search(text)
            if found is None:
                continue
            if rule == "refuse":
                code = f"U+{ord(found.group()):04X}"
                return text, (
                    f"the text holds {what} ({code}): it would display or go out other "
                    "than written; remove it from the template or the recipient's values"
                )
            text = pattern.sub("", text)
        return text, None


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
        content: What a message may contain (control characters, bidirectional
            overrides, a length when the provider states none).
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
    content: ContentPolicy = attrs.field(factory=ContentPolicy)
