"""Mount msgkit's webhook and short-link app inside an ASGI app you already have.

`client.inbound_app(...)` is a plain ASGI application. Here a small hand-written ASGI
app (yours could be Starlette, FastAPI, Django...) sends ``/hooks/...`` and ``/l/...`` to
it and answers everything else itself. The requests are made in-process with
``httpx.ASGITransport``: no server, no network. In production you serve your app with
any ASGI server (uvicorn), or run ``msgkit serve`` for msgkit's app alone.

Run: python examples/mount_webhook_app.py
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path
from typing import Any

import httpx

import msgkit
from msgkit.testing import FakeClock, Simulator, SimulatorProvider

Scope = dict[str, Any]


def with_msgkit(msgkit_app: Any) -> Any:
    """Your app: msgkit answers its own paths, you answer the rest."""

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(("/hooks/", "/l/")):
            await msgkit_app(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": b"my shop's home page"})

    return app


async def main(client: msgkit.Client, gateway: Simulator) -> None:
    app = with_msgkit(client.inbound_app([]))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://go.example.com") as web:
        home = await web.get("/")
        print(f"GET / -> {home.status_code} {home.text}")
        (message,) = gateway.messages.values()
        link = re.search(r"https://go\.example\.com(/l/\S+)", message.text)
        assert link is not None
        clicked = await web.get(link.group(1))
        print(f"GET {link.group(1)} -> {clicked.status_code} to {clicked.headers['location']}")


clock = FakeClock()
gateway = Simulator(clock=clock.now)
with (
    tempfile.TemporaryDirectory() as folder,
    msgkit.Client(
        store=f"sqlite:///{Path(folder) / 'msgkit.db'}",
        providers={"sms": SimulatorProvider("sms", server=gateway)},
        clock=clock,
    ) as client,
):
    members = client.create_list("one", [msgkit.Contact(phone="+886912345678")])
    links = msgkit.ShortLinks(base_url="https://go.example.com/l", secret="s" * 32)
    campaign = client.create_campaign(
        "Spring",
        msgkit.Template(
            body="Spring sale: ${link:shop}", links={"shop": "https://shop.example.com/spring"}
        ),
        audience=members,
        policy=msgkit.SendPolicy(links=links),
    )
    client.start(campaign)
    client.run(progress=False)
    print(f"sent: {next(iter(gateway.messages.values())).text}")
    asyncio.run(main(client, gateway))
    clicks = client.clicks(campaign)
    print(f"clicks recorded: {len(clicks)} on link {clicks[0]['link']!r}")
