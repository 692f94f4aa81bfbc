"""Chatwoot web chat: the adapter (`msgkit.providers.chatwoot.adapter`), its settings
(`msgkit.providers.chatwoot.settings`).
"""

from __future__ import annotations

from msgkit.providers.chatwoot.adapter import DEFAULT_BASE_URL, ChatwootWebChat
from msgkit.providers.chatwoot.settings import ChatwootSettings, from_config

__all__ = ["DEFAULT_BASE_URL", "ChatwootSettings", "ChatwootWebChat", "from_config"]
