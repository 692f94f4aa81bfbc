"""One contract suite, run against every store implementation."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from msgkit import Campaign, ConfigError, Contact, NotFoundError, Template
from msgkit.contacts import parse_phone
from msgkit.core.campaigns import Fallback
from msgkit.core.delivery import MessageEvent, MessageState
from msgkit.store import Change, MemoryStore, SQLiteStore, SQLStore, codec, open_store
from msgkit.store.migrations import LATEST
from tests.factories import Skipped, phone, planned, running

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLStore]:
    made: SQLStore = MemoryStore() if request.param == "memory" else SQLiteStore(tmp_path / "t.db")
    yield made
    made.close()


def test_campaign_round_trip(store: SQLStore) -> None:
    """A campaign with template, tags, fallback and schedule reads back equal."""
    campaign = Campaign(
        name="Spring",
        template=Template(body="Hi ${name}", kind="promotional", links={"s": "https://x.y"}),
        tags=["vip", "spring"],
        fallback=Fallback(template=Template(body="sms ${name}"), wait=timedelta(minutes=3)),
    ).schedule(NOW + timedelta(days=1))
    store.save_campaign(campaign, now=NOW)
    assert store.get_campaign(campaign.id) == campaign
    assert store.find_campaign("Spring") == campaign
    assert store.list_campaigns() == [campaign]
    with pytest.raises(NotFoundError):
        store.get_campaign("nope")


def test_bulk_queue_order_follows_start_order(store: SQLStore) -> None:
    """Campaigns get their place in the queue when started, not when created."""
    a, b = Campaign(name="a"), Campaign(name="b")
    store.save_campaign(a, now=NOW)
    store.save_campaign(b, now=NOW)
    store.save_campaign(b.apply("start"), now=NOW)
    store.save_campaign(a.apply("start"), now=NOW)
    assert [c.name for c in store.running_campaigns()] == ["b", "a"]


def test_insert_is_idempotent(store: SQLStore) -> None:
    """Planning the same messages twice writes them once and counts duplicates."""
    campaign = store.save_campaign(running(), now=NOW)
    batch = planned(campaign.id, 1200, now=NOW)
    first = store.insert_messages(batch, now=NOW)
    again = store.insert_messages(batch, now=NOW)
    assert (first.inserted, first.duplicates) == (1200, 0)
    assert (again.inserted, again.duplicates) == (0, 1200)
    assert store.progress(campaign.id).total == 1200


def test_media_is_stored_with_the_message(store: SQLStore) -> None:
    """A message's media URLs read back as they were planned; none reads back empty."""
    campaign = store.save_campaign(running(), now=NOW)
    with_media, plain = planned(campaign.id, 2, now=NOW)
    with_media = attrs.evolve(with_media, media=("https://cdn.example.com/a.png",))
    store.insert_messages([with_media, plain], now=NOW)
    assert store.get_message(with_media.id).media == ("https://cdn.example.com/a.png",)
    assert store.get_message(plain.id).media == ()


def test_skips_are_recorded_with_their_reason(store: SQLStore) -> None:
    """Skipped contacts are stored (not forgotten) and counted by reason."""
    campaign = store.save_campaign(running(), now=NOW)
    store.insert_messages(
        [Skipped(key=f"{campaign.id}:x{i}:0", campaign_id=campaign.id, contact_key=f"x{i}")
         for i in range(3)],
        now=NOW,
    )  # fmt: skip
    progress = store.progress(campaign.id)
    assert progress.by_state == {MessageState.SKIPPED: 3}
    assert progress.by_reason == {"suppressed": 3}
    assert progress.sendable == 0


def test_claim_moves_to_queued_once(store: SQLStore) -> None:
    """Two claims never return the same message."""
    campaign = store.save_campaign(running(), now=NOW)
    store.insert_messages(planned(campaign.id, 10, now=NOW), now=NOW)
    lease = NOW + timedelta(minutes=1)
    a = store.claim(worker="a", now=NOW, limit=6, lease_until=lease)
    b = store.claim(worker="b", now=NOW, limit=6, lease_until=lease)
    assert len(a) == 6
    assert len(b) == 4
    assert not {m.id for m in a} & {m.id for m in b}
    assert {m.state for m in a + b} == {MessageState.QUEUED}


