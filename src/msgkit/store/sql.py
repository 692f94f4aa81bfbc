"""The SQL store: one implementation over SQLite and PostgreSQL.

Every public method is one transaction. Batch methods use ``executemany``. The state
of a message changes only through `SQLStore.apply`, which checks each change against
the message lifecycle table (`msgkit.core.delivery.MESSAGE`), guards the update with
the state it read (so two workers cannot both move a message), and writes the event
log in the same transaction.

The store is assembled from one part per responsibility, each over the same
connection (`SQLBase`): campaigns, scenarios and the audit log (`_campaigns`); recipient
lists (`_lists`); the outbox (`_outbox`); send history, suppression, links, clicks and
replies (`_inbound`); rates shared by the workers (`_rates`). Each part implements one
protocol of `msgkit.store.protocols`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from msgkit.core.delivery import MessageState
from msgkit.store._base import Dialect, SQLBase, dt, ms
from msgkit.store._campaigns import CampaignTables
from msgkit.store._inbound import InboundTables
from msgkit.store._lists import ListTables
from msgkit.store._outbox import OutboxTables, _recipient_lock
from msgkit.store._rates import RateTables
from msgkit.store.base import Change, ChangeResult
from msgkit.store.protocols import HistoryRows, Store

__all__ = ["Dialect", "SQLBase", "SQLStore", "dt", "ms"]


class SQLStore(CampaignTables, ListTables, OutboxTables, InboundTables, RateTables, Store):
    """The outbox and everything around it, in one SQL database.

    It implements every store protocol (`msgkit.store.protocols.Store`): naming the
    protocol as a base makes mypy check each method against it.

    Args:
        connect: Opens a DB-API connection in autocommit mode.
        dialect: What differs between databases.
        url: The URL it was opened with, for messages (without password).
    """

    def __enter__(self) -> SQLStore:
        return self

    def mark_checked(
        self,
        recipients: Sequence[str],
        check: Callable[[HistoryRows], Sequence[Change]],
        *,
        since: datetime,
        pending: Iterable[MessageState],
        now: datetime,
        worker: str | None = None,
    ) -> list[ChangeResult]:
        """Read the recipients' send history (`history`), and apply the changes
        ``check`` makes of it, in one write transaction.

        No other worker can mark a message to one of these recipients between the read
        and the write (SQLite: the write lock of ``BEGIN IMMEDIATE``; elsewhere the
        dialect's ``exclusive`` lock on each recipient, which every `apply` marking a
        message that counts toward caps takes shared): a frequency cap that allows one
        more message lets exactly one through, whichever worker sends it, and a send
        of an uncapped campaign to the same person is either read or marked after.
        """
        with self._tx() as cur:
            for name in sorted({_recipient_lock(self._ix(r)) for r in recipients}):
                self._exclusive(cur, name)
            found = self.history(recipients, since=since, pending=pending)
            changes = check(found)
            if not changes:
                return []
            # Its recipients are held exclusively already (a capped chunk's others are
            # test sends, which do not count).
            return self._apply(cur, changes, now=now, worker=worker, shared=False)
