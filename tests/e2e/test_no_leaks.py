"""No secret and no full phone number in any log line, repr, exception or report.

For every provider type a small campaign runs through `msgkit.Client` against a local
fake of the provider over real HTTP, with every logger at DEBUG (httpx, httpcore,
asyncio, msgkit...). The provider first answers a 500 and then a 401 that echoes the
whole request back (headers with the credential, query, body with the numbers), as
providers do; the campaign is resumed after the refusal and finishes. A webhook is
posted to the client's inbound app where the type has one. Then every captured log
record (message and traceback), the reprs and strings of the client, campaign,
messages, progress and report, and any exception raised, are searched for each secret
and each recipient number (E.164 with and without ``+``, and the national form). The
campaign runs with phone numbers encrypted at rest (``MSGKIT_PHONE_KEY``), and the
database file with its ``-wal`` and ``-shm`` is searched too: for the numbers, the
provider secrets and the phone key, and for unkeyed digests of the numbers (SHA-256,
12 hex characters, as Alibaba's provider ids held before they were keyed).
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

import msgkit
from msgkit.inbound import endpoints_from_config
from msgkit.providers.alibaba import number_key
from msgkit.testing import FakeClock, Simulator
from tests.e2e.conftest import tw_e164, tw_numbers
from tests.fakes.alibaba_server import FakeAlibaba
from tests.fakes.asgi import read_body
from tests.fakes.chatwoot_server import FakeChatwoot
from tests.fakes.echoing import Echoing
from tests.fakes.line_server import FakeLineServer
from tests.fakes.twilio_server import FakeTwilio
from tests.http_server import serve
from tests.postgres import database_text

NATIONAL = tw_numbers(3, start=417)
NUMBERS = [tw_e164(n) for n in NATIONAL]
SECRET = "s3cr3t-7f2a91c4e8b0d6"  # every provider's credential
WEBHOOK = "wh00k-5b8e2d7c1a9f43"  # every provider's webhook secret or path token
LINKS = "l1nkk3y-9c3e7a15b2"  # the short-link hashing key
PHONE_KEY = msgkit.contacts.PhoneCipher.new_key()


@dataclass
class Case:
    """One provider type: its settings, its fake, what it reads from the environment."""

    kind: str
    settings: dict[str, Any]
    app: Any
    env: dict[str, str] = field(default_factory=dict)
    channel: str = "sms"
    contacts: list[msgkit.Contact] = field(
        default_factory=lambda: [msgkit.Contact(phone=n) for n in NUMBERS]
    )
    template: msgkit.Template = field(
        default_factory=lambda: msgkit.Template(
            body="Hi, your parcel is ready: ${link:track}",
            links={"track": "https://shop.example.com/track"},
        )
    )
    sent: Callable[[], int] = lambda: 0
    hook: Callable[[str], tuple[int, str]] | None = None


def _alibaba() -> Case:
    fake = FakeAlibaba()

    def hook(url: str) -> tuple[int, str]:
        report = [
            {
                "phone_number": NUMBERS[0].lstrip("+"),
                "success": False,
                "err_code": "DELIVRD",
                "err_msg": f"user {NUMBERS[0]} unknown",
                "biz_id": "x^0",
                "out_id": "nobody",
                "report_time": "2026-01-05 17:00:01",
            }
        ]
        return _post(f"{url}/hooks/p/{WEBHOOK}/report", json.dumps(report).encode(), {})

    return Case(
        "alibaba",
        {"access_key_id": "LTAIkeyid", "sign_name": "Shop"},
        fake,
        env={
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": SECRET,
            "MSGKIT_ALIBABA_WEBHOOK_TOKEN": WEBHOOK,
        },
        template=msgkit.Template(
            body="Hi, your parcel is ready", code="SMS_15305", review="approved"
        ),
        sent=lambda: len(fake.numbers),
        hook=hook,
    )


def _twilio() -> Case:
    fake = FakeTwilio()

    def hook(url: str) -> tuple[int, str]:
        form = {"MessageSid": "SMx", "MessageStatus": "delivered", "To": NUMBERS[0]}
        body = urlencode(form).encode()
        return _post(f"{url}/hooks/p/status", body, {"X-Twilio-Signature": "x"})

    return Case(
        "twilio",
        {"account_sid": "AC123", "sender": "+15005550006"},
        fake,
        env={"TWILIO_AUTH_TOKEN": SECRET},
        sent=lambda: len(fake.sent),
        hook=hook,
    )


def _line() -> Case:
    fake = FakeLineServer(token=SECRET, channel_secret=WEBHOOK)

    def hook(url: str) -> tuple[int, str]:
        body, headers = fake.delivery_webhook(p.tag for p in fake.pushes if p.tag)
        return _post(f"{url}/hooks/p", body, headers)

    return Case(
        "line",
        {},
        fake,
        env={"LINE_CHANNEL_ACCESS_TOKEN": SECRET, "LINE_CHANNEL_SECRET": WEBHOOK},
        channel="line",
        sent=lambda: sum(1 for p in fake.pushes if p.status == 200),
        hook=hook,
    )


def _http_sms_post() -> Case:
    gateway = _Gateway()
    return Case(
        "http_sms",
        {
            "path": "/send",
            "secret_env": "GW_SECRET",
            "error_message_path": "message",
            "error_code_path": "Code",
        },
        gateway,
        env={"GW_SECRET": SECRET},
        sent=lambda: len(gateway.got),
    )


def _http_sms_get() -> Case:
    gateway = _Gateway()
    return Case(
        "http_sms",
        {
            "path": "/send",
            "method": "GET",
            "body": {"key": "{secret}", "to": "{to}", "text": "{text}"},
            "secret_env": "GW_SECRET",
            "auth_header": "",
            "error_message_path": "message",
            "error_code_path": "Code",
        },
        gateway,
        env={"GW_SECRET": SECRET},
        sent=lambda: len(gateway.got),
    )


def _chatwoot() -> Case:
    fake = FakeChatwoot(SECRET)

    def hook(url: str) -> tuple[int, str]:
        event = {
            "event": "message_created",
            "message_type": "incoming",
            "content": f"call me at {NUMBERS[0]}",
            "sender": {"id": 7, "phone_number": NUMBERS[0]},
        }
        headers = {"X-Chatwoot-Signature": "sha256=00", "content-type": "application/json"}
        return _post(f"{url}/hooks/p", json.dumps(event).encode(), headers)

    return Case(
        "webchat",
        {"account_id": 1, "inbox_id": 2},
        fake,
        env={"CHATWOOT_API_ACCESS_TOKEN": SECRET, "CHATWOOT_WEBHOOK_SECRET": WEBHOOK},
        channel="webchat",
        contacts=[msgkit.Contact(key=f"{40 + i}", phone=n) for i, n in enumerate(NUMBERS)],
        sent=lambda: len(fake.posted),
        hook=hook,
    )


def _simulator() -> Case:
    sim = Simulator()
    return Case("simulator", {}, sim, sent=lambda: len(sim.messages))


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POST a webhook as the provider would (with urllib: the provider's own HTTP
    client is not msgkit's, and its log lines are not ours)."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        with refused:
            return refused.code, refused.read().decode()


class _Gateway:
    """An HTTP SMS gateway: any request is a message, answered ``{"id": ...}``."""

    def __init__(self) -> None:
        self.got: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        self.got.append(body + scope["query_string"])
        answer = json.dumps({"id": f"g{len(self.got)}"}).encode()
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


CASES = {
    "alibaba": _alibaba,
    "twilio": _twilio,
    "line": _line,
    "http_sms_post": _http_sms_post,
    "http_sms_get": _http_sms_get,
    "chatwoot": _chatwoot,
    "simulator": _simulator,
}


def _unkeyed_digests() -> list[str]:
    """Digests anyone can compute from a candidate number (SHA-256 of a form of it, 12
    hex characters, as Alibaba's provider ids held without a key): none may be stored."""
    forms = set()
    for national, e164 in zip(NATIONAL, NUMBERS, strict=True):
        forms |= {e164, e164.lstrip("+"), national, national.replace("-", ""), number_key(e164)}
    return [hashlib.sha256(f.encode()).hexdigest()[:12] for f in sorted(forms)]


def _leaks(text: str, secrets: tuple[str, ...] = (SECRET, WEBHOOK, LINKS, PHONE_KEY)) -> list[str]:
    """The secrets and numbers found in ``text``."""
    needles = list(secrets)
    for national, e164 in zip(NATIONAL, NUMBERS, strict=True):
        needles += [e164, e164.lstrip("+"), national, national.replace("-", "")]
    return [n for n in needles if n in text]


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_campaign_leaves_no_secret_and_no_number_anywhere(
    name: str, db: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Logs, reprs, reports and errors of a whole campaign hold no secret, no number."""
    # A provider built from the configuration reads the wall clock (Twilio's validity):
    # a fake clock that starts now keeps the two together.
    clock = FakeClock(datetime.now(timezone.utc))
    caplog.set_level(logging.DEBUG)
    case = CASES[name]()
    seen: list[str] = []
    provider = Echoing(case.app, fail=[500, 401])
    with serve(provider) as url:
        settings = {"type": case.kind, "base_url": url, **case.settings}
        if case.kind == "simulator":
            settings["channel"] = case.channel
        config = {"providers": {"p": settings}}
        env = {**case.env, "MSGKIT_PHONE_KEY": PHONE_KEY}
        client = msgkit.Client(store=db, clock=clock, config=config, env=env)
        members = client.create_list("m", case.contacts)
        campaigns = []
        for title in ("Parcel", "Parcel again"):  # the first meets the failures
            campaign = client.create_campaign(
                title,
                case.template,
                audience=members,
                provider="p",
                channel=case.channel,
                policy=msgkit.SendPolicy(
                    links=msgkit.ShortLinks(base_url="https://go.example.com/l", secret=LINKS)
                ),
            )
            campaigns.append(campaign)
            for attempt in range(3):
                try:
                    if attempt == 0:
                        client.start(campaign)
                    else:
                        client.resume(campaign)
                    client.run(progress=False)
                except msgkit.MsgkitError as exc:
                    seen += [repr(exc), str(exc)]
                if client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED:
                    break
        assert not provider.fail, "the provider's failures were not met"
        assert case.sent() >= len(NUMBERS), [m.error for c in campaigns for m in client.messages(c)]
        if case.hook is not None:
            endpoints = endpoints_from_config(config["providers"], env)
            with serve(client.inbound_app(endpoints)) as hooks:
                seen.append(case.hook(hooks)[1])
        seen += [repr(client), str(client)]
        for campaign in campaigns:
            progress = client.progress(campaign)
            report = client.report(campaign)
            seen += [repr(campaign), str(campaign), repr(progress), str(progress)]
            seen += [repr(report), str(report)]
            for message in client.messages(campaign):
                seen += [repr(message), str(message), str(message.error)]
        client.close()
    formatter = logging.Formatter()
    for record in caplog.records:
        seen.append(record.getMessage())
        if record.exc_info:
            seen.append(formatter.formatException(record.exc_info))
    found = {n: [s for s in seen if n in s][:2] for n in _leaks("\n".join(seen))}
    assert not found, found
    # The database: no number, no digest of one anyone can compute, and no secret
    # (campaigns are sealed with the phone key, the short-link key of their policy with
    # them).
    digests = _unkeyed_digests()

    def leaks(text: str) -> list[str]:
        return [*_leaks(text), *(d for d in digests if d in text)]

    if db.startswith("postgresql://"):
        stored = {"msgkit.db": leaks(database_text(db))}  # every row of every table
    else:
        stored = {
            path.name: leaks(path.read_bytes().decode("latin-1"))
            for path in tmp_path.glob("msgkit.db*")
        }
    assert "msgkit.db" in stored
    assert not any(stored.values()), stored
