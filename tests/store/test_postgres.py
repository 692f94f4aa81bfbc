"""What the PostgreSQL store does besides the contract: its URL, its errors, and staying
correct with several workers (stores) on one database at once.

They run when ``MSGKIT_TEST_POSTGRES`` names a server (see ``tests/postgres.py``)."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import psycopg
import pytest

from msgkit import Campaign, ConfigError, StoreError
from msgkit.core.campaigns import CampaignKind, CampaignStatus
from msgkit.core.delivery import MessageEvent, MessageState
from msgkit.store import Change, open_store
from msgkit.store import postgres as pg_module
from msgkit.store.migrations import LATEST
from msgkit.store.postgres import PostgresStore, masked_url
from msgkit.testing.contracts import planned_messages, running_campaign
from tests.postgres import Databases, database_url

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
LEASE = NOW + timedelta(minutes=5)
T = TypeVar("T")


@pytest.fixture
def url(postgres_databases: Databases) -> Iterator[str]:
    """A fresh database with msgkit's schema."""
    made = postgres_databases.new()
    yield made
    postgres_databases.release(made)


@pytest.fixture
def stores(url: str) -> Iterator[Callable[..., PostgresStore]]:
    """Open stores on the test's database (each its own pool: a worker); closed at the end."""
    opened: list[PostgresStore] = []

    def make(**options: Any) -> PostgresStore:
        store = PostgresStore(url, **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


def at_once(count: int, work: Callable[[int], T]) -> list[T]:
    """``work(0..count-1)`` in ``count`` threads released together."""
    start = threading.Barrier(count)

    def run(n: int) -> T:
        start.wait()
        return work(n)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


# --- URLs and errors ------------------------------------------------------------------------


def test_open_store_opens_postgresql_urls(url: str) -> None:
    """postgresql:// and postgres:// open a PostgresStore at the latest schema."""
    for text in (url, url.replace("postgresql://", "postgres://", 1)):
        store = open_store(f"{text}?pool_size=2")
        assert isinstance(store, PostgresStore)
        assert store.pool_size == 2
        assert store.schema_version == LATEST
        store.close()


def test_the_password_is_never_shown(url: str) -> None:
    """The store's URL, repr and errors show the password as ***."""
    secret = "s3cret-pw"  # the trust-auth test server ignores it
    with_password = url.replace("postgres@", f"postgres:{secret}@", 1)
    store = PostgresStore(with_password)
    assert secret not in repr(store)
    assert secret not in store.url
    assert "postgres:***@" in store.url
    store.close()
    missing = database_url(with_password, "msgkit_no_such_database")
    with pytest.raises(StoreError) as caught:
        PostgresStore(f"{missing}?password={secret}")
    assert secret not in str(caught.value)
    assert secret not in caught.value.database
    assert caught.value.kind in {"other", "connection"}


def test_masked_url_hides_passwords_in_user_and_query() -> None:
    """masked_url replaces a password in the user part and in the query."""
    assert masked_url("postgresql://u:p%40ss@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert masked_url("postgresql://h/d?password=x&sslmode=require") == (
        "postgresql://h/d?password=***&sslmode=require"
    )
    assert masked_url("postgresql://u@h/d") == "postgresql://u@h/d"


def test_an_unreachable_server_is_a_connection_error() -> None:
    """A server nobody listens on: StoreError kind 'connection', saying what to check."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(StoreError, match="can be reached") as caught:
        PostgresStore(f"postgresql://postgres:pw@127.0.0.1:{port}/postgres")
    assert caught.value.kind == "connection"
    assert "pw" not in caught.value.database


def test_bad_options_and_missing_driver_are_config_errors(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad pool_size, or psycopg not installed, is a ConfigError saying what to do."""
    with pytest.raises(ConfigError, match="pool_size"):
        PostgresStore(f"{url}?pool_size=many")
    with pytest.raises(ConfigError, match="pool_size"):
        PostgresStore(url, pool_size=0)
    monkeypatch.setattr(pg_module, "psycopg", None)
    with pytest.raises(ConfigError, match=r"msgkit\[postgres\]"):
        open_store(url)


def test_a_lost_connection_is_an_error_and_the_next_call_reconnects(
    stores: Callable[..., PostgresStore], url: str
) -> None:
    """The server ends the store's connection mid-transaction: StoreError kind
    'connection', nothing of it written; the pool replaces the connection and the next
    call works."""
    store = stores(pool_size=1)
    campaign = store.save_campaign(running_campaign(), now=NOW)

    def cut_off() -> None:
        with psycopg.connect(url, autocommit=True) as admin, store._tx() as cur:
            cur.execute("DELETE FROM campaigns")
            pid = cur.execute("SELECT pg_backend_pid()").fetchone()[0]
            admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
            cur.execute("SELECT 1")

    with pytest.raises(StoreError, match="lost") as caught:
        cut_off()
    assert caught.value.kind == "connection"
    assert store.get_campaign(campaign.id).id == campaign.id


def test_a_read_only_database_is_a_read_only_error(
    stores: Callable[..., PostgresStore], url: str
) -> None:
    """Writing to a read-only database: StoreError kind 'read_only'; nothing is written."""
    store = stores(pool_size=1)
    with store._tx() as cur:  # as a standby's sessions are
        cur.execute("SET default_transaction_read_only = on")
    with pytest.raises(StoreError, match="read-only") as caught:
        store.save_campaign(running_campaign(), now=NOW)
    assert caught.value.kind == "read_only"
    assert store.list_campaigns() == []


def test_a_user_without_privileges_is_told_what_to_grant(url: str) -> None:
    """A database user that may not create or write msgkit's tables: StoreError naming the
    grants it needs."""
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS msgkit_reader")
        admin.execute("CREATE ROLE msgkit_reader LOGIN")
    try:
        reader_url = url.replace("postgres@", "msgkit_reader@", 1)
        with pytest.raises(StoreError, match="grant it") as caught:
            PostgresStore(reader_url).save_campaign(running_campaign(), now=NOW)
        assert caught.value.kind == "read_only"
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE usename = 'msgkit_reader'"
            )
            admin.execute("DROP ROLE msgkit_reader")


