"""LINE webhooks: the signature, and ``delivery`` events as receipts. Pure: no I/O.

``x-line-signature`` = base64(HMAC-SHA256(channel secret, raw body)), compared in constant
time. The body is ``{"destination", "events": [...]}``; ``delivery`` events are receipts
(the delivery tag is our message id); every other event type is ignored. Served at
``POST /hooks/NAME``, answered 200.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Mapping

from msgkit.core.events import DeliveryReceipt, ReceiptState
from msgkit.exceptions import ProviderError, SignatureError
from msgkit.providers.line.settings import LineSettings
from msgkit.providers.webhooks import (
    WebhookRoute,
    Webhooks,
    epoch,
    read_json,
    same_secret,
)

__all__ = ["WEBHOOKS", "parse_line_events", "verify_line_signature"]

log = logging.getLogger("msgkit.inbound")


def verify_line_signature(body: bytes, signature: str, channel_secret: str) -> None:
    """Check a LINE webhook's ``x-line-signature`` against its raw body.

    Raises:
        SignatureError: When it does not match.
    """
    digest = hmac.new(channel_secret.encode("utf-8"), body, hashlib.sha256).digest()
    if not same_secret(signature.strip(), base64.b64encode(digest)):
        raise SignatureError(
            "the LINE signature does not match the body",
            hint="check the channel secret; verify the raw body, before any parsing",
        )


def parse_line_events(body: bytes, *, provider: str) -> list[DeliveryReceipt]:
    """LINE webhook events: ``delivery`` events as receipts, the others ignored.

    Raises:
        ProviderError: The body is not a JSON object with an ``events`` list.
    """
    data = read_json(body, provider, "LINE webhook")
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
                occurred_at=epoch(event.get("timestamp"), 1000.0),
            )
        )
    return receipts


#: The webhooks of ``type = "line"``: the channel secret from ``channel_secret_env``.
WEBHOOKS = Webhooks(
    settings=LineSettings,
    secret_setting="channel_secret_env",  # noqa: S106 (a setting name)
    routes=(
        WebhookRoute(
            path="",
            verify=lambda r: verify_line_signature(r.body, r.header("x-line-signature"), r.secret),
            parse=lambda r: parse_line_events(r.body, provider=r.provider),
        ),
    ),
)
