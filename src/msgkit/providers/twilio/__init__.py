"""Twilio SMS: the adapter (`msgkit.providers.twilio.adapter`), its settings
(`msgkit.providers.twilio.settings`), its webhooks (`msgkit.providers.twilio.webhooks`).

`PROVIDER` is what the registry loads for ``type = "twilio"``.
"""

from __future__ import annotations

from msgkit.providers.registry import ProviderType
from msgkit.providers.twilio.adapter import (
    DEFAULT_BASE_URL,
    MESSAGE_ID_PARAM,
    TwilioSms,
    with_message_id,
)
from msgkit.providers.twilio.settings import TwilioSettings, from_config
from msgkit.providers.twilio.webhooks import (
    WEBHOOKS,
    parse_twilio_inbound,
    parse_twilio_status,
    twilio_signature,
    verify_twilio_signature,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "MESSAGE_ID_PARAM",
    "PROVIDER",
    "TwilioSettings",
    "TwilioSms",
    "from_config",
    "parse_twilio_inbound",
    "parse_twilio_status",
    "twilio_signature",
    "verify_twilio_signature",
    "with_message_id",
]

#: The ``twilio`` provider type: its factory and its webhooks.
PROVIDER = ProviderType(factory=from_config, webhooks=WEBHOOKS)
