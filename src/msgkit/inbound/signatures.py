"""Webhook verification: each function returns None or raises `SignatureError`.

Each provider verifies its own webhooks, in its package; they are gathered here, the
paths the documentation promises:

- `verify_line_signature`: `msgkit.providers.line.webhooks`.
- `twilio_signature`, `verify_twilio_signature`: `msgkit.providers.twilio.webhooks`.
- `verify_chatwoot_signature`: `msgkit.providers.chatwoot.webhooks`.
- `verify_token` (Alibaba's secret path token): `msgkit.providers.webhooks`.

Every comparison is constant-time (`hmac.compare_digest`), and no error repeats a secret
or the expected signature.
"""

from __future__ import annotations

from msgkit.providers.chatwoot import verify_chatwoot_signature
from msgkit.providers.line import verify_line_signature
from msgkit.providers.twilio import twilio_signature, verify_twilio_signature
from msgkit.providers.webhooks import verify_token

__all__ = [
    "twilio_signature",
    "verify_chatwoot_signature",
    "verify_line_signature",
    "verify_token",
    "verify_twilio_signature",
]
