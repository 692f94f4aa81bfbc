"""The ASGI InboundApp with a StoreSink over a real SQLite file, over HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from msgkit.core.delivery import Channel, MessageEvent, MessageState
from msgkit.inbound import InboundApp, StoreSink, twilio_signature
from msgkit.providers.alibaba import message_key
from msgkit.store import Change, SQLiteStore
from tests.factories import Planned, running
from tests.inbound.payloads import LINE_WEBHOOK, REPORT
from tests.inbound.test_app import (
    BASE,
    ENDPOINTS,
    NOW,
    TOKEN,
    TWILIO_TOKEN,
    _line_headers,
)

ALI_FIRST = "msg-0000000000000001"  # REPORT[0]'s out_id
ALI_SECOND = "msg-0000000000000002"  # REPORT[1] is a batch mark: found by biz_id
LINE_ID = "line-0000000000000001"  # LINE_WEBHOOK's delivery tag
CLICKED = "msg-0000000000000003"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """A store file holding four submitted messages of one running campaign."""
    store = SQLiteStore(tmp_path / "msgkit.db")
    try:
        campaign = store.save_campaign(running(), now=NOW)

        def message(mid: str, to: str, provider: str, **fields: object) -> Planned:
            return Planned(
                id=mid,
                key=f"{campaign.id}:{mid}:0",
                campaign_id=campaign.id,
                contact_key=to,
                to=to,
                provider=provider,
                not_before=NOW,
                **fields,  # type: ignore[arg-type]
            )

        store.insert_messages(
            [
                message(ALI_FIRST, "+8613800138000", "ali"),
                message(ALI_SECOND, "+85251234567", "ali"),
                message(LINE_ID, "+886912345678", "line", channel=Channel.LINE),
                message(CLICKED, "+886912345679", "ali", link_param="u77"),
            ],
            now=NOW,
        )
        ids = [m.id for m in store.claim(worker="w", now=NOW, limit=10, lease_until=NOW)]
        store.apply([Change(message_id=i, event=MessageEvent.SEND) for i in ids], now=NOW)
        store.apply(
            [
                Change(
                    message_id=i,
                    event=MessageEvent.ACCEPT,
                    fields={
                        "provider_message_id": message_key("900619746936498441", "85251234567")
                        if i == ALI_SECOND
                        else f"P-{i}"
                    },
                )
                for i in ids
            ],
            now=NOW,
        )
        store.save_links(campaign.id, {"ab12": ("sale", "https://shop.example/sale")})
        yield store
    finally:
        store.close()


def _serve(store: SQLiteStore, test: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
    app = InboundApp(StoreSink(store, clock=lambda: NOW), ENDPOINTS, clock=lambda: NOW)

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            await test(client)

    asyncio.run(go())


def test_an_alibaba_report_and_its_replay(store: SQLiteStore) -> None:
    """A report is answered {"code": 0}, delivers and fails; pushed again, nothing changes."""
    body = json.dumps(REPORT, ensure_ascii=False).encode()
    logs: list[object] = []

    async def test(client: httpx.AsyncClient) -> None:
        for _ in range(2):
            response = await client.post(f"/hooks/ali/{TOKEN}/report", content=body)
            assert response.status_code == 200
            assert response.json() == {"code": 0, "msg": "成功"}
            logs.append([store.events(i) for i in (ALI_FIRST, ALI_SECOND)])

    _serve(store, test)
    assert store.get_message(ALI_FIRST).state is MessageState.DELIVERED
    failed = store.get_message(ALI_SECOND)
    assert (failed.state, failed.error_code) == (MessageState.UNDELIVERED, "MK:0001")
    assert logs[0] == logs[1]


def test_a_forged_line_webhook_records_nothing(store: SQLiteStore) -> None:
    """A forged LINE signature is 403 and changes nothing; the genuine one delivers."""
    body = json.dumps(LINE_WEBHOOK).encode()
    before = store.events(LINE_ID)

    async def test(client: httpx.AsyncClient) -> None:
        forged = _line_headers(body, "other-secret")
        assert (await client.post("/hooks/line", content=body, headers=forged)).status_code == 403
        assert store.events(LINE_ID) == before
        genuine = _line_headers(body)
        assert (await client.post("/hooks/line", content=body, headers=genuine)).status_code == 200

    _serve(store, test)
    assert store.get_message(LINE_ID).state is MessageState.DELIVERED


def test_a_twilio_stop_suppresses_the_number(store: SQLiteStore) -> None:
    """An inbound STOP to our Twilio number puts the writer on its suppression list."""
    path = "/hooks/tw/inbound"
    params = {"From": "+14155550001", "To": "+14155550100", "Body": "STOP", "MessageSid": "SM7"}

    async def test(client: httpx.AsyncClient) -> None:
        response = await client.post(
            path,
            content=urlencode(params).encode(),
            headers={
                "x-twilio-signature": twilio_signature(BASE + path, params, TWILIO_TOKEN),
                "content-type": "application/x-www-form-urlencoded",
            },
        )
        assert response.status_code == 200
        assert "<Response></Response>" in response.text

    _serve(store, test)
    assert store.suppressed(["sms/+14155550100"], ["+14155550001"]) == {
        ("sms/+14155550100", "+14155550001")
    }
    [reply] = store.replies()
    assert (reply["classification"], reply["provider"]) == ("opt_out", "tw")


def test_a_short_link_redirects_and_records_the_click(store: SQLiteStore) -> None:
    """GET /l/CODE?p=PARAM is a 302 to the target; the click counts for the recipient."""
    campaign_id = store.get_message(CLICKED).campaign_id

    async def test(client: httpx.AsyncClient) -> None:
        response = await client.get("/l/ab12?p=u77", headers={"user-agent": "Safari"})
        assert response.status_code == 302
        assert response.headers["location"] == "https://shop.example/sale"
        assert (await client.get("/l/nope")).status_code == 404

    _serve(store, test)
    assert store.clicks(campaign_id) == (1, 1)
