"""Tests of msgkit.engine.commit: the group-commit writer, alone and under the dispatcher."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime, timezone

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from msgkit.core.delivery import MessageEvent, MessageState
from msgkit.core.message import Change
from msgkit.engine.clock import FakeClock
from msgkit.engine.commit import GroupCommit
from msgkit.engine.dispatcher import Dispatcher, DispatcherSettings
from msgkit.engine.transport import HttpxTransport
from msgkit.providers.simulator import SimulatorProvider, SimulatorServer
from msgkit.store import MemoryStore
from msgkit.store.base import ChangeResult
from tests.factories import planned, running

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _change(message_id: str) -> Change:
    return Change(message_id=message_id, event=MessageEvent.SEND)


class FakeWrite:
    """A store's apply that records each transaction; the first waits for ``gate``."""

    def __init__(self, *, fail_on: int | None = None) -> None:
        self.transactions: list[list[str]] = []
        self.gate = asyncio.Event()
        self.fail_on = fail_on

    async def __call__(self, changes: list[Change]) -> list[ChangeResult]:
        if not self.transactions:
            await self.gate.wait()
        self.transactions.append([c.message_id for c in changes])
        if self.fail_on == len(self.transactions):
            raise OSError("disk I/O error")
        return [
            ChangeResult(
                message_id=c.message_id,
                applied=not c.message_id.startswith("x"),
                old=MessageState.QUEUED,
                new=MessageState.SENDING,
            )
            for c in changes
        ]


async def _coalesced(write: FakeWrite, groups: Sequence[Sequence[str]]) -> list[object]:
    """The first group written alone (held), the others meanwhile: their answers."""
    commit = GroupCommit(write)
    first = asyncio.ensure_future(commit.submit([_change(i) for i in groups[0]]))
    await asyncio.sleep(0)
    others = [
        asyncio.ensure_future(commit.submit([_change(i) for i in group]))
        for n, group in enumerate(groups[1:], start=1)
    ]
    await asyncio.sleep(0)
    write.gate.set()
    return list(await asyncio.gather(first, *others, return_exceptions=True))


def test_callers_during_a_transaction_share_the_next() -> None:
    """Changes given while a transaction is written go together in one, in call order."""
    write = FakeWrite()
    asyncio.run(_coalesced(write, [["a"], ["b", "c"], ["d"], ["e"]]))
    assert write.transactions == [
        ["a"],
        ["b", "c", "d", "e"],
    ]


def test_each_caller_gets_its_own_answers() -> None:
    """Each caller gets the results of its own changes, in its order, applied or not."""
    write = FakeWrite()
    answers = asyncio.run(_coalesced(write, [["a"], ["b", "xc"], ["xd", "e"]]))
    got = [[(r.message_id, r.applied) for r in answer] for answer in answers]  # type: ignore[attr-defined]
    assert got == [[("a", True)], [("b", True), ("xc", False)], [("xd", False), ("e", True)]]


def test_a_failed_transaction_reaches_every_caller_in_it() -> None:
    """When the transaction fails, every caller whose changes it held gets the error;
    the callers of other transactions do not."""
    write = FakeWrite(fail_on=2)
    answers = asyncio.run(_coalesced(write, [["a"], ["b"], ["c"]]))
    assert [r.message_id for r in answers[0]] == ["a"]  # type: ignore[attr-defined]
    assert all(isinstance(a, OSError) for a in answers[1:])


def test_writes_again_after_a_failure() -> None:
    """A failed transaction does not stop the writer: later changes are written."""

    async def scenario() -> list[ChangeResult]:
        write = FakeWrite(fail_on=1)
        write.gate.set()
        commit = GroupCommit(write)
        with pytest.raises(OSError, match="disk"):
            await commit.submit([_change("a")])
        return await commit.submit([_change("b")])

    assert [r.message_id for r in asyncio.run(scenario())] == ["b"]


def test_a_cancelled_caller_does_not_take_back_its_changes() -> None:
    """A caller cancelled while waiting gets no answer, but its changes are written with
    the others', who get theirs."""

    async def scenario() -> tuple[FakeWrite, list[ChangeResult]]:
        write = FakeWrite()
        commit = GroupCommit(write)
        first = asyncio.ensure_future(commit.submit([_change("a")]))
        await asyncio.sleep(0)
        gone = asyncio.ensure_future(commit.submit([_change("b")]))
        kept = asyncio.ensure_future(commit.submit([_change("c")]))
        await asyncio.sleep(0)
        gone.cancel()
        write.gate.set()
        await first
        with pytest.raises(asyncio.CancelledError):
            await gone
        return write, await kept

    write, kept = asyncio.run(scenario())
    assert write.transactions == [["a"], ["b", "c"]]
    assert [r.message_id for r in kept] == ["c"]


