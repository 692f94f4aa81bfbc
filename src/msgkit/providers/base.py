"""The provider protocol: sans-IO adapters that build requests and parse responses.

An adapter never performs I/O. For a batch of `OutboundMessage` it builds one or more
`SendRequest` (an `httpx.Request` plus the ids of the messages it carries); a transport
performs them; the adapter turns each response into one `SendResult` per message. The
engine decides what happens next from `SendResult.outcome`:

- ``accepted``: the provider took the message (``provider_message_id`` set).
- ``retry``: not sent; the same message may be sent again later (``retry_after``).
- ``failed``: permanent for this message (invalid number, opted out, content refused).
- ``account``: account-level (no balance, credentials): stop the campaign, say why.
- ``unknown``: the request may or may not have been processed (a timeout after it left,
  on a provider without idempotency); reconcile before re-sending.

Limits are data on `Capabilities`, enforced by the core and the engine, not by each
adapter.

Two refinements of this contract, for adapters that need them:

- A send may take more than one request (web chat: find or create the conversation,
  then post the message). A result with ``follow_up`` is not final: perform that
  request and parse its response instead (`msgkit.providers.transport.perform` does
  this). A `SendRequest` carries its ``step`` and a ``context`` so the adapter can
  parse each step without keeping state between calls.
- A provider may refuse a whole batch because of one of its members (Alibaba answers
  one error code for a request of 1000 numbers). Those results say ``isolate``: send
  each of these messages again on its own, so the one at fault fails alone.

`Provider.build_send` raises `RejectedError` for a batch holding a message the adapter
cannot express at all (no template code where the provider renders templates, an
address that is not E.164): nothing was sent; build each message alone to find it.
`Provider.parse_status` raises a `ProviderError` when the status query itself failed,
which must never be read as "the provider does not know this message".

A provider that can report its account's balance offers `ReportsBalance`
(``build_balance`` / ``parse_balance``); `msgkit.Client.balance` asks it, and
`msgkit.Client.start` refuses a campaign whose estimated cost exceeds it.

A provider may also run inside the process (`InProcess`: the simulator of
`msgkit.testing`, a fake of your own): the client then reaches it without network,
polls its receipts often, and feeds the replies and clicks it produced to the store as
webhooks would. Nothing else about such a provider is special.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, runtime_checkable

import attrs
import httpx

from msgkit.core.delivery import Channel, MessageState
from msgkit.core.events import Click, Reply
from msgkit.core.message import Message, Outcome
from msgkit.core.pricing import Balance
from msgkit.core.templates import ContentRules
from msgkit.exceptions import ProviderError

__all__ = [
    "CLOCK_SKEW",
    "Capabilities",
    "InProcess",
    "InboundEvent",
    "KeyedIds",
    "OutboundMessage",
    "Outcome",
    "Provider",
    "ReportsBalance",
    "SendRequest",
    "SendResult",
    "StatusResult",
    "transport_error_outcome",
]


def _frozen_map(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(value)


def _regions(value: Iterable[str] | None) -> frozenset[str] | None:
    return None if value is None else frozenset(r.upper() for r in value)


def _strings(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


#: One message as an adapter receives it: the message record itself
#: (`msgkit.core.message.Message`), as the planner made it and the store kept it. The
#: attributes adapters read: ``id``, ``channel``, ``to``, ``text``, ``kind``,
#: ``template_code``, ``params``, ``sender``, ``expires_at``, ``media``, ``options``
#: (the template's provider options).
OutboundMessage = Message


@attrs.frozen(kw_only=True)
class SendRequest:
    """One HTTP request and the messages it carries.

    Attributes:
        request: The request to perform.
        message_ids: Our ids of the messages it carries.
        step: Which step of a send it is; ``"send"`` for providers that send in one.
        context: What the adapter needs to parse the response (the number each
            message went to, ids learned by earlier steps).
        safe: Performing it again does no harm (a lookup, or a step that sends
            nothing to the recipient), so a transport failure may simply be retried.
    """

    request: httpx.Request
    message_ids: tuple[str, ...] = attrs.field(converter=_strings)
    step: str = "send"
    context: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_map)
    safe: bool = False


@attrs.frozen(kw_only=True)
class SendResult:
    """What became of one message.

    Attributes:
        message_id: Our message id.
        outcome: See `Outcome`.
        provider_message_id: The provider's id for it, when accepted.
        error: The error, for every outcome but ``accepted``.
        retry_after: Seconds to wait before retrying, when the provider said.
        fallback_now: Go to the fallback channel at once (LINE 422: not reachable).
        suppress: The recipient opted out at the provider (Twilio 21610): add them to
            the suppression list.
        isolate: The provider refused the whole request because of one of its
            messages, without saying which: send this message again on its own
            (``outcome`` is ``retry``).
        follow_up: The send takes another request: perform it and parse its response
            in place of this result (``outcome`` says what to do if that cannot be
            done: nothing was sent yet).
    """

    message_id: str
    outcome: Outcome = attrs.field(converter=Outcome)
    provider_message_id: str | None = None
    error: ProviderError | None = None
    retry_after: float | None = None
    fallback_now: bool = False
    suppress: bool = False
    isolate: bool = False
    follow_up: SendRequest | None = None


#: How far a provider's clock may be behind ours (see `StatusResult.for_message_sent`).
CLOCK_SKEW = timedelta(minutes=1)


@attrs.frozen(kw_only=True)
class StatusResult:
    """What the provider says of a message we may have sent (reconciliation).

    Attributes:
        message_id: Our message id.
        found: Whether the provider knows the message at all.
        state: ``submitted``, ``delivered``, ``undelivered`` or ``failed`` when found.
        provider_message_id: The provider's id, when found.
        error_code: The provider's error code for undelivered or failed messages.
        taken_at: When the provider took the record found (its own timestamp), so that a
            record older than the message (an earlier message with the same text to the
            same number) is not taken for it; see `StatusResult.for_message_sent`.
    """

    message_id: str
    found: bool
    state: MessageState | None = None
    provider_message_id: str | None = None
    error_code: str | None = None
    taken_at: datetime | None = None

    def for_message_sent(
        self, sent_at: datetime | None, *, skew: timedelta = CLOCK_SKEW
    ) -> StatusResult:
        """This answer for a message marked ``sending`` at ``sent_at``.

        A message is marked before its request leaves, so the provider cannot have
        taken it earlier (less ``skew`` between the two clocks): a record found that is
        older belongs to an earlier message and proves nothing about this one.
        """
        if not self.found or self.taken_at is None or sent_at is None:
            return self
        if self.taken_at >= sent_at - skew:
            return self
        return StatusResult(message_id=self.message_id, found=False)


@attrs.frozen(kw_only=True)
class Capabilities:
    """What a provider can do, as data.

    Attributes:
        channel: The channel it serves.
        max_batch: The most messages one call to `Provider.build_send` may be given.
        scheme: How SMS length is counted: ``"gsm"`` or ``"cn"``.
        content: What templates may contain, per kind.
        renders_templates: The provider renders approved templates itself from
            ``template_code`` and ``params`` (Alibaba); otherwise it takes ``text``.
        rate_per_second: The provider's request rate limit, or None.
        idempotent: The provider de-duplicates a repeated request for the same message,
            so an unknown outcome may simply be retried.
        status_query: The provider can be asked about a message by our id
            (`Provider.build_status`), so an unknown outcome can be reconciled.
        delivery_receipts: The provider reports delivery (webhook or status).
        sender_review: Sender names or signatures must be approved first.
        max_text: The longest text accepted, in characters, or None.
        regions: The phone regions it reaches (ISO 3166 codes), or None for all.
        default_sender: The sender of a message that names none (Twilio's ``From``
            number, Alibaba's signature), or None. A campaign that names no sender
            sends as this one, and its opt-outs are matched on it.
    """

    channel: Channel = attrs.field(converter=Channel)
    max_batch: int = 1
    scheme: Literal["gsm", "cn"] = "gsm"
    content: ContentRules = attrs.field(factory=ContentRules)
    renders_templates: bool = False
    rate_per_second: float | None = None
    idempotent: bool = False
    status_query: bool = False
    delivery_receipts: bool = True
    sender_review: bool = False
    max_text: int | None = None
    regions: frozenset[str] | None = attrs.field(default=None, converter=_regions)
    default_sender: str | None = None


@runtime_checkable
class Provider(Protocol):
    """A sans-IO adapter for one messaging service.

    Attributes:
        name: The configured name (``"sms"``, ``"line-tw"``).
        capabilities: What it can do.
    """

    name: str
    capabilities: Capabilities

    def build_send(self, batch: Sequence[OutboundMessage]) -> list[SendRequest]:
        """The requests that send ``batch`` (at most ``capabilities.max_batch``).

        Raises:
            RejectedError: A message of the batch cannot be expressed at all.
        """
        ...

    def parse_send(self, sent: SendRequest, response: httpx.Response) -> list[SendResult]:
        """One result per message of ``sent.message_ids``, whatever the response."""
        ...

    def build_status(self, message: OutboundMessage, sent_at: datetime) -> httpx.Request | None:
        """A status query for a message sent at ``sent_at``, or None if not supported."""
        ...

    def parse_status(self, message: OutboundMessage, response: httpx.Response) -> StatusResult:
        """What the status query answered.

        Raises:
            ProviderError: The query itself failed; ask again later.
        """
        ...


@runtime_checkable
class ReportsBalance(Protocol):
    """A provider that can report its account's balance (a capability any provider may
    offer; `msgkit.Client.balance` checks for it with ``isinstance``)."""

    def build_balance(self) -> httpx.Request | None:
        """The balance query, or None when this account cannot be asked."""
        ...

    def parse_balance(self, response: httpx.Response) -> Balance | None:
        """The balance the query answered, or None when the account reports none.

        Raises:
            ProviderError: The query itself failed (credentials, an unreadable answer).
        """
        ...


@runtime_checkable
class KeyedIds(Protocol):
    """A provider whose ids are built from a digest of the number (a capability any
    provider may offer): `msgkit.Client` sets ``digest_key`` to its store's
    `digest_key` (None for a plain store), so that an encrypted store's ids cannot be
    matched against candidate numbers. Its webhooks get the same key
    (`msgkit.providers.webhooks.WebhookRequest.digest_key`) to match the receipts.
    """

    digest_key: bytes | None


#: What an `InProcess` provider hands the client: a reply or a click.
InboundEvent = Reply | Click


@runtime_checkable
class InProcess(Protocol):
    """A provider that may run inside this process (a capability any provider may offer).

    `msgkit.Client` checks for it (``isinstance(provider, InProcess)``) and, when
    `local_transport` gives a transport, sends through it (no network), polls the
    provider's receipts every second (it answers at once), and after each run hands the
    replies and clicks of `inbound_events` to the store, as the provider's webhooks would.
    """

    def local_transport(self) -> httpx.AsyncBaseTransport | None:
        """The transport to the provider in this process, or None when it runs elsewhere
        (then it is an ordinary provider)."""
        ...

    def inbound_events(self, after: int = 0) -> Sequence[tuple[int, InboundEvent]]:
        """The replies and clicks produced after position ``after``, each with its
        position (increasing), so the caller asks next after the last one it saw."""
        ...


def transport_error_outcome(error: httpx.TransportError, capabilities: Capabilities) -> Outcome:
    """Classify a transport failure.

    A request that never left (connection refused, connect timeout) may be retried.
    One that may have been received (read timeout, dropped connection) may be retried
    only where the provider de-duplicates; elsewhere its outcome is unknown.
    """
    if isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return Outcome.RETRY
    return Outcome.RETRY if capabilities.idempotent else Outcome.UNKNOWN
