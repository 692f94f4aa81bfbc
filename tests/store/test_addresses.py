"""Phone numbers encrypted at rest: how the store seals, indexes and opens addresses
(`msgkit.store._base.Addresses`), and that what it writes holds no address."""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from msgkit import ConfigError, StoreError
from msgkit.contacts import Contact, PhoneCipher, parse_phone
from msgkit.core.campaigns import Campaign
from msgkit.core.policy import SendPolicy
from msgkit.core.templates import Template
from msgkit.store import MemoryStore, SQLiteStore, _base, open_store
from msgkit.store._base import Addresses

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
CIPHER = PhoneCipher(PhoneCipher.new_key())
E164 = st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True)
#: Anything an address column may hold: numbers, member ids, LINE ids, chat ids.
ADDRESS = st.one_of(E164, st.text(min_size=1, max_size=40))


@given(st.lists(ADDRESS, max_size=30))
def test_sealed_addresses_open_to_themselves(addresses: list[str]) -> None:
    """Every address sealed opens back to itself by its index; each is sealed once."""
    sealing = Addresses(CIPHER)
    stored, rows = sealing.seal(addresses)
    assert stored == {a: CIPHER.blind_index(a) for a in addresses}
    assert len(rows) == len(set(addresses))
    assert all(CIPHER.decrypt(sealed) != sealed for _, sealed in rows)
    opened = Addresses(CIPHER).learn(rows)
    assert {opened[sealing.index(a)] for a in addresses} == set(addresses)
    assert sorted(opened.values()) == sorted(set(addresses))


@given(ADDRESS, ADDRESS)
def test_the_index_is_deterministic_and_tells_addresses_apart(a: str, b: str) -> None:
    """The same address has the same index (in any store with the key), others another;
    the index is not the address."""
    one, two = Addresses(CIPHER), Addresses(PhoneCipher(CIPHER.key))
    assert one.index(a) == two.index(a) == CIPHER.blind_index(a)
    assert (one.index(a) == one.index(b)) == (a == b)
    assert one.index(a) != a


@given(st.lists(ADDRESS, min_size=1, max_size=10))
def test_a_seal_rolled_back_is_sealed_again(addresses: list[str]) -> None:
    """An address sealed in a transaction that failed is written again next time; one
    committed is not."""
    sealing = Addresses(CIPHER)
    _, first = sealing.seal(addresses)
    sealing.settle(committed=False)
    assert [ix for ix, _ in sealing.seal(addresses)[1]] == [ix for ix, _ in first]
    sealing.settle(committed=True)
    assert sealing.seal(addresses)[1] == []


@given(st.lists(ADDRESS, max_size=10))
def test_without_a_key_addresses_are_kept_as_they_are(addresses: list[str]) -> None:
    """No phone key: the index of an address is the address, nothing is sealed."""
    plain = Addresses(None)
    assert [plain.index(a) for a in addresses] == addresses
    assert plain.seal(addresses) == ({a: a for a in addresses}, [])


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.lists(E164, min_size=1, max_size=8, unique=True),
    st.lists(st.sampled_from(["*", "sms", "sms/ACME"]), min_size=1, max_size=3, unique=True),
)
def test_an_encrypted_store_answers_as_a_plain_one(numbers: list[str], scopes: list[str]) -> None:
    """Suppression lookups, the suppression set and the send history answer by the
    addresses asked about, as without a key."""
    answers = []
    for store in (MemoryStore(), MemoryStore(phone_key=CIPHER)):
        with store:
            store.suppress([(s, n, "stop", "test") for s in scopes for n in numbers[::2]], now=NOW)
            listed = store.suppression_set(scopes)
            answers.append(
                (
                    store.suppressed(scopes, numbers),
                    {(s, n) for s in scopes for n in numbers if (s, n) in listed},
                    store.history(numbers, since=NOW),
                )
            )
            store.unsuppress(scopes[0], numbers[0])
            assert (scopes[0], numbers[0]) not in store.suppressed(scopes, numbers)
    assert answers[0] == answers[1]


