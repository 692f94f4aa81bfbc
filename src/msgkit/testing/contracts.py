"""Contract suites: the promises every store and every provider adapter keeps.

For people who write their own store or adapter: subclass the suite in a test module,
give it a factory fixture, and pytest runs every promise against your code, as msgkit
runs them against its own stores and adapters::

    import pytest
    from msgkit.testing.contracts import ProviderContract, StoreContract


    class TestMyStore(StoreContract):
        @pytest.fixture
        def make_store(self, tmp_path):
            return lambda: MyStore(tmp_path / f"{uuid.uuid4().hex}.db")


    class TestMyAdapter(ProviderContract):
        secret = "the-token-it-was-given"      # may appear in no error, repr or URL

        @pytest.fixture
        def make_provider(self):
            return lambda: MyAdapter("mine", token=self.secret)

        @pytest.fixture
        def make_batch(self):
            return lambda: [OutboundMessage(id="m1", channel="sms", to="+14155550100", text="Hi")]

This module needs pytest, hypothesis and respx (test dependencies, not msgkit's): import it
from test code only. `msgkit.testing.StoreContract` and `msgkit.testing.ProviderContract`
load it on first use.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, ClassVar

import attrs
import httpx
import pytest
import respx
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from msgkit.core.campaigns import Campaign, CampaignKind, Fallback
from msgkit.core.contacts import Contact, Phone, parse_phone
from msgkit.core.delivery import MESSAGE, Channel, MessageEvent, MessageState, SkipReason
from msgkit.core.planning import PlannedMessage, Skip
from msgkit.core.templates import ContentRules, Template, TemplateKind
from msgkit.exceptions import NotFoundError
from msgkit.providers.base import Capabilities, OutboundMessage, Outcome, Provider, SendResult
from msgkit.providers.transport import send_batch
from msgkit.store import Change, SQLStore

__all__ = [
    "ProviderContract",
    "StoreContract",
    "phone",
    "planned_message",
    "planned_messages",
    "running_campaign",
    "skipped",
]

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)

# --- stores -------------------------------------------------------------------------------

_phone_facts = st.lists(
    st.builds(
        Phone,
        e164=st.integers(10**9, 10**12).map(lambda n: f"+{n}"),
        region=st.sampled_from(["TW", "US", "JP", "GB", "001"]),
        country_code=st.sampled_from([1, 44, 81, 886, 800]),
        number_type=st.sampled_from(["mobile", "fixed_line", "fixed_line_or_mobile", "voip"]),
        time_zones=st.lists(
            st.sampled_from(["Asia/Taipei", "America/New_York", "Europe/London", "Etc/Unknown"]),
            max_size=3,
        ).map(tuple),
    ),
    max_size=30,
)


def phone(i: int) -> str:
    """A distinct valid-looking Taiwan mobile number."""
    return f"+8869{i:08d}"


def planned_message(**fields: Any) -> PlannedMessage:
    """A planned message with test defaults for the fields not given (``id``,
    ``channel``, ``to`` and ``text`` at least are yours to give or keep)."""
    test = bool(fields.get("test", False))
    defaults: dict[str, Any] = {
        "step": 0,
        "channel": Channel.SMS,
        "provider": "sim",
        "text": "hello",
        "kind": TemplateKind.NOTIFICATION,
        "template_code": None,
        "params": {},
        "sender": None,
        "encoding": "GSM-7",
        "segments": 1,
        "expires_at": None,
        "deferred": False,
        "test": test,
        "counts_toward_caps": not test,
    }
    return PlannedMessage(**{**defaults, **fields})


def planned_messages(
    campaign_id: str, count: int, *, now: datetime, start: int = 0, step: int = 0, **fields: Any
) -> list[PlannedMessage]:
    """``count`` planned messages of ``step`` to distinct recipients (`phone` numbers
    ``start`` on), due ``now``."""
    out = []
    for i in range(start, start + count):
        key = f"{campaign_id}:{phone(i)}:{step}"
        out.append(
            planned_message(
                id=hashlib.sha256(key.encode()).hexdigest()[:32],
                key=key,
                campaign_id=campaign_id,
                contact_key=phone(i),
                step=step,
                to=phone(i),
                not_before=now,
                **fields,
            )
        )
    return out


def skipped(**fields: Any) -> Skip:
    """A skip (suppressed) with defaults for the fields not given."""
    defaults: dict[str, Any] = {
        "step": 0,
        "reason": SkipReason.SUPPRESSED,
        "detail": "on the suppression list",
    }
    return Skip(**{**defaults, **fields})


def running_campaign(
    name: str = "c", *, kind: CampaignKind = CampaignKind.BULK, **fields: Any
) -> Campaign:
    """A campaign that is running."""
    return (
        Campaign(name=name, template=Template(body="hello"), kind=kind, **fields)
        .apply("start")
        .apply("initialized")
    )


_json_leaf = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8)
_json = st.recursive(
    _json_leaf,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
_words = st.text(st.characters(codec="utf-8"), max_size=8)
#: Any values of the message record's fields that the planner may set.
_record_fields = st.fixed_dictionaries(
    {},
    optional={
        "channel": st.sampled_from(list(Channel)),
        "kind": st.sampled_from(list(TemplateKind)),
        "provider": st.none() | _words,
        "template_code": st.none() | _words,
        "params": st.dictionaries(_words, _words, max_size=3),
        "sender": st.none() | _words,
        "encoding": st.sampled_from([None, "GSM-7", "UCS-2"]),
        "segments": st.integers(1, 10),
        "expires_at": st.none() | st.just(NOW + timedelta(hours=6)),
        "fallback_wait": st.none() | st.integers(1, 86_400).map(lambda s: timedelta(seconds=s)),
        "parent_id": st.none() | st.just("f" * 32),
        "deferred": st.booleans(),
        "links": st.dictionaries(
            _words, st.from_regex(r"[A-Za-z0-9]{4,8}", fullmatch=True), max_size=2
        ),
        "link_param": st.none() | st.from_regex(r"[A-Za-z0-9]{4,8}", fullmatch=True),
        "region": st.none() | st.sampled_from(["TW", "US", "CN"]),
        "time_zone": st.none() | st.sampled_from(["Asia/Taipei", "America/Bogota"]),
        "media": st.lists(st.just("https://cdn.example.com/a.png"), max_size=2).map(tuple),
        "options": st.dictionaries(_words, _json, max_size=3),
        "text": _words,
    },
)


def _holds_nul(value: Any) -> bool:
    """Whether a string in ``value`` (or in its dicts, lists, tuples) holds ``"\\x00"``."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(_holds_nul(v) for v in value)
    return False