def test_claim_ignores_campaigns_not_running(store: SQLStore) -> None:
    """Messages of a draft or stopped campaign are not claimed; test sends are."""
    draft = store.save_campaign(Campaign(name="d"), now=NOW)
    store.insert_messages(planned(draft.id, 2, now=NOW), now=NOW)
    store.insert_messages(planned(draft.id, 1, now=NOW, start=10, test=True), now=NOW)
    claimed = store.claim(worker="w", now=NOW, limit=10, lease_until=NOW)
    assert [m.recipient for m in claimed] == [phone(10)]


def test_apply_follows_the_lifecycle(store: SQLStore) -> None:
    """Allowed events apply and are logged; others are refused without changing anything."""
    campaign = store.save_campaign(running(), now=NOW)
    [m] = planned(campaign.id, 1, now=NOW)
    store.insert_messages([m], now=NOW)
    store.claim(worker="w", now=NOW, limit=1, lease_until=NOW)
    results = store.apply(
        [
            Change(message_id=m.id, event=MessageEvent.SEND),
            Change(message_id=m.id, event=MessageEvent.ACCEPT, fields={"provider_message_id": "P"}),
            Change(message_id=m.id, event=MessageEvent.DELIVER),
            Change(message_id=m.id, event=MessageEvent.ACCEPT),  # a late "sent" receipt
            Change(message_id="nope", event=MessageEvent.DELIVER),
        ],
        now=NOW,
    )
    assert [r.applied for r in results] == [True, True, True, False, False]
    row = store.get_message(m.id)
    assert row.state is MessageState.DELIVERED
    assert row.provider_message_id == "P"
    assert row.attempts == 1
    assert [e[1] for e in store.events(m.id)] == ["claim", "send", "accept", "deliver"]
    assert store.resolve_provider_ids(None, ["P"]) == {"P": m.id}


def test_apply_respects_the_holding_worker(store: SQLStore) -> None:
    """A worker cannot move a message another worker holds."""
    campaign = store.save_campaign(running(), now=NOW)
    [m] = planned(campaign.id, 1, now=NOW)
    store.insert_messages([m], now=NOW)
    store.claim(worker="a", now=NOW, limit=1, lease_until=NOW)
    [result] = store.apply([Change(message_id=m.id, event=MessageEvent.SEND)], now=NOW, worker="b")
    assert not result.applied
    assert store.get_message(m.id).state is MessageState.QUEUED


def test_history_counts_sends_not_tests(store: SQLStore) -> None:
    """Accepted messages enter the send history with the campaign's tags; test sends do not."""
    campaign = store.save_campaign(running(tags=["promo"]), now=NOW)
    real = planned(campaign.id, 1, now=NOW)
    test = planned(campaign.id, 1, now=NOW, start=1, test=True)
    store.insert_messages(real + test, now=NOW)
    claimed = store.claim(worker="w", now=NOW, limit=5, lease_until=NOW)
    store.apply([Change(message_id=c.id, event=MessageEvent.SEND) for c in claimed], now=NOW)
    store.apply([Change(message_id=c.id, event=MessageEvent.ACCEPT) for c in claimed], now=NOW)
    history = store.history([phone(0), phone(1)], since=NOW - timedelta(days=1))
    assert list(history) == [phone(0)]
    assert history[phone(0)][0][0] == "sms"
    assert history[phone(0)][0][4] == ("promo",)


