"""The message record, what happens to it, and the one function that decides.

`Message` is the one record of a message, from the planner to the adapter: the planner
produces it, the store persists it (with its state: `msgkit.store.base.MessageRow` is a
`Message` plus its state fields) and hands it back as it is, and adapters receive it as
it is (``msgkit.providers.base.OutboundMessage`` is this class). It is typed: there is
no free-form payload bag.

Everything that happens to a message we sent arrives as one of a few **observations**:

- `Sent`: the result of a send attempt (accepted with the provider's id, retry, failed
  with a code, an account error, or an unknown outcome: the request may have gone).
- `Receipt`: the provider says what became of it (`Report`: sent, delivered,
  undelivered, failed), pushed to a webhook.
- `Polled`: what a status query answered (`PolledStatus`: a `Report`, or found without
  a state, not found, the query failed, the provider cannot be asked).
- `ReplyReceived`: the recipient wrote back (an opt-out suppresses the number).
- `Elapsed`: time passed (`Timer`: a worker's lease, the fallback wait, the validity).

`decide` turns a message's state and an observation (with the `Context` the engine
knows: retry time, fallback wait, how long to reconcile and poll, the campaign's
``on_unknown``; and ``now``) into a `Change`: the lifecycle event (or none), the fields
to set, and the `Followup` actions (fall back now, cancel the fallback, reconcile,
retry, suppress the number, stop the campaign). The dispatcher, polling,
reconciliation and the inbound sink all call it; none decides on its own.

Its table is total: every (state, observation) pair has an answer, never an error. A
change's event is always one the message lifecycle (`msgkit.core.delivery.MESSAGE`)
allows from that state, and every message either settles (`settled`) or has a next time
something happens to it: no message waits forever. A message whose fate cannot be
learned ends ``unknown`` (reported, with no time to reconcile again), and its fallback
goes when its wait is over.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Literal, Protocol

import attrs

from msgkit.core.contacts import mask
from msgkit.core.delivery import MESSAGE, Channel, MessageEvent, MessageState
from msgkit.core.optout import ReplyIntent
from msgkit.core.templates import TemplateKind

__all__ = [
    "Change",
    "Context",
    "Elapsed",
    "Followup",
    "Message",
    "MessageFacts",
    "MessageStatus",
    "Observation",
    "Outcome",
    "Polled",
    "PolledStatus",
    "Receipt",
    "ReplyReceived",
    "Report",
    "Sent",
    "Timer",
    "decide",
    "settled",
]

_S = MessageState
_E = MessageEvent


def _str_map(value: Mapping[str, str]) -> dict[str, str]:
    return dict(value)


def _any_map(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(value)


def _str_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if value == ():  # most messages have no media: no generator for them
        return ()
    return tuple(str(v) for v in value)


# A message is made per planned recipient: the channel and kind the planner passes are
# members already, and calling the enum on a member goes through EnumType.__call__.
def _channel(value: Channel | str) -> Channel:
    return value if type(value) is Channel else Channel(value)


def _kind(value: TemplateKind | str) -> TemplateKind:
    return value if type(value) is TemplateKind else TemplateKind(value)


def _same_as_id(self: Message) -> str:
    return self.id


def _same_as_to(self: Message) -> str:
    return self.to


@attrs.frozen(kw_only=True, repr=False)
class Message:
    """One message: the record the planner produces, the store keeps, the adapter sends.

    Only ``id``, ``channel``, ``to`` and ``text`` are required (an adapter needs no
    more); the planner sets every field.

    Attributes:
        id: Our message id (16–64 characters of ``[A-Za-z0-9_-]``; the planner's is 32
            hex characters, a digest of `key`): sent as Alibaba's ``OutId``, LINE's
            ``X-Line-Delivery-Tag``, an idempotency key where the provider takes one,
            and used to match receipts and status queries.
        key: The idempotency key ``"<campaign>:<recipient digest>:<step>"``
            (`msgkit.core.planning.message_key`); defaults to the id.
        campaign_id: The campaign.
        contact_key: The contact it is for; defaults to the address.
        step: 0 for the main message, 1 for the first fallback, ...
        parent_id: A fallback's parent message id (it waits until the parent fails or
            its wait is over); None for a main message.
        channel: SMS, LINE or web chat.
        provider: The configured provider name, or None for the default.
        to: The address: E.164 for SMS and LINE, the contact or conversation id for
            web chat.
        text: The rendered text, with short links.
        kind: Notification, promotional or multimedia.
        template_code: The provider's approved template id, for providers that render
            on their side (Alibaba).
        params: The template variables resolved to strings, for those providers.
        sender: The sender: SMS signature, from-number or messaging service, agent.
        encoding: ``"GSM-7"`` or ``"UCS-2"`` for SMS; None for other channels.
        segments: Billed parts (1 for channels that do not split).
        not_before: The earliest send time (aware, UTC), as planned.
        expires_at: When it stops being worth sending (validity), or None.
        fallback_wait: How long a confirmation is awaited before its fallback goes;
            None when it has no fallback.
        deferred: Whether `not_before` is later than the campaign's start because of
            the recipient's schedule, the China rule or (``when_capped="defer"``) a cap.
        test: A test send: bypasses caps and schedule, never counted in reports.
        links: Short code of each link, by link name.
        link_param: The recipient's tracking parameter, or None.
        counts_toward_caps: Whether it counts in the recipient's send history for
            frequency caps (false for exempt campaigns and tests).
        region: The recipient's phone region (``"TW"``), or None.
        time_zone: The recipient's zone the send time was chosen in.
        media: Image or media URLs (the template's).
        options: Provider options (the template's ``options``): a LINE flex message, an
            Alibaba extend code, a web-chat inbox id... each adapter documents the
            ones it reads.
    """

    id: str
    key: str = attrs.field(default=attrs.Factory(_same_as_id, takes_self=True))
    campaign_id: str = ""
    step: int = 0
    parent_id: str | None = None
    channel: Channel = attrs.field(converter=_channel)
    provider: str | None = None
    to: str
    contact_key: str = attrs.field(default=attrs.Factory(_same_as_to, takes_self=True))
    text: str
    kind: TemplateKind = attrs.field(default=TemplateKind.NOTIFICATION, converter=_kind)
    template_code: str | None = None
    params: Mapping[str, str] = attrs.field(factory=dict, converter=_str_map)
    sender: str | None = None
    encoding: str | None = None
    segments: int = 1
    not_before: datetime | None = None
    expires_at: datetime | None = None
    fallback_wait: timedelta | None = None
    deferred: bool = False
    test: bool = False
    links: Mapping[str, str] = attrs.field(factory=dict, converter=_str_map)
    link_param: str | None = None
    counts_toward_caps: bool = True
    region: str | None = None
    time_zone: str | None = None
    media: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=_any_map)

    @property
    def recipient(self) -> str:
        """The address (`to`), by the name the outbox gives it."""
        return self.to

    def __repr__(self) -> str:
        to = mask(self.to) if self.to.startswith("+") else self.to
        at = "" if self.not_before is None else f", not_before={self.not_before.isoformat()!r}"
        return (
            f"Message(id={self.id!r}, channel={self.channel.value!r}, to={to!r}, "
            f"segments={self.segments}{at}{', test=True' if self.test else ''})"
        )


class Outcome(str, Enum):
    """What became of one message after a send attempt."""

    ACCEPTED = "accepted"
    RETRY = "retry"
    FAILED = "failed"
    ACCOUNT = "account"
    UNKNOWN = "unknown"


class Report(str, Enum):
    """What a provider says of a message it took (a receipt, a polled status)."""

    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"


class PolledStatus(str, Enum):
    """What a status query answered: a `Report`'s value, or one of the others."""

    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    PENDING = "pending"  # found, with no state to tell
    NOT_FOUND = "not_found"
    QUERY_FAILED = "query_failed"
    NO_QUERY = "no_query"  # the provider cannot be asked


class Timer(str, Enum):
    """The times that run out for a message."""

    LEASE = "lease"  # the worker holding it did not finish in time
    FALLBACK_WAIT = "fallback_wait"  # no confirmation within the fallback's wait
    VALIDITY = "validity"  # its validity ended before it could be sent


class Followup(str, Enum):
    """What the engine does besides changing the message."""

    FALL_BACK = "fall_back"  # release the waiting fallback message now
    CANCEL_FALLBACK = "cancel_fallback"  # the message was delivered: cancel its fallback
    RECONCILE = "reconcile"  # ask the provider (or follow ``on_unknown``) at not_before
    RETRY = "retry"  # send again at not_before
    SUPPRESS = "suppress"  # add the recipient to the suppression list
    STOP_CAMPAIGN = "stop_campaign"  # an account error: stop the campaign


@attrs.frozen(kw_only=True)
class Sent:
    """The result of a send attempt.

    Attributes:
        outcome: See `Outcome`.
        attempt: Which attempt this was (1 for the first).
        provider_message_id: The provider's id, when accepted.
        error_code: The provider's code, when not accepted.
        error: What went wrong, as a sentence.
        fallback_now: Go to the fallback at once (LINE 422: not reachable).
        suppress: The recipient opted out at the provider.
    """

    outcome: Outcome = attrs.field(converter=Outcome)
    attempt: int = 1
    provider_message_id: str | None = None
    error_code: str | None = None
    error: str | None = None
    fallback_now: bool = False
    suppress: bool = False


@attrs.frozen(kw_only=True)
class Receipt:
    """A provider's word on a message it took, pushed to us."""

    report: Report = attrs.field(converter=Report)
    provider_message_id: str | None = None
    error_code: str | None = None
    error: str | None = None
    source: str = "receipt"


@attrs.frozen(kw_only=True)
class Polled:
    """What a status query answered."""

    status: PolledStatus = attrs.field(converter=PolledStatus)
    provider_message_id: str | None = None
    error_code: str | None = None


@attrs.frozen(kw_only=True)
class ReplyReceived:
    """The recipient wrote back (its intent: opt-out, opt-in, help, or none)."""

    intent: ReplyIntent | None = None


@attrs.frozen(kw_only=True)
class Elapsed:
    """A time ran out."""

    timer: Timer = attrs.field(converter=Timer)


Observation = Sent | Receipt | Polled | ReplyReceived | Elapsed


class MessageFacts(Protocol):
    """What `decide` reads of a message (a stored row has it)."""

    @property
    def id(self) -> str: ...
    @property
    def state(self) -> MessageState: ...
    @property
    def sent_at(self) -> datetime | None: ...
    @property
    def provider_message_id(self) -> str | None: ...


@attrs.frozen(kw_only=True)
class MessageStatus:
    """A message as `decide` needs it, when no stored row is at hand."""

    id: str
    state: MessageState = attrs.field(converter=MessageState)
    sent_at: datetime | None = None
    provider_message_id: str | None = None


@attrs.frozen(kw_only=True)
class Context:
    """What the engine knows that `decide` needs besides the message and ``now``.

    Attributes:
        retry_at: When a retryable failure is tried again; None: the retry policy
            gives up (the message fails).
        fallback_wait: The message's fallback wait, when it has a fallback.
        on_unknown: The campaign's policy for a message whose outcome cannot be
            learned: report it (``mark_unknown``) or send it again (``resend``).
        reconcile_grace: A message the provider does not find is taken as never
            received once it is this old (providers index messages with a delay).
        reconcile_every: Time between status queries of one unknown message.
        reconcile_for: How long after sending an unknown message is reconciled; then
            it is reported ``unknown``.
        poll_every: Time between status polls of one submitted message.
        fallback_released: The message's fallback has gone (its wait ran out while the
            message was unknown): it is then never sent again, only reported.
    """

    retry_at: datetime | None = None
    fallback_wait: timedelta | None = None
    on_unknown: Literal["mark_unknown", "resend"] = "mark_unknown"
    reconcile_grace: timedelta = timedelta(minutes=5)
    reconcile_every: timedelta = timedelta(minutes=1)
    reconcile_for: timedelta = timedelta(hours=1)
    poll_every: timedelta = timedelta(minutes=1)
    fallback_released: bool = False


@attrs.frozen(kw_only=True)
class Change:
    """What to do to one message: its event (or none), fields, follow-ups.

    Attributes:
        message_id: Our message id.
        event: The lifecycle event; None: the state stays (only ``fields`` are set).
        fields: Columns to set along with it (``provider_message_id``,
            ``error_code``, ``error``, ``not_before``, ``reason``, ...).
        detail: A sentence for the event log.
        followups: What the engine does besides (see `Followup`).
        decided_in: The state the message was in when this was decided (`decide` sets
            it): a change with no event is applied only to a message still in that
            state — another worker may have moved it on meanwhile.
    """

    message_id: str
    event: MessageEvent | None
    fields: Mapping[str, Any] = attrs.field(factory=dict)
    detail: str | None = None
    followups: tuple[Followup, ...] = ()
    decided_in: MessageState | None = None

    @property
    def noop(self) -> bool:
        """Whether it changes nothing at all."""
        return self.event is None and not self.fields and not self.followups


#: States that need nothing more from the engine (``unknown`` is settled once it is
#: reported: no time to reconcile it again).
_SETTLED = frozenset(
    {
        _S.SUBMITTED,
        _S.DELIVERED,
        _S.UNDELIVERED,
        _S.FAILED,
        _S.EXPIRED,
        _S.SKIPPED,
        _S.FALLEN_BACK,
    }
)


def settled(state: MessageState) -> bool:
    """Whether a message in ``state`` needs nothing more from the engine.

    ``unknown`` is settled only once reported (its ``not_before`` cleared), which the
    state alone does not say: it is not counted here.
    """
    return state in _SETTLED


_REPORTED: dict[str, MessageEvent] = {
    "sent": _E.ACCEPT,
    "delivered": _E.DELIVER,
    "undelivered": _E.UNDELIVER,
    "failed": _E.UNDELIVER,
}


def decide(
    message: MessageFacts, observation: Observation, *, context: Context, now: datetime
) -> Change:
    """The change an observation makes to a message.

    Total: any state with any observation has an answer; what the state does not
    allow is a change with no event (a late "sent" receipt after "delivered", a send
    result for a message not being sent).

    Args:
        message: The message (its id, state, when it was sent, the provider's id).
        observation: What happened.
        context: What the engine knows besides (retry time, fallback wait...).
        now: The time of the decision.

    Example:
        >>> from datetime import datetime, timezone
        >>> now = datetime(2026, 1, 5, tzinfo=timezone.utc)
        >>> m = MessageStatus(id="m1", state="sending", sent_at=now)
        >>> decide(m, Sent(outcome="unknown"), context=Context(), now=now).event.value
        'lose'
    """
    return attrs.evolve(_decide(message, observation, context, now), decided_in=message.state)


def _decide(
    message: MessageFacts, observation: Observation, context: Context, now: datetime
) -> Change:
    if isinstance(observation, Sent):
        return _sent(message, observation, context, now)
    if isinstance(observation, Receipt):
        return _receipt(message, observation, context, now)
    if isinstance(observation, Polled):
        return _polled(message, observation, context, now)
    if isinstance(observation, ReplyReceived):
        if observation.intent is ReplyIntent.OPT_OUT:
            return Change(
                message_id=message.id,
                event=None,
                detail="opted out by reply",
                followups=(Followup.SUPPRESS,),
            )
        return Change(message_id=message.id, event=None)
    return _elapsed(message, observation, context, now)


def _none(message: MessageFacts, detail: str | None = None) -> Change:
    return Change(message_id=message.id, event=None, detail=detail)


def _fallback_at(context: Context, now: datetime) -> dict[str, Any]:
    return {} if context.fallback_wait is None else {"fallback_at": now + context.fallback_wait}


def _lose(message: MessageFacts, context: Context, now: datetime, **fields: Any) -> dict[str, Any]:
    """The fields of a message whose outcome became unknown: reconcile it now, and
    start its fallback's wait (the fallback goes if nothing confirms it in time)."""
    return {"not_before": now, **fields, **_fallback_at(context, now)}


def _sent(message: MessageFacts, sent: Sent, context: Context, now: datetime) -> Change:
    if message.state is not _S.SENDING:
        return _none(message, f"a send result for a {message.state.value} message")
    errors = {"error_code": sent.error_code, "error": sent.error}
    mid = message.id
    if sent.outcome is Outcome.ACCEPTED:
        fields: dict[str, Any] = {
            "provider_message_id": sent.provider_message_id,
            "error_code": None,
            "error": None,
            "lease_until": None,
            **_fallback_at(context, now),
        }
        return Change(message_id=mid, event=_E.ACCEPT, fields=fields)
    if sent.outcome is Outcome.RETRY:
        if context.retry_at is None:
            text = f"gave up after {sent.attempt} attempts: {sent.error}"
            return Change(
                message_id=mid,
                event=_E.FAIL,
                fields={"error_code": sent.error_code, "error": text},
            )
        delay = max(0.0, (context.retry_at - now).total_seconds())
        return Change(
            message_id=mid,
            event=_E.RETRY,
            fields={"not_before": context.retry_at, **errors},
            detail=f"retry in {delay:.1f}s",
            followups=(Followup.RETRY,),
        )
    if sent.outcome is Outcome.FAILED:
        followups = (Followup.FALL_BACK,) if sent.fallback_now else ()
        if sent.suppress:
            followups = (*followups, Followup.SUPPRESS)
        return Change(
            message_id=mid,
            event=_E.FAIL,
            fields=errors,
            detail="fallback now" if sent.fallback_now else None,
            followups=followups,
        )
    if sent.outcome is Outcome.ACCOUNT:
        return Change(
            message_id=mid,
            event=_E.RETRY,
            fields={"not_before": now, **errors},
            detail="account error: campaign stopped",
            followups=(Followup.STOP_CAMPAIGN,),
        )
    return Change(
        message_id=mid,
        event=_E.LOSE,
        fields=_lose(message, context, now, **errors),
        detail="outcome unknown: will reconcile",
        followups=(Followup.RECONCILE,),
    )


def _reported(
    message: MessageFacts,
    event: MessageEvent,
    *,
    detail: str,
    provider_message_id: str | None,
    error_code: str | None,
    error: str | None = None,
    lease: bool = False,
) -> Change:
    if not MESSAGE.can(message.state, event):
        return _none(message, f"{detail}: changes nothing (the message is {message.state.value})")
    fields: dict[str, Any] = {"lease_until": None} if lease else {}
    if provider_message_id and (lease or message.provider_message_id is None):
        fields["provider_message_id"] = provider_message_id
    if error_code:
        fields["error_code"] = error_code
    if error:
        fields["error"] = error
    followups = (Followup.CANCEL_FALLBACK,) if event is _E.DELIVER else ()
    return Change(
        message_id=message.id, event=event, fields=fields, detail=detail, followups=followups
    )


def _receipt(message: MessageFacts, receipt: Receipt, context: Context, now: datetime) -> Change:
    event = _REPORTED[receipt.report.value]
    change = _reported(
        message,
        event,
        detail=f"{receipt.source}: {receipt.report.value}",
        provider_message_id=receipt.provider_message_id,
        error_code=receipt.error_code,
        error=receipt.error,
    )
    if change.event is _E.ACCEPT and message.state is _S.SENDING:
        # "Sent" came before the send result was recorded: the fallback's wait starts
        # here, or nothing would ever release it.
        return attrs.evolve(change, fields={**change.fields, **_fallback_at(context, now)})
    return change


def _polled_report(
    message: MessageFacts, polled: Polled, event: MessageEvent, detail: str
) -> Change:
    """What a polled status reports about the message; its lease ends."""
    return _reported(
        message,
        event,
        detail=detail,
        provider_message_id=polled.provider_message_id,
        error_code=polled.error_code,
        lease=True,
    )


def _polled(message: MessageFacts, polled: Polled, context: Context, now: datetime) -> Change:
    if message.state is _S.UNKNOWN:
        return _reconciled(message, polled, context, now)
    status = polled.status
    if (
        message.state is _S.SUBMITTED
        and status.value in _REPORTED
        and status is not (PolledStatus.SENT)
    ):
        return _polled_report(message, polled, _REPORTED[status.value], "status polled")
    if message.state is _S.SUBMITTED:
        # Nothing final yet (or the query failed): ask again later. The poll window
        # (``poll_for``) bounds how long; a submitted message is settled meanwhile.
        return Change(
            message_id=message.id,
            event=None,
            fields={"lease_until": now + context.poll_every},
        )
    return _none(message, f"a polled status for a {message.state.value} message")


def _reconciled(message: MessageFacts, polled: Polled, context: Context, now: datetime) -> Change:
    """An unknown message, reconciled with what the provider answered."""
    status = polled.status
    # A failed status: the provider may have refused the request itself, the send failed.
    event = _E.FAIL if status is PolledStatus.FAILED else _REPORTED.get(status.value)
    if event is not None:
        return _polled_report(message, polled, event, "reconciled with the provider")
    if status is PolledStatus.NO_QUERY:
        if context.on_unknown == "resend" and not context.fallback_released:
            return _resend(message, now, "resent by the campaign's policy")
        return _report_unknown(message, "the provider cannot be asked: reported as unknown")
    if status is PolledStatus.NOT_FOUND:
        age = now - (message.sent_at or now)
        if age >= context.reconcile_grace:
            if context.fallback_released:  # the person has the fallback: never both
                return _report_unknown(message, "not found, and its fallback went: reported")
            return _resend(message, now, "the provider never received it")
    deadline = (message.sent_at or now) + context.reconcile_for
    again = now + context.reconcile_every
    if again > deadline:
        what = {
            PolledStatus.QUERY_FAILED: "the status query kept failing",
            PolledStatus.PENDING: "the provider never said what became of it",
            PolledStatus.NOT_FOUND: "the provider never found it",
        }[status]
        return _report_unknown(message, f"{what}: reported as unknown")
    return Change(
        message_id=message.id,
        event=None,
        fields={"not_before": again},
        followups=(Followup.RECONCILE,),
    )


def _report_unknown(message: MessageFacts, detail: str) -> Change:
    """Its fate cannot be learned: it stays ``unknown``, reported (no time to ask again).

    Its fallback, if it has one, goes when the wait started with the send is over.
    """
    return Change(message_id=message.id, event=None, fields={"not_before": None}, detail=detail)


def _resend(message: MessageFacts, now: datetime, detail: str) -> Change:
    return Change(
        message_id=message.id,
        event=_E.RESEND,
        fields={"not_before": now, "lease_until": None},
        detail=detail,
        followups=(Followup.RETRY,),
    )


def _elapsed(message: MessageFacts, elapsed: Elapsed, context: Context, now: datetime) -> Change:
    state, mid = message.state, message.id
    if elapsed.timer is Timer.LEASE:
        if state is _S.QUEUED:
            return Change(message_id=mid, event=_E.RELEASE, detail="worker lease ran out")
        if state is _S.SENDING:
            return Change(
                message_id=mid,
                event=_E.LOSE,
                fields=_lose(message, context, now, lease_until=None),
                detail="the worker sending it died; outcome unknown",
                followups=(Followup.RECONCILE,),
            )
        return _none(message)
    if elapsed.timer is Timer.VALIDITY:
        if MESSAGE.can(state, _E.EXPIRE):
            return Change(
                message_id=mid,
                event=_E.EXPIRE,
                fields={"reason": "expired"},
                detail="its validity ended before it could be sent",
            )
        return _none(message)
    # The fallback's wait is over (or the message ended): release or cancel the fallback.
    if state is _S.DELIVERED:
        return Change(message_id=mid, event=None, followups=(Followup.CANCEL_FALLBACK,))
    if state in (_S.SUBMITTED, _S.FAILED, _S.UNDELIVERED):
        return Change(
            message_id=mid,
            event=_E.FALL_BACK,
            detail="no delivery confirmation in time"
            if state is _S.SUBMITTED
            else f"{state.value}: falling back",
            followups=(Followup.FALL_BACK,),
        )
    if state in (_S.UNKNOWN, _S.EXPIRED, _S.SKIPPED):
        return Change(
            message_id=mid,
            event=None,
            detail=f"{state.value}: falling back",
            followups=(Followup.FALL_BACK,),
        )
    return _none(message)
