"""Tests of msgkit.inbound.sink: StoreSink over an in-memory store."""

from __future__ import annotations

import asyncio
import doctest
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import msgkit.inbound.sink as sink_module
from msgkit.core.campaigns import Fallback
from msgkit.core.delivery import Channel, MessageEvent, MessageState
from msgkit.core.optout import KEYWORDS, OptOutScope
from msgkit.core.templates import Template
from msgkit.engine.commit import GroupCommit
from msgkit.inbound import (
    Click,
    DeliveryReceipt,
    InboundSink,
    Reply,
    StoreSink,
    optout_entry,
)
from msgkit.store import Change, MemoryStore
from tests.factories import Planned, phone, planned, running

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 3, 1, 4, 0, tzinfo=timezone.utc)
OUR_NUMBER = "+14155550100"


@pytest.fixture
def store() -> Iterator[MemoryStore]:
    store = MemoryStore()
    yield store
    store.close()


@pytest.fixture
def sink(store: MemoryStore) -> StoreSink:
    return StoreSink(store, clock=lambda: NOW)


def _submit(store: MemoryStore, messages: Sequence[Planned], **fields: object) -> list[str]:
    """Bring planned messages to submitted (claim, send, accept) as the engine does."""
    store.insert_messages(messages, now=NOW)
    claimed = store.claim(worker="w", now=NOW, limit=len(messages), lease_until=NOW)
    ids = [m.id for m in claimed]
    store.apply([Change(message_id=i, event=MessageEvent.SEND) for i in ids], now=NOW)
    store.apply(
        [
            Change(
                message_id=i,
                event=MessageEvent.ACCEPT,
                fields={"provider_message_id": f"P-{n}", **fields},
            )
            for n, i in enumerate(ids)
        ],
        now=NOW,
    )
    return ids


def _sent(store: MemoryStore, count: int = 1, **fields: Any) -> list[str]:
    campaign = store.save_campaign(running(), now=NOW)
    return _submit(store, planned(campaign.id, count, now=NOW, **fields))


def _receipt(state: str, message_id: str | None = None, **fields: object) -> DeliveryReceipt:
    return DeliveryReceipt(provider="sim", state=state, message_id=message_id, **fields)  # type: ignore[arg-type]


def _reply(text: str, n: int = 0, *, scope: str | None = OUR_NUMBER) -> Reply:
    return Reply(
        provider="tw",
        channel=Channel.SMS,
        from_address=phone(1),
        text=text,
        scope=scope,
        received_at=NOW + timedelta(seconds=n),
        provider_message_id=f"SM{n}",
    )


def _suppressed(store: MemoryStore, scope: str = f"sms/{OUR_NUMBER}") -> bool:
    return bool(store.suppressed([scope], [phone(1)]))


def test_it_is_an_inbound_sink(store: MemoryStore) -> None:
    """StoreSink satisfies the InboundSink protocol."""
    assert isinstance(StoreSink(store), InboundSink)


def test_the_module_examples_hold() -> None:
    """The examples in the module's docstrings run as written."""
    assert doctest.testmod(sink_module).failed == 0


# -- receipts ----------------------------------------------------------------------------


async def test_a_delivered_receipt_delivers(store: MemoryStore, sink: StoreSink) -> None:
    """A delivered receipt by our id moves the message to delivered."""
    [mid] = _sent(store)
    await sink.receipts([_receipt("delivered", mid)])
    assert store.get_message(mid).state is MessageState.DELIVERED


async def test_the_same_receipt_twice_is_harmless(store: MemoryStore, sink: StoreSink) -> None:
    """A receipt pushed again raises nothing and logs no second delivery."""
    [mid] = _sent(store)
    for _ in range(2):
        await sink.receipts([_receipt("delivered", mid)])
    assert [e[1] for e in store.events(mid)].count("deliver") == 1
    assert store.get_message(mid).state is MessageState.DELIVERED


async def test_a_late_sent_after_delivered_changes_nothing(
    store: MemoryStore, sink: StoreSink
) -> None:
    """A "sent" receipt arriving after "delivered" leaves the message delivered."""
    [mid] = _sent(store)
    await sink.receipts([_receipt("delivered", mid)])
    before = store.events(mid)
    await sink.receipts([_receipt("sent", mid)])
    assert store.get_message(mid).state is MessageState.DELIVERED
    assert store.events(mid) == before


