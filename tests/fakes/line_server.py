"""A fake LINE Messaging API server (ASGI) for end-to-end tests of the LINE fallback.

It speaks ``POST /bot/pnp/push`` as LINE does: bearer token checked, ``to`` a SHA-256
hash, ``X-Line-Delivery-Tag`` 16–100 characters, no ``X-Line-Retry-Key`` accepted. Each
number can be told how to answer (200, 422 not reachable, 429 rate limited, 500), and
whether its pushes are delivered. It records every push, and builds the signed
``delivery`` webhooks LINE would send for the delivered ones — to post to msgkit's
`InboundApp` — so a test can have some numbers never delivered::

    line = FakeLineServer(answers={"+818011112222": 422}, undelivered={"+818033334444"})
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=line), base_url=line.url)
    ...  # send with LineNotifications(base_url=line.url)
    await line.deliver(hooks_client, "/hooks/line")
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

import attrs
import httpx

from msgkit.core.contacts import line_hash
from tests.fakes.asgi import read_body

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


@attrs.frozen
class Push:
    """One push LINE accepted or refused."""

    to: str
    tag: str | None
    messages: list[dict[str, Any]]
    status: int


class FakeLineServer:
    """The fake LINE API.

    Args:
        token: The channel access token it accepts.
        channel_secret: The secret its webhooks are signed with.
        answers: E.164 number → HTTP status for pushes to it (default 200).
        undelivered: Numbers whose accepted pushes never get a delivery event.
        url: The base URL clients use.
    """

    def __init__(
        self,
        *,
        token: str = "line-test-token",
        channel_secret: str = "line-test-secret",
        answers: Mapping[str, int] | None = None,
        undelivered: Iterable[str] = (),
        url: str = "https://api.line.test",
    ) -> None:
        self.token = token
        self.channel_secret = channel_secret
        self.url = url
        self._answers = {line_hash(number): status for number, status in (answers or {}).items()}
        self._undelivered = {line_hash(number) for number in undelivered}
        self.pushes: list[Push] = []
        self._pending: list[str] = []

    def answer(self, number: str, status: int) -> None:
        """From now on, answer pushes to ``number`` with ``status``."""
        self._answers[line_hash(number)] = status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one request."""
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        status, answer = self._push(scope, headers, body)
        payload = json.dumps(answer).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"x-line-request-id", f"req-{len(self.pushes)}".encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    def _push(
        self, scope: Scope, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, dict[str, Any]]:
        if (scope["method"], scope["path"]) != ("POST", "/bot/pnp/push"):
            return 404, {"message": "Not found"}
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {
                "message": "Authentication failed. Confirm that the access token is valid."
            }
        if "x-line-retry-key" in headers:
            return 400, {"message": "The retry key is not supported by this endpoint"}
        tag = headers.get("x-line-delivery-tag")
        if tag is not None and not 16 <= len(tag) <= 100:
            return 400, {"message": "Invalid delivery tag"}
        try:
            data = json.loads(body)
            to, messages = data["to"], data["messages"]
        except (ValueError, KeyError, TypeError):
            return 400, {"message": "The request body has 1 error(s)"}
        if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
            return 400, {"message": "Size must be between 1 and 5"}
        status = self._answers.get(to, 200)
        self.pushes.append(Push(to=to, tag=tag, messages=messages, status=status))
        if status == 200:
            if tag is not None and to not in self._undelivered:
                self._pending.append(tag)
            return 200, {}
        messages_by_status = {
            422: "Failed to send messages",
            429: "Too many requests",
            500: "Internal server error",
        }
        return status, {"message": messages_by_status.get(status, "Error")}

    def delivery_webhook(self, tags: Iterable[str]) -> tuple[bytes, dict[str, str]]:
        """The body and headers of the signed webhook LINE sends for these deliveries."""
        events = [
            {
                "type": "delivery",
                "delivery": {"data": tag},
                "mode": "active",
                "timestamp": 1772337600000 + index,
                "webhookEventId": f"01FAKE{index:020d}",
                "deliveryContext": {"isRedelivery": False},
            }
            for index, tag in enumerate(tags)
        ]
        body = json.dumps({"destination": "U0fake", "events": events}).encode()
        digest = hmac.new(self.channel_secret.encode(), body, hashlib.sha256).digest()
        return body, {
            "content-type": "application/json",
            "x-line-signature": base64.b64encode(digest).decode(),
        }

    async def deliver(self, client: httpx.AsyncClient, path: str) -> httpx.Response | None:
        """Post the delivery events of every delivered push so far to ``path``, once."""
        if not self._pending:
            return None
        tags, self._pending = self._pending, []
        body, headers = self.delivery_webhook(tags)
        return await client.post(path, content=body, headers=headers)
