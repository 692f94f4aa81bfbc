"""What comes back from providers and people: webhooks, verified and parsed, and an ASGI
application that serves them and the short links.

- `verify_line_signature`, `verify_twilio_signature`, `verify_chatwoot_signature`,
  `verify_token`: return None or raise `msgkit.SignatureError`.
- `msgkit.inbound.parsers`: provider bodies into `DeliveryReceipt`, `Reply`, `Click`.
- `InboundApp`: the ASGI application; it hands events to an `InboundSink`.
- `StoreSink`: the `InboundSink` over a store (states, fallbacks, opt-outs, clicks).
"""

from __future__ import annotations

from msgkit.inbound.app import Endpoint, InboundApp, InboundSink, endpoints_from_config
from msgkit.inbound.events import Click, DeliveryReceipt, ReceiptState, Reply
from msgkit.inbound.signatures import (
    twilio_signature,
    verify_chatwoot_signature,
    verify_line_signature,
    verify_token,
    verify_twilio_signature,
)
from msgkit.inbound.sink import REVIEW_PATTERNS, StoreSink, optout_entry

__all__ = [
    "REVIEW_PATTERNS",
    "Click",
    "DeliveryReceipt",
    "Endpoint",
    "InboundApp",
    "InboundSink",
    "ReceiptState",
    "Reply",
    "StoreSink",
    "endpoints_from_config",
    "optout_entry",
    "twilio_signature",
    "verify_chatwoot_signature",
    "verify_line_signature",
    "verify_token",
    "verify_twilio_signature",
]