@pytest.mark.parametrize("state", ["undelivered", "failed"])
async def test_an_undelivered_receipt_records_the_error(
    store: MemoryStore, sink: StoreSink, state: str
) -> None:
    """Undelivered (or failed after acceptance) keeps the provider's code and text."""
    [mid] = _sent(store)
    await sink.receipts([_receipt(state, mid, error_code="MK:0001", error_message="用户不存在")])
    row = store.get_message(mid)
    assert (row.state, row.error_code, row.error) == (
        MessageState.UNDELIVERED,
        "MK:0001",
        "用户不存在",
    )


async def test_a_receipt_by_provider_id(store: MemoryStore, sink: StoreSink) -> None:
    """Without our id (or with an id we do not hold), the provider's id finds the message."""
    first, second = _sent(store, 2)
    await sink.receipts(
        [
            _receipt("delivered", provider_message_id="P-0"),
            _receipt("undelivered", "not-ours", provider_message_id="P-1", error_code="E1"),
        ]
    )
    assert store.get_message(first).state is MessageState.DELIVERED
    assert store.get_message(second).error_code == "E1"


async def test_a_receipt_for_a_message_we_never_sent(
    store: MemoryStore, sink: StoreSink, caplog: pytest.LogCaptureFixture
) -> None:
    """A receipt matching nothing is logged with the number masked, and ignored."""
    [mid] = _sent(store)
    caplog.set_level(logging.INFO, logger="msgkit.inbound")
    await sink.receipts(
        [
            _receipt("delivered", "elsewhere", provider_message_id="X-9", phone="+886912345678"),
            _receipt("delivered", mid),
        ]
    )
    assert "ignored" in caplog.text
    assert "+886912345678" not in caplog.text
    assert store.get_message(mid).state is MessageState.DELIVERED


async def test_a_sent_receipt_before_the_engine_records_acceptance(
    store: MemoryStore, sink: StoreSink
) -> None:
    """A "sent" receipt for a message still marked sending submits it, with the provider id."""
    campaign = store.save_campaign(running(), now=NOW)
    store.insert_messages(planned(campaign.id, 1, now=NOW), now=NOW)
    [row] = store.claim(worker="w", now=NOW, limit=1, lease_until=NOW)
    store.apply([Change(message_id=row.id, event=MessageEvent.SEND)], now=NOW)
    await sink.receipts([_receipt("sent", row.id, provider_message_id="SM9")])
    stored = store.get_message(row.id)
    assert (stored.state, stored.provider_message_id) == (MessageState.SUBMITTED, "SM9")


async def test_a_line_delivery_cancels_the_waiting_sms_at_once(
    store: MemoryStore, sink: StoreSink
) -> None:
    """The delivered LINE message's SMS fallback is cancelled; the other one still waits."""
    campaign = store.save_campaign(
        running(
            channel="line",
            fallback=Fallback(template=Template(body="sms"), wait=timedelta(minutes=10)),
        ),
        now=NOW,
    )
    parents = planned(campaign.id, 2, now=NOW, channel=Channel.LINE, provider="line")
    children = planned(campaign.id, 2, now=NOW, step=1, provider="sms")
    parents = [attrs.evolve(p, fallback_wait=timedelta(minutes=10)) for p in parents]
    children = [attrs.evolve(c, parent_id=p.id) for p, c in zip(parents, children, strict=True)]
    store.insert_messages(parents, now=NOW)
    store.insert_messages(children, now=NOW)
    claimed = store.claim(worker="w", now=NOW, limit=10, lease_until=NOW)
    assert {m.id for m in claimed} == {p.id for p in parents}
    store.apply([Change(message_id=p.id, event=MessageEvent.SEND) for p in parents], now=NOW)
    store.apply(
        [
            Change(
                message_id=p.id,
                event=MessageEvent.ACCEPT,
                fields={"fallback_at": NOW + timedelta(minutes=10)},
            )
            for p in parents
        ],
        now=NOW,
    )
    receipt = DeliveryReceipt(provider="line", state="delivered", message_id=parents[0].id)
    await sink.receipts([receipt])
    cancelled = store.get_message(children[0].id)
    assert (cancelled.state, cancelled.reason) == (MessageState.SKIPPED, "cancelled")
    assert store.get_message(children[1].id).state is MessageState.DEFERRED
    await sink.receipts([receipt])  # pushed again: nothing more
    assert store.get_message(children[1].id).state is MessageState.DEFERRED


# -- replies -----------------------------------------------------------------------------


