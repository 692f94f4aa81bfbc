"""Chatwoot webhooks: the signature, and incoming messages as replies. Pure: no I/O.

``X-Chatwoot-Signature`` = ``sha256=`` + hex(HMAC-SHA256(webhook secret,
``"{timestamp}.{raw body}"``)), with the Unix time in ``X-Chatwoot-Timestamp``; requests
older than the tolerance (5 minutes) are refused, so a captured request cannot be
replayed later. This scheme is the one described by Chatwoot's webhook guide as quoted by
several integrations; it was not checked against Chatwoot's own source here (its older
releases sign nothing: serve those behind a path token).

A ``message_created`` with ``message_type`` incoming and not private is a reply from the
contact, scoped to the inbox; every other event is ignored. Served at
``POST /hooks/NAME``, answered 200.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from msgkit.core.delivery import Channel
from msgkit.core.events import Reply
from msgkit.exceptions import ProviderError, SignatureError
from msgkit.providers.chatwoot.settings import ChatwootSettings
from msgkit.providers.common import dig
from msgkit.providers.webhooks import (
    WebhookRequest,
    WebhookRoute,
    Webhooks,
    e164_or_none,
    epoch,
    lenient_text,
    read_json,
    same_secret,
)

__all__ = ["WEBHOOKS", "parse_chatwoot_event", "verify_chatwoot_signature"]

log = logging.getLogger("msgkit.inbound")


def verify_chatwoot_signature(
    body: bytes,
    signature: str,
    timestamp: str,
    secret: str,
    *,
    now: datetime | None = None,
    tolerance: float = 300.0,
) -> None:
    """Check a Chatwoot webhook's ``X-Chatwoot-Signature`` and its timestamp.

    Args:
        body: The raw body.
        signature: ``X-Chatwoot-Signature`` (``sha256=<hex>``).
        timestamp: ``X-Chatwoot-Timestamp`` (Unix seconds).
        secret: The webhook's secret.
        now: The current time (aware); the clock when omitted.
        tolerance: How old (or early) a request may be, in seconds.

    Raises:
        SignatureError: A wrong signature, or a timestamp outside the tolerance.
    """
    try:
        sent = float(timestamp.strip())
    except ValueError:
        raise SignatureError(
            "the Chatwoot timestamp is not a number", hint="is this request from Chatwoot?"
        ) from None
    current = (now or datetime.now(timezone.utc)).timestamp()
    if not abs(current - sent) <= tolerance:
        raise SignatureError(
            "the Chatwoot request is too old or from the future",
            hint="a replayed request, or a clock off: synchronise the clocks (NTP)",
        )
    message = timestamp.strip().encode("ascii") + b"." + body
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    if not same_secret(signature.strip().lower(), expected):
        raise SignatureError(
            "the Chatwoot signature does not match",
            hint="check the webhook secret; verify the raw body, before any parsing",
        )


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return epoch(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else None


def _id(value: Any) -> str | None:
    text = lenient_text(value)
    return text if isinstance(text, str) and text else None


def parse_chatwoot_event(body: bytes, *, provider: str, now: datetime) -> list[Reply]:
    """A Chatwoot webhook: an incoming ``message_created`` is a reply; all else ignored.

    Raises:
        ProviderError: The body is not a JSON object.
    """
    data = read_json(body, provider, "Chatwoot webhook")
    if not isinstance(data, Mapping):
        raise ProviderError("the Chatwoot webhook is not a JSON object", provider=provider)
    incoming = data.get("message_type") in ("incoming", 0)
    if data.get("event") != "message_created" or not incoming or data.get("private") is True:
        return []
    sender = data.get("sender")
    if dig(data, "sender.type") not in (None, "contact"):
        return []
    contact = _id(dig(sender, "id")) or _id(dig(data, "conversation.contact_inbox.contact_id"))
    if contact is None:
        log.warning("%s: skipped a Chatwoot message without a contact", provider)
        return []
    inbox = _id(dig(data, "inbox.id")) or _id(dig(data, "conversation.inbox_id"))
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
            conversation_id=_id(dig(data, "conversation.id")),
            phone=e164_or_none(dig(sender, "phone_number")),
        )
    ]


def _verify(request: WebhookRequest) -> None:
    verify_chatwoot_signature(
        request.body,
        request.header("x-chatwoot-signature"),
        request.header("x-chatwoot-timestamp"),
        request.secret,
        now=request.now,
    )


#: The webhooks of ``type = "webchat"``: the secret from ``webhook_secret_env``.
WEBHOOKS = Webhooks(
    settings=ChatwootSettings,
    secret_setting="webhook_secret_env",  # noqa: S106 (a setting name)
    routes=(
        WebhookRoute(
            path="",
            verify=_verify,
            parse=lambda r: parse_chatwoot_event(r.body, provider=r.provider, now=r.now),
        ),
    ),
)
