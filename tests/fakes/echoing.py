"""Wrap a fake provider so its first answers are failures that echo the request back.

Providers do echo things: a refused credential comes back in the error body, a 500 page
quotes the request. ``Echoing(app, fail=[500, 401])`` answers the first request with a
500 and the second with a 401, each with a JSON body holding the request's headers,
query string and body; every later request goes to ``app``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from tests.fakes.asgi import read_body

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class Echoing:
    """See the module."""

    def __init__(self, app: Any, fail: Sequence[int]) -> None:
        self.app = app
        self.fail = list(fail)
        self.echoed = 0

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.fail:
            await self.app(scope, receive, send)
            return
        status = self.fail.pop(0)
        body = await read_body(receive)
        heard = {k.decode(): v.decode() for k, v in scope["headers"]}
        said = f"refused: {heard} {scope['query_string'].decode()} {body.decode(errors='replace')}"
        echo = {
            "message": said,
            "Message": said,
            "error": said,
            "Code": "InvalidAccessKeySecret" if status == 401 else None,
        }
        self.echoed += 1
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": json.dumps(echo).encode()})
