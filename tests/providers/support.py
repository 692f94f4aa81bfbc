"""Builders shared by the provider tests: adapters with fixed clocks, messages, a runner."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

import httpx

from msgkit.providers.alibaba import AlibabaSms
from msgkit.providers.base import OutboundMessage, Provider, SendResult
from msgkit.providers.chatwoot import ChatwootWebChat
from msgkit.providers.http_sms import HttpSms, HttpSmsSettings
from msgkit.providers.line import LineNotifications
from msgkit.providers.transport import send_batch
from msgkit.providers.twilio import TwilioSms

T = TypeVar("T")

NOW = datetime(2026, 3, 1, 4, 0, tzinfo=timezone.utc)
#: Every adapter under test gets this secret; no error, repr or URL may show it.
SECRET = "sEcReT-7f3a9c1e5b2d4f60"


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion."""
    return asyncio.run(coro)


def message(index: int = 0, **fields: Any) -> OutboundMessage:
    """An SMS message to a mainland China number, with a template code."""
    values: dict[str, Any] = {
        "id": f"msg-{index:016d}",
        "channel": "sms",
        "to": f"+861380013{index:04d}",
        "text": f"您的验证码是{index}",
        "template_code": "SMS_15305",
        "params": {"code": str(index)},
    }
    values.update(fields)
    return OutboundMessage(**values)


def alibaba(**kwargs: Any) -> AlibabaSms:
    """The Alibaba adapter with a fixed clock and nonce."""
    defaults: dict[str, Any] = {
        "access_key_id": "LTAI-test-id",
        "access_key_secret": SECRET,
        "sign_name": "阿里云",
        "clock": lambda: NOW,
        "nonce": lambda: "nonce-1",
    }
    defaults.update(kwargs)
    return AlibabaSms("ali", **defaults)


def twilio(**kwargs: Any) -> TwilioSms:
    """The Twilio adapter with a fixed clock."""
    defaults: dict[str, Any] = {
        "account_sid": "AC0123456789abcdef0123456789abcdef",
        "auth_token": SECRET,
        "sender": "+14155550100",
        "status_callback": "https://hooks.example.com/hooks/tw/status",
        "clock": lambda: NOW,
    }
    defaults.update(kwargs)
    return TwilioSms("tw", **defaults)


def line(**kwargs: Any) -> LineNotifications:
    """The LINE adapter."""
    return LineNotifications("line", channel_access_token=SECRET, **kwargs)


def http_sms(**settings: Any) -> HttpSms:
    """A configured HTTP gateway."""
    values: dict[str, Any] = {
        "type": "http_sms",
        "base_url": "https://gw.example.com",
        "path": "/v1/send",
        "body": {"to": "{to}", "text": "{text}", "ref": "{id}"},
        "message_id_path": "data.id",
        "error_code_path": "error.code",
        "error_message_path": "error.message",
        "retry_codes": ["BUSY"],
        "account_codes": ["NO_CREDIT"],
        "opt_out_codes": ["UNSUBSCRIBED"],
    }
    values.update(settings)
    return HttpSms("gw", HttpSmsSettings.model_validate(values), SECRET)


def chatwoot(**kwargs: Any) -> ChatwootWebChat:
    """The Chatwoot adapter for account 7, inbox 3."""
    defaults: dict[str, Any] = {
        "account_id": 7,
        "inbox_id": 3,
        "api_access_token": SECRET,
        "base_url": "https://chat.example.com",
    }
    defaults.update(kwargs)
    return ChatwootWebChat("chat", **defaults)


def web_message(index: int = 0, **fields: Any) -> OutboundMessage:
    """A web chat message to Chatwoot contact 42."""
    values: dict[str, Any] = {
        "id": f"web-{index:016d}",
        "channel": "webchat",
        "to": "42",
        "text": "Hello 👋 see our offer 🎉",
    }
    values.update(fields)
    return OutboundMessage(**values)


def line_message(index: int = 0, **fields: Any) -> OutboundMessage:
    """A LINE message to a Japanese number."""
    values: dict[str, Any] = {
        "id": f"line-{index:016d}",
        "channel": "line",
        "to": "+818012341234",
        "text": "ご注文の商品を発送しました",
    }
    values.update(fields)
    return OutboundMessage(**values)


def sms_message(index: int = 0, **fields: Any) -> OutboundMessage:
    """A plain SMS to a US number (third-party platforms)."""
    values: dict[str, Any] = {
        "id": f"sms-{index:016d}",
        "channel": "sms",
        "to": f"+1415555{index:04d}",
        "text": "Your order shipped",
    }
    values.update(fields)
    return OutboundMessage(**values)


def send(provider: Provider, batch: Sequence[OutboundMessage]) -> list[SendResult]:
    """Build and perform a batch with an httpx client (mock it with respx)."""

    async def go() -> list[SendResult]:
        async with httpx.AsyncClient() as client:
            return await send_batch(provider, batch, client)

    return run(go())


def form(request: httpx.Request) -> dict[str, list[str]]:
    """A form-encoded request body, parsed."""
    from urllib.parse import parse_qs

    return parse_qs(request.content.decode("utf-8"), keep_blank_values=True)
