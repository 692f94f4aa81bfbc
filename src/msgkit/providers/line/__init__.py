"""LINE notification messages: the adapter (`msgkit.providers.line.adapter`), its
settings (`msgkit.providers.line.settings`), its webhooks
(`msgkit.providers.line.webhooks`).

`PROVIDER` is what the registry loads for ``type = "line"``.
"""

from __future__ import annotations

from msgkit.providers.line.adapter import DEFAULT_BASE_URL, LineNotifications, line_messages
from msgkit.providers.line.settings import LineSettings, from_config
from msgkit.providers.line.webhooks import WEBHOOKS, parse_line_events, verify_line_signature
from msgkit.providers.registry import ProviderType

__all__ = [
    "DEFAULT_BASE_URL",
    "PROVIDER",
    "LineNotifications",
    "LineSettings",
    "from_config",
    "line_messages",
    "parse_line_events",
    "verify_line_signature",
]

#: The ``line`` provider type: its factory and its webhooks.
PROVIDER = ProviderType(factory=from_config, webhooks=WEBHOOKS)
