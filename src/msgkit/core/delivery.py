"""The lifecycle of one message, as one transition table (`MESSAGE`).

The documentation draws its diagram from the table itself.

A message is written to the outbox as ``planned`` (or ``skipped`` with a reason)
before anything is sent, and marked ``sending`` before its request leaves; a crash
therefore leaves ``sending`` rows that are reconciled, never silently re-sent.
Receipts may arrive late or twice: a ``delivered`` message takes no further event, so
a late "sent" can never overwrite it.
"""

from __future__ import annotations

from enum import Enum

from msgkit.core._fsm import TransitionTable

__all__ = ["MESSAGE", "Channel", "MessageEvent", "MessageState", "SkipReason"]


class Channel(str, Enum):
    """The ways msgkit reaches people."""

    SMS = "sms"
    LINE = "line"
    WEBCHAT = "webchat"


class MessageState(str, Enum):
    """Where a message is."""

    PLANNED = "planned"
    DEFERRED = "deferred"
    QUEUED = "queued"
    SENDING = "sending"
    SUBMITTED = "submitted"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    EXPIRED = "expired"
    SKIPPED = "skipped"
    UNKNOWN = "unknown"
    FALLEN_BACK = "fallen_back"


class MessageEvent(str, Enum):
    """What can happen to a message."""

    DEFER = "defer"
    WAKE = "wake"
    CLAIM = "claim"
    RELEASE = "release"
    SEND = "send"
    ACCEPT = "accept"
    RETRY = "retry"
    FAIL = "fail"
    DELIVER = "deliver"
    UNDELIVER = "undeliver"
    LOSE = "lose"
    RESEND = "resend"
    EXPIRE = "expire"
    SKIP = "skip"
    FALL_BACK = "fall_back"


class SkipReason(str, Enum):
    """Why a contact was not sent a message."""

    INVALID_NUMBER = "invalid_number"
    NO_ADDRESS = "no_address"
    DUPLICATE = "duplicate"
    SUPPRESSED = "suppressed"
    CAPPED = "capped"
    OUTSIDE_SCHEDULE = "outside_schedule"
    CONTROL_GROUP = "control_group"
    MISSING_VARIABLE = "missing_variable"
    EXPIRED = "expired"
    NOT_ALLOWED = "not_allowed"
    CANCELLED = "cancelled"
    UNSAFE_CONTENT = "unsafe_content"


_S = MessageState
_E = MessageEvent

#: The message lifecycle. ``unknown`` is left only by reconciliation (the provider
#: answered a status query) or by the campaign's ``resend`` policy.
MESSAGE: TransitionTable[MessageState, MessageEvent] = TransitionTable(
    lifecycle="message",
    initial=_S.PLANNED,
    table={
        (_S.PLANNED, _E.DEFER): _S.DEFERRED,
        (_S.PLANNED, _E.CLAIM): _S.QUEUED,
        (_S.PLANNED, _E.EXPIRE): _S.EXPIRED,
        (_S.PLANNED, _E.SKIP): _S.SKIPPED,
        (_S.DEFERRED, _E.WAKE): _S.PLANNED,
        (_S.DEFERRED, _E.CLAIM): _S.QUEUED,
        (_S.DEFERRED, _E.EXPIRE): _S.EXPIRED,
        (_S.DEFERRED, _E.SKIP): _S.SKIPPED,
        (_S.QUEUED, _E.SEND): _S.SENDING,
        (_S.QUEUED, _E.DEFER): _S.DEFERRED,
        (_S.QUEUED, _E.RELEASE): _S.PLANNED,
        (_S.QUEUED, _E.EXPIRE): _S.EXPIRED,
        (_S.QUEUED, _E.SKIP): _S.SKIPPED,
        (_S.SENDING, _E.ACCEPT): _S.SUBMITTED,
        (_S.SENDING, _E.RETRY): _S.PLANNED,
        (_S.SENDING, _E.FAIL): _S.FAILED,
        (_S.SENDING, _E.DELIVER): _S.DELIVERED,
        (_S.SENDING, _E.UNDELIVER): _S.UNDELIVERED,
        (_S.SENDING, _E.LOSE): _S.UNKNOWN,
        (_S.SUBMITTED, _E.DELIVER): _S.DELIVERED,
        (_S.SUBMITTED, _E.UNDELIVER): _S.UNDELIVERED,
        (_S.SUBMITTED, _E.FALL_BACK): _S.FALLEN_BACK,
        (_S.UNKNOWN, _E.ACCEPT): _S.SUBMITTED,
        (_S.UNKNOWN, _E.DELIVER): _S.DELIVERED,
        (_S.UNKNOWN, _E.UNDELIVER): _S.UNDELIVERED,
        (_S.UNKNOWN, _E.FAIL): _S.FAILED,
        (_S.UNKNOWN, _E.RESEND): _S.PLANNED,
        (_S.FAILED, _E.FALL_BACK): _S.FALLEN_BACK,
        (_S.UNDELIVERED, _E.FALL_BACK): _S.FALLEN_BACK,
    },
)
