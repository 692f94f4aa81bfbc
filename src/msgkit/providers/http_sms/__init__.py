"""A configurable HTTP SMS gateway: the adapter (`msgkit.providers.http_sms.adapter`),
its settings (`msgkit.providers.http_sms.settings`).
"""

from __future__ import annotations

from msgkit.providers.http_sms.adapter import HttpSms
from msgkit.providers.http_sms.settings import HttpSmsSettings, from_config

__all__ = ["HttpSms", "HttpSmsSettings", "from_config"]
