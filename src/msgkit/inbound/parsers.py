"""Provider webhook bodies into typed events. Pure: the time is passed in.

A body that is not the documented shape at all (not JSON, not an array where an array
is due) raises `ProviderError`; an item of it that cannot be read is skipped and logged
(masked), and the others are kept. Unknown fields are ignored, and fields that come as
numbers in some versions and strings in others (Alibaba's ``sequence_id``, ``sms_size``,
``biz_id``) are accepted both ways.

- Alibaba **SmsReport**: ``[{phone_number, send_time, report_time, success, err_code,
  err_msg, sms_size, biz_id, out_id}]``; times are China time. ``out_id`` is our message
  id unless it is a batch mark (``b.``), and the provider id is
  `msgkit.providers.alibaba.message_key` of ``biz_id`` and the number.
- Alibaba **SmsUp**: ``[{phone_number, content, send_time, dest_code, sequence_id,
  sign_name?}]``; the scope is the signature when given, else the extension code.
- Twilio status callbacks (``MessageSid``, ``MessageStatus``, ``ErrorCode``, ``To``; our
  id in the ``msgkit_id`` query parameter) and inbound messages (``From``, ``To``,
  ``Body``, ``MessageSid``, ``MessagingServiceSid``). ``queued``, ``sending``,
  ``accepted`` and ``scheduled`` say nothing new and give no receipt; ``sent`` is a
  receipt ``sent``, ``read`` counts as delivered, ``canceled`` as failed.
- LINE: ``{"destination", "events": [...]}``; ``delivery`` events are receipts (the
  delivery tag is our message id); every other event type is ignored.
- Chatwoot ``message_created`` with ``message_type`` incoming and not private: a reply
  from the contact, scoped to the inbox; every other event is ignored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from msgkit.core.contacts import parse_phone
from msgkit.core.delivery import Channel
from msgkit.exceptions import InvalidPhoneError, ProviderError
from msgkit.inbound.events import Click, DeliveryReceipt, ReceiptState, Reply
from msgkit.providers.alibaba import china_time, message_key, number_to_e164
from msgkit.providers.twilio import MESSAGE_ID_PARAM

__all__ = [
    "parse_alibaba_replies",
    "parse_alibaba_reports",
    "parse_chatwoot_event",
    "parse_click",
    "parse_line_events",
    "parse_twilio_inbound",
    "parse_twilio_status",
]

log = logging.getLogger("msgkit.inbound")

T = TypeVar("T", bound=BaseModel)


def _lenient_text(value: Any) -> Any:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else str(value)
    return value


Text = Annotated[str | None, BeforeValidator(_lenient_text)]


class _Item(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _AlibabaReport(_Item):
    phone_number: Text
    send_time: Text = None
    report_time: Text = None
    success: bool | None = None
    err_code: Text = None
    err_msg: Text = None
    sms_size: int | None = None
    biz_id: Text = None
    out_id: Text = None


class _AlibabaUp(_Item):
    phone_number: Text
    content: Text = None
    send_time: Text = None
    dest_code: Text = None
    sequence_id: Text = None
    sign_name: Text = None


def _json(body: bytes, provider: str, what: str) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ProviderError(
            f"the {what} body is not JSON", provider=provider, hint="is this request from it?"
        ) from None


def _items(body: bytes, model: type[T], provider: str, what: str) -> list[T]:
    data = _json(body, provider, what)
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list):
        raise ProviderError(f"the {what} body is not a JSON array", provider=provider)
    found: list[T] = []
    for index, item in enumerate(data):
        try:
            found.append(model.model_validate(item))
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
            log.warning("%s: skipped item %d of a %s push (%s)", provider, index, what, fields)
    return found


def _our_id(value: str | None) -> str | None:
    """An echoed id is ours unless empty or a batch mark (ids have no ``.``)."""
    return value if value and "." not in value else None


def parse_alibaba_reports(body: bytes, *, provider: str) -> list[DeliveryReceipt]:
    """Alibaba SmsReport pushes.

    Raises:
        ProviderError: The body is not a JSON array (or object).
    """
    receipts = []
    for item in _items(body, _AlibabaReport, provider, "SmsReport"):
        raw = item.phone_number or ""
        delivered = item.success if item.success is not None else item.err_code == "DELIVERED"
        receipts.append(
            DeliveryReceipt(
                provider=provider,
                state=ReceiptState.DELIVERED if delivered else ReceiptState.UNDELIVERED,
                message_id=_our_id(item.out_id),
                provider_message_id=message_key(item.biz_id, raw) if item.biz_id else None,
                error_code=None if delivered else item.err_code,
                error_message=None if delivered else item.err_msg,
                phone=number_to_e164(raw, validate=False),
                occurred_at=china_time(item.report_time),
                sent_at=china_time(item.send_time),
                parts=item.sms_size,
            )
        )
    return receipts


def parse_alibaba_replies(body: bytes, *, provider: str) -> list[Reply]:
    """Alibaba SmsUp pushes (replies to our messages).

    Raises:
        ProviderError: The body is not a JSON array (or object).
    """
    replies = []
    for item in _items(body, _AlibabaUp, provider, "SmsUp"):
        phone = number_to_e164(item.phone_number or "")
        if phone is None:
            log.warning("%s: skipped a reply from an unreadable number", provider)
            continue
        replies.append(
            Reply(
                provider=provider,
                channel=Channel.SMS,
                from_address=phone,
                text=item.content or "",
                scope=item.sign_name or item.dest_code,
                received_at=china_time(item.send_time),
                provider_message_id=item.sequence_id,
                phone=phone,
            )
        )
    return replies


_TWILIO_STATES = {
    "sent": ReceiptState.SENT,
    "delivered": ReceiptState.DELIVERED,
    "read": ReceiptState.DELIVERED,
    "undelivered": ReceiptState.UNDELIVERED,
    "failed": ReceiptState.FAILED,
    "canceled": ReceiptState.FAILED,
}


def _e164(raw: str | None) -> str | None:
    if not raw:
        return None
    try:
        return parse_phone(raw).e164
    except InvalidPhoneError:
        return None


def parse_twilio_status(
    form: Mapping[str, str], query: Mapping[str, str], *, provider: str, now: datetime
) -> list[DeliveryReceipt]:
    """A Twilio status callback: one receipt, or none for a status that says nothing new.

    Args:
        form: The POST parameters (first value of each).
        query: The callback URL's query parameters (``msgkit_id``).
        provider: The configured provider name.
        now: When it arrived (Twilio's callbacks carry no time).
    """
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    state = _TWILIO_STATES.get(status)
    if state is None:
        return []
    failed = state in (ReceiptState.UNDELIVERED, ReceiptState.FAILED)
    return [
        DeliveryReceipt(
            provider=provider,
            state=state,
            message_id=_our_id(query.get(MESSAGE_ID_PARAM)),
            provider_message_id=form.get("MessageSid") or form.get("SmsSid") or None,
            error_code=(form.get("ErrorCode") or None) if failed else None,
            error_message=(form.get("ErrorMessage") or None) if failed else None,
            phone=_e164(form.get("To")),
            occurred_at=now,
        )
    ]


def parse_twilio_inbound(form: Mapping[str, str], *, provider: str, now: datetime) -> list[Reply]:
    """A message someone sent to our Twilio number."""
    phone = _e164(form.get("From"))
    if phone is None:
        log.warning("%s: skipped a Twilio message from an unreadable number", provider)
        return []
    return [
        Reply(
            provider=provider,
            channel=Channel.SMS,
            from_address=phone,
            text=form.get("Body", ""),
            scope=form.get("MessagingServiceSid") or form.get("To") or None,
            received_at=now,
            provider_message_id=form.get("MessageSid") or form.get("SmsMessageSid") or None,
            phone=phone,
        )
    ]


def _epoch(value: Any, scale: float = 1.0) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(value / scale, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return _epoch(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else None


def parse_line_events(body: bytes, *, provider: str) -> list[DeliveryReceipt]:
    """LINE webhook events: ``delivery`` events as receipts, the others ignored.

    Raises:
        ProviderError: The body is not a JSON object with an ``events`` list.
    """
    data = _json(body, provider, "LINE webhook")
    events = data.get("events") if isinstance(data, Mapping) else None
    if not isinstance(events, list):
        raise ProviderError("the LINE webhook has no events list", provider=provider)
    receipts = []
    for event in events:
        if not isinstance(event, Mapping) or event.get("type") != "delivery":
            continue
        delivery = event.get("delivery")
        tag = delivery.get("data") if isinstance(delivery, Mapping) else None
        if not isinstance(tag, str) or not tag:
            log.warning("%s: skipped a LINE delivery event without a tag", provider)
            continue
        receipts.append(
            DeliveryReceipt(
                provider=provider,
                state=ReceiptState.DELIVERED,
                message_id=tag,
                occurred_at=_epoch(event.get("timestamp"), 1000.0),
            )
        )
    return receipts


def _dig(data: Any, *path: str) -> Any:
    for part in path:
        data = data.get(part) if isinstance(data, Mapping) else None
    return data


def _id(value: Any) -> str | None:
    text = _lenient_text(value)
    return text if isinstance(text, str) and text else None


def parse_chatwoot_event(body: bytes, *, provider: str, now: datetime) -> list[Reply]:
    """A Chatwoot webhook: an incoming ``message_created`` is a reply; all else ignored.

    Raises:
        ProviderError: The body is not a JSON object.
    """
    data = _json(body, provider, "Chatwoot webhook")
    if not isinstance(data, Mapping):
        raise ProviderError("the Chatwoot webhook is not a JSON object", provider=provider)
    incoming = data.get("message_type") in ("incoming", 0)
    if data.get("event") != "message_created" or not incoming or data.get("private") is True:
        return []
    sender = data.get("sender")
    if _dig(data, "sender", "type") not in (None, "contact"):
        return []
    contact = _id(_dig(sender, "id")) or _id(
        _dig(data, "conversation", "contact_inbox", "contact_id")
    )
    if contact is None:
        log.warning("%s: skipped a Chatwoot message without a contact", provider)
        return []
    inbox = _id(_dig(data, "inbox", "id")) or _id(_dig(data, "conversation", "inbox_id"))
    content = data.get("content")
    return [
        Reply(
            provider=provider,
            channel=Channel.WEBCHAT,
            from_address=contact,
            text=content if isinstance(content, str) else "",
            scope=inbox,
            received_at=_iso(data.get("created_at")) or now,
            provider_message_id=_id(data.get("id")),
            conversation_id=_id(_dig(data, "conversation", "id")),
            phone=_e164(_dig(sender, "phone_number")),
        )
    ]


def parse_click(
    code: str, query: Mapping[str, str], *, now: datetime, user_agent: str | None = None
) -> Click:
    """A short-link click: ``GET /l/{code}?p={param}``."""
    return Click(code=code, param=query.get("p") or None, clicked_at=now, user_agent=user_agent)