def test_history_counts_planned_messages_of_other_campaigns(store: SQLStore) -> None:
    """Pending messages count at their planned time; ended ones, the excluded campaign's
    and the excluded ids do not; only the states asked for count."""
    other = store.save_campaign(running("other", tags=["promo"]), now=NOW)
    mine = store.save_campaign(running("mine"), now=NOW)
    later = NOW + timedelta(hours=2)
    store.insert_messages(planned(other.id, 3, now=later), now=NOW)
    store.insert_messages(planned(mine.id, 1, now=NOW), now=NOW)
    [cancelled] = planned(other.id, 1, now=NOW, start=3)
    store.insert_messages([cancelled], now=NOW)
    store.apply([Change(message_id=cancelled.id, event=MessageEvent.SKIP)], now=NOW)
    since = NOW - timedelta(days=1)
    recipients = [phone(i) for i in range(4)]
    assert store.history(recipients, since=since) == {}
    pending = (MessageState.PLANNED, MessageState.DEFERRED)
    found = store.history(recipients, since=since, pending=pending, exclude_campaign=mine.id)
    assert sorted(found) == [phone(0), phone(1), phone(2)]
    assert found[phone(0)] == [("sms", later, other.id, "bulk", ("promo",))]
    mine_too = store.history([phone(0)], since=since, pending=pending)
    assert [r[2] for r in mine_too[phone(0)]] == [mine.id, other.id]
    ids = [m.id for m in planned(other.id, 1, now=later)]
    assert store.history([phone(0)], since=since, pending=pending, exclude_ids=ids)[phone(0)] == [
        ("sms", NOW, mine.id, "bulk", ())
    ]
    in_flight = store.history(recipients, since=since, pending=[MessageState.SENDING])
    assert in_flight == {}


def test_history_counts_a_message_that_may_have_been_sent(store: SQLStore) -> None:
    """A message lost in flight (unknown), even once reported and no longer reconciled,
    counts toward caps at the time its send began: it may have reached the person."""
    other = store.save_campaign(running("other"), now=NOW)
    [lost] = planned(other.id, 1, now=NOW)
    store.insert_messages([lost], now=NOW)
    store.claim(worker="w", now=NOW, limit=5, lease_until=NOW)
    store.apply([Change(message_id=lost.id, event=MessageEvent.SEND)], now=NOW)
    store.apply([Change(message_id=lost.id, event=MessageEvent.LOSE)], now=NOW)
    store.postpone_unknown([lost.id], until=None)  # reported: never asked again
    found = store.history([phone(0)], since=NOW - timedelta(days=1), pending=[MessageState.UNKNOWN])
    assert [(r[0], r[2]) for r in found[phone(0)]] == [("sms", other.id)]


def test_lists_and_contacts(store: SQLStore) -> None:
    """Contacts keep order, phone facts and attributes; deleting a list removes its rows."""
    list_id = store.create_list("members", ["phone", "name"], now=NOW)
    contacts = [
        Contact(phone=parse_phone(f"+8869120000{i:02d}"), attributes={"name": f"n{i}", "n": i})
        for i in range(25)
    ]
    result = store.add_contacts(list_id, [*contacts, contacts[0]])
    assert (result.inserted, result.duplicates) == (25, 1)
    store.add_rejections(list_id, [(7, "phone", "invalid_number", "too short")])
    info = store.get_list(list_id)
    assert (info["rows"], info["rejected"], info["columns"]) == (25, 1, ["phone", "name"])
    back = [c for chunk in store.iter_contacts(list_id, chunk=10) for c in chunk]
    assert back == contacts
    assert store.rejections(list_id) == [(7, "phone", "invalid_number", "too short")]
    store.delete_list(list_id)
    with pytest.raises(NotFoundError):
        store.get_list(list_id)
    assert list(store.iter_contacts(list_id)) == []
    assert store.rejections(list_id) == []


def test_list_being_imported_is_hidden_until_finished(store: SQLStore) -> None:
    """A list written with an importer is not listed, found or read until finish_list."""
    list_id = store.create_list("members", ["phone"], now=NOW, importer="host:1:abc")
    store.add_contacts(list_id, [Contact(phone=parse_phone("+886912000001"))])
    assert store.list_lists() == []
    with pytest.raises(NotFoundError):
        store.get_list(list_id)
    with pytest.raises(NotFoundError):
        store.get_list("members")
    assert list(store.iter_contacts(list_id)) == []
    assert store.unfinished_lists() == [(list_id, "host:1:abc")]
    store.finish_list(list_id)
    assert store.unfinished_lists() == []
    assert [x["id"] for x in store.list_lists()] == [list_id]
    assert [len(chunk) for chunk in store.iter_contacts(list_id)] == [1]
    store.delete_list(list_id)
    with pytest.raises(NotFoundError):
        store.finish_list(list_id)


