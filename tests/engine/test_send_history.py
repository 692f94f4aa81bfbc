"""The send-time check's history: read when a capped chunk is marked, in its transaction,
and kept current in memory while the chunk is checked; caps hold across workers."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from hypothesis import given, settings
from hypothesis import strategies as st

import msgkit.engine
from msgkit import FrequencyCap, SendPolicy
from msgkit.core.delivery import Channel, MessageState
from msgkit.core.fatigue import SentRecord
from msgkit.engine.clock import FakeClock
from msgkit.engine.dispatcher import Dispatcher, DispatcherSettings, _History
from msgkit.engine.transport import HttpxTransport
from msgkit.providers.simulator import SimulatorProvider, SimulatorServer
from msgkit.store import MemoryStore, SQLiteStore
from msgkit.store.base import MessageRow
from tests.factories import planned, running

T0 = datetime(2024, 6, 3, 1, 0, tzinfo=timezone.utc)
CAP = FrequencyCap(limit=1, per="day")


def _row(message_id: str, recipient: str, *, counts: bool = True) -> MessageRow:
    return MessageRow(
        id=message_id,
        key=message_id,
        campaign_id="c",
        channel=Channel.SMS,
        to=recipient,
        text="hello",
        state=MessageState.QUEUED,
        counts_toward_caps=counts,
    )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["go", "withdraw"]),
            st.integers(0, 5),
            st.sampled_from(["+886900000001", "+886900000002", "+886900000003"]),
            st.booleans(),
        ),
        max_size=30,
    )
)
def test_history_counts_what_went_and_was_not_withdrawn(
    ops: list[tuple[str, int, str, bool]],
) -> None:
    """A tracked recipient's history is what the store held plus each message that went,
    counts toward caps and was not withdrawn, in the order they went."""
    tracked = ["+886900000001", "+886900000002"]
    before = SentRecord(at=T0 - timedelta(hours=1), channel=Channel.SMS)
    history = _History({}, {r: [before] for r in tracked})
    expected: dict[str, dict[str, SentRecord]] = {r: {} for r in tracked}
    for step, (op, index, recipient, counts) in enumerate(ops):
        message_id = f"m{index}"
        if op == "go" and not any(message_id in e for e in expected.values()):
            record = SentRecord(at=T0 + timedelta(seconds=step), channel=Channel.SMS)
            history.going(_row(message_id, recipient, counts=counts), record)
            if recipient in expected and counts:
                expected[recipient][message_id] = record
        elif op == "withdraw":
            history.withdraw(message_id)
            for found in expected.values():
                found.pop(message_id, None)
    history.caps = {"probe": [CAP]}
    for recipient in tracked:
        assert history.of(_row("probe", recipient)) == [before, *expected[recipient].values()]
    assert history.of(_row("other", tracked[0])) == []  # no caps: nothing to read


def _send(store: MemoryStore, **settings_: Any) -> tuple[Any, int, int]:
    """Run a dispatcher over ``store``; (stats, history queries, claims)."""
    calls = {"history": 0, "claim": 0}
    for name in calls:
        original = getattr(store, name)

        def counted(*args: Any, _original: Any = original, _name: str = name, **kw: Any) -> Any:
            calls[_name] += 1
            return _original(*args, **kw)

        setattr(store, name, counted)
    clock = FakeClock(T0)
    server = SimulatorServer(clock=clock.now)
    max_batch = settings_.pop("max_batch", 1)

    async def run() -> Any:
        dispatcher = Dispatcher(
            store,
            {"sim": SimulatorProvider("sim", max_batch=max_batch)},
            transport=HttpxTransport(transport=httpx.ASGITransport(app=server)),
            clock=clock,
            settings=DispatcherSettings(**settings_),
        )
        try:
            return await dispatcher.run()
        finally:
            await dispatcher.aclose()

    stats = asyncio.run(run())
    return stats, calls["history"], calls["claim"]


def _capped_campaign(store: MemoryStore | SQLiteStore, limit: int) -> str:
    policy = SendPolicy(caps=[FrequencyCap(limit=limit, per="day")], apply_caps=True, schedule=None)
    return store.save_campaign(running(policy=policy), now=T0).id


def test_one_history_query_per_capped_chunk() -> None:
    """With caps, the history is read once per chunk (in the transaction that marks it),
    not once per message; without caps, never."""
    store = MemoryStore()
    campaign_id = _capped_campaign(store, limit=3)
    store.insert_messages(planned(campaign_id, 120, now=T0), now=T0)
    stats, history_queries, claims = _send(store, batch_size=50, max_batch=10)
    assert stats.sent == 120
    assert history_queries == 12  # chunks of 10 of batches of 50, 50 and 20
    assert claims >= 3
    free = MemoryStore()
    free_id = free.save_campaign(running(), now=T0).id
    free.insert_messages(planned(free_id, 20, now=T0), now=T0)
    stats, history_queries, _ = _send(free, batch_size=50)
    assert (stats.sent, history_queries) == (20, 0)


@settings(max_examples=15, deadline=None)
@given(limit=st.integers(1, 4), count=st.integers(1, 6), max_batch=st.integers(1, 3))
def test_caps_hold_within_one_claimed_batch(limit: int, count: int, max_batch: int) -> None:
    """Messages of one batch to one person go up to the cap, and the rest are skipped,
    whatever the provider's batch size (each counts as it leaves)."""
    store = MemoryStore()
    campaign_id = _capped_campaign(store, limit=limit)
    for step in range(count):
        store.insert_messages(planned(campaign_id, 1, now=T0, step=step), now=T0)
    stats, history_queries, _ = _send(store, max_batch=max_batch)
    assert stats.sent == min(limit, count)
    assert stats.skipped == count - min(limit, count)
    assert history_queries == -(-count // max_batch)  # one a chunk


def test_engine_exports_the_dispatcher() -> None:
    """msgkit.engine gives the dispatcher, its settings and its stats."""
    assert msgkit.engine.Dispatcher is Dispatcher
    assert msgkit.engine.DispatcherSettings is DispatcherSettings
    assert msgkit.engine.RunStats.__name__ == "RunStats"


def test_caps_hold_across_workers(tmp_path: Any) -> None:
    """Two workers (two dispatchers, each with its own connection to one SQLite file)
    hold messages of two campaigns to the same people at once, under a cap of one a
    day: each person gets one message, not one from each worker.

    Which worker claims what is a race: one may claim everything before the other's
    first claim (the other then finds nothing to do and ends). Every round must keep
    the cap; rounds run until one had both workers sending."""
    count = 40

    def round_(path: Any) -> tuple[Any, Any, SimulatorServer]:
        now = datetime.now(timezone.utc)
        with SQLiteStore(path) as setup:
            first = _capped_campaign(setup, limit=1)
            second = _capped_campaign(setup, limit=1)
            setup.insert_messages(planned(first, count, now=now), now=now)
            setup.insert_messages(planned(second, count, now=now), now=now, priority=True)
        server = SimulatorServer()

        async def worker(store: SQLiteStore) -> Any:
            dispatcher = Dispatcher(
                store,
                {"sim": SimulatorProvider("sim", max_batch=1)},
                transport=HttpxTransport(transport=httpx.ASGITransport(app=server)),
                # (a short horizon: one need not wait for the other's claims to end)
                settings=DispatcherSettings(
                    batch_size=5, concurrency=4, horizon=timedelta(seconds=1)
                ),
            )
            try:
                return await dispatcher.run()
            finally:
                await dispatcher.aclose()

        async def both() -> list[Any]:
            stores = [SQLiteStore(path), SQLiteStore(path)]
            try:
                return list(await asyncio.gather(*(worker(s) for s in stores)))
            finally:
                for store in stores:
                    store.close()

        a, b = asyncio.run(both())
        return a, b, server

    for attempt in range(8):
        a, b, server = round_(tmp_path / f"shared-{attempt}.db")
        assert a.sent + b.sent == count
        assert sorted(server.recipients.values()) == [1] * count
        if a.sent > 0 and b.sent > 0:
            break
    assert min(a.sent, b.sent) > 0, "the two workers never sent side by side"
