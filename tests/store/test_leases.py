"""A worker's leases against the housekeeping of the others, on one database: a
heartbeat landing while a dead worker's messages are recovered, a stopping worker
giving back what is no longer its own. Each runs on SQLite (two stores on one file)
and on PostgreSQL (two pools), when ``MSGKIT_TEST_POSTGRES`` names a server."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from msgkit.core.delivery import MessageEvent, MessageState
from msgkit.engine.clock import FakeClock
from msgkit.engine.dispatcher import DispatcherSettings, RunStats
from msgkit.engine.housekeeping import Housekeeping
from msgkit.store import Change, SQLiteStore, SQLStore
from msgkit.store.sql import ms
from msgkit.testing.contracts import planned_messages, running_campaign
from tests.postgres import Databases

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)


@pytest.fixture(params=["sqlite", "postgres"])
def two_stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[SQLStore, SQLStore]]:
    """Two stores (two workers' connections) on one new database."""
    if request.param == "sqlite":
        pair: tuple[SQLStore, SQLStore] = (
            SQLiteStore(tmp_path / "w.db"),
            SQLiteStore(tmp_path / "w.db"),
        )
        made = None
    else:
        databases: Databases = request.getfixturevalue("postgres_databases")
        from msgkit.store.postgres import PostgresStore

        made = databases.new()
        pair = (PostgresStore(made), PostgresStore(made))
    yield pair
    for store in pair:
        store.close()
    if made is not None:
        databases.release(made)


def housekeeping(store: SQLStore, clock: FakeClock) -> Housekeeping:
    async def db(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    async def perform(provider: str, request: httpx.Request) -> httpx.Response:
        raise AssertionError("no provider is asked")

    async def campaign(campaign_id: str) -> None:
        return None

    return Housekeeping(
        store,
        {},
        db=db,
        perform=perform,
        campaign=campaign,
        clock=clock,
        settings=DispatcherSettings(),
        stats=RunStats(),
        worker="keeper",
    )


def sending(store: SQLStore, *, lease_until: datetime) -> str:
    """One message that worker ``w`` is sending, its lease until ``lease_until``."""
    campaign = store.save_campaign(running_campaign(), now=NOW)
    store.insert_messages(planned_messages(campaign.id, 1, now=NOW), now=NOW)
    [claimed] = store.claim(worker="w", now=NOW, limit=1, lease_until=lease_until)
    store.apply([Change(message_id=claimed.id, event=MessageEvent.SEND)], now=NOW, worker="w")
    return claimed.id


def test_a_heartbeat_during_recovery_keeps_the_message_sending(
    two_stores: tuple[SQLStore, SQLStore],
) -> None:
    """A heartbeat renewing the lease while another worker's housekeeping recovers the
    expired one: the message stays ``sending`` (its request may still be in flight),
    never marked unknown (and resent, per policy). Before: the housekeeping read the
    expired lease, the heartbeat committed, and the write ignored it."""
    keeper, beating = two_stores
    mid = sending(keeper, lease_until=NOW + MINUTE)
    later = NOW + 2 * MINUTE
    renewing, commit = threading.Event(), threading.Event()

    def heartbeat() -> None:
        # The heartbeat's transaction holds the renewed row until it commits.
        with beating._tx() as cur:
            beating._q(
                cur,
                "UPDATE messages SET lease_until = ? WHERE id = ?",
                (ms(later + 10 * MINUTE), mid),
            )
            renewing.set()
            commit.wait(10)

    beat = threading.Thread(target=heartbeat)
    beat.start()
    assert renewing.wait(10)
    recovery = threading.Thread(
        target=lambda: asyncio.run(housekeeping(keeper, FakeClock(later)).recover(later))
    )
    recovery.start()
    time.sleep(0.5)  # the recovery reads, then waits for the heartbeat's lock
    commit.set()
    beat.join(10)
    recovery.join(30)
    assert keeper.get_message(mid).state is MessageState.SENDING
    # Once no heartbeat comes, the lease runs out and the message is recovered.
    end = later + 11 * MINUTE
    asyncio.run(housekeeping(keeper, FakeClock(end)).recover(end))
    assert keeper.get_message(mid).state is MessageState.UNKNOWN


def test_a_stopping_worker_leaves_a_message_another_claimed_again(
    two_stores: tuple[SQLStore, SQLStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``release_worker`` gives back only what the stopping worker still holds: a
    message whose lease ran out and that another worker claimed between its read and
    its write stays the other's. Before: the other's claim was released."""
    store, other = two_stores
    campaign = store.save_campaign(running_campaign(), now=NOW)
    store.insert_messages(planned_messages(campaign.id, 1, now=NOW), now=NOW)
    [mine] = store.claim(worker="a", now=NOW, limit=1, lease_until=NOW + MINUTE)
    later = NOW + 2 * MINUTE
    apply = store.apply

    def claimed_meanwhile(changes: Any, **kwargs: Any) -> Any:
        # The lease ran out: the housekeeping gives the message back, and b claims it.
        asyncio.run(housekeeping(other, FakeClock(later)).recover(later))
        assert other.claim(worker="b", now=later, limit=1, lease_until=later + MINUTE)
        monkeypatch.setattr(store, "apply", apply)
        return apply(changes, **kwargs)

    monkeypatch.setattr(store, "apply", claimed_meanwhile)
    assert store.release_worker("a", now=later) == 0
    [result] = other.apply(
        [Change(message_id=mine.id, event=MessageEvent.SEND)], now=later, worker="b"
    )
    assert result.applied
