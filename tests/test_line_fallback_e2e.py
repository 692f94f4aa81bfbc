"""End to end: a LINE campaign with SMS fallback, over real HTTP to a fake LINE server.

Some numbers are refused by LINE (422), some are accepted but never confirmed; the
others are confirmed delivered through LINE's signed delivery webhook. Those refused or
unconfirmed must be reached by SMS exactly once; the others not at all.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

import msgkit
from msgkit.core.campaigns import Fallback
from msgkit.core.contacts import Contact
from msgkit.core.delivery import MessageState
from msgkit.core.templates import Template
from msgkit.engine.dispatcher import DispatcherSettings
from msgkit.inbound import Endpoint, InboundApp, StoreSink
from msgkit.providers.line import LineNotifications
from msgkit.providers.simulator import SimulatorProvider, SimulatorServer
from tests.fakes.line_server import FakeLineServer
from tests.http_server import serve

NUMBERS = [f"+8869120{i:05d}" for i in range(1, 31)]
REFUSED = NUMBERS[:5]
SILENT = NUMBERS[5:10]


@pytest.mark.anyio
async def test_line_campaign_falls_back_to_sms_exactly_once(tmp_path: Path) -> None:
    """Refused (422) or unconfirmed LINE recipients get one SMS; confirmed ones none."""
    line = FakeLineServer(answers=dict.fromkeys(REFUSED, 422), undelivered=SILENT)
    sms = SimulatorServer()
    with serve(line) as line_url, serve(sms) as sms_url:
        client = msgkit.AsyncClient(
            store=f"sqlite:///{tmp_path / 'line.db'}",
            providers={
                "line": LineNotifications(
                    "line", channel_access_token=line.token, base_url=line_url
                ),
                "sms": SimulatorProvider("sms", base_url=sms_url),
            },
            settings=DispatcherSettings(housekeeping_every=0.1, idle_poll=0.1),
        )
        store = client.sync.store
        hooks = httpx.AsyncClient(
            transport=httpx.ASGITransport(
                app=InboundApp(
                    StoreSink(store),
                    [Endpoint(name="line", kind="line", secret=line.channel_secret)],
                )
            ),
            base_url="http://msgkit.test",
        )
        list_id = await client.create_list("tw", [Contact(phone=n) for n in NUMBERS])
        campaign = await client.create_campaign(
            "Parcel ready",
            "Your parcel is ready for pickup",
            audience=list_id,
            channel="line",
            provider="line",
            fallback=Fallback(
                template=Template(body="Your parcel is ready (SMS)"),
                provider="sms",
                wait=timedelta(seconds=2),
            ),
        )
        await client.start(campaign)
        run = asyncio.create_task(client.arun())
        while len(line.pushes) < len(NUMBERS):
            await asyncio.sleep(0.02)
        delivered = await line.deliver(hooks, "/hooks/line")
        assert delivered is not None
        assert delivered.status_code == 200
        await run
        await hooks.aclose()
        progress = await client.progress(campaign)
        await client.aclose()

    assert Counter(m.to for m in sms.messages.values()) == Counter(REFUSED + SILENT)
    assert {m.text for m in sms.messages.values()} == {"Your parcel is ready (SMS)"}
    pushes = Counter(p.to for p in line.pushes)
    assert len(pushes) == len(NUMBERS)
    assert set(pushes.values()) == {1}  # a 422 is not retried, and nobody is pushed twice
    assert progress.by_state == {
        MessageState.DELIVERED: 20,  # the LINE messages confirmed
        MessageState.SKIPPED: 20,  # their SMS, cancelled
        MessageState.FALLEN_BACK: 10,  # the LINE messages refused or unconfirmed
        MessageState.SUBMITTED: 10,  # the SMS that replaced them
    }
