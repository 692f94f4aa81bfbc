"""Tests of msgkit.inbound.app over HTTP (httpx ASGI transport), with real payload shapes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from msgkit import ConfigError
from msgkit.inbound import (
    Endpoint,
    InboundApp,
    InboundSink,
    ReceiptState,
    endpoints_from_config,
    twilio_signature,
)
from tests.fakes.sink import MemorySink
from tests.inbound.payloads import CHATWOOT, LINE_WEBHOOK, REPORT

NOW = datetime(2026, 3, 1, 4, 0, tzinfo=timezone.utc)
BASE = "https://hooks.example.com"
TOKEN = "ali-path-token-93f1"
TWILIO_TOKEN = "twilio-auth-token"
LINE_SECRET = "line-channel-secret"
CHATWOOT_SECRET = "chatwoot-webhook-secret"

ENDPOINTS = [
    Endpoint(name="ali", kind="alibaba", secret=TOKEN),
    Endpoint(name="tw", kind="twilio", secret=TWILIO_TOKEN, public_url=BASE),
    Endpoint(name="tw-direct", kind="twilio", secret=TWILIO_TOKEN),
    Endpoint(name="line", kind="line", secret=LINE_SECRET),
    Endpoint(name="chat", kind="webchat", secret=CHATWOOT_SECRET),
]


def _serve(
    sink: MemorySink, test: Callable[[httpx.AsyncClient], Awaitable[None]], **options: Any
) -> None:
    app = InboundApp(sink, ENDPOINTS, clock=lambda: NOW, **options)

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            await test(client)

    asyncio.run(go())


def _line_headers(body: bytes, secret: str = LINE_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "x-line-signature": base64.b64encode(digest).decode(),
        "content-type": "application/json",
    }


def test_the_sink_protocol() -> None:
    """The test sink is an InboundSink."""
    assert isinstance(MemorySink(), InboundSink)


# -- Alibaba ---------------------------------------------------------------------------


def test_alibaba_receipts_and_their_replay() -> None:
    """A report is answered {"code": 0, "msg": "成功"}; pushed again, nothing doubles."""
    sink = MemorySink()
    body = json.dumps(REPORT, ensure_ascii=False).encode()

    async def test(client: httpx.AsyncClient) -> None:
        for _ in range(2):
            response = await client.post(f"/hooks/ali/{TOKEN}/report", content=body)
            assert response.status_code == 200
            assert response.json() == {"code": 0, "msg": "成功"}
            assert response.headers["content-type"].startswith("application/json")

    _serve(sink, test)
    assert sink.calls == 2
    assert [r.state for r in sink.receipts_seen] == [
        ReceiptState.DELIVERED,
        ReceiptState.UNDELIVERED,
    ]
    assert sink.receipts_seen[0].message_id == "msg-0000000000000001"


def test_alibaba_replies() -> None:
    """An SmsUp push becomes a reply with its raw text."""
    sink = MemorySink()
    item = {
        "phone_number": "13800138000",
        "content": "退订",
        "send_time": "2026-03-01 12:00:00",
        "dest_code": "01",
        "sequence_id": 77,
    }

    async def test(client: httpx.AsyncClient) -> None:
        response = await client.post(f"/hooks/ali/{TOKEN}/reply", json=[item])
        assert response.json()["code"] == 0

    _serve(sink, test)
    (reply,) = sink.replies_seen
    assert (reply.text, reply.from_address, reply.scope) == ("退订", "+8613800138000", "01")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/hooks/ali/wrong-token/report", 403),
        (f"/hooks/ali/{TOKEN}/other", 404),
        (f"/hooks/ali/{TOKEN}", 404),
        ("/hooks/nobody/x/report", 404),
        ("/elsewhere", 404),
    ],
)
def test_alibaba_wrong_paths_record_nothing(path: str, status: int) -> None:
    """A forged token is 403, an unknown path 404; nothing is recorded."""
    sink = MemorySink()

    async def test(client: httpx.AsyncClient) -> None:
        response = await client.post(path, json=REPORT)
        assert response.status_code == status

    _serve(sink, test)
    assert sink.calls == 0


def test_unreadable_bodies_and_sink_failures() -> None:
    """Garbage after a valid token is 400; a failing sink is 500 so the push comes again."""
    sink = MemorySink(fail=True)

    async def test(client: httpx.AsyncClient) -> None:
        garbage = await client.post(f"/hooks/ali/{TOKEN}/report", content=b"<xml/>")
        assert garbage.status_code == 400
        failed = await client.post(f"/hooks/ali/{TOKEN}/report", json=REPORT)
        assert failed.status_code == 500

    _serve(sink, test)
    assert sink.receipts_seen == []


# -- Twilio ----------------------------------------------------------------------------


def _twilio_post(path: str, params: dict[str, str], *, url: str | None = None) -> dict[str, Any]:
    signature = twilio_signature(url or BASE + path, params, TWILIO_TOKEN)
    return {
        "content": urlencode(params).encode(),
        "headers": {
            "x-twilio-signature": signature,
            "content-type": "application/x-www-form-urlencoded",
        },
    }


STATUS = {
    "MessageSid": "SM1",
    "MessageStatus": "delivered",
    "AccountSid": "AC1",
    "From": "+14155550100",
    "To": "+14155550001",
    "ApiVersion": "2010-04-01",
}


def test_twilio_status_callback() -> None:
    """A signed status callback: receipt with our id from the URL; empty TwiML back."""
    sink = MemorySink()
    path = "/hooks/tw/status?msgkit_id=sms-0000000000000001"

    async def test(client: httpx.AsyncClient) -> None:
        response = await client.post(path, **_twilio_post(path, STATUS))
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/xml")
        assert response.text == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

    _serve(sink, test)
    (receipt,) = sink.receipts_seen
    assert (receipt.message_id, receipt.provider_message_id) == ("sms-0000000000000001", "SM1")
    assert receipt.state is ReceiptState.DELIVERED
    assert receipt.occurred_at == NOW


def test_twilio_signature_with_the_default_port() -> None:
    """Twilio may sign https://host:443/...; it verifies."""
    sink = MemorySink()
    path = "/hooks/tw/status"

    async def test(client: httpx.AsyncClient) -> None:
        post = _twilio_post(path, STATUS, url=f"{BASE}:443{path}")
        assert (await client.post(path, **post)).status_code == 200

    _serve(sink, test)
    assert len(sink.receipts_seen) == 1


