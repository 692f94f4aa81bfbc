"""Alibaba Cloud SMS: the adapter (`msgkit.providers.alibaba.adapter`), its settings
(`msgkit.providers.alibaba.settings`).
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

__all__ = [
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "AlibabaSettings",
    "AlibabaSms",
    "ReviewResult",
    "china_time",
    "from_config",
    "message_key",
    "number_key",
    "number_to_e164",
    "percent_encode",
    "rpc_signature",
]
