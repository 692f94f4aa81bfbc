"""The dispatcher against the in-process simulator, on a fake clock (no sleeps)."""

from __future__ import annotations

import asyncio
import itertools
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest

from msgkit.core.campaigns import CampaignKind, CampaignStatus
from msgkit.core.delivery import MessageState
from msgkit.core.pricing import Balance
from msgkit.engine.clock import FakeClock
from msgkit.exceptions import ConfigError, UnavailableError
from msgkit.providers.simulator import SimulatorProvider, SimulatorServer
from msgkit.store import MemoryStore
from tests.engine.conftest import MakeDispatcher
from tests.factories import planned, running

pytestmark = pytest.mark.anyio


def _states(store: MemoryStore, campaign_id: str) -> dict[MessageState, int]:
    return dict(store.progress(campaign_id).by_state)


async def test_sends_every_message_once(
    store: MemoryStore, server: SimulatorServer, clock: FakeClock, make_dispatcher: MakeDispatcher
) -> None:
    """A running campaign's messages are all submitted, and the server saw each once."""
    campaign = store.save_campaign(running(), now=clock.now())
    store.insert_messages(planned(campaign.id, 250, now=clock.now()), now=clock.now())
    stats = await make_dispatcher(batch_size=100).run()
    assert stats.sent == 250
    assert server.stats()["duplicate_recipients"] == 0
    assert server.stats()["recipients"] == 250
    assert _states(store, campaign.id) == {MessageState.SUBMITTED: 250}


async def test_campaign_finishes_when_nothing_is_left(
    store: MemoryStore, clock: FakeClock, make_dispatcher: MakeDispatcher
) -> None:
    """Once every message is settled, a bulk campaign is finished."""
    campaign = store.save_campaign(running(), now=clock.now())
    store.insert_messages(planned(campaign.id, 3, now=clock.now()), now=clock.now())
    await make_dispatcher().run()
    assert store.get_campaign(campaign.id).status is CampaignStatus.FINISHED


async def test_receipts_by_polling(
    store: MemoryStore, server: SimulatorServer, clock: FakeClock, make_dispatcher: MakeDispatcher
) -> None:
    """With polling on, submitted messages become delivered once the server delivers them."""
    campaign = store.save_campaign(running(), now=clock.now())
    store.insert_messages(planned(campaign.id, 5, now=clock.now()), now=clock.now())
    dispatcher = make_dispatcher(poll_receipts={"sim"}, poll_after=timedelta(seconds=10))
    await dispatcher.run()
    assert _states(store, campaign.id) == {MessageState.DELIVERED: 5}


@pytest.mark.parametrize("answer", ["failed", "canceled"])
async def test_polled_failure_ends_undelivered(
    store: MemoryStore,
    server: SimulatorServer,
    clock: FakeClock,
    make_dispatcher: MakeDispatcher,
    answer: str,
) -> None:
    """A submitted message polled as failed or canceled ends undelivered, asked once."""
    server.rules = {"": answer}  # every number
    campaign = store.save_campaign(running(), now=clock.now())
    store.insert_messages(planned(campaign.id, 3, now=clock.now()), now=clock.now())
    dispatcher = make_dispatcher(poll_receipts={"sim"}, poll_after=timedelta(seconds=10))
    await dispatcher.run()
    assert _states(store, campaign.id) == {MessageState.UNDELIVERED: 3}
    assert store.get_campaign(campaign.id).status is CampaignStatus.FINISHED


async def test_media_goes_to_the_provider(
    store: MemoryStore, server: SimulatorServer, clock: FakeClock, make_dispatcher: MakeDispatcher
) -> None:
    """The media stored with a message is handed to the adapter (the simulator records it)."""
    campaign = store.save_campaign(running(), now=clock.now())
    media = ("https://cdn.example.com/a.png",)
    store.insert_messages(planned(campaign.id, 2, now=clock.now(), media=media), now=clock.now())
    await make_dispatcher().run()
    assert [m.media for m in server.messages.values()] == [media, media]


