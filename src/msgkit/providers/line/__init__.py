"""LINE notification messages: the adapter (`msgkit.providers.line.adapter`), its settings
(`msgkit.providers.line.settings`).
"""

from __future__ import annotations

from msgkit.providers.line.adapter import DEFAULT_BASE_URL, LineNotifications, line_messages
from msgkit.providers.line.settings import LineSettings, from_config

__all__ = ["DEFAULT_BASE_URL", "LineNotifications", "LineSettings", "from_config", "line_messages"]
