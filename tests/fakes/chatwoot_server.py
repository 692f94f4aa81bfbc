"""Just enough of Chatwoot's API, as an ASGI app, for end-to-end tests.

A contact's conversations: none; creating a conversation answers a fresh id; posting a
message records it (``posted``: conversation path, content) and answers a fresh id.
The ``api_access_token`` header is checked against ``token`` (401 otherwise).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from tests.fakes.asgi import read_body

Message = MutableMapping[str, Any]


class FakeChatwoot:
    """See the module."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.posted: list[tuple[str, str]] = []
        self.conversations = 0

    async def __call__(
        self,
        scope: Message,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        path: str = scope["path"]
        headers = dict(scope["headers"])
        status, answer = 200, {}
        if headers.get(b"api_access_token", b"").decode() != self.token:
            status, answer = 401, {"error": "Invalid Access Token"}
        elif scope["method"] == "GET" and path.endswith("/conversations"):
            answer = {"payload": []}
        elif path.endswith("/conversations"):
            self.conversations += 1
            answer = {"id": self.conversations}
        elif path.endswith("/messages"):
            self.posted.append((path, json.loads(body)["content"]))
            answer = {"id": len(self.posted)}
        headers_out = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers_out})
        await send({"type": "http.response.body", "body": json.dumps(answer).encode()})