def test_a_keyed_store_writes_no_address(tmp_path: Path) -> None:
    """Contacts written by a keyed store read back the same, and the tables hold blind
    indexes and AES-GCM ciphertext only."""
    path = tmp_path / "k.db"
    contacts = [
        Contact(phone=parse_phone("+886912000001")),
        Contact(key="member-7", phone=parse_phone("+886912000002")),
    ]
    with SQLiteStore(path, phone_key=CIPHER) as store:
        list_id = store.create_list("m", ["Mobile"], now=NOW)
        store.add_contacts(list_id, contacts)
        assert [c for chunk in store.iter_contacts(list_id) for c in chunk] == contacts
    with sqlite3.connect(path) as raw:
        keys = raw.execute("SELECT key, phone FROM contacts ORDER BY seq").fetchall()
        sealed = dict(raw.execute("SELECT ix, sealed FROM addresses").fetchall())
    assert keys == [
        (CIPHER.blind_index("+886912000001"), CIPHER.blind_index("+886912000001")),
        (CIPHER.blind_index("member-7"), CIPHER.blind_index("+886912000002")),
    ]
    assert {CIPHER.decrypt(v) for v in sealed.values()} == {
        "+886912000001",
        "member-7",
        "+886912000002",
    }
    assert b"912000001" not in path.read_bytes()


def test_a_keyed_store_seals_campaigns_their_test_numbers_with_them(tmp_path: Path) -> None:
    """A campaign's test numbers are phone numbers too: its spec is sealed, and reads
    back whole; a plain store keeps it as JSON."""
    policy = SendPolicy(test_numbers=["+886912000009"])
    campaign = Campaign(name="Spring", template=Template(body="Hello"), policy=policy)
    for key, sealed in ((CIPHER, True), (None, False)):
        path = tmp_path / f"{sealed}.db"
        with SQLiteStore(path, phone_key=key) as store:
            store.save_campaign(campaign, now=NOW)
            assert store.get_campaign(campaign.id) == campaign
            assert store.list_campaigns() == [campaign]
        with sqlite3.connect(path) as raw:
            (spec,) = raw.execute("SELECT spec FROM campaigns").fetchone()
        assert spec.startswith("sealed:") is sealed
        assert ("912000009" in spec) is not sealed
        assert (b"912000009" in path.read_bytes()) is not sealed


def test_a_store_object_opened_without_the_key_is_refused_with_one(tmp_path: Path) -> None:
    """A store given as an object must carry the key the client was given."""
    with pytest.raises(ConfigError, match="opened without it"):
        open_store(MemoryStore(), phone_key=CIPHER)
    keyed = MemoryStore(phone_key=CIPHER)
    assert open_store(keyed, phone_key=CIPHER) is keyed


def test_a_keyed_store_refuses_an_index_it_cannot_open(tmp_path: Path) -> None:
    """An address column value with no sealed address (written without the key, or a
    damaged database) is an error, never handed back as the number to send to (before,
    the index came back as the contact's phone number)."""
    path = tmp_path / "k.db"
    with SQLiteStore(path, phone_key=CIPHER) as store:
        list_id = store.create_list("m", ["Mobile"], now=NOW)
        store.add_contacts(list_id, [Contact(phone=parse_phone("+886912000001"))])
    with sqlite3.connect(path) as raw:
        raw.execute("DELETE FROM addresses")
    with SQLiteStore(path, phone_key=CIPHER) as store:
        with pytest.raises(StoreError, match="MSGKIT_PHONE_KEY") as refused:
            list(store.iter_contacts(list_id))
        assert refused.value.kind == "corrupt"
        assert CIPHER.blind_index("+886912000001") not in str(refused.value)


def test_a_database_from_before_the_mark_with_numbers_is_plain(tmp_path: Path) -> None:
    """A database written before stores marked it (no mark, numbers in its tables) is
    plain: a keyed store is refused, a plain one opens it and marks it."""
    path = tmp_path / "old.db"
    with SQLiteStore(path) as store:
        store.suppress([("*", "+886912000001", "stop", "reply")], now=NOW)
    with sqlite3.connect(path) as raw:
        raw.execute("DELETE FROM msgkit_meta WHERE key = 'phone_key'")
    with pytest.raises(ConfigError, match="plain text"):
        SQLiteStore(path, phone_key=CIPHER)
    with SQLiteStore(path) as store:
        assert store.suppressed(["*"], ["+886912000001"]) == {("*", "+886912000001")}
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT value FROM msgkit_meta WHERE key = 'phone_key'").fetchone()