async def test_stop_suppresses_the_sender_and_start_lifts_it(
    store: MemoryStore, sink: StoreSink
) -> None:
    """STOP adds an entry scoped to the number it answered; START removes that entry."""
    await sink.replies([_reply("STOP", 1)])
    assert _suppressed(store)
    assert not _suppressed(store, "sms")
    await sink.replies([_reply("start", 2)])
    assert not _suppressed(store)
    assert [r["classification"] for r in store.replies()] == ["opt_in", "opt_out"]
    assert not any(r["needs_review"] for r in store.replies())


async def test_stop_without_a_known_sender_covers_the_channel(
    store: MemoryStore, sink: StoreSink
) -> None:
    """An opt-out that names no sender applies to the whole channel (broader, safer)."""
    await sink.replies([_reply("退订", scope=None)])
    assert _suppressed(store, "sms")


async def test_replies_are_stored_once(store: MemoryStore, sink: StoreSink) -> None:
    """A reply pushed again is stored once."""
    for _ in range(2):
        await sink.replies([_reply("hello", 1)])
    assert len(store.replies()) == 1


async def test_an_old_start_pushed_again_does_not_undo_a_newer_stop(
    store: MemoryStore, sink: StoreSink
) -> None:
    """START, then STOP, then the START again: the writer stays opted out."""
    await sink.replies([_reply("START", 1), _reply("STOP", 2)])
    await sink.replies([_reply("START", 1)])
    assert _suppressed(store)


async def test_a_help_reply(store: MemoryStore, sink: StoreSink) -> None:
    """HELP is stored as help, changes no suppression, needs no review."""
    await sink.replies([_reply("Help")])
    [stored] = store.replies()
    assert (stored["classification"], stored["needs_review"]) == ("help", False)
    assert store.suppression_count() == 0


@pytest.mark.parametrize(
    "text",
    [
        "please stop texting me",
        "Unsubscribe me",
        "no more messages please 🙏",
        "don't text me again",
        "不要再发了",
        "取消订阅",
        "請不要再傳簡訊給我",
        "配信停止してください",
        "수신거부",
        "Quiero darme de baja",
        "je veux me désabonner",
        "Bitte abmelden",
    ],
)
async def test_requests_that_read_like_opt_outs_are_flagged(
    store: MemoryStore, sink: StoreSink, text: str
) -> None:
    """A sentence asking to stop (in several languages) is flagged for review, not obeyed."""
    await sink.replies([_reply(text)])
    [flagged] = store.replies(needs_review=True)
    assert (flagged["text"], flagged["classification"]) == (text, "possible_opt_out")
    assert store.suppression_count() == 0


@pytest.mark.parametrize(
    "text", ["Thanks! See you at the bus stop", "好的，谢谢", "What time does the sale end?", ""]
)
async def test_ordinary_replies_are_not_flagged(
    store: MemoryStore, sink: StoreSink, text: str
) -> None:
    """Ordinary answers are stored unclassified and need no review."""
    await sink.replies([_reply(text)])
    [stored] = store.replies()
    assert (stored["classification"], stored["needs_review"]) == (None, False)


def test_review_patterns_are_configurable(store: MemoryStore) -> None:
    """Own patterns replace the built-in ones."""
    sink = StoreSink(store, review_patterns=[r"\bbasta\b"])
    assert sink.classify("basta mensajes") == ("possible_opt_out", True)
    assert sink.classify("please stop texting me") == (None, False)
    assert sink.classify("STOP") == ("opt_out", False)


_PADDING = st.text(alphabet=" \t.!?。！", max_size=3)


@given(
    st.sampled_from(sorted({w for kw in KEYWORDS.values() for w in kw.opt_out})),
    _PADDING,
    _PADDING,
)
def test_keywords_alone_are_opt_outs_not_reviews(word: str, before: str, after: str) -> None:
    """Any opt-out keyword alone, however padded, is an opt-out that needs no review."""
    with MemoryStore() as store:
        classified = StoreSink(store).classify(f"{before}{word.upper()}{after}")
    assert classified == ("opt_out", False)


@given(
    channel=st.sampled_from(list(Channel)),
    sender=st.none() | st.text(min_size=1, max_size=8),
    scope=st.sampled_from(list(OptOutScope)),
)
def test_opt_in_lifts_what_opt_out_adds(
    channel: Channel, sender: str | None, scope: OptOutScope
) -> None:
    """STOP and START from the same writer to the same sender name the same entry."""
    stop, start = (
        Reply(provider="p", channel=channel, from_address="x", text=t, scope=sender)
        for t in ("STOP", "START")
    )
    entry = optout_entry(stop, scope=scope)
    assert entry == optout_entry(start, scope=scope)
    assert entry.scope in ("*", channel.value, f"{channel.value}/{sender}")
    assert entry.address == "x"


