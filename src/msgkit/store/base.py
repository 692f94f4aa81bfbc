"""What a store holds and how the engine talks to it.

The store is the truth: campaigns, imported lists, the outbox of messages, the event
log of every state change, send history, suppression lists, short links and clicks,
replies, and the audit log. Every method is one transaction; batch methods take many
rows at once. Times are aware datetimes at this boundary (stored as UTC milliseconds).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TypedDict

import attrs

from msgkit.core import html
from msgkit.core.contacts import mask
from msgkit.core.delivery import MessageState
from msgkit.core.message import Change, Message

__all__ = [
    "AuditEntry",
    "Change",
    "ChangeResult",
    "Engagement",
    "GroupCounts",
    "InsertResult",
    "Leg",
    "ListInfo",
    "MessageRow",
    "Progress",
    "StoredReply",
    "TriggerCounts",
]


@attrs.frozen(kw_only=True)
class InsertResult:
    """How many rows a batch insert wrote, and how many were already there."""

    inserted: int = 0
    duplicates: int = 0

    def __add__(self, other: InsertResult) -> InsertResult:
        return InsertResult(
            inserted=self.inserted + other.inserted,
            duplicates=self.duplicates + other.duplicates,
        )


@attrs.frozen(kw_only=True, repr=False)
class MessageRow(Message):
    """A message of the outbox: the `Message` record as planned, plus its state.

    The record's fields are as the planner made them (``fallback_wait`` as the runner
    set it), except ``not_before`` and ``expires_at``, which are the current ones (a
    retry moves ``not_before``). ``recipient`` is the record's ``to``.

    Attributes:
        state: Where it is in the message lifecycle.
        reason: Why it was skipped or expired, when it was.
        fallback_at: When its fallback goes if nothing confirms it.
        attempts: Send attempts so far.
        provider_message_id: The provider's id, once accepted.
        error_code: The provider's code of the last failure.
        error: The last failure, as a sentence.
        sent_at: When it was (last) sent.
    """

    state: MessageState
    reason: str | None = None
    fallback_at: datetime | None = None
    attempts: int = 0
    provider_message_id: str | None = None
    error_code: str | None = None
    error: str | None = None
    sent_at: datetime | None = None

    def __repr__(self) -> str:
        to = mask(self.to) if self.to.startswith("+") else self.to
        return f"MessageRow(id={self.id!r}, state={self.state.value!r}, to={to!r})"


@attrs.frozen(kw_only=True)
class ChangeResult:
    """What applying a `Change` did."""

    message_id: str
    applied: bool
    old: MessageState | None
    new: MessageState | None


@attrs.frozen(kw_only=True)
class Progress:
    """How far a campaign has come.

    Attributes:
        total: Messages in the outbox for it (skipped included).
        by_state: Count per message state.
        by_reason: Count of skipped messages per reason.
    """

    total: int
    by_state: Mapping[MessageState, int]
    by_reason: Mapping[str, int]

    def count(self, *states: MessageState) -> int:
        """How many messages are in any of ``states``."""
        return sum(self.by_state.get(s, 0) for s in states)

    @property
    def pending(self) -> int:
        """Messages not yet sent or settled."""
        return self.count(
            MessageState.PLANNED, MessageState.DEFERRED, MessageState.QUEUED, MessageState.SENDING
        )

    @property
    def sent(self) -> int:
        """Messages the provider accepted (submitted, delivered, undelivered)."""
        return self.count(
            MessageState.SUBMITTED, MessageState.DELIVERED, MessageState.UNDELIVERED
        ) + self.count(MessageState.FALLEN_BACK)

    @property
    def sendable(self) -> int:
        """Messages meant to be sent: everything but skipped."""
        return self.total - self.count(MessageState.SKIPPED)

    @property
    def done(self) -> int:
        """Messages that need nothing more from the dispatcher."""
        return self.sendable - self.pending - self.count(MessageState.UNKNOWN)

    @property
    def percent(self) -> float:
        """Share of sendable messages that are done, 0-100."""
        return 100.0 if self.sendable == 0 else 100.0 * self.done / self.sendable

    def _repr_html_(self) -> str:
        """A progress bar and the count per state, in HTML, for notebooks."""
        states = [(s.value, f"{n:,}") for s, n in self.by_state.items() if n]
        reasons = [(f"skipped: {r}", f"{n:,}") for r, n in sorted(self.by_reason.items()) if n]
        return html.progress(self.done, self.sendable) + html.table(
            [*states, *reasons], title=f"{self.total:,} messages"
        )


class ListInfo(TypedDict):
    """A stored recipient list (`AudienceStore.get_list`, ``Client.lists``).

    Attributes:
        id: Its id.
        name: Its name.
        columns: The columns of its file, as they were.
        rows: How many contacts it holds.
        rejected: How many rows of its file were rejected.
        created_at: When it was created.
        variables: The attribute names its contacts carry (the template variables it
            provides), or None when the list does not declare them.
    """

    id: str
    name: str
    columns: list[str]
    rows: int
    rejected: int
    created_at: datetime
    variables: list[str] | None


class AuditEntry(TypedDict):
    """One line of the audit log: who did what to what, when."""

    at: datetime
    actor: str | None
    action: str
    target: str | None
    detail: str | None


class StoredReply(TypedDict):
    """An inbound reply as stored (`Inbox.replies`, ``Client.replies``).

    Attributes:
        id: Its id (to answer it).
        provider: The provider it came through.
        scope: The sender scope (sign, channel) it was sent to, when known.
        sender: Who replied.
        text: What they wrote.
        at: When.
        message_id: The last message sent to them before it, if any.
        campaign_id: That message's campaign.
        classification: ``"opt_out"``, ``"opt_in"``, ``"help"``..., or None.
        needs_review: Whether it may be an opt-out a person should look at.
        answered_at: When it was answered, or None.
        answer: The answer sent, or None.
    """

    id: int
    provider: str | None
    scope: str | None
    sender: str
    text: str
    at: datetime
    message_id: str | None
    campaign_id: str | None
    classification: str | None
    needs_review: bool
    answered_at: datetime | None
    answer: str | None


# --- what reports read (`Outbox.trigger_counts`, `Inbox.engagement`) ----------------------


@attrs.frozen(kw_only=True)
class Leg:
    """One step of a group of triggers (the first message, or its fallback), as counted.

    Attributes:
        channel: Its channel.
        provider: Its provider.
        region: The destination's region code, when known (for prices).
        state: Its state.
        reason: Why it was skipped or expired.
        error_code: The provider's code, for a failed message.
        waiting: A fallback that still waits for its parent's outcome.
        segments: The SMS parts of the group's messages on this step, summed.
    """

    channel: str
    provider: str | None = None
    region: str | None = None
    state: MessageState
    reason: str | None = None
    error_code: str | None = None
    waiting: bool = False
    segments: int = 0


@attrs.frozen(kw_only=True)
class TriggerCounts:
    """How many triggers of one trigger hour ended alike (first message and fallback).

    Attributes:
        hour: The hour (UTC) the first message was planned in: the trigger time.
        first: The first message.
        fallback: Its fallback, if the campaign has one.
        count: How many triggers.
    """

    hour: datetime
    first: Leg
    fallback: Leg | None = None
    count: int


@attrs.frozen(kw_only=True)
class GroupCounts:
    """Triggers of a control-group comparison and how many of them led to a click or a
    reply (from the recipient, after the trigger)."""

    triggers: int = 0
    clicked: int = 0
    replied: int = 0


@attrs.frozen(kw_only=True)
class Engagement:
    """Clicks, replies and opt-outs of a campaign's messages (`Inbox.engagement`).

    Attributes:
        clicks: Every click on its short links.
        unique_clicks: Recipients (contact keys) who clicked.
        replies: Replies attributed to its messages.
        opt_outs: Of those, the opt-outs.
        control: The triggers held out in the control group.
        treated: The triggers meant to be sent (not skipped).
    """

    clicks: int = 0
    unique_clicks: int = 0
    replies: int = 0
    opt_outs: int = 0
    control: GroupCounts = attrs.field(factory=GroupCounts)
    treated: GroupCounts = attrs.field(factory=GroupCounts)
