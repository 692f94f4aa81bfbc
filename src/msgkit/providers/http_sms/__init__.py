"""A configurable HTTP SMS gateway: the adapter (`msgkit.providers.http_sms.adapter`),
its settings (`msgkit.providers.http_sms.settings`).

`PROVIDER` is what the registry loads for ``type = "http_sms"``.
"""

from __future__ import annotations

from msgkit.providers.http_sms.adapter import HttpSms
from msgkit.providers.http_sms.settings import HttpSmsSettings, from_config
from msgkit.providers.registry import ProviderType

__all__ = ["PROVIDER", "HttpSms", "HttpSmsSettings", "from_config"]

#: The ``http_sms`` provider type: its factory (it has no webhooks).
PROVIDER = ProviderType(factory=from_config)