def test_a_lock_held_too_long_is_a_locked_error(
    stores: Callable[..., PostgresStore], url: str
) -> None:
    """Another session holds the outbox past lock_timeout: StoreError kind 'locked'."""
    store = stores()
    campaign = store.save_campaign(running_campaign(), now=NOW)
    store.insert_messages(planned_messages(campaign.id, 3, now=NOW), now=NOW)
    impatient = stores(pool_size=1)
    with psycopg.connect(url) as other:
        other.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
        with impatient._tx() as cur:  # this session's lock_timeout only
            cur.execute("SET lock_timeout = '200ms'")
        with pytest.raises(StoreError) as caught:
            impatient.claim(worker="w", now=NOW, limit=10, lease_until=LEASE)
        other.rollback()
    assert caught.value.kind == "locked"


# --- several workers at once -----------------------------------------------------------------


def test_workers_opening_an_empty_database_at_once_migrate_it_once(
    postgres_databases: Databases,
) -> None:
    """Eight stores opening a new, empty database together all open it, at the latest
    schema, each migration applied once (the migrate lock)."""
    url = postgres_databases.empty()
    try:
        opened = at_once(8, lambda _: PostgresStore(url, pool_size=1))
        assert {s.schema_version for s in opened} == {LATEST}
        for store in opened:
            store.close()
    finally:
        postgres_databases.release(url)


def test_concurrent_claims_take_each_message_once(stores: Callable[..., PostgresStore]) -> None:
    """Four workers claiming from one outbox at once (SKIP LOCKED): every message is
    claimed, none twice."""
    first = stores()
    campaign = first.save_campaign(running_campaign(), now=NOW)
    first.insert_messages(planned_messages(campaign.id, 400, now=NOW), now=NOW)
    workers = [stores(pool_size=1) for _ in range(4)]

    def drain(n: int) -> list[str]:
        taken: list[str] = []
        while batch := workers[n].claim(worker=f"w{n}", now=NOW, limit=7, lease_until=LEASE):
            taken += [m.id for m in batch]
        return taken

    claims = at_once(4, drain)
    everyone = Counter(mid for taken in claims for mid in taken)
    assert len(everyone) == 400
    assert set(everyone.values()) == {1}
    assert all(taken for taken in claims)  # nobody waited for the others to finish


def test_concurrent_changes_to_one_message_apply_once(
    stores: Callable[..., PostgresStore],
) -> None:
    """Six workers sending the same claimed message at once: one change applies (the
    guarded update), one send is logged and counted in the send history."""
    first = stores()
    campaign = first.save_campaign(running_campaign(), now=NOW)
    first.insert_messages(planned_messages(campaign.id, 1, now=NOW), now=NOW)
    (message,) = first.claim(worker="w", now=NOW, limit=1, lease_until=LEASE)
    workers = [stores(pool_size=1) for _ in range(6)]
    change = Change(message_id=message.id, event=MessageEvent.SEND)
    results = at_once(6, lambda n: workers[n].apply([change], now=NOW)[0])
    assert sum(r.applied for r in results) == 1
    assert first.get_message(message.id).state is MessageState.SENDING
    sends = [e for e in first.events(message.id) if e[1] == "send"]
    assert len(sends) == 1


