"""No secret and no full phone number in any log line, DEBUG included: a campaign sent
through an HTTP gateway that takes its key and the number in the query string."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import pytest

import msgkit
from msgkit.testing import FakeClock
from tests.e2e.conftest import tw_e164, tw_numbers
from tests.http_server import serve

Message = MutableMapping[str, Any]
KEY = "gw-key-93b1c4d7e2"


class QueryGateway:
    """An SMS gateway taking ``GET /send?key=…&to=…&text=…``; records what it got."""

    def __init__(self) -> None:
        self.got: list[dict[str, str]] = []

    async def __call__(
        self,
        scope: Message,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        query = {k: v[0] for k, v in parse_qs(scope["query_string"].decode()).items()}
        self.got.append(query)
        status = 200 if query.get("key") == KEY else 401
        body = json.dumps({"id": f"g{len(self.got)}"}).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def test_a_get_gateway_leaves_no_key_and_no_number_in_the_logs(
    db: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """With DEBUG logging on, the key and the numbers in the query string are not logged."""
    numbers = [tw_e164(n) for n in tw_numbers(3)]
    gateway = QueryGateway()
    caplog.set_level(logging.DEBUG)
    with serve(gateway) as url:
        config = {
            "providers": {
                "gw": {
                    "type": "http_sms",
                    "base_url": url,
                    "path": "/send",
                    "method": "GET",
                    "body": {"key": "{secret}", "to": "{to}", "text": "{text}"},
                    "secret_env": "GW_KEY",
                    "auth_header": "",
                }
            }
        }
        client = msgkit.Client(store=db, clock=clock, config=config, env={"GW_KEY": KEY})
        members = client.create_list("m", [msgkit.Contact(phone=n) for n in numbers])
        campaign = client.create_campaign("Hi", "Hi there", audience=members, provider="gw")
        client.start(campaign)
        client.run(progress=False)
    assert sorted(g["to"] for g in gateway.got) == sorted(numbers)  # really sent, with the key
    assert client.progress(campaign).sent == len(numbers)
    client.close()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert KEY not in logged
    for number in numbers:
        assert number not in logged
        assert number.lstrip("+") not in logged