@settings(max_examples=50)
@given(st.lists(st.sampled_from("abcdefgh"), max_size=60), st.integers(1, 5))
def test_the_opened_addresses_evict_the_least_recently_used(uses: list[str], size: int) -> None:
    """The cache of opened addresses keeps the ``size`` most recently used (sealed,
    opened or looked up), as an LRU model does; it was cleared wholesale when full."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_base, "_OPENED", size)
        cache = Addresses(CIPHER)
        model: list[str] = []
        for address in uses:
            ix = cache.index(address)
            if cache.get(ix) is None:
                cache.learn([(ix, CIPHER.encrypt(address))])
            if address in model:
                model.remove(address)
            model.append(address)
            del model[:-size]
            assert list(cache.opened) == [cache.index(a) for a in model]


def test_a_keyed_store_tests_its_suppression_list_without_opening_it(tmp_path: Path) -> None:
    """The planner's suppression list answers by index: it holds with no sealed address
    readable at all (before, every entry was decrypted for every plan, and here the
    entries came back as indexes: the number was not found suppressed)."""
    path = tmp_path / "k.db"
    numbers = [f"+8869120000{i:02d}" for i in range(20)]
    with SQLiteStore(path, phone_key=CIPHER) as store:
        store.suppress([("sms", n, "stop", "reply") for n in numbers[::2]], now=NOW)
    with sqlite3.connect(path) as raw:
        raw.execute("DELETE FROM addresses")
    with SQLiteStore(path, phone_key=CIPHER) as store:
        listed = store.suppression_set(["*", "sms"])
        assert [n for n in numbers if ("sms", n) in listed] == numbers[::2]
        assert not any(("*", n) in listed for n in numbers)
        assert len(listed) == 10


@pytest.mark.parametrize("attempt", range(5))
def test_two_processes_opening_a_new_database_at_once_agree_on_its_mark(
    tmp_path: Path, attempt: int
) -> None:
    """A keyed and a plain store opening one new file at the same moment: exactly one is
    accepted, and the database is what that one made it."""
    path = tmp_path / f"race{attempt}.db"
    # The file exists, in WAL mode (two connections switching a brand new file to WAL
    # at once fail with "database is locked": not what this test is about).
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA journal_mode = WAL")
    start = threading.Barrier(2)

    def open_it(key: PhoneCipher | None) -> SQLiteStore | ConfigError:
        start.wait()
        try:
            return SQLiteStore(path, phone_key=key)
        except ConfigError as refused:
            return refused

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(open_it, [CIPHER, None]))
    opened = [o for o in outcomes if isinstance(o, SQLiteStore)]
    assert len(opened) == 1, outcomes
    (store,) = opened
    with store:
        store.suppress([("*", "+886912000001", "stop", "reply")], now=NOW)
    assert (b"912000001" in path.read_bytes()) is (not store.encrypted)


def test_a_transaction_settles_only_the_addresses_its_own_thread_sealed() -> None:
    """Two transactions at once on two threads (a pooled PostgreSQL store): one commits,
    the other rolls back; only the committed one's addresses are remembered as stored (a
    rolled-back seal remembered would never be written again)."""
    import threading

    addresses = Addresses(CIPHER)
    sealed = threading.Event()
    committed = threading.Event()

    def rolled_back() -> None:
        addresses.seal(["+886912000001"])
        sealed.set()
        committed.wait(5)
        addresses.settle(committed=False)

    other = threading.Thread(target=rolled_back)
    other.start()
    sealed.wait(5)
    addresses.seal(["+886912000002"])
    addresses.settle(committed=True)
    committed.set()
    other.join(5)
    assert set(addresses.opened.values()) == {"+886912000002"}
    _, rows = addresses.seal(["+886912000001"])
    assert len(rows) == 1  # sealed again: its row is written by the next transaction
