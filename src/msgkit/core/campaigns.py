"""Campaigns and their lifecycle, as one transition table (`CAMPAIGN`).

A campaign starts as a draft, may be scheduled, is started (``initializing`` while
its audience is planned into the outbox, then ``running``), can be stopped and resumed,
and finishes when nothing is left to send. Enabling and disabling do not change the
status: a disabled campaign keeps its status but will not start, resume or take
triggers until it is enabled again. A finished campaign can no longer be edited; a
running one cannot be deleted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Literal

import attrs

from msgkit.core import html
from msgkit.core._fsm import TransitionTable
from msgkit.core.delivery import Channel
from msgkit.core.policy import SendPolicy
from msgkit.core.segments import Audience
from msgkit.core.templates import Template
from msgkit.exceptions import InvalidTransitionError

__all__ = [
    "CAMPAIGN",
    "Campaign",
    "CampaignEvent",
    "CampaignKind",
    "CampaignStatus",
    "Fallback",
]


class CampaignStatus(str, Enum):
    """Where a campaign is in its lifecycle."""

    DRAFT = "draft"
    SCHEDULED = "scheduled"
    INITIALIZING = "initializing"
    RUNNING = "running"
    STOPPED = "stopped"
    FINISHED = "finished"
    DELETED = "deleted"


class CampaignEvent(str, Enum):
    """What can be done to a campaign (or happens to it)."""

    EDIT = "edit"
    SCHEDULE = "schedule"
    UNSCHEDULE = "unschedule"
    START = "start"
    INITIALIZED = "initialized"
    STOP = "stop"
    RESUME = "resume"
    FINISH = "finish"
    ENABLE = "enable"
    DISABLE = "disable"
    DELETE = "delete"


class CampaignKind(str, Enum):
    """Bulk campaigns run one after another; triggered ones answer events at once."""

    BULK = "bulk"
    TRIGGERED = "triggered"


_S = CampaignStatus
_E = CampaignEvent

#: The campaign lifecycle.
CAMPAIGN: TransitionTable[CampaignStatus, CampaignEvent] = TransitionTable(
    lifecycle="campaign",
    initial=_S.DRAFT,
    table={
        (_S.DRAFT, _E.EDIT): _S.DRAFT,
        (_S.DRAFT, _E.SCHEDULE): _S.SCHEDULED,
        (_S.DRAFT, _E.START): _S.INITIALIZING,
        (_S.DRAFT, _E.ENABLE): _S.DRAFT,
        (_S.DRAFT, _E.DISABLE): _S.DRAFT,
        (_S.DRAFT, _E.DELETE): _S.DELETED,
        (_S.SCHEDULED, _E.EDIT): _S.SCHEDULED,
        (_S.SCHEDULED, _E.UNSCHEDULE): _S.DRAFT,
        (_S.SCHEDULED, _E.START): _S.INITIALIZING,
        (_S.SCHEDULED, _E.ENABLE): _S.SCHEDULED,
        (_S.SCHEDULED, _E.DISABLE): _S.SCHEDULED,
        (_S.SCHEDULED, _E.DELETE): _S.DELETED,
        (_S.INITIALIZING, _E.INITIALIZED): _S.RUNNING,
        (_S.INITIALIZING, _E.STOP): _S.STOPPED,
        (_S.RUNNING, _E.STOP): _S.STOPPED,
        (_S.RUNNING, _E.FINISH): _S.FINISHED,
        (_S.RUNNING, _E.ENABLE): _S.RUNNING,
        (_S.RUNNING, _E.DISABLE): _S.RUNNING,
        (_S.STOPPED, _E.EDIT): _S.STOPPED,
        (_S.STOPPED, _E.RESUME): _S.INITIALIZING,
        (_S.STOPPED, _E.START): _S.INITIALIZING,
        (_S.STOPPED, _E.FINISH): _S.FINISHED,
        (_S.STOPPED, _E.ENABLE): _S.STOPPED,
        (_S.STOPPED, _E.DISABLE): _S.STOPPED,
        (_S.STOPPED, _E.DELETE): _S.DELETED,
        (_S.FINISHED, _E.DELETE): _S.DELETED,
    },
)

_NEEDS_ENABLED = frozenset({_E.START, _E.RESUME, _E.SCHEDULE})


def _aware(_: object, attribute: attrs.Attribute[Any], value: datetime | None) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(
            f"{attribute.name} must be an aware datetime: add a time zone, "
            "e.g. datetime(..., tzinfo=timezone.utc)"
        )


def _tags(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):
        value = [value]
    return frozenset(tag.strip() for tag in value if tag.strip())


def _new_id() -> str:
    return uuid.uuid4().hex


def _positive(_: object, attribute: attrs.Attribute[Any], value: timedelta) -> None:
    if value <= timedelta(0):
        raise ValueError(f"{attribute.name} must be a positive duration")


@attrs.frozen(kw_only=True)
class Fallback:
    """A second channel for contacts the first one does not reach.

    The fallback message is planned with the first and waits. It is released when
    the first fails for good (or the provider says at once that it cannot deliver,
    like LINE's 422), or when no delivery confirmation arrives within ``wait`` of
    sending; it is cancelled if the first is confirmed delivered first.

    Attributes:
        template: What to send instead.
        channel: The fallback channel (SMS by default).
        provider: The configured provider to send it through.
        wait: How long to wait for a delivery confirmation of the first message.
        sender: The sender (SMS signature or number) of the fallback message.
    """

    template: Template
    channel: Channel = attrs.field(default=Channel.SMS, converter=Channel)
    provider: str | None = None
    wait: timedelta = attrs.field(default=timedelta(minutes=10), validator=_positive)
    sender: str | None = None


@attrs.frozen(kw_only=True)
class Campaign:
    """A campaign: what to send, to whom, through what, and where it stands.

    Campaigns are immutable: every operation returns the changed campaign.

    Attributes:
        name: A label for people.
        template: What to send.
        id: A stable id; part of every message's idempotency key.
        channel: SMS, LINE or web chat.
        provider: The configured provider name to send through.
        kind: Bulk (queued behind other bulk campaigns) or triggered.
        tags: Labels for finding and reporting.
        send_at: When to start (aware datetime), or None for "when started".
        status: The lifecycle status.
        enabled: Whether it may start, resume or take triggers.
        stop_reason: Why it was last stopped, e.g. an account error from the provider.
        policy: The sending rules: validity, contact schedule, frequency caps, send
            speed, opt-out scope, short links, test numbers (see `SendPolicy`).
        sender: The sender: SMS signature, from-number or messaging service, LINE
            account or web-chat agent, as the provider understands it.
        audience: Who the campaign is for (stored lists, segment, split part, control
            group); None for a campaign fed by triggers or test sends only.
        started_at: When it was first started (its validity counts from here).
        fallback: A second channel for contacts the first does not reach.
        on_unknown: What to do with a message whose outcome cannot be known after a
            crash, when the provider cannot be asked: ``"mark_unknown"`` (report it,
            never risk a duplicate) or ``"resend"`` (risk a duplicate, never a miss).
    """

    name: str
    template: Template | None = None
    id: str = attrs.field(factory=_new_id)
    channel: Channel = attrs.field(default=Channel.SMS, converter=Channel)
    provider: str | None = None
    kind: CampaignKind = attrs.field(default=CampaignKind.BULK, converter=CampaignKind)
    tags: frozenset[str] = attrs.field(factory=frozenset, converter=_tags)
    send_at: datetime | None = attrs.field(default=None, validator=_aware)
    status: CampaignStatus = attrs.field(default=CampaignStatus.DRAFT, converter=CampaignStatus)
    enabled: bool = True
    stop_reason: str | None = None
    policy: SendPolicy = attrs.field(factory=SendPolicy)
    sender: str | None = None
    audience: Audience | None = None
    started_at: datetime | None = attrs.field(default=None, validator=_aware)
    fallback: Fallback | None = None
    on_unknown: Literal["mark_unknown", "resend"] = "mark_unknown"

    def apply(self, event: CampaignEvent | str, *, reason: str | None = None) -> Campaign:
        """This campaign after ``event``.

        Args:
            event: What happens.
            reason: Why, for a stop (kept as `stop_reason`).

        Raises:
            InvalidTransitionError: When the status does not allow the event, or the
                campaign is disabled and the event would make it send.
        """
        event = CampaignEvent(event)
        if not self.enabled and event in _NEEDS_ENABLED:
            raise InvalidTransitionError(
                "campaign", "disabled", event.value, (CampaignEvent.ENABLE.value,)
            )
        status = CAMPAIGN.next(self.status, event)
        changes: dict[str, Any] = {"status": status}
        if event is CampaignEvent.ENABLE:
            changes["enabled"] = True
        elif event is CampaignEvent.DISABLE:
            changes["enabled"] = False
        elif event is CampaignEvent.STOP:
            changes["stop_reason"] = reason
        elif event in (CampaignEvent.START, CampaignEvent.RESUME):
            changes["stop_reason"] = None
        return attrs.evolve(self, **changes)

    def _repr_html_(self) -> str:
        """The campaign as an HTML table, for notebooks."""
        rows: list[tuple[object, object]] = [
            ("status", self.status.value + ("" if self.enabled else " (disabled)")),
            ("channel", self.channel.value),
            ("provider", self.provider or "(default)"),
            ("sender", self.sender or ""),
            ("kind", self.kind.value),
            ("template", self.template.body if self.template else ""),
        ]
        if self.fallback is not None:
            rows.append(("fallback", f"{self.fallback.channel.value} after {self.fallback.wait}"))
        if self.audience is not None:
            rows.append(("lists", ", ".join(self.audience.lists)))
        if self.tags:
            rows.append(("tags", ", ".join(sorted(self.tags))))
        if self.send_at is not None:
            rows.append(("send at", self.send_at.isoformat(timespec="minutes")))
        if self.stop_reason:
            rows.append(("stopped because", self.stop_reason))
        rows.append(("id", self.id))
        return html.table(rows, title=f"Campaign {self.name}")

    def edit(self, **changes: Any) -> Campaign:
        """This campaign with some settings changed (``template=...``, ``tags=...``).

        Raises:
            InvalidTransitionError: When the status does not allow editing (running,
                finished, deleted), or for a web-chat campaign that started sending: a
                web-chat message is final once it is in the visitor's window.
            ValueError: For a lifecycle field: use `apply` for those.
        """
        forbidden = {"id", "status", "enabled", "stop_reason", "started_at"} & changes.keys()
        if forbidden:
            raise ValueError(
                f"{', '.join(sorted(forbidden))} cannot be edited: use apply() with an event"
            )
        if self.channel is Channel.WEBCHAT and self.started_at is not None:
            raise InvalidTransitionError(
                "web chat campaign",
                self.status.value,
                CampaignEvent.EDIT.value,
                (),
                reason="it has started sending, and a web chat message cannot be changed "
                "once it is in the visitor's chat window",
                hint="create a new campaign with the corrected text (and stop this one if "
                "it is still sending)",
            )
        CAMPAIGN.next(self.status, CampaignEvent.EDIT)
        return attrs.evolve(self, **changes)

    def schedule(self, send_at: datetime) -> Campaign:
        """This campaign scheduled to start at ``send_at`` (an aware datetime)."""
        _aware(None, attrs.fields(Campaign).send_at, send_at)
        return attrs.evolve(self.apply(CampaignEvent.SCHEDULE), send_at=send_at)