def test_lists_declare_their_variables(store: SQLStore) -> None:
    """A list keeps the variables its contacts carry (sorted, once each), or None."""
    undeclared = store.create_list("old", ["phone"], now=NOW)
    assert store.get_list(undeclared)["variables"] is None
    declared = store.create_list("new", ["Mobile", "Name"], now=NOW, variables=["name", "City"])
    assert store.get_list(declared)["variables"] == ["City", "name"]
    store.set_list_variables(undeclared, ["tier", "name", "tier"])
    assert store.get_list(undeclared)["variables"] == ["name", "tier"]
    with pytest.raises(NotFoundError):
        store.set_list_variables("missing", [])


def test_suppression(store: SQLStore) -> None:
    """Suppressions are scoped; adding twice is harmless; opt-in removes one scope."""
    store.suppress([("sms:SIG", "+1", "STOP", "reply"), ("global", "+2", None, None)], now=NOW)
    store.suppress([("sms:SIG", "+1", "STOP", "reply")], now=NOW)
    assert store.suppressed(["sms:SIG", "global"], ["+1", "+2", "+3"]) == {
        ("sms:SIG", "+1"),
        ("global", "+2"),
    }
    assert store.unsuppress("sms:SIG", "+1")
    assert store.suppressed(["sms:SIG"], ["+1"]) == set()
    assert store.suppression_count() == 1


def test_links_and_clicks(store: SQLStore) -> None:
    """A click on a known code is recorded against the recipient's message."""
    campaign = store.save_campaign(running(), now=NOW)
    [m] = planned(campaign.id, 1, now=NOW, link_param="aB3dE9")
    store.insert_messages([m], now=NOW)
    store.save_links(campaign.id, {"Xy12": ("shop", "https://shop.example.com/")})
    assert store.record_click("Xy12", "aB3dE9", now=NOW) == "https://shop.example.com/"
    assert store.record_click("Xy12", "aB3dE9", now=NOW) == "https://shop.example.com/"
    assert store.record_click("nope", "x", now=NOW) is None
    assert store.clicks(campaign.id) == (2, 1)
    log = store.click_log(campaign.id)
    assert [(c["link"], c["code"], c["param"]) for c in log] == [("shop", "Xy12", "aB3dE9")] * 2
    assert log[0]["message_id"] is not None
    assert log[0]["at"] == NOW


def test_replies_are_stored_once(store: SQLStore) -> None:
    """A reply redelivered with the same external id is stored once; it can be answered."""
    first = store.add_reply(
        provider="sim", scope="sms:sim", sender="+1", text="STOP", at=NOW, external_id="r1"
    )
    again = store.add_reply(
        provider="sim", scope="sms:sim", sender="+1", text="STOP", at=NOW, external_id="r1"
    )
    assert first is not None
    assert again is None
    store.answer_reply(first, "You are unsubscribed.", now=NOW)
    [reply] = store.replies()
    assert reply["answer"] == "You are unsubscribed."


def test_audit_and_scenarios(store: SQLStore) -> None:
    """The audit log keeps actor and time; scenarios round-trip."""
    store.audit(actor="amy", action="campaign.start", target="c1", detail=None, now=NOW)
    assert store.audit_log(target="c1")[0]["actor"] == "amy"
    store.save_scenario("shipped", "c1", {"wait": timedelta(minutes=5)}, now=NOW)
    assert store.get_scenario("shipped") == ("c1", {"wait": timedelta(minutes=5)})
    assert store.scenarios() == ["shipped"]


