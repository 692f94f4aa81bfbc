"""The store protocols: the SQL store implements each, and each is a part of `Store`."""

from __future__ import annotations

import inspect

import pytest

from msgkit.store import (
    AudienceStore,
    CampaignStore,
    DeliveryStore,
    Inbox,
    MemoryStore,
    Outbox,
    SQLStore,
    Store,
    open_store,
)

PARTS = (CampaignStore, AudienceStore, Outbox, Inbox)


def _members(protocol: type) -> set[str]:
    return {
        name
        for name, value in vars(protocol).items()
        if callable(value) and not name.startswith("_")
    }


def test_sql_store_is_typed_as_every_protocol() -> None:
    """An SQL store may be handed where any store protocol is asked for (mypy checks the
    assignments below; `SQLStore` names `Store` as a base, so mypy checks each method)."""
    store = MemoryStore()
    campaigns: CampaignStore = store
    audiences: AudienceStore = store
    outbox: Outbox = store
    inbox: Inbox = store
    delivery: DeliveryStore = store
    whole: Store = store
    assert all(s is store for s in (campaigns, audiences, outbox, inbox, delivery, whole))
    store.close()


@pytest.mark.parametrize("protocol", PARTS, ids=lambda p: p.__name__)
def test_sql_store_methods_match_the_protocol(protocol: type) -> None:
    """Every protocol method is an SQL store method with the same parameters."""
    members = _members(protocol)
    assert members
    for name in members:
        wanted = inspect.signature(getattr(protocol, name)).parameters
        found = inspect.signature(getattr(SQLStore, name)).parameters
        assert list(found) == list(wanted), name
        assert [p.kind for p in found.values()] == [p.kind for p in wanted.values()], name


def test_the_parts_do_not_overlap_and_make_the_store() -> None:
    """Each method belongs to one responsibility; `Store` and `DeliveryStore` combine them."""
    seen: set[str] = set()
    for part in PARTS:
        assert not (_members(part) & seen)
        seen |= _members(part)
    assert set(Store.__mro__) >= set(PARTS)
    assert set(DeliveryStore.__mro__) >= {CampaignStore, Outbox, Inbox}
    assert AudienceStore not in DeliveryStore.__mro__


def test_open_store_passes_a_store_through() -> None:
    """A store given to open_store is used as it is."""
    store = MemoryStore()
    assert open_store(store) is store
    store.close()
