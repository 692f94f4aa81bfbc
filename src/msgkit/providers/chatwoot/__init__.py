"""Chatwoot web chat: the adapter (`msgkit.providers.chatwoot.adapter`), its settings
(`msgkit.providers.chatwoot.settings`), its webhooks
(`msgkit.providers.chatwoot.webhooks`).

`PROVIDER` is what the registry loads for ``type = "webchat"``.
"""

from __future__ import annotations

from msgkit.providers.chatwoot.adapter import DEFAULT_BASE_URL, ChatwootWebChat
from msgkit.providers.chatwoot.settings import ChatwootSettings, from_config
from msgkit.providers.chatwoot.webhooks import (
    WEBHOOKS,
    parse_chatwoot_event,
    verify_chatwoot_signature,
)
from msgkit.providers.registry import ProviderType

__all__ = [
    "DEFAULT_BASE_URL",
    "PROVIDER",
    "ChatwootSettings",
    "ChatwootWebChat",
    "from_config",
    "parse_chatwoot_event",
    "verify_chatwoot_signature",
]

#: The ``webchat`` provider type: its factory and its webhooks.
PROVIDER = ProviderType(factory=from_config, webhooks=WEBHOOKS)
