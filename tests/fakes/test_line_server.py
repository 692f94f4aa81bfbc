"""The fake LINE server speaks what the LINE adapter sends, and feeds the inbound app."""

from __future__ import annotations

import asyncio

import httpx

from msgkit.inbound import Endpoint, InboundApp, ReceiptState
from msgkit.providers.base import OutboundMessage, Outcome, SendResult
from msgkit.providers.line import LineNotifications
from msgkit.providers.transport import send_batch
from tests.fakes.line_server import FakeLineServer
from tests.fakes.sink import MemorySink

REACHABLE = "+818011110000"
NOT_ON_LINE = "+818022220000"
THROTTLED = "+818033330000"
SILENT = "+818044440000"


def _message(index: int, to: str) -> OutboundMessage:
    return OutboundMessage(id=f"line-{index:016d}", channel="line", to=to, text="お届け予定です")


def test_a_line_campaign_against_the_fake_server() -> None:
    """200/422/429 per number; delivery webhooks only for the delivered, posted signed."""
    line = FakeLineServer(answers={NOT_ON_LINE: 422, THROTTLED: 429}, undelivered={SILENT})
    adapter = LineNotifications("line", channel_access_token=line.token, base_url=line.url)
    sink = MemorySink()
    inbound = InboundApp(sink, [Endpoint(name="line", kind="line", secret=line.channel_secret)])
    batch = [_message(i, to) for i, to in enumerate([REACHABLE, NOT_ON_LINE, THROTTLED, SILENT])]

    async def go() -> list[SendResult]:
        api = httpx.AsyncClient(transport=httpx.ASGITransport(app=line), base_url=line.url)
        hooks = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=inbound), base_url="https://hooks.test"
        )
        async with api, hooks:
            found = []
            for message in batch:
                found.extend(await send_batch(adapter, [message], api))
            response = await line.deliver(hooks, "/hooks/line")
            assert response is not None
            assert response.status_code == 200
            assert await line.deliver(hooks, "/hooks/line") is None
        return found

    results = asyncio.run(go())
    outcomes = {r.message_id: (r.outcome, r.fallback_now) for r in results}
    assert outcomes == {
        "line-0000000000000000": (Outcome.ACCEPTED, False),
        "line-0000000000000001": (Outcome.FAILED, True),
        "line-0000000000000002": (Outcome.RETRY, False),
        "line-0000000000000003": (Outcome.ACCEPTED, False),
    }
    assert [p.status for p in line.pushes] == [200, 422, 429, 200]
    assert all(p.tag and len(p.tag) >= 16 for p in line.pushes)
    (receipt,) = sink.receipts_seen
    assert (receipt.message_id, receipt.state) == ("line-0000000000000000", ReceiptState.DELIVERED)


def test_the_fake_refuses_what_line_refuses() -> None:
    """A wrong token is 401, a retry key 400, a short tag 400."""
    line = FakeLineServer()

    async def go() -> list[int]:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=line), base_url=line.url
        ) as client:
            body = {"to": "x", "messages": [{"type": "text", "text": "t"}]}
            bearer = {"authorization": f"Bearer {line.token}"}
            return [
                (await client.post("/bot/pnp/push", json=body)).status_code,
                (
                    await client.post(
                        "/bot/pnp/push", json=body, headers={**bearer, "x-line-retry-key": "k"}
                    )
                ).status_code,
                (
                    await client.post(
                        "/bot/pnp/push", json=body, headers={**bearer, "x-line-delivery-tag": "s"}
                    )
                ).status_code,
                (await client.post("/bot/pnp/push", json=body, headers=bearer)).status_code,
            ]

    assert asyncio.run(go()) == [401, 400, 400, 200]