def test_the_last_message_decides_the_entry(store: MemoryStore) -> None:
    """The last message sent on the reply's channel names the sender; the policy the breadth."""
    [mid] = _sent(store, sender="Acme")
    last = store.get_message(mid)
    reply = _reply("STOP", scope="01")  # Alibaba's extension code, not the signature
    assert optout_entry(reply, last=last).scope == "sms/Acme"
    assert optout_entry(reply, last=last, scope="channel").scope == "sms"
    assert optout_entry(reply, last=last, scope="global").scope == "*"
    by_line = attrs.evolve(reply, channel=Channel.LINE)
    assert optout_entry(by_line, last=last).scope == "line/01"  # an SMS says nothing of LINE


# -- links -------------------------------------------------------------------------------


async def test_links_resolve_and_clicks_map_to_the_message(
    store: MemoryStore, sink: StoreSink
) -> None:
    """A code resolves to its target; a click with the recipient's parameter is theirs."""
    campaign = store.save_campaign(running(), now=NOW)
    _submit(store, planned(campaign.id, 1, now=NOW, link_param="u77"))
    store.save_links(campaign.id, {"ab12": ("sale", "https://shop.example/sale")})
    assert await sink.resolve_link("ab12", "u77") == "https://shop.example/sale"
    assert await sink.resolve_link("nope", None) is None
    await sink.click(Click(code="ab12", param="u77", clicked_at=NOW, user_agent="Safari"))
    assert store.clicks(campaign.id) == (1, 1)
    await sink.click(Click(code="ab12", param="someone-else", clicked_at=NOW))
    assert store.clicks(campaign.id) == (2, 1)


async def test_a_stop_to_a_short_code_suppresses_the_campaign_sender(
    store: MemoryStore, sink: StoreSink
) -> None:
    """A STOP whose push names only a reply code is scoped by the last message's sender."""
    campaign = store.save_campaign(running(), now=NOW)
    _submit(store, planned(campaign.id, 2, now=NOW, sender="Acme"))
    await sink.replies([_reply("TD", 3, scope="01")])
    assert _suppressed(store, "sms/Acme")
    assert not _suppressed(store, "sms/01")


async def test_the_campaign_scope_widens_an_opt_out(store: MemoryStore, sink: StoreSink) -> None:
    """When the last campaign says opt-outs cover the channel, STOP blocks every sender."""
    from msgkit.core.policy import SendPolicy

    campaign = store.save_campaign(
        running(policy=SendPolicy(optout_scope=OptOutScope.CHANNEL)), now=NOW
    )
    _submit(store, planned(campaign.id, 2, now=NOW, sender="Acme"))
    await sink.replies([_reply("STOP", 4)])
    assert _suppressed(store, "sms")


# -- group commit ------------------------------------------------------------------------


class _Recorder:
    """A write function that records each group, and fails on ``bad`` events."""

    def __init__(self, bad: frozenset[int] = frozenset()) -> None:
        self.groups: list[list[int]] = []
        self.bad = bad

    async def __call__(self, events: list[int]) -> list[None]:
        await asyncio.sleep(0)  # as a thread would: callers arriving meanwhile wait
        if self.bad & set(events):
            raise ValueError("a bad event")
        self.groups.append(list(events))
        return [None] * len(events)


async def test_concurrent_receipts_share_one_group() -> None:
    """Events submitted while no group is being written go in one write, in order."""
    write = _Recorder()
    group = GroupCommit(write, alone_on_failure=True)
    await asyncio.gather(*(group.submit([n, n + 100]) for n in range(10)))
    assert write.groups == [[n + k for n in range(10) for k in (0, 100)]]


async def test_a_caller_returns_only_once_its_events_are_written() -> None:
    """submit returns after the write of its group, not before."""
    write = _Recorder()
    group = GroupCommit(write, alone_on_failure=True)
    await group.submit([1])
    assert write.groups == [[1]]


