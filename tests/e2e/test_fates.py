"""Every message meets a fate: sent, or reported unknown — and its fallback goes.

- LINE answers 500 for some pushes: the push may have been sent, LINE cannot be asked,
  so the message ends ``unknown`` (reported) and its SMS fallback goes when no
  confirmation arrived within the wait: every recipient gets LINE or one SMS.
- A provider whose status query keeps failing (403) cannot settle an unknown message:
  reconciliation stops after a while, the message is reported ``unknown`` and the
  campaign finishes.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import timedelta
from typing import Any

import httpx

import msgkit
from msgkit.contacts import line_hash
from msgkit.inbound import Endpoint
from msgkit.providers.line import LineNotifications
from msgkit.providers.twilio import TwilioSms
from msgkit.testing import FakeClock, Simulator, SimulatorProvider
from tests.e2e.conftest import MakeClient, deadline
from tests.fakes.line_server import FakeLineServer
from tests.http_server import serve

S = msgkit.MessageState
NUMBERS = [f"+8869120{i:05d}" for i in range(200)]
FAULTY = NUMBERS[::3][:60]  # 30 %: LINE answers 500, the push may have gone
SILENT = [n for n in NUMBERS[1::7] if n not in FAULTY][:20]  # accepted, never confirmed
WAIT = timedelta(minutes=30)
PUBLIC = "https://hooks.example.com"

Message = MutableMapping[str, Any]


def test_line_5xx_ends_unknown_and_its_sms_fallback_goes(
    make_client: MakeClient, clock: FakeClock, sim: Simulator
) -> None:
    """A LINE push answered 500 ends unknown and its SMS goes: nobody gets neither."""
    line = FakeLineServer(answers=dict.fromkeys(FAULTY, 500), undelivered=SILENT)
    with serve(line) as url:
        client = make_client(
            providers={
                "line": LineNotifications("line", channel_access_token=line.token, base_url=url),
                "sms": SimulatorProvider("sms", server=sim),
            }
        )
        members = client.create_list("tw", [msgkit.Contact(phone=n) for n in NUMBERS])
        campaign = client.create_campaign(
            "Parcel ready",
            "Your parcel is ready",
            audience=members,
            channel="line",
            provider="line",
            fallback=msgkit.Fallback(
                template=msgkit.Template(body="Your parcel is ready (SMS)"),
                provider="sms",
                wait=WAIT,
            ),
        )
        client.start(campaign)
        with deadline(60):
            client.run(progress=False)
        assert not sim.messages  # nobody's wait is over yet
        app = client.inbound_app([Endpoint(name="line", kind="line", secret=line.channel_secret)])

        async def confirm() -> httpx.Response | None:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as hooks:
                return await line.deliver(hooks, "/hooks/line")

        answer = asyncio.run(confirm())
        assert answer is not None
        assert answer.status_code == 200
        clock.advance(WAIT + timedelta(minutes=1))
        with deadline(60):
            client.run(progress=False)
    confirmed = {p.to for p in line.pushes if p.status == 200} - {line_hash(n) for n in SILENT}
    sms = Counter(m.to for m in sim.messages.values())
    for number in NUMBERS:
        on_line = line_hash(number) in confirmed
        assert (on_line, sms[number]) in ((True, 0), (False, 1)), number
    assert set(sms) == set(FAULTY) | set(SILENT)
    states = Counter(m.state for m in client.messages(campaign) if m.channel == "line")
    assert states == {
        S.DELIVERED: len(NUMBERS) - len(FAULTY) - len(SILENT),
        S.FALLEN_BACK: len(SILENT),
        S.UNKNOWN: len(FAULTY),  # reported: its fate cannot be learned
    }
    assert client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED


class BrokenTwilio:
    """Twilio answering 500 to every send and 403 to every status query."""

    def __init__(self) -> None:
        self.posts = 0
        self.queries = 0

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
        if scope["method"] == "POST":
            self.posts += 1
            status, body = 500, {"code": 20500, "message": "Internal Server Error"}
        else:
            self.queries += 1
            status, body = 403, {"code": 20003, "message": "Permission Denied"}
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def test_a_status_query_that_keeps_failing_ends_unknown(
    make_client: MakeClient, clock: FakeClock
) -> None:
    """Unknown messages whose status query keeps failing end reported unknown; the run ends."""
    twilio = BrokenTwilio()
    numbers = NUMBERS[:3]
    with serve(twilio) as url:
        client = make_client(
            providers={
                "tw": TwilioSms(
                    "tw",
                    account_sid="AC" + "0" * 32,
                    auth_token="secret-token",
                    sender="+15005550006",
                    base_url=url,
                    clock=clock.now,
                )
            }
        )
        members = client.create_list("m", [msgkit.Contact(phone=n) for n in numbers])
        campaign = client.create_campaign("Hello", "Hello from us", audience=members)
        client.start(campaign)
        started = clock.now()
        with deadline(30):
            client.run(progress=False)
        assert twilio.posts == len(numbers)  # never sent twice: it may have gone
        assert twilio.queries >= len(numbers)  # asked, and asked again
        assert {m.state for m in client.messages(campaign)} == {S.UNKNOWN}
        assert client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED
        assert clock.now() - started <= timedelta(days=1)
        asked = twilio.queries
        with deadline(30):
            client.run(progress=False)
        assert twilio.queries == asked  # reported: nothing left to ask