async def test_retry_honours_retry_after(
    store: MemoryStore, server: SimulatorServer, clock: FakeClock, make_dispatcher: MakeDispatcher
) -> None:
    """A 429 with Retry-After is retried no sooner than asked, then succeeds."""
    answers = iter([429, 429])
    app = httpx.ASGITransport(app=server)

    async def handler(request: httpx.Request) -> httpx.Response:
        status = next(answers, None)
        if status is not None:
            return httpx.Response(status, headers={"retry-after": "30"})
        return await app.handle_async_request(request)

    campaign = store.save_campaign(running(), now=clock.now())
    start = clock.now()
    [message] = planned(campaign.id, 1, now=start)
    store.insert_messages([message], now=start)
    stats = await make_dispatcher(transport=httpx.MockTransport(handler)).run()
    row = store.get_message(message.id)
    assert row.state is MessageState.SUBMITTED
    assert row.attempts == 3
    assert stats.retried == 2
    assert row.sent_at is not None
    assert row.sent_at - start >= timedelta(seconds=60)
    events = [e[1] for e in store.events(message.id)]
    assert events == ["claim", "send", "retry", "claim", "send", "retry", "claim", "send", "accept"]


async def test_retry_gives_up(
    store: MemoryStore, clock: FakeClock, make_dispatcher: MakeDispatcher
) -> None:
    """A provider that keeps failing with 500 fails the message after max_attempts."""
    campaign = store.save_campaign(running(), now=clock.now())
    [message] = planned(campaign.id, 1, now=clock.now())
    store.insert_messages([message], now=clock.now())
    transport = httpx.MockTransport(lambda _: httpx.Response(500))
    await make_dispatcher(transport=transport).run()
    row = store.get_message(message.id)
    assert row.state is MessageState.FAILED
    assert row.attempts == 5
    assert row.error
    assert "gave up after 5 attempts" in row.error


async def test_backoff_grows(
    store: MemoryStore, clock: FakeClock, make_dispatcher: MakeDispatcher
) -> None:
    """Waits between attempts grow exponentially (2s, 4s, 8s ... with jitter)."""
    campaign = store.save_campaign(running(), now=clock.now())
    [message] = planned(campaign.id, 1, now=clock.now())
    store.insert_messages([message], now=clock.now())
    await make_dispatcher(transport=httpx.MockTransport(lambda _: httpx.Response(503))).run()
    sends = [e[0] for e in store.events(message.id) if e[1] == "send"]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(sends)]
    assert len(gaps) == 4
    for i, gap in enumerate(gaps):
        assert 2 ** (i + 1) * 0.5 <= gap <= 2 ** (i + 1) + 1.01


async def test_permanent_failure_keeps_the_code(
    store: MemoryStore, server: SimulatorServer, clock: FakeClock, make_dispatcher: MakeDispatcher
) -> None:
    """A rejected number fails at once with the provider's code; the others go."""
    server.rules = {"0013": "invalid"}
    campaign = store.save_campaign(running(), now=clock.now())
    store.insert_messages(planned(campaign.id, 20, now=clock.now()), now=clock.now())
    await make_dispatcher().run()
    failed = store.messages(campaign_id=campaign.id, states=[MessageState.FAILED])
    assert [m.recipient for m in failed] == ["+886900000013"]
    assert failed[0].error_code == "INVALID_NUMBER"
    assert failed[0].attempts == 1
    assert _states(store, campaign.id)[MessageState.SUBMITTED] == 19


async def test_opt_out_error_suppresses(
    store: MemoryStore, server: SimulatorServer, clock: FakeClock, make_dispatcher: MakeDispatcher
) -> None:
    """A provider-side opt-out fails the message and adds the number to the suppression list."""
    server.rules = {"0007": "opted_out"}
    campaign = store.save_campaign(running(), now=clock.now())
    store.insert_messages(planned(campaign.id, 10, now=clock.now()), now=clock.now())
    await make_dispatcher().run()
    # No sender on these messages: the opt-out covers the whole channel (broader, safer).
    assert store.suppressed(["sms"], ["+886900000007"]) == {("sms", "+886900000007")}


async def test_account_error_stops_the_campaign(
    store: MemoryStore, server: SimulatorServer, clock: FakeClock, make_dispatcher: MakeDispatcher
) -> None:
    """No balance stops the campaign with the reason; no recipient is marked failed."""
    server.account_error = True
    campaign = store.save_campaign(running(), now=clock.now())
    store.insert_messages(planned(campaign.id, 300, now=clock.now()), now=clock.now())
    stats = await make_dispatcher(batch_size=50).run()
    stopped = store.get_campaign(campaign.id)
    assert stopped.status is CampaignStatus.STOPPED
    assert stopped.stop_reason
    assert "NO_BALANCE" in stopped.stop_reason
    assert stats.campaigns_stopped == [campaign.id]
    assert _states(store, campaign.id) == {MessageState.PLANNED: 300}
    assert server.stats()["requests"] == 1
    # Fix the account, resume: everything goes.
    server.account_error = False
    store.save_campaign(stopped.apply("resume").apply("initialized"), now=clock.now())
    await make_dispatcher().run()
    assert _states(store, campaign.id) == {MessageState.SUBMITTED: 300}


