"""The dispatcher when the store fails mid-run: the run ends cleanly (no chunk left
running), the campaign is stopped with the error as its reason, and the error reaches
the caller."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from msgkit import (
    Audience,
    Campaign,
    CampaignStatus,
    Contact,
    SendPolicy,
    SendSpeed,
    StoreError,
    Template,
)
from msgkit.core.message import Change
from msgkit.engine.clock import FakeClock
from msgkit.engine.dispatcher import Dispatcher, DispatcherSettings
from msgkit.engine.runner import CampaignRunner
from msgkit.engine.transport import HttpxTransport
from msgkit.providers.simulator import SimulatorProvider, SimulatorServer
from msgkit.store import MemoryStore
from msgkit.store.base import ChangeResult
from tests.factories import planned, running


class FailingStore(MemoryStore):
    """A store whose ``apply`` fails (disk full) from its ``fail_at``-th call on, until
    ``healed``; campaigns can still be saved (a small change fits)."""

    def __init__(self, fail_at: int) -> None:
        super().__init__()
        self.fail_at = fail_at
        self.calls = 0
        self.healed = False

    def apply(
        self, changes: Sequence[Change], *, now: datetime, worker: str | None = None
    ) -> list[ChangeResult]:
        self.calls += 1
        if self.calls >= self.fail_at and not self.healed:
            raise StoreError("the disk is full", kind="full", database=self.url, hint="free it")
        return super().apply(changes, now=now, worker=worker)


class SlowTransport(HttpxTransport):
    """Each request takes a while: some are in flight when the store fails."""

    async def send(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.05)
        return await super().send(request)


@pytest.mark.anyio
async def test_a_store_error_stops_the_run_and_the_campaign_and_reaches_the_caller() -> None:
    clock = FakeClock()
    store = FailingStore(fail_at=6)
    server = SimulatorServer(clock=clock.now)
    campaign = store.save_campaign(running(), now=clock.now())
    store.insert_messages(planned(campaign.id, 200, now=clock.now()), now=clock.now())
    transport = SlowTransport(transport=httpx.ASGITransport(app=server))
    dispatcher = Dispatcher(
        store,
        {"sim": SimulatorProvider("sim", max_batch=1)},
        transport=transport,
        clock=clock,
        settings=DispatcherSettings(batch_size=50, concurrency=8),
    )
    try:
        with pytest.raises(StoreError) as raised:
            await dispatcher.run()
        # Nothing of the run is left running: every chunk ended before the error came.
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not [t for t in others if "_send" in repr(t.get_coro())]
        assert raised.value.kind == "full"
        stopped = store.get_campaign(campaign.id)
        assert stopped.status is CampaignStatus.STOPPED
        assert stopped.stop_reason == str(raised.value)
        assert dispatcher.stats.campaigns_stopped == [campaign.id]
        sent_then = len(server.messages)
        assert 0 < sent_then < 200
        # Fixed: resume; everybody gets one message, nobody two.
        store.healed = True
        store.save_campaign(stopped.apply("resume").apply("initialized"), now=clock.now())
        await dispatcher.run()
    finally:
        await dispatcher.aclose()
        await transport.aclose()
    assert len(server.recipients) == 200
    assert set(server.recipients.values()) == {1}


class FullWhilePlanning(MemoryStore):
    """A store whose disk fills up while a campaign's messages are written."""

    def insert_messages(self, *args: Any, **kwargs: Any) -> Any:
        raise StoreError("the disk is full", kind="full", database=self.url, hint="free it")


def test_a_store_error_while_starting_a_due_campaign_is_not_swallowed() -> None:
    """The runner's tick (scheduled and abandoned starts) lets a store fault through: it
    is not this campaign's fault, and the run must stop and say so. The campaign is
    stopped with the reason, for a resume."""
    now = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    store = FullWhilePlanning()
    try:
        runner = CampaignRunner(store, {"sms": SimulatorProvider("sms")}, default_provider="sms")
        list_id = store.create_list("l", ["phone"], now=now)
        store.add_contacts(list_id, [Contact(phone="+886912000301")])
        draft = Campaign(name="c", template=Template(body="hi"), audience=Audience(lists=[list_id]))
        left = store.save_campaign(draft.apply("start"), now=now)  # a process died planning it
        with pytest.raises(StoreError):
            runner.tick(now=now + timedelta(days=1))
        stopped = store.get_campaign(left.id)
        assert stopped.status is CampaignStatus.STOPPED
        assert stopped.stop_reason == "the disk is full — free it"
    finally:
        store.close()


class DeadlockedHeartbeat(MemoryStore):
    """A store whose heartbeat (``renew_leases``) fails its first ``failures`` times: a
    deadlock past the PostgreSQL store's retries."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.beats = 0

    def renew_leases(self, worker: str, *, until: datetime) -> int:
        self.beats += 1
        if self.beats <= self.failures:
            raise StoreError("deadlock detected", kind="busy", database=self.url, hint="retry")
        return super().renew_leases(worker, until=until)


@pytest.mark.anyio
async def test_a_failed_heartbeat_does_not_stop_the_run(caplog: pytest.LogCaptureFixture) -> None:
    """A heartbeat the store fails is logged and tried again at the next beat: the run
    goes on and the campaign is not stopped (the lease is long). Before: the error
    stopped the run and every running campaign."""
    clock = FakeClock()
    store = DeadlockedHeartbeat(failures=1)
    server = SimulatorServer(clock=clock.now)
    # Paced, 4 s long: the pass beats (renews its leases) every quarter of a lease.
    speed = SendPolicy(send_speed=SendSpeed(messages=5, per=timedelta(seconds=1)))
    campaign = store.save_campaign(running(policy=speed), now=clock.now())
    store.insert_messages(planned(campaign.id, 20, now=clock.now()), now=clock.now())
    transport = HttpxTransport(transport=httpx.ASGITransport(app=server))
    dispatcher = Dispatcher(
        store,
        {"sim": SimulatorProvider("sim", max_batch=1)},
        transport=transport,
        clock=clock,
        settings=DispatcherSettings(batch_size=20, concurrency=4, lease=timedelta(seconds=4)),
    )
    try:
        with caplog.at_level("WARNING", logger="msgkit.engine"):
            await dispatcher.run()
    finally:
        await dispatcher.aclose()
        await transport.aclose()
    assert store.beats >= 2  # failed, then again
    assert "were not renewed (again next beat): deadlock detected" in caplog.text
    assert store.get_campaign(campaign.id).status is not CampaignStatus.STOPPED
    assert dispatcher.stats.campaigns_stopped == []
    assert len(server.recipients) == 20
