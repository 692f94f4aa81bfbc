"""LINE notification messages (phone-number push, "PNP"), sans-IO.

One request per message: ``POST /bot/pnp/push`` with ``Authorization: Bearer <channel
access token>`` and ``{"to": <hashed number>, "messages": [...]}``. ``to`` is
`msgkit.contacts.line_hash` of the E.164 number; ``X-Line-Delivery-Tag`` is our message
id (16–100 characters), which the ``delivery`` webhook event gives back. The API takes no
retry key, so msgkit never sends ``X-Line-Retry-Key`` and de-duplicates itself.

Messages are built from the rendered text: a text message, then an image message per
media URL (``options["preview_url"]`` for the preview, else the image itself), then a
flex message from ``options["flex"]`` (its ``contents``; ``options["alt_text"]`` or the
text is the alternative text). ``options["line_messages"]`` replaces all of them with
message objects given as they are. At most 5.

Answers: 200 accepted (the ``x-line-request-id`` header is the provider id; accepted is
not delivered: no delivery event within the campaign's wait means fall back to SMS);
422 this number cannot be reached by LINE — failed, fall back at once; 429 rate limited —
retry, unless the body says the monthly limit is reached, which is the account's; 401
and 403 the account's; 400 failed; 5xx unknown (the request may have been processed and
cannot be repeated safely).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx

from msgkit.core.contacts import line_hash
from msgkit.core.delivery import Channel
from msgkit.exceptions import RejectedError
from msgkit.providers import content
from msgkit.providers.base import (
    Capabilities,
    OutboundMessage,
    Outcome,
    SendRequest,
    SendResult,
)
from msgkit.providers.common import (
    NoStatusQuery,
    dig,
    e164_address,
    error_results,
    http_failure,
    json_body,
    prepared_request,
    results,
    text_or_none,
)

#: Where LINE notification messages are offered (wire.md): Japan, Thailand, Taiwan.
REGIONS = frozenset({"JP", "TH", "TW"})

__all__ = ["DEFAULT_BASE_URL", "LineNotifications", "line_messages"]

DEFAULT_BASE_URL = "https://api.line.me"
MAX_MESSAGES = 5
MAX_TEXT = 5000


def line_messages(message: OutboundMessage) -> list[dict[str, Any]]:
    """The LINE message objects for one message (see the module docstring)."""
    given = message.options.get("line_messages")
    if given is not None:
        return [dict(m) for m in given]
    built: list[dict[str, Any]] = []
    if message.text:
        built.append({"type": "text", "text": message.text})
    preview = message.options.get("preview_url")
    for url in message.media:
        built.append(
            {"type": "image", "originalContentUrl": url, "previewImageUrl": preview or url}
        )
    flex = message.options.get("flex")
    if flex is not None:
        alt = str(message.options.get("alt_text") or message.text or "")[:400]
        built.append({"type": "flex", "altText": alt, "contents": flex})
    return built


class LineNotifications(NoStatusQuery):
    """The LINE notification-message adapter.

    Args:
        name: The configured provider name.
        channel_access_token: The channel access token (never shown).
        base_url: The API host.
        notification_disabled: Deliver silently (no push notification sound).
    """

    def __init__(
        self,
        name: str = "line",
        *,
        channel_access_token: str,
        base_url: str = DEFAULT_BASE_URL,
        notification_disabled: bool = False,
    ) -> None:
        self.name = name
        self.capabilities = Capabilities(
            channel=Channel.LINE,
            max_batch=1,
            content=content.LINE,
            rate_per_second=2000.0,
            idempotent=False,
            status_query=False,
            delivery_receipts=True,
            max_text=MAX_TEXT,
            regions=REGIONS,
        )
        self._token = channel_access_token
        # Parsed once: httpx parses a URL given as text on every request it builds.
        self._url = httpx.URL(base_url.rstrip("/") + "/bot/pnp/push")
        self._silent = notification_disabled
        self._headers = (
            (b"Authorization", f"Bearer {channel_access_token}".encode()),
            (b"Content-Type", b"application/json"),
        )

    def __repr__(self) -> str:
        return f"LineNotifications(name={self.name!r}, token=***)"

    def _reject(self, message: OutboundMessage, why: str, hint: str) -> RejectedError:
        return RejectedError(f"message {message.id}: {why}", provider=self.name, hint=hint)

    def build_send(self, batch: Sequence[OutboundMessage]) -> list[SendRequest]:
        """One push per message.

        Raises:
            RejectedError: A number not in E.164, a message id that is not a valid
                delivery tag, no message objects, or more than 5.
        """
        return [self._push(message) for message in batch]

    def _push(self, message: OutboundMessage) -> SendRequest:
        to = line_hash(e164_address(message, self.name))
        if not 16 <= len(message.id) <= 100:
            raise self._reject(
                message,
                "its id cannot be a LINE delivery tag (16 to 100 characters)",
                "message ids are 16 to 64 characters",
            )
        messages = line_messages(message)
        if not 1 <= len(messages) <= MAX_MESSAGES:
            raise self._reject(
                message,
                f"{len(messages)} LINE messages; a push takes 1 to {MAX_MESSAGES}",
                "send fewer images, or split the content",
            )
        body = {"to": to, "messages": messages, "notificationDisabled": self._silent}
        request = prepared_request(
            "POST",
            self._url,
            (*self._headers, (b"X-Line-Delivery-Tag", message.id.encode("utf-8"))),
            json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8"),
        )
        return SendRequest(request=request, message_ids=(message.id,))

    def parse_send(self, sent: SendRequest, response: httpx.Response) -> list[SendResult]:
        """One result; never raises, whatever the answer."""
        status = response.status_code
        request_id = response.headers.get("x-line-request-id")
        body = json_body(response)
        detail = text_or_none(dig(body, "message")) or f"HTTP {status}"
        facts: dict[str, Any] = {"provider": self.name, "status": status, "request_id": request_id}
        if 200 <= status < 300:
            return results(sent, Outcome.ACCEPTED, provider_ids={sent.message_ids[0]: request_id})
        if status == 422:
            return error_results(
                sent,
                Outcome.FAILED,
                f"LINE cannot deliver to this number: {detail}",
                hint="not a LINE user, country not covered, or consent off: "
                "the SMS fallback is sent at once",
                fallback_now=True,
                **facts,
            )
        if status == 429 and "monthly limit" in detail.lower():
            return error_results(
                sent,
                Outcome.ACCOUNT,
                f"LINE: {detail}",
                hint="the channel's monthly message limit is reached: raise it in the "
                "LINE Official Account Manager",
                **facts,
            )
        if status == 400:
            return error_results(
                sent, Outcome.FAILED, f"LINE refused the message: {detail}", **facts
            )
        return http_failure(
            sent,
            response,
            provider=self.name,
            idempotent=False,
            what="LINE push",
            request_id=request_id,
        )