def test_no_changes_make_no_transaction() -> None:
    """An empty list is answered at once, without a transaction."""
    write = FakeWrite()
    assert asyncio.run(GroupCommit(write).submit([])) == []
    assert write.transactions == []


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(st.sampled_from(["a", "b", "xc", "d", "xe"]), min_size=0, max_size=4),
            st.integers(min_value=0, max_value=3),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_every_change_is_written_once_in_order_and_answered_to_its_caller(
    calls: list[tuple[list[str], int]],
) -> None:
    """Whatever the callers and when they call, each change is written exactly once,
    each caller's changes in its order, and each caller is answered about its own."""

    def ids_of(n: int, ids: list[str]) -> list[str]:
        return [f"{i}-{n}-{k}" for k, i in enumerate(ids)]

    async def scenario() -> tuple[list[list[ChangeResult]], list[str]]:
        write = FakeWrite()
        write.gate.set()
        commit = GroupCommit(write)

        async def call(n: int, ids: list[str], delay: int) -> list[ChangeResult]:
            for _ in range(delay):
                await asyncio.sleep(0)
            return await commit.submit([_change(i) for i in ids_of(n, ids)])

        answers = await asyncio.gather(*(call(n, ids, d) for n, (ids, d) in enumerate(calls)))
        return list(answers), [i for ids in write.transactions for i in ids]

    answers, written = asyncio.run(scenario())
    assert sorted(written) == sorted(i for n, (ids, _) in enumerate(calls) for i in ids_of(n, ids))
    for n, (ids, _) in enumerate(calls):
        assert [w for w in written if w.split("-")[1] == str(n)] == ids_of(n, ids)
        assert [(r.message_id, r.applied) for r in answers[n]] == [
            (i, not i.startswith("x")) for i in ids_of(n, ids)
        ]


class RecordingStore(MemoryStore):
    """A store that notes which messages are durably marked ``sending`` (after commit)."""

    def __init__(self) -> None:
        super().__init__()
        self.durable: set[str] = set()
        self.transactions = 0

    def apply(
        self, changes: Sequence[Change], *, now: datetime, worker: str | None = None
    ) -> list[ChangeResult]:
        results = super().apply(changes, now=now, worker=worker)  # committed on return
        self.transactions += 1
        self.durable.update(
            r.message_id for r in results if r.applied and r.new is MessageState.SENDING
        )
        return results


class CheckingTransport(HttpxTransport):
    """Notes, for each message a request carries, whether its mark was durable then."""

    def __init__(self, store: RecordingStore, app: SimulatorServer) -> None:
        super().__init__(transport=httpx.ASGITransport(app=app))
        self.store = store
        self.early: list[str] = []
        self.sent: list[str] = []

    async def send(self, request: httpx.Request) -> httpx.Response:
        for message in json.loads(request.content)["messages"]:
            self.sent.append(message["id"])
            if message["id"] not in self.store.durable:
                self.early.append(message["id"])
        return await super().send(request)


@pytest.mark.anyio
async def test_nothing_leaves_before_its_mark_is_committed() -> None:
    """Under the dispatcher, with many requests in flight and marks sharing commits,
    every message is durably marked ``sending`` before its request leaves; fewer
    transactions than messages are written."""
    clock = FakeClock()
    store = RecordingStore()
    server = SimulatorServer(clock=clock.now)
    campaign = store.save_campaign(running(), now=clock.now())
    store.insert_messages(planned(campaign.id, 300, now=clock.now()), now=clock.now())
    transport = CheckingTransport(store, server)
    dispatcher = Dispatcher(
        store,
        {"sim": SimulatorProvider("sim", max_batch=1)},
        transport=transport,
        clock=clock,
        settings=DispatcherSettings(batch_size=100, concurrency=16),
    )
    try:
        stats = await dispatcher.run()
    finally:
        await dispatcher.aclose()
        await transport.aclose()
    assert stats.sent == 300
    assert len(transport.sent) == len(set(transport.sent)) == 300
    assert transport.early == []
    assert store.transactions < 2 * 300  # marks and results shared commits
    assert dict(store.progress(campaign.id).by_state) == {MessageState.SUBMITTED: 300}
