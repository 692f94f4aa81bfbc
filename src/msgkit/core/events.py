"""What arrives from providers and people, as typed events (made by the providers'
webhook parsers, handed on by `msgkit.inbound`).

- `DeliveryReceipt`: a provider says what became of a message we sent.
- `Reply`: someone answered (an SMS reply, a web chat message). Opt-out keywords are
  not judged here: the raw text is handed on, and the sink decides.
- `Click`: someone opened a short link.

Each has a ``key``: the same event delivered twice (providers re-push until they get
their answer) has the same key, so a sink can ignore the second.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from msgkit.core.contacts import mask
from msgkit.core.delivery import Channel
from msgkit.core.message import Receipt, Report

__all__ = ["Click", "DeliveryReceipt", "ReceiptState", "Reply"]


#: What a receipt says of a message: ``sent``, ``delivered``, ``undelivered`` or
#: ``failed`` (`msgkit.core.message.Report`, the vocabulary `msgkit.core.message.decide`
#: reads receipts and polled statuses in).
ReceiptState = Report


def _shown(address: str | None) -> str | None:
    return mask(address) if address and address.startswith("+") else address


@attrs.frozen(kw_only=True, repr=False)
class DeliveryReceipt:
    """A provider's word on one message.

    Attributes:
        provider: The configured provider name.
        state: Sent, delivered, undelivered or failed.
        message_id: Our message id, when the provider echoes it (Alibaba ``out_id``,
            LINE's delivery tag, the Twilio callback URL).
        provider_message_id: The provider's id (as `SendResult.provider_message_id`).
        error_code: The provider's or carrier's code when not delivered.
        error_message: Its description.
        phone: The recipient, E.164, when the receipt names them.
        occurred_at: When the provider saw the outcome.
        sent_at: When the provider sent the message, when it says.
        parts: Billed SMS parts, when it says.
    """

    provider: str
    state: Report = attrs.field(converter=Report)
    message_id: str | None = None
    provider_message_id: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    phone: str | None = None
    occurred_at: datetime | None = None
    sent_at: datetime | None = None
    parts: int | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """The same for the same receipt delivered again."""
        return (self.provider, self.message_id or self.provider_message_id or "", self.state.value)

    @property
    def observation(self) -> Receipt:
        """The receipt as the observation `msgkit.core.message.decide` reads."""
        return Receipt(
            report=self.state,
            provider_message_id=self.provider_message_id,
            error_code=self.error_code,
            error=self.error_message,
            source=f"{self.provider} receipt",
        )

    def __repr__(self) -> str:
        return (
            f"DeliveryReceipt(provider={self.provider!r}, state={self.state.value!r}, "
            f"message_id={self.message_id!r}, provider_message_id={self.provider_message_id!r}, "
            f"phone={_shown(self.phone)!r}, error_code={self.error_code!r})"
        )


@attrs.frozen(kw_only=True, repr=False)
class Reply:
    """Someone wrote back.

    Attributes:
        provider: The configured provider name.
        channel: SMS or web chat.
        from_address: Who wrote: an E.164 number, or the web chat contact id.
        text: What they wrote, as written.
        scope: Which sender of ours they answered (SMS signature or extension code,
            our number or messaging service, web chat inbox): an opt-out applies to it.
        received_at: When the provider received it.
        provider_message_id: The provider's id of the reply.
        conversation_id: The web chat conversation, to answer in it.
        phone: The writer's E.164 number when known (a web chat contact may have one).
    """

    provider: str
    channel: Channel = attrs.field(converter=Channel)
    from_address: str
    text: str
    scope: str | None = None
    received_at: datetime | None = None
    provider_message_id: str | None = None
    conversation_id: str | None = None
    phone: str | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """The same for the same reply delivered again."""
        stamp = self.received_at.isoformat() if self.received_at else ""
        return (self.provider, self.from_address, self.provider_message_id or stamp + self.text)

    def __repr__(self) -> str:
        return (
            f"Reply(provider={self.provider!r}, channel={self.channel.value!r}, "
            f"from_address={_shown(self.from_address)!r}, scope={self.scope!r}, "
            f"text={self.text[:20]!r})"
        )


@attrs.frozen(kw_only=True)
class Click:
    """Someone opened a short link.

    Attributes:
        code: The short code.
        param: The per-recipient tracking parameter, when the link has one.
        clicked_at: When.
        user_agent: The browser's ``User-Agent``.
    """

    code: str
    param: str | None = None
    clicked_at: datetime
    user_agent: str | None = None