async def test_a_bad_event_fails_only_its_own_caller() -> None:
    """When a group fails, each caller's events are written again alone: the others
    are taken, the one with the bad event gets the error."""
    write = _Recorder(bad=frozenset({3}))
    group = GroupCommit(write, alone_on_failure=True)
    outcomes = await asyncio.gather(*(group.submit([n]) for n in range(5)), return_exceptions=True)
    assert [type(o).__name__ for o in outcomes] == ["list"] * 3 + ["ValueError", "list"]
    assert sorted(e for g in write.groups for e in g) == [0, 1, 2, 4]


@given(
    sizes=st.lists(st.integers(1, 7), min_size=1, max_size=30),
    limit=st.integers(1, 20),
    waves=st.integers(1, 4),
)
def test_every_event_is_written_once_in_groups_within_the_limit(
    sizes: list[int], limit: int, waves: int
) -> None:
    """Whatever the callers and the limit: every event is written once, in the order
    submitted, and a group exceeds the limit only when one caller's events do."""
    write = _Recorder()
    group = GroupCommit(write, limit=limit, alone_on_failure=True)
    batches, start = [], 0
    for size in sizes:
        batches.append(list(range(start, start + size)))
        start += size

    async def callers() -> None:
        per_wave = -(-len(batches) // waves)
        for w in range(0, len(batches), per_wave):  # some arrive while a group is written
            await asyncio.gather(*(group.submit(b) for b in batches[w : w + per_wave]))

    asyncio.run(callers())
    assert [e for g in write.groups for e in g] == list(range(start))
    for written in write.groups:
        assert len(written) <= max(limit, *sizes)


async def test_replays_in_one_group_apply_once(store: MemoryStore, sink: StoreSink) -> None:
    """The same receipts pushed again while the first push is being written (one
    group) deliver each message once."""
    ids = _sent(store, 3)
    pushes = [[_receipt("delivered", mid) for mid in ids] for _ in range(3)]
    await asyncio.gather(*(sink.receipts(p) for p in pushes))
    for mid in ids:
        assert store.get_message(mid).state is MessageState.DELIVERED
        assert [e[1] for e in store.events(mid)].count("deliver") == 1


async def test_a_failing_store_fails_the_call(store: MemoryStore) -> None:
    """When the store cannot take the receipts, the caller gets the error (the app
    answers 500, the provider pushes again)."""
    [mid] = _sent(store)
    store.close()
    with pytest.raises(Exception, match="closed"):
        await StoreSink(store, clock=lambda: NOW).receipts([_receipt("delivered", mid)])


def _a_message_in(store: MemoryStore, start: str) -> str:
    """A message brought to ``start`` (sending, submitted or unknown) as the engine does."""
    campaign = store.save_campaign(running(), now=NOW)
    [m] = planned(campaign.id, 1, now=NOW, fallback_wait=timedelta(minutes=5))
    store.insert_messages([m], now=NOW)
    store.claim(worker="w", now=NOW, limit=1, lease_until=NOW)
    store.apply([Change(message_id=m.id, event=MessageEvent.SEND)], now=NOW)
    if start == "submitted":
        store.apply(
            [
                Change(
                    message_id=m.id, event=MessageEvent.ACCEPT, fields={"provider_message_id": "P"}
                )
            ],
            now=NOW,
        )
    elif start == "unknown":
        store.apply([Change(message_id=m.id, event=MessageEvent.LOSE)], now=NOW)
    return m.id


@given(
    start=st.sampled_from(["sending", "submitted", "unknown"]),
    pushes=st.lists(
        st.tuples(
            st.sampled_from(["sent", "delivered", "undelivered", "failed"]),
            st.sampled_from([None, "P", "Q"]),
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_receipts_in_one_group_end_as_they_would_one_by_one(
    start: str, pushes: list[tuple[str, str | None]]
) -> None:
    """Receipts for one message written in one group leave it as the same receipts
    written one call each: state, fields and event log."""
    outcomes = []
    for together in (True, False):
        store = MemoryStore()
        try:
            mid = _a_message_in(store, start)
            sink = StoreSink(store, clock=lambda: NOW)
            receipts = [
                _receipt(state, mid, provider_message_id=pid, error_code="E")
                for state, pid in pushes
            ]
            if together:
                sink._receipts(receipts)
            else:
                for receipt in receipts:
                    sink._receipts([receipt])
            row = store.get_message(mid)
            outcomes.append(
                (
                    row.state,
                    row.provider_message_id,
                    row.error_code,
                    row.fallback_at,
                    store.events(mid),
                )
            )
        finally:
            store.close()
    assert outcomes[0] == outcomes[1]
