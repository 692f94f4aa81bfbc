"""Alibaba Cloud SMS: the adapter (`msgkit.providers.alibaba.adapter`), its settings
(`msgkit.providers.alibaba.settings`), its webhooks
(`msgkit.providers.alibaba.webhooks`).

`PROVIDER` is what the registry loads for ``type = "alibaba"``.
"""

from __future__ import annotations

from msgkit.providers.alibaba.adapter import (
    API_VERSION,
    DEFAULT_BASE_URL,
    AlibabaSms,
    ReviewResult,
    china_time,
    message_key,
    number_key,
    number_to_e164,
    percent_encode,
    rpc_signature,
)
from msgkit.providers.alibaba.settings import AlibabaSettings, from_config
from msgkit.providers.alibaba.webhooks import WEBHOOKS, parse_alibaba_replies, parse_alibaba_reports
from msgkit.providers.registry import ProviderType

__all__ = [
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "PROVIDER",
    "AlibabaSettings",
    "AlibabaSms",
    "ReviewResult",
    "china_time",
    "from_config",
    "message_key",
    "number_key",
    "number_to_e164",
    "parse_alibaba_replies",
    "parse_alibaba_reports",
    "percent_encode",
    "rpc_signature",
]

#: The ``alibaba`` provider type: its factory and its webhooks.
PROVIDER = ProviderType(factory=from_config, webhooks=WEBHOOKS)
