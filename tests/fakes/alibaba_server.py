"""Just enough of Alibaba Cloud's SMS RPC API, as an ASGI app, for end-to-end tests.

``SendSms`` and ``SendBatchSms`` (form POST or query GET) answer ``Code: OK`` with a
fresh ``BizId`` and record the numbers; ``QuerySendDetails`` answers no records; any
other action answers ``Code: OK``. The signature is not checked.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.asgi import read_body

Message = MutableMapping[str, Any]


class FakeAlibaba:
    """Records each request's parameters in ``requests``; see the module."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []

    async def __call__(
        self,
        scope: Message,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        params = dict(parse_qsl(scope["query_string"].decode()))
        params.update(parse_qsl(body.decode()))
        self.requests.append(params)
        answer: dict[str, Any] = {"Code": "OK", "Message": "OK", "RequestId": "r1"}
        if params.get("Action") in ("SendSms", "SendBatchSms"):
            answer["BizId"] = f"{len(self.requests)}^0"
        elif params.get("Action") == "QuerySendDetails":
            answer["SmsSendDetailDTOs"] = {"SmsSendDetailDTO": []}
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": json.dumps(answer).encode()})

    @property
    def numbers(self) -> list[str]:
        """The numbers sent to (as Alibaba got them), one per message."""
        got: list[str] = []
        for params in self.requests:
            if params.get("Action") == "SendSms":
                got.extend(params["PhoneNumbers"].split(","))
            elif params.get("Action") == "SendBatchSms":
                got.extend(json.loads(params["PhoneNumberJson"]))
        return got