def test_bulk_campaigns_started_at_once_queue_one_after_another(
    stores: Callable[..., PostgresStore],
) -> None:
    """Bulk campaigns started by several workers at the same moment each get their own
    place in the run queue (no two share one), and lists their own creation order."""
    workers = [stores(pool_size=1) for _ in range(6)]

    def start(n: int) -> None:
        campaign = Campaign(name=f"c{n}", id=f"c{n}")
        workers[n].save_campaign(campaign, now=NOW)
        workers[n].save_campaign(
            Campaign(name=f"c{n}", id=f"c{n}", status=CampaignStatus.INITIALIZING), now=NOW
        )
        workers[n].create_list(f"l{n}", ["phone"], now=NOW)

    at_once(6, start)
    seqs = workers[0]._read("SELECT queue_seq FROM campaigns")
    assert len({r[0] for r in seqs}) == 6
    created = workers[0]._read("SELECT created_seq FROM lists")
    assert len({r[0] for r in created}) == 6


def test_the_same_reply_from_several_receivers_is_stored_once(
    stores: Callable[..., PostgresStore],
) -> None:
    """Five receivers storing one provider reply (same external id) at once: one id, and
    four 'already stored'."""
    workers = [stores(pool_size=1) for _ in range(5)]
    ids = at_once(
        5,
        lambda n: workers[n].add_reply(
            provider="tw",
            scope=None,
            sender="+886912000001",
            text="STOP",
            at=NOW,
            external_id="SM1",
        ),
    )
    assert sum(i is not None for i in ids) == 1
    assert len(workers[0].replies()) == 1


def test_a_deadlock_is_run_again(stores: Callable[..., PostgresStore], url: str) -> None:
    """A change PostgreSQL aborts to break a deadlock with another session is run again
    and applies; it does not fail the worker."""
    store = stores(pool_size=1)
    campaign = store.save_campaign(running_campaign(), now=NOW)
    store.insert_messages(planned_messages(campaign.id, 2, now=NOW), now=NOW)
    first, second = sorted(
        m.id for m in store.claim(worker="w", now=NOW, limit=2, lease_until=LEASE)
    )
    with store._tx() as cur:  # this session finds the deadlock first
        cur.execute("SET deadlock_timeout = '100ms'")
    changes = [Change(message_id=i, event=MessageEvent.SEND) for i in (first, second)]
    with psycopg.connect(url) as other:
        other.execute("SET deadlock_timeout = '5s'")
        other.execute("SELECT 1 FROM messages WHERE id = %s FOR UPDATE", (second,))
        with ThreadPoolExecutor(1) as pool:
            applying = pool.submit(store.apply, changes, now=NOW)
            while not other.execute(  # the store holds `first` and waits for `second`
                "SELECT count(*) FROM pg_locks WHERE NOT granted"
            ).fetchone()[0]:
                pass
            other.execute("SELECT 1 FROM messages WHERE id = %s FOR UPDATE", (first,))
            other.commit()
            results = applying.result(timeout=30)
    assert [r.applied for r in results] == [True, True]
    assert {store.get_message(i).state for i in (first, second)} == {MessageState.SENDING}


@pytest.mark.parametrize("call", ["renew_leases", "mark_checked"])
def test_a_deadlocked_heartbeat_or_capped_mark_is_run_again(
    stores: Callable[..., PostgresStore], url: str, call: str
) -> None:
    """The heartbeat (`renew_leases`, its rows locked in id order as `apply` locks them)
    and the capped marks (`mark_checked`) are run again when PostgreSQL aborts them to
    break a deadlock, as `apply` is: a deadlock does not fail the worker."""
    store = stores(pool_size=1)
    campaign = store.save_campaign(running_campaign(), now=NOW)
    messages = planned_messages(campaign.id, 2, now=NOW)
    store.insert_messages(messages, now=NOW)
    first, second = sorted(
        m.id for m in store.claim(worker="w", now=NOW, limit=2, lease_until=LEASE)
    )
    with store._tx() as cur:  # this session finds the deadlock first
        cur.execute("SET deadlock_timeout = '100ms'")
    changes = [Change(message_id=i, event=MessageEvent.SEND) for i in (first, second)]
    run: Callable[[], Any]
    if call == "renew_leases":
        run = lambda: store.renew_leases("w", until=LEASE + timedelta(minutes=5))  # noqa: E731
    else:
        run = lambda: store.mark_checked(  # noqa: E731
            [m.to for m in messages],
            lambda found: changes,
            since=NOW - timedelta(days=1),
            pending=[MessageState.SENDING],
            now=NOW,
            worker="w",
        )
    with psycopg.connect(url) as other:
        other.execute("SET deadlock_timeout = '5s'")
        other.execute("SELECT 1 FROM messages WHERE id = %s FOR UPDATE", (second,))
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(run)
            while not other.execute(  # the store holds `first` and waits for `second`
                "SELECT count(*) FROM pg_locks WHERE NOT granted"
            ).fetchone()[0]:
                pass
            other.execute("SELECT 1 FROM messages WHERE id = %s FOR UPDATE", (first,))
            other.commit()
            running.result(timeout=30)
    if call == "renew_leases":
        assert store.stale(MessageState.QUEUED, now=LEASE + timedelta(minutes=1)) == []
    else:
        assert {store.get_message(i).state for i in (first, second)} == {MessageState.SENDING}


