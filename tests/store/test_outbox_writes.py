"""The outbox's set-based writes: a claim's events, grouped transitions, re-planning."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from msgkit.core.delivery import MessageEvent, MessageState
from msgkit.core.message import Change
from msgkit.core.planning import message_id
from msgkit.store import SQLiteStore
from msgkit.testing.contracts import planned_messages, running_campaign

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
LEASE = NOW + timedelta(minutes=5)


def test_claim_logs_the_state_each_message_left(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "o.db")
    campaign = store.save_campaign(running_campaign(), now=NOW)
    planned, deferred = planned_messages(campaign.id, 2, now=NOW)
    store.insert_messages([planned, attrs.evolve(deferred, deferred=True)], now=NOW)
    claimed = store.claim(worker="w", now=NOW, limit=10, lease_until=LEASE)
    assert {m.id for m in claimed} == {planned.id, deferred.id}
    assert all(m.state is MessageState.QUEUED for m in claimed)
    assert [e[1:] for e in store.events(planned.id)] == [("claim", "planned", "queued")]
    assert [e[1:] for e in store.events(deferred.id)] == [("claim", "deferred", "queued")]
    assert store.claim(worker="w2", now=NOW, limit=10, lease_until=LEASE) == []
    store.close()


def test_replanning_the_same_keys_writes_nothing(tmp_path: Path) -> None:
    """The planner's id is the digest of the key; the key stays unique besides."""
    store = SQLiteStore(tmp_path / "o.db")
    campaign = store.save_campaign(running_campaign(), now=NOW)
    batch = [
        attrs.evolve(m, id=message_id(m.key)) for m in planned_messages(campaign.id, 5, now=NOW)
    ]
    assert store.insert_messages(batch, now=NOW).inserted == 5
    again = store.insert_messages(batch, now=NOW)
    assert (again.inserted, again.duplicates) == (0, 5)
    # Another id for a key already written is a duplicate too.
    other = attrs.evolve(batch[0], id="x" * 32)
    assert store.insert_messages([other], now=NOW).duplicates == 1
    store.close()


_EVENTS = [MessageEvent.SEND, MessageEvent.ACCEPT, MessageEvent.RETRY, MessageEvent.RELEASE]
_FIELDS = [{}, {"lease_until": LEASE}, {"provider_message_id": "p1"}, {"error_code": "E"}]


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    changes=st.lists(
        st.tuples(
            st.integers(0, 5),
            st.none() | st.sampled_from(_EVENTS),
            st.sampled_from(range(len(_FIELDS))),
        ),
        max_size=30,
    )
)
def test_claimed_batch_in_one_apply_is_its_changes_one_by_one(
    changes: list[tuple[int, MessageEvent | None, int]],
) -> None:
    """Many claimed messages given the same transition (one UPDATE ... WHERE id IN)
    end as one apply call each would leave them: results, rows, event logs."""
    outcomes = []
    for one_call in (True, False):
        store = SQLiteStore(":memory:")
        campaign = store.save_campaign(running_campaign(), now=NOW)
        messages = planned_messages(campaign.id, 6, now=NOW)
        store.insert_messages(messages, now=NOW)
        store.claim(worker="w", now=NOW, limit=6, lease_until=LEASE)
        batch = [
            Change(message_id=messages[i].id, event=event, fields=_FIELDS[f])
            for i, event, f in changes
        ]
        if one_call:
            results = store.apply(batch, now=NOW)
        else:
            results = [r for c in batch for r in store.apply([c], now=NOW)]
        rows = [store.get_message(m.id) for m in messages]
        outcomes.append(
            (
                [(r.applied, r.old, r.new) for r in results],
                [
                    (r.state, r.provider_message_id, r.error_code, r.attempts, r.sent_at)
                    for r in rows
                ],
                [store.events(m.id) for m in messages],
            )
        )
        store.close()
    assert outcomes[0] == outcomes[1]
