"""Unknown outcomes, crashed workers, reconciliation and fallback, on a fake clock."""

from __future__ import annotations

from datetime import timedelta

import attrs
import httpx
import pytest

from msgkit.core.campaigns import Fallback
from msgkit.core.delivery import Channel, MessageEvent, MessageState
from msgkit.core.templates import Template
from msgkit.engine.clock import FakeClock
from msgkit.providers.simulator import SimulatorProvider, SimulatorServer
from msgkit.store import Change, MemoryStore
from tests.engine.conftest import MakeDispatcher
from tests.factories import planned, running

pytestmark = pytest.mark.anyio


def _timeout_after(
    server: SimulatorServer, *, deliver: bool, times: int = 1
) -> httpx.MockTransport:
    """A transport whose first POSTs time out, after (or instead of) reaching the server."""
    app = httpx.ASGITransport(app=server)
    left = [times]

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and left[0] > 0:
            left[0] -= 1
            if deliver:
                await app.handle_async_request(request)
            raise httpx.ReadTimeout("timed out", request=request)
        return await app.handle_async_request(request)

    return httpx.MockTransport(handler)


async def test_timeout_after_receipt_is_reconciled_not_resent(
    store: MemoryStore, server: SimulatorServer, clock: FakeClock, make_dispatcher: MakeDispatcher
) -> None:
    """A timeout after the provider got the message: the status query finds it; no resend."""
    campaign = store.save_campaign(running(), now=clock.now())
    store.insert_messages(planned(campaign.id, 10, now=clock.now()), now=clock.now())
    stats = await make_dispatcher(transport=_timeout_after(server, deliver=True)).run()
    assert stats.unknown == 10
    assert stats.reconciled == 10
    assert server.stats()["messages"] == 10
    assert store.progress(campaign.id).by_state == {MessageState.SUBMITTED: 10}


async def test_lost_request_is_resent_after_the_grace_period(
    store: MemoryStore, server: SimulatorServer, clock: FakeClock, make_dispatcher: MakeDispatcher
) -> None:
    """A request the provider never got: not found, asked again, then sent once more."""
    campaign = store.save_campaign(running(), now=clock.now())
    [message] = planned(campaign.id, 1, now=clock.now())
    store.insert_messages([message], now=clock.now())
    start = clock.now()
    stats = await make_dispatcher(
        transport=_timeout_after(server, deliver=False), reconcile_grace=timedelta(minutes=5)
    ).run()
    assert stats.resent == 1
    assert server.stats()["messages"] == 1
    row = store.get_message(message.id)
    assert row.state is MessageState.SUBMITTED
    assert row.sent_at is not None
    assert row.sent_at - start >= timedelta(minutes=5)
    events = [e[1] for e in store.events(message.id)]
    assert events == ["claim", "send", "lose", "resend", "claim", "send", "accept"]


class _NoStatus(SimulatorProvider):
    """A provider that cannot be asked about a message."""

    def __init__(self) -> None:
        super().__init__("sim")
        self.capabilities = type(self.capabilities)(channel=Channel.SMS, max_batch=100)


@pytest.mark.parametrize(("policy", "state", "messages"), [
    ("mark_unknown", MessageState.UNKNOWN, 1),
    ("resend", MessageState.SUBMITTED, 2),
])  # fmt: skip
async def test_unknown_without_status_query_follows_the_policy(
    store: MemoryStore,
    server: SimulatorServer,
    clock: FakeClock,
    make_dispatcher: MakeDispatcher,
    policy: str,
    state: MessageState,
    messages: int,
) -> None:
    """mark_unknown reports the message unknown (no duplicate); resend sends it again."""
    campaign = store.save_campaign(running(on_unknown=policy), now=clock.now())
    [message] = planned(campaign.id, 1, now=clock.now())
    store.insert_messages([message], now=clock.now())
    await make_dispatcher(
        transport=_timeout_after(server, deliver=True), providers={"sim": _NoStatus()}
    ).run()
    assert store.get_message(message.id).state is state
    assert server.stats()["messages"] == messages


async def test_messages_of_a_dead_worker_are_recovered(
    store: MemoryStore, server: SimulatorServer, clock: FakeClock, make_dispatcher: MakeDispatcher
) -> None:
    """Queued rows of a dead worker are released; its sending rows are reconciled."""
    campaign = store.save_campaign(running(), now=clock.now())
    store.insert_messages(planned(campaign.id, 6, now=clock.now()), now=clock.now())
    now = clock.now()
    rows = store.claim(worker="dead", now=now, limit=6, lease_until=now + timedelta(seconds=30))
    sending = rows[:3]
    store.apply(
        [Change(message_id=r.id, event=MessageEvent.SEND) for r in sending], now=now, worker="dead"
    )
    # The dead worker did get the first one out before it died.
    server.accept({"id": sending[0].id, "to": sending[0].recipient, "text": "hello"})
    clock.advance(60)
    stats = await make_dispatcher().run()
    assert stats.unknown == 3
    assert stats.reconciled == 1
    assert server.stats()["messages"] == 6
    assert server.stats()["duplicate_recipients"] == 0
    # The one that got out was delivered meanwhile; reconciliation learns that too.
    assert store.get_message(sending[0].id).state is MessageState.DELIVERED
    assert store.progress(campaign.id).by_state == {
        MessageState.SUBMITTED: 5,
        MessageState.DELIVERED: 1,
    }


