"""LINE first, SMS otherwise: a LINE campaign over HTTP to a fake LINE server.

Some numbers are refused by LINE (422), some are accepted but never confirmed; the
others are confirmed delivered through LINE's signed delivery webhook, posted to the
client's `inbound_app`. Those refused or unconfirmed get exactly one SMS; the others none.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

import msgkit
from msgkit.inbound import Endpoint
from msgkit.providers.line import LineNotifications
from msgkit.testing import Simulator, SimulatorProvider
from tests.fakes.line_server import FakeLineServer
from tests.http_server import serve

S = msgkit.MessageState
NUMBERS = [f"+8869120{i:05d}" for i in range(1, 21)]
REFUSED = NUMBERS[:4]
SILENT = NUMBERS[4:8]
WAIT = timedelta(seconds=1)


@pytest.fixture
def servers() -> Iterator[tuple[FakeLineServer, str, Simulator, str]]:
    line = FakeLineServer(answers=dict.fromkeys(REFUSED, 422), undelivered=SILENT)
    sms = Simulator()
    with serve(line) as line_url, serve(sms) as sms_url:
        yield line, line_url, sms, sms_url


async def _campaign(
    db: str, servers: tuple[FakeLineServer, str, Simulator, str], *, deliver: bool
) -> tuple[Any, datetime]:  # (client.progress(), when started)
    line, line_url, _, sms_url = servers
    client = msgkit.AsyncClient(
        store=db,
        providers={
            "line": LineNotifications("line", channel_access_token=line.token, base_url=line_url),
            "sms": SimulatorProvider("sms", base_url=sms_url),
        },
        config={"engine": {"housekeeping_every": 0.05, "idle_poll": 0.05}},
    )
    app = client.inbound_app([Endpoint(name="line", kind="line", secret=line.channel_secret)])
    hooks = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://hooks.example.com"
    )
    members = await client.create_list("tw", [msgkit.Contact(phone=n) for n in NUMBERS])
    campaign = await client.create_campaign(
        "Parcel ready",
        "Your parcel is ready for pickup",
        audience=members,
        channel="line",
        provider="line",
        fallback=msgkit.Fallback(
            template=msgkit.Template(body="Your parcel is ready (SMS)"), provider="sms", wait=WAIT
        ),
    )
    await client.start(campaign)
    started = datetime.now(timezone.utc)
    run = asyncio.create_task(client.arun())
    while len(line.pushes) < len(NUMBERS):
        await asyncio.sleep(0.01)
    if deliver:
        answer = await line.deliver(hooks, "/hooks/line")
        assert answer is not None
        assert answer.status_code == 200
    await run
    await hooks.aclose()
    progress = await client.progress(campaign)
    assert (await client.campaign(campaign)).status is msgkit.CampaignStatus.FINISHED
    await client.aclose()
    return progress, started


@pytest.mark.anyio
async def test_refused_or_unconfirmed_line_messages_fall_back_to_one_sms(
    db: str, servers: tuple[FakeLineServer, str, Simulator, str]
) -> None:
    """422 → SMS at once; no confirmation within wait → SMS; confirmed → no SMS; never both."""
    line, _, sms, _ = servers
    progress, started = await _campaign(db, servers, deliver=True)
    assert Counter(m.to for m in sms.messages.values()) == Counter(REFUSED + SILENT)
    assert {m.text for m in sms.messages.values()} == {"Your parcel is ready (SMS)"}
    refused_at = [m.at for m in sms.messages.values() if m.to in REFUSED]
    assert max(refused_at) - started < WAIT  # a 422 does not wait for the confirmation
    silent_at = [m.at for m in sms.messages.values() if m.to in SILENT]
    assert min(silent_at) - started >= WAIT
    pushes = Counter(p.to for p in line.pushes)
    assert len(pushes) == len(NUMBERS)
    assert set(pushes.values()) == {1}  # a 422 is not retried, nobody is pushed twice
    assert progress.by_state == {
        S.DELIVERED: 12,  # the LINE messages confirmed
        S.SKIPPED: 12,  # their SMS, cancelled
        S.FALLEN_BACK: 8,  # the LINE messages refused or unconfirmed
        S.SUBMITTED: 8,  # the SMS that replaced them
    }
    assert progress.percent == 100.0


@pytest.mark.anyio
async def test_without_any_confirmation_every_accepted_line_message_falls_back(
    db: str, servers: tuple[FakeLineServer, str, Simulator, str]
) -> None:
    """No webhook at all: every recipient gets the SMS once, never neither."""
    _, _, sms, _ = servers
    progress, _ = await _campaign(db, servers, deliver=False)
    assert Counter(m.to for m in sms.messages.values()) == Counter(NUMBERS)
    assert progress.count(S.FALLEN_BACK) == len(NUMBERS)
    assert progress.sent == 2 * len(NUMBERS)  # fallen back LINE + submitted SMS