def test_twilio_url_from_the_request_when_no_public_url() -> None:
    """Without public_url the signed URL is rebuilt from the request's scheme and host."""
    sink = MemorySink()
    path = "/hooks/tw-direct/inbound"

    async def test(client: httpx.AsyncClient) -> None:
        params = {"From": "+14155550001", "To": "+14155550100", "Body": "STOP", "MessageSid": "SM2"}
        assert (await client.post(path, **_twilio_post(path, params))).status_code == 200

    _serve(sink, test)
    (reply,) = sink.replies_seen
    assert (reply.text, reply.from_address) == ("STOP", "+14155550001")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda post: {**post, "content": post["content"].replace(b"delivered", b"undelivered")},
        lambda post: {**post, "headers": {**post["headers"], "x-twilio-signature": "AAAA"}},
        lambda post: {**post, "headers": {"content-type": post["headers"]["content-type"]}},
    ],
    ids=["body", "signature", "missing"],
)
def test_twilio_forgeries_are_refused(tamper: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """A changed body, a forged or a missing signature: 403, nothing recorded."""
    sink = MemorySink()
    path = "/hooks/tw/status"

    async def test(client: httpx.AsyncClient) -> None:
        response = await client.post(path, **tamper(_twilio_post(path, STATUS)))
        assert response.status_code == 403

    _serve(sink, test)
    assert sink.calls == 0


def test_twilio_json_callbacks() -> None:
    """A JSON callback signed over its URL with bodySHA256 verifies and is read."""
    sink = MemorySink()
    body = json.dumps(STATUS).encode()
    path = f"/hooks/tw/status?bodySHA256={hashlib.sha256(body).hexdigest()}&msgkit_id=m-1"

    async def test(client: httpx.AsyncClient) -> None:
        headers = {
            "x-twilio-signature": twilio_signature(BASE + path, {}, TWILIO_TOKEN),
            "content-type": "application/json",
        }
        assert (await client.post(path, content=body, headers=headers)).status_code == 200
        forged = body.replace(b"delivered", b"failed")
        assert (await client.post(path, content=forged, headers=headers)).status_code == 403

    _serve(sink, test)
    (receipt,) = sink.receipts_seen
    assert receipt.message_id == "m-1"


# -- LINE ------------------------------------------------------------------------------


def test_line_delivery_webhook_and_redelivery() -> None:
    """A signed LINE webhook: delivery events recorded once, other events ignored; 200."""
    sink = MemorySink()
    body = json.dumps(LINE_WEBHOOK).encode()

    async def test(client: httpx.AsyncClient) -> None:
        for _ in range(2):
            response = await client.post("/hooks/line", content=body, headers=_line_headers(body))
            assert response.status_code == 200

    _serve(sink, test)
    (receipt,) = sink.receipts_seen
    assert receipt.message_id == "line-0000000000000001"


def test_line_forged_and_verification_requests() -> None:
    """A forged signature is 403; LINE's empty verification request is 200, nothing recorded."""
    sink = MemorySink()
    body = json.dumps(LINE_WEBHOOK).encode()

    async def test(client: httpx.AsyncClient) -> None:
        forged = await client.post(
            "/hooks/line", content=body, headers=_line_headers(body, "other-secret")
        )
        assert forged.status_code == 403
        empty = b'{"destination":"U0","events":[]}'
        ok = await client.post("/hooks/line", content=empty, headers=_line_headers(empty))
        assert ok.status_code == 200

    _serve(sink, test)
    assert sink.calls == 0


# -- Chatwoot --------------------------------------------------------------------------


def _chatwoot_headers(body: bytes, stamp: int) -> dict[str, str]:
    digest = hmac.new(CHATWOOT_SECRET.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    return {
        "x-chatwoot-signature": f"sha256={digest.hexdigest()}",
        "x-chatwoot-timestamp": str(stamp),
        "content-type": "application/json",
    }


def test_chatwoot_replies_and_replays() -> None:
    """A signed message_created is a reply; an old replay of it is refused."""
    sink = MemorySink()
    body = json.dumps(CHATWOOT).encode()
    fresh = int(NOW.timestamp())

    async def test(client: httpx.AsyncClient) -> None:
        ok = await client.post("/hooks/chat", content=body, headers=_chatwoot_headers(body, fresh))
        assert ok.status_code == 200
        stale = _chatwoot_headers(body, fresh - 3600)
        assert (await client.post("/hooks/chat", content=body, headers=stale)).status_code == 403

    _serve(sink, test)
    (reply,) = sink.replies_seen
    assert (reply.from_address, reply.conversation_id) == ("42", "77")


# -- short links -----------------------------------------------------------------------


def test_short_links_redirect_and_record_the_click() -> None:
    """GET /l/{code}?p= → 302 to the target, the click recorded with its parameter."""
    sink = MemorySink(links={"ab12": "https://shop.example/sale?src=sms"})

    async def test(client: httpx.AsyncClient) -> None:
        response = await client.get("/l/ab12?p=u77", headers={"user-agent": "Safari"})
        assert response.status_code == 302
        assert response.headers["location"] == "https://shop.example/sale?src=sms&u=u77"
        assert response.headers["cache-control"] == "no-store"
        head = await client.head("/l/ab12")
        assert head.status_code == 302

    _serve(sink, test)
    (click,) = sink.clicks
    assert (click.code, click.param, click.user_agent, click.clicked_at) == (
        "ab12",
        "u77",
        "Safari",
        NOW,
    )


@pytest.mark.parametrize(
    ("path", "status"),
    [("/l/nope", 404), ("/l/", 404), ("/l/a/b", 404), ("/l/evil", 404)],
)
def test_unknown_or_unsafe_links(path: str, status: int) -> None:
    """Unknown codes, bad paths and non-http targets are 404; no click recorded."""
    sink = MemorySink(links={"evil": "javascript:alert(1)"})

    async def test(client: httpx.AsyncClient) -> None:
        assert (await client.get(path)).status_code == status

    _serve(sink, test)
    assert sink.clicks == []


# -- HTTP details ----------------------------------------------------------------------


def test_methods_and_sizes() -> None:
    """GET on a hook is 405, POST on a link 405, a body over the limit 413."""
    sink = MemorySink(links={"x": "https://e.example"})

    async def test(client: httpx.AsyncClient) -> None:
        assert (await client.get("/hooks/line")).status_code == 405
        assert (await client.post("/l/x")).status_code == 405
        big = b"x" * 2048
        response = await client.post("/hooks/line", content=big, headers=_line_headers(big))
        assert response.status_code == 413

    _serve(sink, test, max_body=1024)
    assert sink.calls == 0


def test_mounted_under_a_root_path() -> None:
    """Mounted under a prefix (root_path), routes still match."""
    sink = MemorySink(links={"x": "https://e.example"})
    app = InboundApp(sink, ENDPOINTS, clock=lambda: NOW)

    async def go() -> None:
        transport = httpx.ASGITransport(app=app, root_path="/msgkit")
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            assert (await client.get("/msgkit/l/x")).status_code == 302

    asyncio.run(go())


def test_lifespan() -> None:
    """The app answers ASGI lifespan startup and shutdown."""
    app = InboundApp(MemorySink(), [])
    sent: list[dict[str, Any]] = []
    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict[str, Any]:
        return next(incoming)

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan"}, receive, send))
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_endpoints_from_config() -> None:
    """Webhook endpoints come from the provider settings; secrets from the environment."""
    providers = {
        "ali": {"type": "alibaba", "access_key_id": "x"},
        "tw": {"type": "twilio", "account_sid": "AC1", "public_url": BASE},
        "line": {"type": "line", "channel_secret_env": "LINE_TW_SECRET"},
        "chat": {"type": "webchat", "account_id": 1, "inbox_id": 2},
        "gw": {"type": "http_sms", "base_url": "https://gw"},
    }
    env = {
        "MSGKIT_ALIBABA_WEBHOOK_TOKEN": TOKEN,
        "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "LINE_TW_SECRET": LINE_SECRET,
        "CHATWOOT_WEBHOOK_SECRET": CHATWOOT_SECRET,
    }
    endpoints = endpoints_from_config(providers, env)
    assert [(e.name, e.kind) for e in endpoints] == [
        ("ali", "alibaba"),
        ("tw", "twilio"),
        ("line", "line"),
        ("chat", "webchat"),
    ]
    assert endpoints[1].public_url == BASE
    assert all(e.secret not in repr(e) for e in endpoints)
    with pytest.raises(ConfigError, match="LINE_TW_SECRET"):
        endpoints_from_config({"line": providers["line"]}, {})


def test_endpoints_from_config_take_priced_providers() -> None:
    """A provider table with its prices (msgkit's, not the adapter's) serves webhooks too."""
    priced = {
        "type": "twilio",
        "account_sid": "AC1",
        "price": 0.0079,
        "currency": "USD",
        "prices": {"TW": 0.05},
    }
    [endpoint] = endpoints_from_config({"tw": priced}, {"TWILIO_AUTH_TOKEN": TWILIO_TOKEN})
    assert endpoint.kind == "twilio"