async def test_stop_sends_nothing_new(
    store: MemoryStore, server: SimulatorServer, clock: FakeClock, make_dispatcher: MakeDispatcher
) -> None:
    """A stopped campaign's messages stay planned; resuming sends the rest."""
    campaign = store.save_campaign(running(), now=clock.now())
    store.insert_messages(planned(campaign.id, 100, now=clock.now()), now=clock.now())
    dispatcher = make_dispatcher(batch_size=30)
    assert await dispatcher.step()
    stopped = store.save_campaign(campaign.apply("stop"), now=clock.now())
    await dispatcher.run()
    assert server.stats()["messages"] == 30
    assert _states(store, campaign.id) == {MessageState.SUBMITTED: 30, MessageState.PLANNED: 70}
    store.save_campaign(stopped.apply("resume").apply("initialized"), now=clock.now())
    await dispatcher.run()
    assert server.stats()["messages"] == 100
    assert server.stats()["duplicate_recipients"] == 0


async def test_deferred_messages_wait_for_their_time(
    store: MemoryStore, server: SimulatorServer, clock: FakeClock, make_dispatcher: MakeDispatcher
) -> None:
    """A message deferred to the next window is sent at that time, not before."""
    campaign = store.save_campaign(running(), now=clock.now())
    opens = clock.now() + timedelta(hours=2)
    [message] = planned(campaign.id, 1, now=opens, deferred=True)
    store.insert_messages([message], now=clock.now())
    await make_dispatcher(horizon=timedelta(hours=3)).run()
    row = store.get_message(message.id)
    assert row.state is MessageState.SUBMITTED
    assert row.sent_at == opens


async def test_run_returns_when_next_work_is_beyond_the_horizon(
    store: MemoryStore, server: SimulatorServer, clock: FakeClock, make_dispatcher: MakeDispatcher
) -> None:
    """until_idle does not wait a day for tomorrow's window."""
    campaign = store.save_campaign(running(), now=clock.now())
    start = clock.now()
    store.insert_messages(
        planned(campaign.id, 1, now=start + timedelta(days=1), deferred=True), now=start
    )
    await make_dispatcher().run()
    assert clock.now() - start < timedelta(minutes=1)
    assert server.stats()["messages"] == 0


async def test_expired_messages_are_not_sent(
    store: MemoryStore, server: SimulatorServer, clock: FakeClock, make_dispatcher: MakeDispatcher
) -> None:
    """A message whose validity ends before its window opens expires, unsent."""
    campaign = store.save_campaign(running(), now=clock.now())
    now = clock.now()
    [message] = planned(
        campaign.id,
        1,
        now=now + timedelta(hours=2),
        deferred=True,
        expires_at=now + timedelta(hours=1),
    )
    store.insert_messages([message], now=now)
    stats = await make_dispatcher(horizon=timedelta(hours=3)).run()
    row = store.get_message(message.id)
    assert row.state is MessageState.EXPIRED
    assert row.reason == "expired"
    assert stats.expired == 1
    assert server.stats()["messages"] == 0


async def test_bulk_campaigns_run_one_after_another(
    store: MemoryStore, server: SimulatorServer, clock: FakeClock, make_dispatcher: MakeDispatcher
) -> None:
    """The first bulk campaign started is sent entirely before the second begins."""
    first = store.save_campaign(running("first"), now=clock.now())
    second = store.save_campaign(running("second"), now=clock.now())
    store.insert_messages(planned(second.id, 50, now=clock.now(), start=100), now=clock.now())
    store.insert_messages(planned(first.id, 50, now=clock.now()), now=clock.now())
    await make_dispatcher(batch_size=20).run()
    first_numbers = {m.recipient for m in store.messages(campaign_id=first.id)}
    arrivals = [m.to in first_numbers for m in server.messages.values()]  # arrival order
    assert arrivals == [True] * 50 + [False] * 50