# --- fallback ---------------------------------------------------------------------------


def _fallback_setup(
    store: MemoryStore, clock: FakeClock, server: SimulatorServer, count: int
) -> tuple[str, list[str], list[str]]:
    campaign = store.save_campaign(
        running(
            channel="line",
            fallback=Fallback(template=Template(body="sms"), wait=timedelta(minutes=10)),
        ),
        now=clock.now(),
    )
    now = clock.now()
    parents = planned(campaign.id, count, now=now, channel=Channel.LINE, provider="line")
    children = planned(campaign.id, count, now=now, step=1, provider="sms")
    parents = [attrs.evolve(p, fallback_wait=timedelta(minutes=10)) for p in parents]
    children = [attrs.evolve(c, parent_id=p.id) for p, c in zip(parents, children, strict=True)]
    store.insert_messages(parents, now=now)
    store.insert_messages(children, now=now)
    return campaign.id, [p.id for p in parents], [c.id for c in children]


@pytest.fixture
def providers() -> dict[str, SimulatorProvider]:
    return {
        "line": SimulatorProvider("line", channel=Channel.LINE),
        "sms": SimulatorProvider("sms"),
    }


async def test_fallback_after_permanent_failure(
    store: MemoryStore,
    server: SimulatorServer,
    clock: FakeClock,
    make_dispatcher: MakeDispatcher,
    providers: dict[str, SimulatorProvider],
) -> None:
    """A LINE message refused for good falls back to SMS at once; the others do not."""
    server.rules = {"line:0001": "invalid"}
    server.delivery_delay = 30
    _, parents, children = _fallback_setup(store, clock, server, 3)
    start = clock.now()
    await make_dispatcher(providers=providers, poll_receipts={"line"}).run()
    assert store.get_message(parents[1]).state is MessageState.FALLEN_BACK
    sent_child = store.get_message(children[1])
    assert sent_child.state is MessageState.SUBMITTED
    assert sent_child.sent_at is not None
    assert sent_child.sent_at - start < timedelta(seconds=5)
    for i in (0, 2):
        assert store.get_message(parents[i]).state is MessageState.DELIVERED
        assert store.get_message(children[i]).state is MessageState.SKIPPED
        assert store.get_message(children[i]).reason == "cancelled"
    assert server.recipients["+886900000001"] == 2  # LINE attempt + SMS
    assert server.recipients["+886900000000"] == 1


async def test_fallback_when_no_confirmation_arrives_in_time(
    store: MemoryStore,
    server: SimulatorServer,
    clock: FakeClock,
    make_dispatcher: MakeDispatcher,
    providers: dict[str, SimulatorProvider],
) -> None:
    """Without a delivery confirmation within the waiting time, the SMS goes, once."""
    server.rules = {"line:0000": "undelivered"}
    server.delivery_delay = 3600  # the others are confirmed too late to matter
    _, parents, children = _fallback_setup(store, clock, server, 2)
    start = clock.now()
    await make_dispatcher(providers=providers, horizon=timedelta(minutes=30)).run()
    for parent, child in zip(parents, children, strict=True):
        assert store.get_message(parent).state is MessageState.FALLEN_BACK
        row = store.get_message(child)
        assert row.state is MessageState.SUBMITTED
        assert row.sent_at is not None
        assert row.sent_at - start >= timedelta(minutes=10)
    assert sum(server.recipients.values()) == 4


async def test_delivery_cancels_the_fallback(
    store: MemoryStore,
    server: SimulatorServer,
    clock: FakeClock,
    make_dispatcher: MakeDispatcher,
    providers: dict[str, SimulatorProvider],
) -> None:
    """A delivery confirmed within the waiting time cancels the SMS; it is never sent."""
    server.delivery_delay = 60
    campaign_id, parents, children = _fallback_setup(store, clock, server, 5)
    await make_dispatcher(providers=providers, poll_receipts={"line"}).run()
    assert {store.get_message(p).state for p in parents} == {MessageState.DELIVERED}
    assert {store.get_message(c).state for c in children} == {MessageState.SKIPPED}
    assert sum(server.recipients.values()) == 5
    progress = store.progress(campaign_id)
    assert progress.pending == 0