def test_a_heartbeat_locks_in_the_order_apply_does(
    stores: Callable[..., PostgresStore], url: str
) -> None:
    """A heartbeat landing while a change (a receipt's `apply`, its rows locked in id
    order) holds the first of its messages waits for it, holding nothing the change
    needs next: no deadlock for PostgreSQL to break."""
    store = stores(pool_size=1)
    campaign = store.save_campaign(running_campaign(), now=NOW)
    store.insert_messages(planned_messages(campaign.id, 8, now=NOW), now=NOW)
    ids = sorted(m.id for m in store.claim(worker="w", now=NOW, limit=8, lease_until=LEASE))

    def deadlocks(conn: psycopg.Connection[Any]) -> int:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
        return int(row[0]) if row else 0

    with psycopg.connect(url, autocommit=True) as watch, psycopg.connect(url) as other:
        before = deadlocks(watch)
        other.execute("SET deadlock_timeout = '100ms'")
        other.execute("SELECT 1 FROM messages WHERE id = %s FOR UPDATE", (ids[0],))
        with ThreadPoolExecutor(1) as pool:
            beating = pool.submit(store.renew_leases, "w", until=LEASE + timedelta(minutes=5))
            while not watch.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[
                0
            ]:
                pass
            time.sleep(0.3)  # past the heartbeat's deadlock_timeout: a cycle is found
            # The change goes on, in id order: nothing it needs is held by the heartbeat.
            other.execute(
                "SELECT 1 FROM messages WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (ids[1:],)
            )
            other.commit()
            assert beating.result(timeout=30) == 8
        time.sleep(0.6)  # the statistics are flushed at most every half second
        assert deadlocks(watch) == before


def test_an_uncapped_send_waits_for_a_capped_mark_to_the_same_person(
    stores: Callable[..., PostgresStore],
) -> None:
    """A capped mark reads the person's sends and marks its message in one transaction;
    another worker marking an uncapped campaign's message to the same person (which
    counts toward caps) in between waits until it commits, instead of committing
    unseen: the cap's reading is never overtaken. Before: the uncapped send committed
    in between, and both went."""
    capped, uncapped = stores(), stores()
    first = capped.save_campaign(running_campaign("capped", kind=CampaignKind.TRIGGERED), now=NOW)
    second = capped.save_campaign(running_campaign("open", kind=CampaignKind.TRIGGERED), now=NOW)
    (mine,) = planned_messages(first.id, 1, now=NOW)
    (theirs,) = planned_messages(second.id, 1, now=NOW)
    capped.insert_messages([mine, theirs], now=NOW, priority=True)
    assert capped.claim(worker="a", now=NOW, limit=1, lease_until=LEASE)[0].id == mine.id
    assert uncapped.claim(worker="b", now=NOW, limit=1, lease_until=LEASE)[0].id == theirs.id
    during: list[bool] = []
    sends: list[Any] = []

    def check(found: Any) -> list[Change]:
        # Another worker marks its uncapped message to the same person meanwhile.
        sending = pool.submit(
            uncapped.apply,
            [Change(message_id=theirs.id, event=MessageEvent.SEND)],
            now=NOW,
            worker="b",
        )
        time.sleep(0.5)
        during.append(sending.done())
        sends.append(sending)
        return [Change(message_id=mine.id, event=MessageEvent.SEND)]

    with ThreadPoolExecutor(1) as pool:
        capped.mark_checked(
            [mine.to],
            check,
            since=NOW - timedelta(days=1),
            pending=[MessageState.SENDING],
            now=NOW,
            worker="a",
        )
        [result] = sends[0].result(timeout=30)
    assert during == [False]
    assert result.applied  # after the capped mark: uncapped, it may go


def test_text_with_a_nul_character_is_refused_saying_why(
    stores: Callable[..., PostgresStore],
) -> None:
    """PostgreSQL's text cannot hold NUL: a message holding one raises StoreError kind
    'invalid' saying what to remove, and nothing of that write is kept."""
    store = stores()
    campaign = store.save_campaign(running_campaign(), now=NOW)
    (bad,) = planned_messages(campaign.id, 1, now=NOW, text="Hi\x00there")
    with pytest.raises(StoreError, match="NUL") as caught:
        store.insert_messages([bad], now=NOW)
    assert caught.value.kind == "invalid"
    assert store.messages(campaign_id=campaign.id) == []