async def test_triggered_messages_do_not_wait_behind_bulk(
    store: MemoryStore, server: SimulatorServer, clock: FakeClock, make_dispatcher: MakeDispatcher
) -> None:
    """A triggered message goes out in the first batch even while a bulk campaign is queued."""
    bulk = store.save_campaign(running("bulk"), now=clock.now())
    trig = store.save_campaign(running("otp", kind=CampaignKind.TRIGGERED), now=clock.now())
    store.insert_messages(planned(bulk.id, 200, now=clock.now()), now=clock.now())
    dispatcher = make_dispatcher(batch_size=50)
    assert await dispatcher.step()
    store.insert_messages(
        planned(trig.id, 1, now=clock.now(), start=900), now=clock.now(), priority=True
    )
    assert await dispatcher.step()
    arrivals = [m.to for m in server.messages.values()]
    assert "+886900000900" in arrivals[50:100]
    await dispatcher.run()
    assert store.get_campaign(trig.id).status is CampaignStatus.RUNNING  # triggered never finish


async def test_send_speed_is_enforced(
    store: MemoryStore, server: SimulatorServer, clock: FakeClock, make_dispatcher: MakeDispatcher
) -> None:
    """A provider limited to 2 requests/s with batches of 1 takes 50 s for 100 messages."""
    from msgkit.providers.simulator import SimulatorProvider

    campaign = store.save_campaign(running(), now=clock.now())
    store.insert_messages(planned(campaign.id, 100, now=clock.now()), now=clock.now())
    start = clock.now()
    slow = SimulatorProvider("sim", max_batch=1, rate_per_second=2)
    await make_dispatcher(providers={"sim": slow}, concurrency=1).run()
    elapsed = (clock.now() - start).total_seconds()
    assert 49 <= elapsed <= 52
    assert server.stats()["messages"] == 100


async def test_a_provider_missing_stops_the_campaign(
    store: MemoryStore, server: SimulatorServer, clock: FakeClock, make_dispatcher: MakeDispatcher
) -> None:
    """Messages for a provider this worker does not have stop the campaign; none is lost."""
    campaign = store.save_campaign(running(), now=clock.now())
    store.insert_messages(
        planned(campaign.id, 5, now=clock.now(), provider="gone"), now=clock.now()
    )
    await make_dispatcher().run()
    stopped = store.get_campaign(campaign.id)
    assert stopped.status is CampaignStatus.STOPPED
    assert stopped.stop_reason is not None
    assert "no provider named 'gone'" in stopped.stop_reason
    assert _states(store, campaign.id) == {MessageState.PLANNED: 5}
    assert server.stats()["messages"] == 0


async def test_stop_gives_back_what_was_not_sent(
    store: MemoryStore, server: SimulatorServer, clock: FakeClock, make_dispatcher: MakeDispatcher
) -> None:
    """A run asked to stop finishes its requests in flight and gives back the rest."""
    campaign = store.save_campaign(running(), now=clock.now())
    store.insert_messages(planned(campaign.id, 40, now=clock.now()), now=clock.now())
    stop = asyncio.Event()
    inner = httpx.ASGITransport(app=server)

    class StopAfterFour(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if server.requests >= 3:
                stop.set()
            return await inner.handle_async_request(request)

    dispatcher = make_dispatcher(
        transport=StopAfterFour(),
        providers={"sim": SimulatorProvider("sim", max_batch=1)},
        concurrency=2,
    )
    await dispatcher.run(stop=stop)
    sent = len(server.messages)
    assert 4 <= sent <= 5  # the fourth request, and one more already in flight
    assert _states(store, campaign.id) == {
        MessageState.SUBMITTED: sent,
        MessageState.PLANNED: 40 - sent,
    }


async def test_balance_through_the_transport(
    make_dispatcher: MakeDispatcher, server: SimulatorServer
) -> None:
    """Dispatcher.balance asks the provider through its transport; None where none is
    reported; an unknown provider is a ConfigError naming the configured ones."""
    dispatcher = make_dispatcher()
    assert await dispatcher.balance("sim") is None
    server.balance = Decimal("2.5")
    assert await dispatcher.balance("sim") == Balance(amount="2.5", currency="USD")
    with pytest.raises(ConfigError, match="configured: sim"):
        await dispatcher.balance("nope")


async def test_balance_transport_failure_is_unavailable(make_dispatcher: MakeDispatcher) -> None:
    """A balance query that cannot be performed raises UnavailableError, with what to do."""

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    dispatcher = make_dispatcher(transport=httpx.MockTransport(refuse))
    with pytest.raises(UnavailableError, match="base_url"):
        await dispatcher.balance("sim")
