"""Group commit: many callers' writes share one store transaction.

On SQLite with ``synchronous=FULL`` every commit pays an fsync, so a dispatcher that
commits each message's changes alone (marked ``sending``, then its result), or a
webhook receiver that commits each request's receipts alone, runs at the disk's commit
rate. `GroupCommit` keeps the promise of each call (it returns once *its* items are
durable, with its own answers) while the items of all callers that came during one
transaction go together in the next: a classic group-commit writer. The dispatcher
uses it for message changes, the inbound sink (`msgkit.inbound.StoreSink`) for
receipts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

__all__ = ["GroupCommit"]

T = TypeVar("T")
R = TypeVar("R")

_Waiter = tuple[Sequence[T], "asyncio.Future[list[R]]"]


class GroupCommit(Generic[T, R]):
    """Coalesces the items of concurrent callers into as few transactions as it can.

    The first caller's items are written at once; the items of those who call while a
    transaction is being written wait for it to end, then go together in the next one
    (at most ``limit`` items, never splitting a caller's), in the order they were given
    (so changes to one message apply in order). Each caller gets back the results of
    its own items once the transaction holding them is committed. When that
    transaction fails, every caller whose items it held gets the error (nothing of it
    was applied) — or, with ``alone_on_failure``, each caller's items are written
    again in a transaction of their own, so that a bad one fails only its caller.

    A caller cancelled meanwhile cancels its own answer only: its items are written
    with the others all the same (as a thread's transaction would be). Use one
    instance from one event loop at a time; a new loop (a new ``asyncio.run``) starts
    afresh.

    Args:
        write: Writes a list of items in one transaction, one result per item, in order.
        limit: The most items a transaction takes (None: no limit).
        alone_on_failure: Retry each caller of a failed transaction alone.
    """

    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[Sequence[R]]],
        *,
        limit: int | None = None,
        alone_on_failure: bool = False,
    ) -> None:
        self._write = write
        self._limit = limit
        self._alone = alone_on_failure
        self._pending: list[_Waiter[T, R]] = []
        self._task: asyncio.Task[None] | None = None
        self.transactions = 0  #: transactions committed so far (for tests and benchmarks)

    async def submit(self, items: Sequence[T]) -> list[R]:
        """Write ``items`` durably; returns their results once they are committed.

        Raises:
            Exception: Whatever the transaction holding them raised.
        """
        if not items:
            return []
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[R]] = loop.create_future()
        task = self._task
        if task is not None and task.get_loop() is not loop:  # a loop gone before
            self._pending = [w for w in self._pending if w[1].get_loop() is loop]
            task = None
        self._pending.append((items, future))
        if task is None or task.done():
            self._task = loop.create_task(self._drain())
        return await future

    async def flush(self) -> None:
        """Wait until every item given so far is written (or failed)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    def _next_group(self) -> list[_Waiter[T, R]]:
        group = [self._pending.pop(0)]
        size = len(group[0][0])
        while self._pending and (
            self._limit is None or size + len(self._pending[0][0]) <= self._limit
        ):
            size += len(self._pending[0][0])
            group.append(self._pending.pop(0))
        return group

    async def _drain(self) -> None:
        while self._pending:
            group = self._next_group()
            try:
                await self._commit(group)
            except BaseException:  # cancelled, or the interpreter is exiting: nobody waits
                for _, future in [*group, *self._pending]:
                    future.cancel()
                self._pending = []
                raise

    async def _commit(self, group: list[_Waiter[T, R]]) -> None:
        items = [item for given, _ in group for item in given]
        try:
            results = list(await self._write(items))
            if len(results) != len(items):
                raise RuntimeError(
                    f"the store answered {len(results)} results for {len(items)} items"
                )
        except Exception as exc:  # noqa: BLE001 - handed to each caller, raised there
            if self._alone and len(group) > 1:
                for one in group:
                    await self._commit([one])
                return
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        self.transactions += 1
        start = 0
        for given, future in group:
            end = start + len(given)
            if not future.done():
                future.set_result(results[start:end])
            start = end