#: How the contract's property tests run: a fixture makes each store, so examples share
#: it (function-scoped fixtures), and a store is slow to make.
_PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.differing_executors,
    ],
)


class StoreContract:
    """What every store does, whatever it keeps its data in.

    Subclass it as ``Test...`` and override the `make_store` fixture: it returns a
    function that opens a new, empty store each time it is called (the property tests
    call it more than once per test). Every store it opens is closed by the suite.

    Attributes:
        stores_nul: Whether the store keeps text holding the NUL character (``"\\x00"``)
            as it is. PostgreSQL refuses it in text; a store that does too sets this to
            False (and raises `msgkit.StoreError` saying so), and the suite's generated
            records then hold none.
    """

    stores_nul: ClassVar[bool] = True

    @pytest.fixture
    def make_store(self) -> Callable[[], SQLStore]:
        """Override: a function opening a new, empty store each call."""
        raise NotImplementedError(
            f"{type(self).__name__} must override the make_store fixture "
            "(return a function that opens a new, empty store)"
        )

    @pytest.fixture
    def store(self, make_store: Callable[[], SQLStore]) -> Iterator[SQLStore]:
        """A new, empty store from `make_store`, closed after the test."""
        made = make_store()
        yield made
        made.close()

    def test_campaign_round_trip(self, store: SQLStore) -> None:
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

    def test_bulk_queue_order_follows_start_order(self, store: SQLStore) -> None:
        """Campaigns get their place in the queue when started, not when created."""
        a, b = Campaign(name="a"), Campaign(name="b")
        store.save_campaign(a, now=NOW)
        store.save_campaign(b, now=NOW)
        store.save_campaign(b.apply("start"), now=NOW)
        store.save_campaign(a.apply("start"), now=NOW)
        assert [c.name for c in store.running_campaigns()] == ["b", "a"]

    def test_insert_is_idempotent(self, store: SQLStore) -> None:
        """Planning the same messages twice writes them once and counts duplicates."""
        campaign = store.save_campaign(running_campaign(), now=NOW)
        batch = planned_messages(campaign.id, 1200, now=NOW)
        first = store.insert_messages(batch, now=NOW)
        again = store.insert_messages(batch, now=NOW)
        assert (first.inserted, first.duplicates) == (1200, 0)
        assert (again.inserted, again.duplicates) == (0, 1200)
        assert store.progress(campaign.id).total == 1200

    def test_media_is_stored_with_the_message(self, store: SQLStore) -> None:
        """A message's media URLs read back as they were planned; none reads back empty."""
        campaign = store.save_campaign(running_campaign(), now=NOW)
        with_media, plain = planned_messages(campaign.id, 2, now=NOW)
        with_media = attrs.evolve(with_media, media=("https://cdn.example.com/a.png",))
        store.insert_messages([with_media, plain], now=NOW)
        assert store.get_message(with_media.id).media == ("https://cdn.example.com/a.png",)
        assert store.get_message(plain.id).media == ()

    @_PROPERTY
    @given(fields=_record_fields)
    def test_a_message_reads_back_as_it_was_planned(
        self, make_store: Callable[[], SQLStore], fields: dict[str, Any]
    ) -> None:
        """Every field of a message record reads back as planned (its state added)."""
        assume(self.stores_nul or not _holds_nul(fields))
        store = make_store()
        try:
            campaign = store.save_campaign(running_campaign(), now=NOW)
            [planned] = planned_messages(campaign.id, 1, now=NOW, **fields)
            store.insert_messages([planned], now=NOW)
            row = store.get_message(planned.id)
            assert row.state is (
                MessageState.PLANNED
                if planned.parent_id is None and not planned.deferred
                else MessageState.DEFERRED
            )
            expected = attrs.asdict(planned, recurse=False)
            got = {name: getattr(row, name) for name in expected}
            # The row's time is the current one: a fallback waits with none; whether it
            # was deferred is its state.
            expected.update(
                not_before=None if planned.parent_id else planned.not_before, deferred=False
            )
            got.update(deferred=False)
            assert got == expected
        finally:
            store.close()

    def test_skips_are_recorded_with_their_reason(self, store: SQLStore) -> None:
        """Skipped contacts are stored (not forgotten) and counted by reason."""
        campaign = store.save_campaign(running_campaign(), now=NOW)
        store.insert_messages(
            [skipped(key=f"{campaign.id}:x{i}:0", campaign_id=campaign.id, contact_key=f"x{i}")
             for i in range(3)],
            now=NOW,
        )  # fmt: skip
        progress = store.progress(campaign.id)
        assert progress.by_state == {MessageState.SKIPPED: 3}
        assert progress.by_reason == {"suppressed": 3}
        assert progress.sendable == 0

    def test_claim_moves_to_queued_once(self, store: SQLStore) -> None:
        """Two claims never return the same message."""
        campaign = store.save_campaign(running_campaign(), now=NOW)
        store.insert_messages(planned_messages(campaign.id, 10, now=NOW), now=NOW)
        lease = NOW + timedelta(minutes=1)
        a = store.claim(worker="a", now=NOW, limit=6, lease_until=lease)
        b = store.claim(worker="b", now=NOW, limit=6, lease_until=lease)
        assert len(a) == 6
        assert len(b) == 4
        assert not {m.id for m in a} & {m.id for m in b}
        assert {m.state for m in a + b} == {MessageState.QUEUED}

    def test_claim_ignores_campaigns_not_running(self, store: SQLStore) -> None:
        """Messages of a draft or stopped campaign are not claimed; test sends are."""
        draft = store.save_campaign(Campaign(name="d"), now=NOW)
        store.insert_messages(planned_messages(draft.id, 2, now=NOW), now=NOW)
        store.insert_messages(planned_messages(draft.id, 1, now=NOW, start=10, test=True), now=NOW)
        claimed = store.claim(worker="w", now=NOW, limit=10, lease_until=NOW)
        assert [m.recipient for m in claimed] == [phone(10)]

    def test_apply_follows_the_lifecycle(self, store: SQLStore) -> None:
        """Allowed events apply and are logged; others are refused without changing anything."""
        campaign = store.save_campaign(running_campaign(), now=NOW)
        [m] = planned_messages(campaign.id, 1, now=NOW)
        store.insert_messages([m], now=NOW)
        store.claim(worker="w", now=NOW, limit=1, lease_until=NOW)
        results = store.apply(
            [
                Change(message_id=m.id, event=MessageEvent.SEND),
                Change(
                    message_id=m.id, event=MessageEvent.ACCEPT, fields={"provider_message_id": "P"}
                ),
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

    def test_a_change_applies_only_to_the_state_it_was_decided_in(self, store: SQLStore) -> None:
        """Fields decided for a message in one state (say, "report this unknown message")
        are not written once it has moved on (another worker resent it meanwhile)."""
        campaign = store.save_campaign(running_campaign(), now=NOW)
        [m] = planned_messages(campaign.id, 1, now=NOW)
        store.insert_messages([m], now=NOW)
        [result] = store.apply(
            [
                Change(
                    message_id=m.id,
                    event=None,
                    fields={"not_before": None},
                    decided_in=MessageState.UNKNOWN,
                )
            ],
            now=NOW,
        )
        assert not result.applied
        assert store.get_message(m.id).not_before is not None
        [result] = store.apply(
            [
                Change(
                    message_id=m.id,
                    event=None,
                    fields={"error": "noted"},
                    decided_in=MessageState.PLANNED,
                )
            ],
            now=NOW,
        )
        assert result.applied
        assert store.get_message(m.id).error == "noted"

    def test_apply_respects_the_holding_worker(self, store: SQLStore) -> None:
        """A worker cannot move a message another worker holds."""
        campaign = store.save_campaign(running_campaign(), now=NOW)
        [m] = planned_messages(campaign.id, 1, now=NOW)
        store.insert_messages([m], now=NOW)
        store.claim(worker="a", now=NOW, limit=1, lease_until=NOW)
        [result] = store.apply(
            [Change(message_id=m.id, event=MessageEvent.SEND)], now=NOW, worker="b"
        )
        assert not result.applied
        assert store.get_message(m.id).state is MessageState.QUEUED

    def test_history_counts_sends_not_tests(self, store: SQLStore) -> None:
        """Accepted messages enter the send history with the campaign's tags; test sends do not."""
        campaign = store.save_campaign(running_campaign(tags=["promo"]), now=NOW)
        real = planned_messages(campaign.id, 1, now=NOW)
        test = planned_messages(campaign.id, 1, now=NOW, start=1, test=True)
        store.insert_messages(real + test, now=NOW)
        claimed = store.claim(worker="w", now=NOW, limit=5, lease_until=NOW)
        store.apply([Change(message_id=c.id, event=MessageEvent.SEND) for c in claimed], now=NOW)
        store.apply([Change(message_id=c.id, event=MessageEvent.ACCEPT) for c in claimed], now=NOW)
        history = store.history([phone(0), phone(1)], since=NOW - timedelta(days=1))
        assert list(history) == [phone(0)]
        assert history[phone(0)][0][0] == "sms"
        assert history[phone(0)][0][4] == ("promo",)

    def test_history_counts_planned_messages_of_other_campaigns(self, store: SQLStore) -> None:
        """Pending messages count at their planned time; ended ones, the excluded campaign's
        and the excluded ids do not; only the states asked for count."""
        other = store.save_campaign(running_campaign("other", tags=["promo"]), now=NOW)
        mine = store.save_campaign(running_campaign("mine"), now=NOW)
        later = NOW + timedelta(hours=2)
        store.insert_messages(planned_messages(other.id, 3, now=later), now=NOW)
        store.insert_messages(planned_messages(mine.id, 1, now=NOW), now=NOW)
        [cancelled] = planned_messages(other.id, 1, now=NOW, start=3)
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
        ids = [m.id for m in planned_messages(other.id, 1, now=later)]
        assert store.history([phone(0)], since=since, pending=pending, exclude_ids=ids)[
            phone(0)
        ] == [("sms", NOW, mine.id, "bulk", ())]
        in_flight = store.history(recipients, since=since, pending=[MessageState.SENDING])
        assert in_flight == {}

    def test_history_counts_a_message_that_may_have_been_sent(self, store: SQLStore) -> None:
        """A message lost in flight (unknown), even once reported and no longer reconciled,
        counts toward caps at the time its send began: it may have reached the person."""
        other = store.save_campaign(running_campaign("other"), now=NOW)
        [lost] = planned_messages(other.id, 1, now=NOW)
        store.insert_messages([lost], now=NOW)
        store.claim(worker="w", now=NOW, limit=5, lease_until=NOW)
        store.apply([Change(message_id=lost.id, event=MessageEvent.SEND)], now=NOW)
        store.apply([Change(message_id=lost.id, event=MessageEvent.LOSE)], now=NOW)
        store.apply(  # reported: never asked again
            [Change(message_id=lost.id, event=None, fields={"not_before": None})], now=NOW
        )
        found = store.history(
            [phone(0)], since=NOW - timedelta(days=1), pending=[MessageState.UNKNOWN]
        )
        assert [(r[0], r[2]) for r in found[phone(0)]] == [("sms", other.id)]

    def test_lists_and_contacts(self, store: SQLStore) -> None:
        """Contacts keep order, phone facts and attributes; deleting a list removes its rows."""
        list_id = store.create_list("members", ["phone", "name"], now=NOW)
        attributes: list[Any] = [{"name": f"n{i}", "n": i} for i in range(25)]
        contacts = [
            Contact(phone=parse_phone(f"+8869120000{i:02d}"), attributes=attributes[i])
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

    @_PROPERTY
    @given(phones=_phone_facts)
    def test_contacts_read_back_with_their_phone_facts(
        self, make_store: Callable[[], SQLStore], phones: list[Phone]
    ) -> None:
        """Every contact reads back with its own region, calling code, type and zones,
        however many contacts share (or not) the same facts."""
        store = make_store()
        try:
            list_id = store.create_list("facts", ["phone"], now=NOW)
            contacts = [Contact(phone=p, key=f"k{i}") for i, p in enumerate(phones)]
            store.add_contacts(list_id, contacts)
            back = [c for chunk in store.iter_contacts(list_id, chunk=7) for c in chunk]
            assert [c.phone for c in back] == phones
        finally:
            store.close()

    def test_list_being_imported_is_hidden_until_finished(self, store: SQLStore) -> None:
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

    def test_lists_declare_their_variables(self, store: SQLStore) -> None:
        """A list keeps the variables its contacts carry (sorted, once each), or None."""
        undeclared = store.create_list("old", ["phone"], now=NOW)
        assert store.get_list(undeclared)["variables"] is None
        declared = store.create_list("new", ["Mobile", "Name"], now=NOW, variables=["name", "City"])
        assert store.get_list(declared)["variables"] == ["City", "name"]
        store.set_list_variables(undeclared, ["tier", "name", "tier"])
        assert store.get_list(undeclared)["variables"] == ["name", "tier"]
        with pytest.raises(NotFoundError):
            store.set_list_variables("missing", [])

    def test_suppression(self, store: SQLStore) -> None:
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

    def test_links_and_clicks(self, store: SQLStore) -> None:
        """A click on a known code is recorded against the recipient's message."""
        campaign = store.save_campaign(running_campaign(), now=NOW)
        [m] = planned_messages(campaign.id, 1, now=NOW, link_param="aB3dE9")
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

    def test_replies_are_stored_once(self, store: SQLStore) -> None:
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

    def test_audit_and_scenarios(self, store: SQLStore) -> None:
        """The audit log keeps actor and time; scenarios round-trip."""
        store.audit(actor="amy", action="campaign.start", target="c1", detail=None, now=NOW)
        assert store.audit_log(target="c1")[0]["actor"] == "amy"
        store.save_scenario("shipped", "c1", {"wait": timedelta(minutes=5)}, now=NOW)
        assert store.get_scenario("shipped") == ("c1", {"wait": timedelta(minutes=5)})
        assert store.scenarios() == ["shipped"]

    def test_a_reported_unknown_parent_releases_its_fallback(self, store: SQLStore) -> None:
        """An unknown parent with no fallback time (written before the wait was kept with
        it) releases its waiting fallback once it is reported, not never."""
        campaign = store.save_campaign(running_campaign(), now=NOW)
        [parent] = planned_messages(campaign.id, 1, now=NOW)
        [child] = planned_messages(campaign.id, 1, now=NOW, step=1, parent_id=parent.id)
        store.insert_messages([parent, child], now=NOW)
        store.claim(worker="w", now=NOW, limit=5, lease_until=NOW)
        store.apply(
            [
                Change(message_id=parent.id, event=MessageEvent.SEND),
                Change(message_id=parent.id, event=MessageEvent.LOSE, fields={"not_before": NOW}),
            ],
            now=NOW,
        )
        assert store.fallback_due(now=NOW) == []  # still being reconciled
        store.apply(
            [Change(message_id=parent.id, event=None, fields={"not_before": None})], now=NOW
        )
        assert store.fallback_due(now=NOW) == [(parent.id, "unknown", child.id)]

    def test_cancel_pending(self, store: SQLStore) -> None:
        """Cancelling a campaign skips what has not been sent and leaves the rest."""
        campaign = store.save_campaign(running_campaign(), now=NOW)
        store.insert_messages(planned_messages(campaign.id, 4, now=NOW), now=NOW)
        [first] = store.claim(worker="w", now=NOW, limit=1, lease_until=NOW)
        store.apply([Change(message_id=first.id, event=MessageEvent.SEND)], now=NOW)
        assert store.cancel_pending(campaign.id, now=NOW, detail="deleted") == 3
        assert store.progress(campaign.id).by_state == {
            MessageState.SENDING: 1,
            MessageState.SKIPPED: 3,
        }

    @settings(
        max_examples=25,
        deadline=None,
        # A store per example: a file store opens (and migrates) a new file each time. One
        # suite, many subclasses: each runs the same method (differing executors).
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.differing_executors,
        ],
    )
    @given(events=st.lists(st.sampled_from(list(MessageEvent)), max_size=12))
    def test_stored_state_always_follows_the_table(
        self, make_store: Callable[[], SQLStore], events: list[MessageEvent]
    ) -> None:
        """Whatever events arrive, the stored state is what the lifecycle table says."""
        store = make_store()
        try:
            campaign = store.save_campaign(running_campaign(), now=NOW)
            [m] = planned_messages(campaign.id, 1, now=NOW)
            store.insert_messages([m], now=NOW)
            state = MessageState.PLANNED
            for event in events:
                [result] = store.apply([Change(message_id=m.id, event=event)], now=NOW)
                assert result.applied == MESSAGE.can(state, event)
                if result.applied:
                    state = MESSAGE.next(state, event)
                assert store.get_message(m.id).state is state
        finally:
            store.close()

    @_PROPERTY
    @given(
        changes=st.lists(
            st.tuples(
                st.integers(0, 2),
                st.none() | st.sampled_from(list(MessageEvent)),
                st.sampled_from([{}, {"error_code": "E1"}, {"error_code": "E2", "error": "x"}]),
            ),
            max_size=15,
        )
    )
    def test_one_apply_is_its_changes_one_by_one(
        self,
        make_store: Callable[[], SQLStore],
        changes: list[tuple[int, MessageEvent | None, dict[str, str]]],
    ) -> None:
        """Changes applied in one call (messages and shapes interleaved) end as they
        would one call each: results, states, fields and event logs."""
        stores = [make_store(), make_store()]
        try:
            outcomes = []
            for n, store in enumerate(stores):
                campaign = store.save_campaign(running_campaign(), now=NOW)
                messages = planned_messages(campaign.id, 3, now=NOW)
                store.insert_messages(messages, now=NOW)
                batch = [
                    Change(message_id=messages[i].id, event=event, fields=fields)
                    for i, event, fields in changes
                ]
                if n == 0:
                    results = store.apply(batch, now=NOW)
                else:
                    results = [r for c in batch for r in store.apply([c], now=NOW)]
                rows = [store.get_message(m.id) for m in messages]
                outcomes.append(
                    (
                        [(r.applied, r.old, r.new) for r in results],
                        [(r.state, r.error_code, r.error, r.attempts) for r in rows],
                        [store.events(m.id) for m in messages],
                    )
                )
            assert outcomes[0] == outcomes[1]
        finally:
            for store in stores:
                store.close()

    def test_receipt_facts_are_what_decide_reads(self, store: SQLStore) -> None:
        """A receipt's decision reads each message's id, state, send time and provider
        id, and its fallback's wait; ids the outbox does not hold are left out."""
        campaign = store.save_campaign(running_campaign(), now=NOW)
        waiting, plain = planned_messages(campaign.id, 2, now=NOW)
        waiting = attrs.evolve(waiting, fallback_wait=timedelta(minutes=3))
        store.insert_messages([waiting, plain], now=NOW)
        store.claim(worker="w", now=NOW, limit=2, lease_until=NOW)
        store.apply([Change(message_id=waiting.id, event=MessageEvent.SEND)], now=NOW)
        store.apply(
            [
                Change(
                    message_id=waiting.id,
                    event=MessageEvent.ACCEPT,
                    fields={"provider_message_id": "P"},
                )
            ],
            now=NOW,
        )
        facts = store.receipt_facts([waiting.id, plain.id, "nope", waiting.id])
        assert set(facts) == {waiting.id, plain.id}
        status, wait = facts[waiting.id]
        assert (status.id, status.state, status.sent_at, status.provider_message_id) == (
            waiting.id,
            MessageState.SUBMITTED,
            NOW,
            "P",
        )
        assert wait == timedelta(minutes=3)
        status, wait = facts[plain.id]
        assert (status.state, status.sent_at, status.provider_message_id, wait) == (
            MessageState.QUEUED,
            None,
            None,
            None,
        )
        assert store.receipt_facts([]) == {}


# --- providers ----------------------------------------------------------------------------

_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# Bodies shaped like the answers of the providers msgkit knows, with values of any type.
_shaped = st.fixed_dictionaries(
    {},
    optional={
        "Code": st.sampled_from(["OK", "isv.MOBILE_NUMBER_ILLEGAL", "Throttling", ""]) | st.text(),
        "BizId": _json_values,
        "Message": _json_values,
        "RequestId": _json_values,
        "sid": _json_values,
        "status": _json_values,
        "code": st.integers(0, 99999) | _json_values,
        "message": _json_values,
        "payload": st.lists(
            st.fixed_dictionaries(
                {}, optional={"id": _json_values, "inbox_id": _json_values, "status": _json_values}
            ),
            max_size=3,
        )
        | _json_values,
        "id": _json_values,
        "data": _json_values,
        "error": _json_values,
        "results": _json_values,
        "messages": _json_values,
    },
)
_bodies = st.one_of(
    st.binary(max_size=64).map(lambda b: ("bytes", b)),
    _json_values.map(lambda v: ("json", v)),
    _shaped.map(lambda v: ("json", v)),
)
_statuses = st.sampled_from(
    [200, 201, 202, 204, 301, 400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504]
) | st.integers(100, 599)
_answers = st.lists(st.tuples(_statuses, _bodies, st.booleans()), min_size=1, max_size=8)

Answer = tuple[int, tuple[str, Any], bool]


def _response(status: int, body: tuple[str, Any], retry_header: bool) -> httpx.Response:
    kind, value = body
    headers = {"Retry-After": "7"} if retry_header else {}
    if kind == "json":
        return httpx.Response(status, json=value, headers=headers)
    return httpx.Response(status, content=value, headers=headers)


def _send(provider: Provider, batch: Sequence[OutboundMessage]) -> list[SendResult]:
    """Build and perform a batch with an httpx client (respx answers it)."""

    async def go() -> list[SendResult]:
        async with httpx.AsyncClient() as client:
            return await send_batch(provider, batch, client)

    return asyncio.run(go())


class ProviderContract:
    """What every provider adapter does, whatever the network or the provider answers.

    Exactly one result per message, never an exception, never a secret in an error, a
    repr or a URL; batches within their limits; limits declared as data. The HTTP side
    is answered by respx: the adapter under test must send through httpx.

    Subclass it as ``Test...`` and override the `make_provider` and `make_batch`
    fixtures (each returns a function making a new adapter, or a new batch of messages
    the adapter can take in one call, all of its channel); set `secret` to the secret
    the adapter was given, and `lookup_first` when its first request only looks
    something up (a contact, say), so that one that may have arrived can be retried.
    """

    #: The secret (token, key) the adapter is given: no error, repr or URL may show it.
    secret: ClassVar[str | None] = None
    #: The adapter's first request only looks something up: a request that may have
    #: arrived is retried, not reported unknown.
    lookup_first: ClassVar[bool] = False

    @pytest.fixture
    def make_provider(self) -> Callable[[], Provider]:
        """Override: a function making a new adapter each call."""
        raise NotImplementedError(
            f"{type(self).__name__} must override the make_provider fixture "
            "(return a function that makes the adapter)"
        )

    @pytest.fixture
    def make_batch(self) -> Callable[[], list[OutboundMessage]]:
        """Override: a function making a batch of messages the adapter can take."""
        raise NotImplementedError(
            f"{type(self).__name__} must override the make_batch fixture "
            "(return a function that makes a list of OutboundMessage)"
        )

    def _hidden(self, text: str) -> bool:
        return self.secret is None or self.secret not in text

    def _check(self, results: list[SendResult], batch: list[OutboundMessage]) -> None:
        assert Counter(r.message_id for r in results) == Counter(m.id for m in batch)
        for result in results:
            assert result.follow_up is None
            assert (result.error is None) == (result.outcome is Outcome.ACCEPTED)
            assert result.retry_after is None or result.retry_after >= 0
            assert self._hidden(repr(result))
            if result.error is not None:
                assert self._hidden(str(result.error))
                assert self._hidden(repr(result.error))
            if result.isolate:
                assert result.outcome is Outcome.RETRY

    @settings(
        max_examples=40,
        deadline=None,
        # A new adapter and batch per example; one suite run by many subclasses.
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(replies=_answers)
    def test_any_answer_gives_exactly_one_result_per_message(
        self,
        make_provider: Callable[[], Provider],
        make_batch: Callable[[], list[OutboundMessage]],
        replies: list[Answer],
    ) -> None:
        """Garbage, errors and odd statuses: one result per message, no exception, no secret."""
        provider, batch = make_provider(), make_batch()
        queue: Iterator[Answer] = iter(replies * 10)

        def answer(request: httpx.Request) -> httpx.Response:
            return _response(*next(queue))

        with respx.mock:
            respx.route().mock(side_effect=answer)
            results = _send(provider, batch)
        self._check(results, batch)

    @pytest.mark.parametrize(
        "error",
        [
            httpx.ConnectError("refused"),
            httpx.ConnectTimeout("slow"),
            httpx.ReadTimeout("slow"),
            httpx.RemoteProtocolError("dropped"),
            httpx.WriteError("broken"),
        ],
        ids=lambda e: type(e).__name__,
    )
    def test_transport_failures_retry_or_are_unknown(
        self,
        make_provider: Callable[[], Provider],
        make_batch: Callable[[], list[OutboundMessage]],
        error: Exception,
    ) -> None:
        """A request that never left is retried; one that may have arrived is retried only
        where the provider de-duplicates (or it was a lookup), else unknown."""
        provider, batch = make_provider(), make_batch()
        with respx.mock:
            respx.route().mock(side_effect=error)
            results = _send(provider, batch)
        self._check(results, batch)
        never_left = isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout))
        expected = (
            Outcome.RETRY
            if never_left or provider.capabilities.idempotent or self.lookup_first
            else Outcome.UNKNOWN
        )
        assert {r.outcome for r in results} == {expected}

    def test_batches_are_built_within_limits(
        self,
        make_provider: Callable[[], Provider],
        make_batch: Callable[[], list[OutboundMessage]],
    ) -> None:
        """Each message is in exactly one request; no request exceeds the batch limit."""
        provider, batch = make_provider(), make_batch()
        limit = provider.capabilities.max_batch
        chunks = [batch[i : i + limit] for i in range(0, len(batch), limit)]
        sent = [s for chunk in chunks for s in provider.build_send(chunk)]
        ids = [mid for s in sent for mid in s.message_ids]
        assert Counter(ids) == Counter(m.id for m in batch)
        for s in sent:
            assert len(s.message_ids) <= limit
            assert self._hidden(str(s.request.url))

    def test_capabilities_are_data(
        self,
        make_provider: Callable[[], Provider],
        make_batch: Callable[[], list[OutboundMessage]],
    ) -> None:
        """Capabilities are a Capabilities value with content rules, for the channel of
        the messages it takes; the adapter is a Provider, named, with no secret in its
        repr."""
        provider = make_provider()
        caps = provider.capabilities
        assert isinstance(caps, Capabilities)
        assert isinstance(caps.content, ContentRules)
        assert {Channel(m.channel) for m in make_batch()} == {caps.channel}
        assert isinstance(provider, Provider)
        assert self._hidden(repr(provider))
        assert provider.name
