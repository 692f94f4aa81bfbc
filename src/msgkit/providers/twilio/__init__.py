"""Twilio SMS: the adapter (`msgkit.providers.twilio.adapter`), its settings
(`msgkit.providers.twilio.settings`).
"""

from __future__ import annotations

from msgkit.providers.twilio.adapter import (
    DEFAULT_BASE_URL,
    MESSAGE_ID_PARAM,
    TwilioSms,
    with_message_id,
)
from msgkit.providers.twilio.settings import TwilioSettings, from_config

__all__ = [
    "DEFAULT_BASE_URL",
    "MESSAGE_ID_PARAM",
    "TwilioSettings",
    "TwilioSms",
    "from_config",
    "with_message_id",
]