def test_cancel_pending(store: SQLStore) -> None:
    """Cancelling a campaign skips what has not been sent and leaves the rest."""
    campaign = store.save_campaign(running(), now=NOW)
    store.insert_messages(planned(campaign.id, 4, now=NOW), now=NOW)
    [first] = store.claim(worker="w", now=NOW, limit=1, lease_until=NOW)
    store.apply([Change(message_id=first.id, event=MessageEvent.SEND)], now=NOW)
    assert store.cancel_pending(campaign.id, now=NOW, detail="deleted") == 3
    assert store.progress(campaign.id).by_state == {
        MessageState.SENDING: 1,
        MessageState.SKIPPED: 3,
    }


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(list(MessageEvent)), max_size=12))
def test_stored_state_always_follows_the_table(events: list[MessageEvent]) -> None:
    """Whatever events arrive, the stored state is what the lifecycle table says."""
    from msgkit.core.delivery import MESSAGE

    store = MemoryStore()
    campaign = store.save_campaign(running(), now=NOW)
    [m] = planned(campaign.id, 1, now=NOW)
    store.insert_messages([m], now=NOW)
    state = MessageState.PLANNED
    for event in events:
        [result] = store.apply([Change(message_id=m.id, event=event)], now=NOW)
        assert result.applied == MESSAGE.can(state, event)
        if result.applied:
            state = MESSAGE.next(state, event)
        assert store.get_message(m.id).state is state
    store.close()


# --- migrations -----------------------------------------------------------------------


def test_migrations_run_once_and_reopen(tmp_path: Path) -> None:
    """Opening a database twice (or from two stores) applies the schema once."""
    path = tmp_path / "m.db"
    a = SQLiteStore(path)
    b = SQLiteStore(path)
    assert a.schema_version == b.schema_version == LATEST
    a.close()
    b.close()
    assert SQLiteStore(path).schema_version == LATEST


def test_newer_database_is_refused(tmp_path: Path) -> None:
    """An older msgkit refuses a database written by a newer one, saying what to do."""
    path = tmp_path / "new.db"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE msgkit_meta SET value = ? WHERE key = 'schema_version'", (LATEST + 1,))
    with pytest.raises(ConfigError, match="upgrade msgkit"):
        SQLiteStore(path)


def test_open_store_urls(tmp_path: Path) -> None:
    """open_store understands sqlite:///, memory:// and refuses unknown schemes."""
    db = open_store(f"sqlite:///{tmp_path / 'u.db'}")
    assert isinstance(db, SQLiteStore)
    assert (tmp_path / "u.db").exists()
    assert isinstance(open_store("memory://"), MemoryStore)
    with pytest.raises(ConfigError, match="unknown store URL"):
        open_store("mysql://x")


def test_wal_mode_on_disk(tmp_path: Path) -> None:
    """The file store runs in WAL mode."""
    store = SQLiteStore(tmp_path / "w.db")
    mode = store._read("PRAGMA journal_mode")[0][0]
    assert mode == "wal"
    store.close()


def test_upgrade_from_schema_1_keeps_creation_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database of schema 1 opened by this msgkit lists campaigns and lists in the order
    they were created (same-millisecond ones by id, as schema 1 did), and new ones after."""
    from msgkit.store import _base, migrations

    path = tmp_path / "v1.db"
    monkeypatch.setattr(_base, "MIGRATIONS", migrations.MIGRATIONS[:1])
    monkeypatch.setattr(_base, "LATEST", 1)
    old = SQLiteStore(path)
    with old._tx() as cur:  # schema 1 rows, as an older msgkit wrote them
        for cid, at in (("b", 5), ("a", 5), ("c", 3)):
            old._q(
                cur,
                "INSERT INTO campaigns (id, name, kind, status, enabled, spec, created_at, "
                "updated_at) VALUES (?, ?, 'bulk', 'draft', 1, ?, ?, ?)",
                (cid, cid, codec.dumps(Campaign(name=cid, id=cid)), at, at),
            )
            old._q(
                cur,
                "INSERT INTO lists (id, name, columns, created_at) VALUES (?, ?, '[]', ?)",
                (cid, cid, at),
            )
    old.close()
    monkeypatch.undo()
    store = SQLiteStore(path)
    assert store.schema_version == LATEST
    store.save_campaign(Campaign(name="new", id="0"), now=NOW)
    new_list = store.create_list("new", [], now=NOW)
    assert [c.id for c in store.list_campaigns()] == ["c", "a", "b", "0"]
    assert [x["id"] for x in store.list_lists()] == ["c", "a", "b", new_list]
