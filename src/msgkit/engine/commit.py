"""Group commit: many callers' message changes share one store transaction.

On SQLite with ``synchronous=FULL`` every commit pays an fsync, so a dispatcher that
commits each message's changes alone (marked ``sending``, then its result) runs at the
disk's commit rate. `GroupCommit` keeps the promise of each call (it returns once *its*
changes are durable, with its own answers) while the changes of all callers that came
during one transaction go together in the next: a classic group-commit writer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

from msgkit.core.message import Change
from msgkit.store.base import ChangeResult

__all__ = ["GroupCommit"]

#: Applies changes in one transaction, one result per change in order (`DeliveryStore.apply`).
Write = Callable[[list[Change], datetime], Awaitable[Sequence[ChangeResult]]]

_Waiter = tuple[Sequence[Change], datetime, "asyncio.Future[list[ChangeResult]]"]


class GroupCommit:
    """Coalesces the changes of concurrent callers into as few transactions as it can.

    The first caller's changes are written at once; the changes of those who call while
    a transaction is being written wait for it to end, then go together in the next
    one, in the order they were given (so changes to one message apply in order). Each
    caller gets back the results of its own changes, once the transaction holding them
    is committed; when that transaction fails, every caller whose changes it held gets
    the error (nothing of it was applied).

    The transaction's time (``now`` of `DeliveryStore.apply`: stamps and event times) is
    the latest of its callers' -- at most one transaction later than each asked for.

    Args:
        write: Applies a list of changes in one transaction at a time, one result per
            change, in order.
    """

    def __init__(self, write: Write) -> None:
        self._write = write
        self._pending: list[_Waiter] = []
        self._task: asyncio.Task[None] | None = None
        self.transactions = 0  #: transactions written so far (for tests and benchmarks)

    async def apply(self, changes: Sequence[Change], now: datetime) -> list[ChangeResult]:
        """Apply ``changes`` durably; returns their results once they are committed.

        Raises:
            Exception: Whatever the transaction holding them raised.
        """
        if not changes:
            return []
        future: asyncio.Future[list[ChangeResult]] = asyncio.get_running_loop().create_future()
        self._pending.append((changes, now, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        # A caller cancelled meanwhile cancels its own future only: its changes are
        # written with the others all the same (as a thread's transaction would be).
        return await future

    async def flush(self) -> None:
        """Wait until every change given so far is written (or failed)."""
        while self._task is not None and not self._task.done():
            await asyncio.shield(self._task)

    async def _drain(self) -> None:
        while self._pending:
            group, self._pending = self._pending, []
            changes = [c for waiter in group for c in waiter[0]]
            now = max(waiter[1] for waiter in group)
            try:
                results = list(await self._write(changes, now))
                self.transactions += 1
                if len(results) != len(changes):
                    raise RuntimeError(
                        f"the store answered {len(results)} results for {len(changes)} changes"
                    )
            except Exception as exc:  # noqa: BLE001 - handed to each caller, raised there
                for _, _, future in group:
                    if not future.done():
                        future.set_exception(exc)
                continue
            except BaseException:  # cancelled, or the interpreter is exiting: nobody waits
                for _, _, future in [*group, *self._pending]:
                    future.cancel()
                self._pending = []
                raise
            start = 0
            for given, _, future in group:
                end = start + len(given)
                if not future.done():
                    future.set_result(results[start:end])
                start = end
