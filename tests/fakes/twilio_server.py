"""Just enough of Twilio's Messages API, as an ASGI app, for end-to-end tests.

``POST .../Messages.json`` records the form and answers 201 ``queued`` with a fresh SID;
any GET (a status or list query) answers an empty list. ``sent`` holds each form with
one value per field plus its ``sid``; ``forms`` the same forms with every value of a
repeated field (``MediaUrl``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.asgi import read_body

Message = MutableMapping[str, Any]


class FakeTwilio:
    """Records each message sent; see the module."""

    def __init__(self) -> None:
        self.sent: list[dict[str, str]] = []
        self.forms: list[dict[str, list[str]]] = []

    async def __call__(
        self,
        scope: Message,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        if scope["method"] == "POST":
            form = parse_qs(body.decode())
            sid = "SM" + uuid.uuid4().hex
            self.forms.append(form)
            self.sent.append({**{k: v[0] for k, v in form.items()}, "sid": sid})
            status, answer = 201, {"sid": sid, "status": "queued", "to": form["To"][0]}
        else:
            status, answer = 200, {"messages": []}
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(answer).encode()})
