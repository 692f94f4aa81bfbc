"""The SQL store: one implementation over SQLite and PostgreSQL.

Every public method is one transaction. Batch methods use ``executemany``. The state
of a message changes only through `SQLStore.apply`, which checks each change against
the message lifecycle table (`msgkit.core.delivery.MESSAGE`), guards the update with
the state it read (so two workers cannot both move a message), and writes the event
log in the same transaction.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any

import attrs

from msgkit.core.campaigns import Campaign, CampaignStatus
from msgkit.core.contacts import Contact, Phone
from msgkit.core.delivery import MESSAGE, MessageEvent, MessageState
from msgkit.core.optout import SuppressionKey
from msgkit.core.planning import PlannedMessage, Skip, message_id
from msgkit.exceptions import ConfigError, NotFoundError
from msgkit.store import codec
from msgkit.store.base import Change, ChangeResult, InsertResult, MessageRow, Progress
from msgkit.store.migrations import LATEST, MIGRATIONS

__all__ = ["Dialect", "SQLStore"]

_PENDING = ("planned", "deferred", "queued", "sending")
_MESSAGE_COLUMNS = (
    "id, key, campaign_id, contact_key, step, parent_id, channel, provider, recipient, state, "
    "reason, kind, text, payload, segments, test, not_before, expires_at, fallback_at, "
    "attempts, provider_message_id, error_code, error, sent_at, link_param"
)
_SETTABLE = frozenset(
    {
        "reason",
        "not_before",
        "expires_at",
        "fallback_at",
        "provider_message_id",
        "error_code",
        "error",
        "sent_at",
        "worker",
        "lease_until",
    }
)
_BATCH = 500
_UNSENT = frozenset({MessageState.SENDING, MessageState.UNKNOWN})
_SENT = frozenset({MessageState.SUBMITTED, MessageState.DELIVERED, MessageState.UNDELIVERED})


def ms(value: datetime | None) -> int | None:
    """Milliseconds since the epoch of an aware datetime (None stays None)."""
    if value is None:
        return None
    if value.utcoffset() is None:
        raise ValueError("the store takes aware datetimes only")
    return int(value.timestamp() * 1000)


def dt(value: int | None) -> datetime | None:
    """The aware UTC datetime of a millisecond timestamp."""
    if value is None:
        return None
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc)


def _chunks(items: Iterable[Any], size: int = _BATCH) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@attrs.frozen
class Dialect:
    """What differs between SQL databases.

    Attributes:
        name: ``"sqlite"`` or ``"postgresql"``.
        placeholder: The parameter marker of the driver.
        id_column: DDL of an auto-incrementing integer primary key.
        skip_locked: Whether claims may use ``FOR UPDATE SKIP LOCKED``.
        begin: The statement that starts a write transaction.
        lock_rows: Appended to a SELECT whose rows the transaction will update.
    """

    name: str
    placeholder: str = "?"
    id_column: str = "INTEGER PRIMARY KEY AUTOINCREMENT"
    skip_locked: bool = False
    begin: str = "BEGIN IMMEDIATE"
    lock_rows: str = ""

    def sql(self, text: str) -> str:
        """``text`` with ``?`` markers turned into this driver's."""
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)


@attrs.frozen
class _Current:
    state: str
    campaign_id: str
    recipient: str
    channel: str
    counts: bool


def _row_to_message(row: Sequence[Any]) -> MessageRow:
    return MessageRow(
        id=row[0],
        key=row[1],
        campaign_id=row[2],
        contact_key=row[3],
        step=row[4],
        parent_id=row[5],
        channel=row[6],
        provider=row[7],
        recipient=row[8],
        state=MessageState(row[9]),
        reason=row[10],
        kind=row[11],
        text=row[12],
        payload=json.loads(row[13]),
        segments=row[14],
        test=bool(row[15]),
        not_before=dt(row[16]),
        expires_at=dt(row[17]),
        fallback_at=dt(row[18]),
        attempts=row[19],
        provider_message_id=row[20],
        error_code=row[21],
        error=row[22],
        sent_at=dt(row[23]),
        link_param=row[24],
    )


class SQLStore:
    """The outbox and everything around it, in one SQL database.

    Args:
        connect: Opens a DB-API connection in autocommit mode.
        dialect: What differs between databases.
        url: The URL it was opened with, for messages (without password).
    """

    def __init__(self, connect: Callable[[], Any], dialect: Dialect, *, url: str) -> None:
        self.dialect = dialect
        self.url = url
        self._conn = connect()
        self._lock = threading.RLock()
        self._migrate()

    # --- plumbing -------------------------------------------------------------

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> SQLStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _begin(self) -> None:
        self._conn.execute(self.dialect.begin)

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        with self._lock:
            cur = self._conn.cursor()
            self._begin()
            try:
                yield cur
            except BaseException:
                self._conn.rollback()
                raise
            else:
                self._conn.commit()
            finally:
                cur.close()

    def _q(self, cur: Any, sql: str, params: Sequence[Any] = ()) -> Any:
        cur.execute(self.dialect.sql(sql), tuple(params))
        return cur

    def _many(self, cur: Any, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        if not rows:
            return 0
        cur.executemany(self.dialect.sql(sql), rows)
        return int(cur.rowcount)

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            cur = self._conn.cursor()
            try:
                cur.execute(self.dialect.sql(sql), tuple(params))
                return list(cur.fetchall())
            finally:
                cur.close()

    def _in(self, values: Sequence[Any]) -> str:
        return ",".join("?" for _ in values)

    # --- schema -----------------------------------------------------------------

    def _migrate(self) -> None:
        with self._tx() as cur:
            self._q(
                cur,
                "CREATE TABLE IF NOT EXISTS msgkit_meta "
                "(key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            )
        while True:
            with self._tx() as cur:
                found = self._q(
                    cur, "SELECT value FROM msgkit_meta WHERE key = 'schema_version'"
                ).fetchone()
                version = int(found[0]) if found else 0
                if version > LATEST:
                    raise ConfigError(
                        f"the database {self.url} has schema version {version}, but this "
                        f"msgkit knows versions up to {LATEST}",
                        key="store",
                        hint="upgrade msgkit (pip install -U msgkit) before opening it",
                    )
                if version == LATEST:
                    return
                for statement in MIGRATIONS[version]:
                    self._q(cur, statement.replace("{id}", self.dialect.id_column))
                if found:
                    self._q(
                        cur,
                        "UPDATE msgkit_meta SET value = ? WHERE key = 'schema_version'",
                        (str(version + 1),),
                    )
                else:
                    self._q(
                        cur,
                        "INSERT INTO msgkit_meta (key, value) VALUES ('schema_version', ?)",
                        (str(version + 1),),
                    )

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        rows = self._read("SELECT value FROM msgkit_meta WHERE key = 'schema_version'")
        return int(rows[0][0])

    # --- campaigns ----------------------------------------------------------------

    def save_campaign(self, campaign: Campaign, *, now: datetime) -> Campaign:
        """Insert or update a campaign; a bulk campaign entering the run queue gets its place.

        Returns:
            The campaign as saved.
        """
        with self._tx() as cur:
            row = self._q(
                cur, "SELECT status, queue_seq FROM campaigns WHERE id = ?", (campaign.id,)
            ).fetchone()
            queue_seq = row[1] if row else None
            starting = campaign.status is CampaignStatus.INITIALIZING and (
                row is None or row[0] != CampaignStatus.INITIALIZING.value
            )
            if starting and (queue_seq is None or row is None or row[0] != "stopped"):
                top = self._q(cur, "SELECT MAX(queue_seq) FROM campaigns").fetchone()[0]
                queue_seq = (top or 0) + 1
            values = (
                campaign.name,
                campaign.kind.value,
                campaign.status.value,
                int(campaign.enabled),
                queue_seq,
                ms(campaign.send_at),
                campaign.stop_reason,
                codec.dumps(campaign),
                ms(now),
            )
            if row is None:
                self._q(
                    cur,
                    "INSERT INTO campaigns (name, kind, status, enabled, queue_seq, send_at, "
                    "stop_reason, spec, updated_at, id, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*values, campaign.id, ms(now)),
                )
            else:
                self._q(
                    cur,
                    "UPDATE campaigns SET name = ?, kind = ?, status = ?, enabled = ?, "
                    "queue_seq = ?, send_at = ?, stop_reason = ?, spec = ?, updated_at = ? "
                    "WHERE id = ?",
                    (*values, campaign.id),
                )
        return campaign

    def get_campaign(self, campaign_id: str) -> Campaign:
        """The campaign with this id.

        Raises:
            NotFoundError: When there is none.
        """
        rows = self._read("SELECT spec FROM campaigns WHERE id = ?", (campaign_id,))
        if not rows:
            raise NotFoundError("campaign", campaign_id)
        campaign: Campaign = codec.loads(rows[0][0])
        return campaign

    def find_campaign(self, ident: str) -> Campaign:
        """A campaign by id, or by name when exactly one campaign has that name.

        Raises:
            NotFoundError: When none (or several, by name) match.
        """
        rows = self._read(
            "SELECT spec FROM campaigns WHERE id = ? OR (name = ? AND status <> 'deleted')",
            (ident, ident),
        )
        if len(rows) != 1:
            hint = "several campaigns have that name: use the id" if rows else None
            raise NotFoundError("campaign", ident, hint=hint)
        campaign: Campaign = codec.loads(rows[0][0])
        return campaign

    def list_campaigns(self, *, include_deleted: bool = False) -> list[Campaign]:
        """Every campaign, oldest first."""
        where = "" if include_deleted else "WHERE status <> 'deleted'"
        rows = self._read(f"SELECT spec FROM campaigns {where} ORDER BY created_at, id")
        return [codec.loads(r[0]) for r in rows]

    def due_campaigns(self, *, now: datetime, stale_before: datetime) -> list[Campaign]:
        """Scheduled campaigns whose time has come, and initializations left stale."""
        rows = self._read(
            "SELECT spec FROM campaigns WHERE (status = 'scheduled' AND enabled = 1 "
            "AND send_at <= ?) OR (status = 'initializing' AND updated_at < ?) "
            "ORDER BY send_at, created_at",
            (ms(now), ms(stale_before)),
        )
        return [codec.loads(r[0]) for r in rows]

    def running_campaigns(self) -> list[Campaign]:
        """Campaigns that are initializing or running."""
        rows = self._read(
            "SELECT spec FROM campaigns WHERE status IN ('initializing', 'running') "
            "ORDER BY queue_seq"
        )
        return [codec.loads(r[0]) for r in rows]

    # --- lists and contacts ----------------------------------------------------

    def create_list(self, name: str, columns: Sequence[str], *, now: datetime) -> str:
        """A new, empty recipient list; returns its id."""
        list_id = uuid.uuid4().hex
        with self._tx() as cur:
            self._q(
                cur,
                "INSERT INTO lists (id, name, columns, created_at) VALUES (?, ?, ?, ?)",
                (list_id, name, json.dumps(list(columns), ensure_ascii=False), ms(now)),
            )
        return list_id

    def add_contacts(self, list_id: str, contacts: Iterable[Contact]) -> InsertResult:
        """Append contacts to a list, one transaction per batch; a key already there is kept."""
        total = InsertResult()
        for chunk in _chunks(contacts):
            with self._tx() as cur:
                top = self._q(
                    cur, "SELECT COALESCE(MAX(seq), 0) FROM contacts WHERE list_id = ?", (list_id,)
                ).fetchone()[0]
                rows = [
                    (
                        list_id,
                        top + i + 1,
                        c.key,
                        c.phone.e164 if c.phone else None,
                        _phone_info(c.phone),
                        codec.dumps(dict(c.attributes)),
                        c.time_zone,
                        c.locale,
                    )
                    for i, c in enumerate(chunk)
                ]
                written = self._many(
                    cur,
                    "INSERT INTO contacts (list_id, seq, key, phone, phone_info, attributes, "
                    "time_zone, locale) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (list_id, key) DO NOTHING",
                    rows,
                )
                self._q(
                    cur,
                    "UPDATE lists SET row_count = row_count + ? WHERE id = ?",
                    (written, list_id),
                )
            total = total + InsertResult(inserted=written, duplicates=len(chunk) - written)
        return total

    def add_rejections(
        self, list_id: str, rejections: Iterable[tuple[int, str | None, str, str]]
    ) -> int:
        """Record rejected rows ``(row_number, column, reason, detail)`` of an import."""
        count = 0
        for chunk in _chunks(rejections):
            with self._tx() as cur:
                self._many(
                    cur,
                    "INSERT INTO rejections (list_id, row_number, column_name, reason, detail) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(list_id, *r) for r in chunk],
                )
                self._q(
                    cur,
                    "UPDATE lists SET rejected_count = rejected_count + ? WHERE id = ?",
                    (len(chunk), list_id),
                )
            count += len(chunk)
        return count

    def get_list(self, list_id: str) -> dict[str, Any]:
        """Name, columns, row and rejection counts of a list.

        Raises:
            NotFoundError: When there is none.
        """
        rows = self._read(
            "SELECT id, name, columns, row_count, rejected_count, created_at FROM lists "
            "WHERE id = ? OR name = ?",
            (list_id, list_id),
        )
        if len(rows) != 1:
            raise NotFoundError("list", list_id)
        r = rows[0]
        return {
            "id": r[0],
            "name": r[1],
            "columns": json.loads(r[2]),
            "rows": r[3],
            "rejected": r[4],
            "created_at": dt(r[5]),
        }

    def list_lists(self) -> list[dict[str, Any]]:
        """Every recipient list, oldest first."""
        ids = self._read("SELECT id FROM lists ORDER BY created_at, id")
        return [self.get_list(r[0]) for r in ids]

    def iter_contacts(self, list_id: str, *, chunk: int = 1000) -> Iterator[list[Contact]]:
        """The contacts of a list in import order, a chunk at a time (keyset paging)."""
        last = 0
        while True:
            rows = self._read(
                "SELECT seq, key, phone, phone_info, attributes, time_zone, locale FROM contacts "
                "WHERE list_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                (list_id, last, chunk),
            )
            if not rows:
                return
            last = rows[-1][0]
            yield [
                Contact(
                    key=r[1],
                    phone=_phone_from(r[2], r[3]),
                    attributes=codec.loads(r[4]),
                    time_zone=r[5],
                    locale=r[6],
                )
                for r in rows
            ]

    def rejections(self, list_id: str) -> list[tuple[int, str | None, str, str]]:
        """The rejected rows of a list, in file order."""
        return [
            (r[0], r[1], r[2], r[3])
            for r in self._read(
                "SELECT row_number, column_name, reason, detail FROM rejections "
                "WHERE list_id = ? ORDER BY row_number",
                (list_id,),
            )
        ]

    def delete_list(self, list_id: str) -> None:
        """Remove a list with its contacts and rejections.

        Raises:
            NotFoundError: When there is none.
        """
        with self._tx() as cur:
            for table in ("contacts", "rejections"):
                self._q(cur, f"DELETE FROM {table} WHERE list_id = ?", (list_id,))
            if self._q(cur, "DELETE FROM lists WHERE id = ?", (list_id,)).rowcount == 0:
                raise NotFoundError("list", list_id)

    # --- the outbox ---------------------------------------------------------------

    def insert_messages(
        self,
        items: Iterable[PlannedMessage | Skip],
        *,
        now: datetime,
        priority: bool = False,
        parents: Mapping[str, str] | None = None,
        payload_extra: Mapping[str, Any] | None = None,
    ) -> InsertResult:
        """Write planned messages and skips, one transaction per batch.

        A message whose idempotency key is already in the outbox is not written again
        and is counted as a duplicate: planning the same audience twice is harmless.

        Args:
            items: Planned messages and skips.
            now: The time of writing.
            priority: Whether they go before bulk messages (triggered and test sends).
            parents: For fallback messages, idempotency key -> the parent message id;
                such a message waits (deferred, no time) until its parent fails or
                times out.
            payload_extra: Extra settings stored with each planned message (e.g. the
                fallback waiting time).
        """
        parents = parents or {}
        extra = dict(payload_extra or {})
        total = InsertResult()
        stamp = ms(now)
        for chunk in _chunks(items):
            rows = []
            for item in chunk:
                if isinstance(item, Skip):
                    rows.append(_skip_row(item, stamp, priority))
                else:
                    rows.append(_planned_row(item, stamp, priority, parents, extra))
            with self._tx() as cur:
                written = self._many(
                    cur,
                    f"INSERT INTO messages ({_INSERT_COLUMNS}) VALUES "
                    f"({','.join('?' * _INSERT_WIDTH)}) ON CONFLICT (key) DO NOTHING",
                    rows,
                )
            total = total + InsertResult(inserted=written, duplicates=len(rows) - written)
        return total

    def _active_bulk(self, cur: Any, now: int | None) -> str | None:
        row = self._q(
            cur,
            "SELECT c.id FROM campaigns c WHERE c.kind = 'bulk' AND c.status = 'running' "
            "AND c.enabled = 1 AND EXISTS (SELECT 1 FROM messages m WHERE m.campaign_id = c.id "
            "AND ((m.state IN ('planned', 'deferred') AND m.not_before <= ?) "
            "OR m.state IN ('queued', 'sending'))) ORDER BY c.queue_seq LIMIT 1",
            (now,),
        ).fetchone()
        return None if row is None else str(row[0])

    def claim(
        self, *, worker: str, now: datetime, limit: int, lease_until: datetime
    ) -> list[MessageRow]:
        """Claim up to ``limit`` due messages for ``worker`` (planned/deferred -> queued).

        Priority messages (triggered campaigns and test sends) come first; then the
        messages of the one bulk campaign at the head of the queue (bulk campaigns run
        one after another, in the order they were started). Messages past their
        expiry are left for `expire`.
        """
        stamp, lease = ms(now), ms(lease_until)
        claimed: list[MessageRow] = []
        with self._tx() as cur:
            lock = " FOR UPDATE OF m SKIP LOCKED" if self.dialect.skip_locked else ""
            found = self._q(
                cur,
                "SELECT m.id, m.state FROM messages m JOIN campaigns c ON c.id = m.campaign_id "
                "WHERE m.priority = 1 AND m.state IN ('planned', 'deferred') "
                "AND m.not_before <= ? AND (m.expires_at IS NULL OR m.expires_at > ?) "
                "AND ((c.status = 'running' AND c.enabled = 1) "
                "OR (m.test = 1 AND c.status <> 'deleted')) "
                f"ORDER BY m.not_before LIMIT ?{lock}",
                (stamp, stamp, limit),
            ).fetchall()
            room = limit - len(found)
            active = self._active_bulk(cur, stamp) if room > 0 else None
            if active is not None:
                found += self._q(
                    cur,
                    "SELECT m.id, m.state FROM messages m WHERE m.campaign_id = ? "
                    "AND m.state IN ('planned', 'deferred') AND m.not_before <= ? "
                    "AND (m.expires_at IS NULL OR m.expires_at > ?) AND m.priority = 0 "
                    f"ORDER BY m.not_before LIMIT ?{lock}",
                    (active, stamp, stamp, room),
                ).fetchall()
            ids = [r[0] for r in found]
            was = {r[0]: r[1] for r in found}
            for chunk in _chunks(ids):
                self._many(
                    cur,
                    "UPDATE messages SET state = 'queued', worker = ?, lease_until = ?, "
                    "updated_at = ? WHERE id = ? AND state IN ('planned', 'deferred')",
                    [(worker, lease, stamp, i) for i in chunk],
                )
                rows = self._q(
                    cur,
                    f"SELECT {_MESSAGE_COLUMNS} FROM messages "
                    f"WHERE id IN ({self._in(chunk)}) AND state = 'queued' AND worker = ?",
                    (*chunk, worker),
                ).fetchall()
                claimed.extend(_row_to_message(r) for r in rows)
            self._many(
                cur,
                "INSERT INTO events (message_id, campaign_id, at, event, from_state, to_state) "
                "VALUES (?, ?, ?, 'claim', ?, 'queued')",
                [(m.id, m.campaign_id, stamp, was[m.id]) for m in claimed],
            )
        order = {i: n for n, i in enumerate(ids)}
        claimed.sort(key=lambda m: order[m.id])
        return claimed

    def apply(
        self, changes: Sequence[Change], *, now: datetime, worker: str | None = None
    ) -> list[ChangeResult]:
        """Apply events to messages, in one transaction.

        Each change is checked against the message lifecycle: a change the current
        state does not allow (a late "sent" receipt after "delivered", a second
        delivery) is not applied and is reported with ``applied=False``. With
        ``worker``, only messages that worker holds are changed. Changes to the same
        message apply in order. A sent message is added to the send history when it
        counts toward frequency caps (test sends and exempt campaigns do not).
        """
        if not changes:
            return []
        stamp = ms(now)
        results: list[ChangeResult] = []
        with self._tx() as cur:
            current: dict[str, _Current] = {}
            for chunk in _chunks(sorted({c.message_id for c in changes})):
                for row in self._q(
                    cur,
                    "SELECT id, state, campaign_id, recipient, channel, counts, worker "
                    f"FROM messages WHERE id IN ({self._in(chunk)}){self.dialect.lock_rows}",
                    chunk,
                ).fetchall():
                    if worker is None or row[6] == worker:
                        current[row[0]] = _Current(row[1], row[2], row[3], row[4], bool(row[5]))
            updates: list[tuple[str, tuple[Any, ...]]] = []
            events: list[tuple[Any, ...]] = []
            history: list[tuple[Any, ...]] = []
            for change in changes:
                known = current.get(change.message_id)
                old = MessageState(known.state) if known else None
                if known is None or old is None or not MESSAGE.can(old, change.event):
                    results.append(
                        ChangeResult(message_id=change.message_id, applied=False, old=old, new=old)
                    )
                    continue
                new = MESSAGE.next(old, change.event)
                fields = {k: _column_value(v) for k, v in change.fields.items()}
                unknown = set(fields) - _SETTABLE
                if unknown:
                    raise ValueError(f"cannot set {sorted(unknown)} on a message")
                if change.event is MessageEvent.SEND:
                    fields.setdefault("sent_at", stamp)
                names = sorted(fields)
                assignments = "".join(f", {n} = ?" for n in names)
                attempts = ", attempts = attempts + 1" if change.event is MessageEvent.SEND else ""
                updates.append(
                    (
                        f"UPDATE messages SET state = ?, updated_at = ?{assignments}{attempts} "
                        "WHERE id = ? AND state = ?",
                        (
                            new.value,
                            stamp,
                            *(fields[n] for n in names),
                            change.message_id,
                            old.value,
                        ),
                    )
                )
                current[change.message_id] = attrs.evolve(known, state=new.value)
                events.append(
                    (
                        change.message_id,
                        known.campaign_id,
                        stamp,
                        change.event.value,
                        old.value,
                        new.value,
                        change.detail,
                    )
                )
                if old in _UNSENT and new in _SENT and known.counts:
                    history.append((known.recipient, known.channel, stamp, known.campaign_id))
                results.append(
                    ChangeResult(message_id=change.message_id, applied=True, old=old, new=new)
                )
            # Consecutive updates of the same shape go in one executemany, in order.
            run: list[tuple[Any, ...]] = []
            for index, (sql, params) in enumerate(updates):
                run.append(params)
                if index + 1 == len(updates) or updates[index + 1][0] != sql:
                    self._many(cur, sql, run)
                    run = []
            self._many(
                cur,
                "INSERT INTO events (message_id, campaign_id, at, event, from_state, to_state, "
                "detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
                events,
            )
            self._many(
                cur,
                "INSERT INTO send_history (recipient, channel, at, campaign_id) "
                "VALUES (?, ?, ?, ?)",
                history,
            )
        return results

    def get_message(self, message_id: str) -> MessageRow:
        """One message of the outbox.

        Raises:
            NotFoundError: When there is none.
        """
        rows = self._read(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = ?",
            (message_id,),
        )
        if not rows:
            raise NotFoundError("message", message_id)
        return _row_to_message(rows[0])

    def messages(
        self,
        *,
        campaign_id: str | None = None,
        states: Sequence[MessageState] | None = None,
        ids: Sequence[str] | None = None,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[MessageRow]:
        """Messages by campaign, state or id, in creation order."""
        where, params = _filters(campaign_id=campaign_id, states=states, ids=ids)
        rows = self._read(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages {where} "
            "ORDER BY created_at, id LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        return [_row_to_message(r) for r in rows]

    def events(self, message_id: str) -> list[tuple[datetime, str, str | None, str | None]]:
        """The event log of one message: (time, event, from, to), oldest first."""
        return [
            (dt(r[0]), r[1], r[2], r[3])  # type: ignore[misc]
            for r in self._read(
                "SELECT at, event, from_state, to_state FROM events WHERE message_id = ? "
                "ORDER BY id",
                (message_id,),
            )
        ]

    def expirable(self, *, now: datetime, limit: int = _BATCH) -> list[str]:
        """Ids of waiting messages whose validity has ended."""
        return [
            r[0]
            for r in self._read(
                "SELECT id FROM messages WHERE state IN ('planned', 'deferred') "
                "AND expires_at IS NOT NULL AND expires_at <= ? LIMIT ?",
                (ms(now), limit),
            )
        ]

    def stale(
        self,
        state: MessageState,
        *,
        now: datetime,
        dead: Sequence[str] = (),
        limit: int = _BATCH,
    ) -> list[MessageRow]:
        """Queued or sending messages of a dead worker: its lease ran out, or it is in ``dead``."""
        known_dead = f" OR worker IN ({self._in(dead)})" if dead else ""
        rows = self._read(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE state = ? "
            f"AND (lease_until < ?{known_dead}) ORDER BY lease_until LIMIT ?",
            (state.value, ms(now), *dead, limit),
        )
        return [_row_to_message(r) for r in rows]

    def holders(self) -> list[str]:
        """The workers holding queued or sending messages."""
        return [
            r[0]
            for r in self._read(
                "SELECT DISTINCT worker FROM messages WHERE state IN ('queued', 'sending') "
                "AND worker IS NOT NULL"
            )
        ]

    def to_reconcile(self, *, now: datetime, limit: int = _BATCH) -> list[MessageRow]:
        """Unknown messages due for another reconciliation attempt."""
        rows = self._read(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE state = 'unknown' "
            "AND not_before IS NOT NULL AND not_before <= ? ORDER BY not_before LIMIT ?",
            (ms(now), limit),
        )
        return [_row_to_message(r) for r in rows]

    def to_poll(
        self,
        *,
        providers: Sequence[str],
        now: datetime,
        sent_before: datetime,
        sent_after: datetime,
        limit: int = _BATCH,
    ) -> list[MessageRow]:
        """Submitted messages of these providers, sent in a window, with no receipt yet."""
        if not providers:
            return []
        rows = self._read(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE state = 'submitted' "
            f"AND provider IN ({self._in(providers)}) AND sent_at <= ? AND sent_at >= ? "
            "AND (lease_until IS NULL OR lease_until <= ?) ORDER BY sent_at LIMIT ?",
            (*providers, ms(sent_before), ms(sent_after), ms(now), limit),
        )
        return [_row_to_message(r) for r in rows]

    def postpone_unknown(self, ids: Sequence[str], *, until: datetime | None) -> None:
        """Reconcile these unknown messages again at ``until`` (None: never; report them)."""
        with self._tx() as cur:
            self._many(
                cur,
                "UPDATE messages SET not_before = ? WHERE id = ? AND state = 'unknown'",
                [(ms(until), i) for i in ids],
            )

    def postpone_poll(self, ids: Sequence[str], *, until: datetime) -> None:
        """Do not poll these submitted messages again before ``until``."""
        with self._tx() as cur:
            self._many(
                cur,
                "UPDATE messages SET lease_until = ? WHERE id = ? AND state = 'submitted'",
                [(ms(until), i) for i in ids],
            )

    def fallback_due(self, *, now: datetime, limit: int = _BATCH) -> list[tuple[str, str, str]]:
        """Parents whose waiting fallback message must now be released or cancelled.

        Returns:
            ``(parent_id, parent_state, child_id)`` for each waiting child whose parent
            is delivered (cancel), failed or undelivered (fall back), or submitted with
            its waiting time over (fall back).
        """
        rows = self._read(
            "SELECT p.id, p.state, c.id FROM messages c JOIN messages p ON p.id = c.parent_id "
            "WHERE c.state IN ('deferred', 'planned', 'queued') AND ("
            "p.state IN ('delivered', 'failed', 'undelivered', 'expired', 'skipped') "
            "OR (p.state = 'submitted' AND p.fallback_at IS NOT NULL AND p.fallback_at <= ?)) "
            "AND NOT (c.state <> 'deferred' AND p.state <> 'delivered') LIMIT ?",
            (ms(now), limit),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def waiting_children(self, parent_ids: Sequence[str]) -> list[str]:
        """Fallback messages of these parents that have not been sent yet."""
        found: list[str] = []
        for chunk in _chunks(list(parent_ids)):
            found.extend(
                r[0]
                for r in self._read(
                    f"SELECT id FROM messages WHERE parent_id IN ({self._in(chunk)}) "
                    "AND state IN ('deferred', 'planned', 'queued')",
                    chunk,
                )
            )
        return found

    def last_message_to(self, recipient: str, *, channel: str | None = None) -> MessageRow | None:
        """The last message sent to ``recipient`` (on ``channel``), or None."""
        where, params = "", [recipient]
        if channel is not None:
            where, params = " AND channel = ?", [recipient, channel]
        rows = self._read(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE recipient = ?{where} "
            "AND sent_at IS NOT NULL ORDER BY sent_at DESC LIMIT 1",
            params,
        )
        return _row_to_message(rows[0]) if rows else None

    def parents_delivered(self, ids: Sequence[str]) -> set[str]:
        """Of these messages, those whose parent has been delivered."""
        found: set[str] = set()
        for chunk in _chunks(ids):
            found.update(
                r[0]
                for r in self._read(
                    "SELECT c.id FROM messages c JOIN messages p ON p.id = c.parent_id "
                    f"WHERE c.id IN ({self._in(chunk)}) AND p.state = 'delivered'",
                    chunk,
                )
            )
        return found

    def next_due(
        self,
        *,
        now: datetime,
        poll_providers: Sequence[str] = (),
        poll_after: timedelta = timedelta(0),
        poll_since: datetime | None = None,
    ) -> datetime | None:
        """The earliest time something waits for.

        That is a planned message, a fallback deadline, a reconciliation, a lease to
        run out, a scheduled campaign's start, or (for ``poll_providers``) a submitted
        message's status poll, for messages sent after ``poll_since``.
        """
        parts = [
            "SELECT MIN(m.not_before) AS t FROM messages m JOIN campaigns c "
            "ON c.id = m.campaign_id WHERE m.state IN ('planned', 'deferred') "
            "AND m.not_before IS NOT NULL AND ((c.status = 'running' AND c.enabled = 1) "
            "OR (m.test = 1 AND c.status <> 'deleted'))",
            "SELECT MIN(not_before) FROM messages WHERE state = 'unknown' "
            "AND not_before IS NOT NULL",
            "SELECT MIN(p.fallback_at) FROM messages p WHERE p.state = 'submitted' "
            "AND p.fallback_at IS NOT NULL AND EXISTS (SELECT 1 FROM messages c "
            "WHERE c.parent_id = p.id AND c.state = 'deferred')",
            "SELECT MIN(lease_until) FROM messages WHERE state IN ('queued', 'sending')",
            "SELECT MIN(send_at) FROM campaigns WHERE status = 'scheduled' AND enabled = 1",
        ]
        params: list[Any] = []
        if poll_providers:
            parts.append(
                "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until > sent_at + ? "
                "THEN lease_until ELSE sent_at + ? END) FROM messages WHERE state = 'submitted' "
                f"AND provider IN ({self._in(poll_providers)}) AND sent_at >= ?"
            )
            wait = int(poll_after.total_seconds() * 1000)
            params.extend([wait, wait, *poll_providers, ms(poll_since or now)])
        rows = self._read(f"SELECT MIN(t) FROM ({' UNION ALL '.join(parts)}) due", params)
        return dt(rows[0][0]) if rows and rows[0][0] is not None else None

    def progress(self, campaign_id: str, *, include_tests: bool = False) -> Progress:
        """Counts by state (and skip reason) of one campaign's messages."""
        test = "" if include_tests else " AND test = 0"
        rows = self._read(
            "SELECT state, reason, COUNT(*) FROM messages WHERE campaign_id = ?"
            f"{test} GROUP BY state, reason",
            (campaign_id,),
        )
        by_state: dict[MessageState, int] = {}
        by_reason: dict[str, int] = {}
        for state, reason, count in rows:
            s = MessageState(state)
            by_state[s] = by_state.get(s, 0) + count
            if s is MessageState.SKIPPED and reason:
                by_reason[reason] = by_reason.get(reason, 0) + count
        return Progress(total=sum(by_state.values()), by_state=by_state, by_reason=by_reason)

    def unsettled(self, campaign_id: str) -> int:
        """Messages of a campaign that still need the dispatcher."""
        rows = self._read(
            "SELECT COUNT(*) FROM messages WHERE campaign_id = ? AND (state IN "
            "('planned', 'deferred', 'queued', 'sending') OR (state = 'unknown' AND "
            "not_before IS NOT NULL) OR (state = 'submitted' AND fallback_at IS NOT NULL "
            "AND EXISTS (SELECT 1 FROM messages c WHERE c.parent_id = messages.id "
            "AND c.state = 'deferred')))",
            (campaign_id,),
        )
        return int(rows[0][0])

    def cancel_pending(self, campaign_id: str, *, now: datetime, detail: str) -> int:
        """Skip (cancelled) every message of a campaign that has not been sent."""
        ids = [
            r[0]
            for r in self._read(
                "SELECT id FROM messages WHERE campaign_id = ? AND state IN "
                "('planned', 'deferred', 'queued')",
                (campaign_id,),
            )
        ]
        changes = [
            Change(
                message_id=i,
                event=MessageEvent.SKIP,
                fields={"reason": "cancelled"},
                detail=detail,
            )
            for i in ids
        ]
        return sum(r.applied for r in self.apply(changes, now=now))

    def release_campaign(self, campaign_id: str, *, now: datetime) -> int:
        """Give back the queued (not yet sending) messages of a stopped campaign."""
        ids = [
            r[0]
            for r in self._read(
                "SELECT id FROM messages WHERE state = 'queued' AND campaign_id = ?",
                (campaign_id,),
            )
        ]
        changes = [
            Change(message_id=i, event=MessageEvent.RELEASE, detail="campaign stopped") for i in ids
        ]
        return sum(r.applied for r in self.apply(changes, now=now))

    def release_worker(self, worker: str, *, now: datetime) -> int:
        """Give back the queued messages of a worker that is stopping (never sent)."""
        ids = [
            r[0]
            for r in self._read(
                "SELECT id FROM messages WHERE state = 'queued' AND worker = ?", (worker,)
            )
        ]
        changes = [Change(message_id=i, event=MessageEvent.RELEASE) for i in ids]
        return sum(r.applied for r in self.apply(changes, now=now))

    def resolve_provider_ids(
        self, provider: str | None, provider_ids: Sequence[str]
    ) -> dict[str, str]:
        """Our message ids for provider message ids (of one provider, or any)."""
        found: dict[str, str] = {}
        for chunk in _chunks(list(provider_ids)):
            if provider is None:
                rows = self._read(
                    "SELECT provider_message_id, id FROM messages WHERE "
                    f"provider_message_id IN ({self._in(chunk)})",
                    chunk,
                )
            else:
                rows = self._read(
                    "SELECT provider_message_id, id FROM messages WHERE provider = ? AND "
                    f"provider_message_id IN ({self._in(chunk)})",
                    (provider, *chunk),
                )
            found.update({r[0]: r[1] for r in rows})
        return found

    # --- history and suppression -------------------------------------------------------

    def history(
        self, recipients: Sequence[str], *, since: datetime
    ) -> dict[str, list[tuple[str, datetime, str | None, str | None, tuple[str, ...]]]]:
        """Recent sends per recipient: (channel, time, campaign id, kind, campaign tags)."""
        found: dict[str, list[tuple[str, datetime, str | None, str | None, tuple[str, ...]]]] = {}
        for chunk in _chunks(list(recipients)):
            rows = self._read(
                "SELECT h.recipient, h.channel, h.at, h.campaign_id, c.kind, c.spec "
                "FROM send_history h LEFT JOIN campaigns c ON c.id = h.campaign_id "
                f"WHERE h.recipient IN ({self._in(chunk)}) AND h.at >= ? ORDER BY h.at",
                (*chunk, ms(since)),
            )
            tags_cache: dict[str, tuple[str, ...]] = {}
            for recipient, channel, at, campaign_id, kind, spec in rows:
                tags: tuple[str, ...] = ()
                if campaign_id and spec:
                    if campaign_id not in tags_cache:
                        tags_cache[campaign_id] = tuple(sorted(codec.loads(spec).tags))
                    tags = tags_cache[campaign_id]
                found.setdefault(recipient, []).append(
                    (channel, dt(at), campaign_id, kind, tags)  # type: ignore[arg-type]
                )
        return found

    def suppress(
        self, entries: Iterable[tuple[str, str, str | None, str | None]], *, now: datetime
    ) -> int:
        """Add ``(scope, recipient, reason, source)`` to the suppression list."""
        count = 0
        for chunk in _chunks(entries):
            with self._tx() as cur:
                count += self._many(
                    cur,
                    "INSERT INTO suppressions (scope, recipient, reason, source, at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, recipient) DO NOTHING",
                    [(*e, ms(now)) for e in chunk],
                )
        return count

    def unsuppress(self, scope: str, recipient: str) -> bool:
        """Remove one entry (an opt-in); whether it was there."""
        with self._tx() as cur:
            return bool(
                self._q(
                    cur,
                    "DELETE FROM suppressions WHERE scope = ? AND recipient = ?",
                    (scope, recipient),
                ).rowcount
            )

    def suppressed(self, scopes: Sequence[str], recipients: Sequence[str]) -> set[tuple[str, str]]:
        """Which of these (scope, recipient) pairs are suppressed."""
        found: set[tuple[str, str]] = set()
        if not scopes:
            return found
        for chunk in _chunks(list(recipients)):
            rows = self._read(
                "SELECT scope, recipient FROM suppressions WHERE "
                f"scope IN ({self._in(scopes)}) AND recipient IN ({self._in(chunk)})",
                (*scopes, *chunk),
            )
            found.update((r[0], r[1]) for r in rows)
        return found

    def suppression_set(self, scopes: Sequence[str]) -> frozenset[SuppressionKey]:
        """Every suppression entry of these scopes, for the planner."""
        if not scopes:
            return frozenset()
        rows = self._read(
            f"SELECT scope, recipient FROM suppressions WHERE scope IN ({self._in(scopes)})",
            tuple(scopes),
        )
        return frozenset(SuppressionKey(r[0], r[1]) for r in rows)

    def suppression_count(self) -> int:
        """How many entries the suppression list has."""
        return int(self._read("SELECT COUNT(*) FROM suppressions")[0][0])

    # --- links, clicks, replies, audit, scenarios ---------------------------------------

    def save_links(self, campaign_id: str, links: Mapping[str, tuple[str, str]]) -> None:
        """Register short codes: ``{code: (link name, target URL)}``."""
        with self._tx() as cur:
            self._many(
                cur,
                "INSERT INTO links (code, campaign_id, name, target) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (code) DO NOTHING",
                [(code, campaign_id, name, target) for code, (name, target) in links.items()],
            )

    def resolve_link(self, code: str) -> tuple[str, str] | None:
        """``(campaign id, target)`` of a short code, or None."""
        rows = self._read("SELECT campaign_id, target FROM links WHERE code = ?", (code,))
        return (rows[0][0], rows[0][1]) if rows else None

    def record_click(
        self, code: str, param: str | None, *, now: datetime, user_agent: str | None = None
    ) -> str | None:
        """Record a click on a short link; returns the target, or None for an unknown code."""
        with self._tx() as cur:
            link = self._q(
                cur, "SELECT campaign_id, target FROM links WHERE code = ?", (code,)
            ).fetchone()
            if link is None:
                return None
            message_id = None
            if param:
                found = self._q(
                    cur,
                    "SELECT id FROM messages WHERE campaign_id = ? AND link_param = ? "
                    "ORDER BY step LIMIT 1",
                    (link[0], param),
                ).fetchone()
                message_id = found[0] if found else None
            self._q(
                cur,
                "INSERT INTO clicks (code, param, message_id, campaign_id, at, user_agent) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (code, param, message_id, link[0], ms(now), user_agent),
            )
            return str(link[1])

    def clicks(self, campaign_id: str) -> tuple[int, int]:
        """(all clicks, distinct recipients who clicked) of a campaign."""
        row = self._read(
            "SELECT COUNT(*), COUNT(DISTINCT message_id) FROM clicks WHERE campaign_id = ?",
            (campaign_id,),
        )[0]
        return int(row[0]), int(row[1])

    def add_reply(
        self,
        *,
        provider: str | None,
        scope: str | None,
        sender: str,
        text: str,
        at: datetime,
        external_id: str | None = None,
        classification: str | None = None,
        needs_review: bool = False,
    ) -> int | None:
        """Store an inbound reply; returns its id, or None if this reply was already stored."""
        with self._tx() as cur:
            if external_id is not None:
                seen = self._q(
                    cur,
                    "SELECT id FROM replies WHERE provider = ? AND external_id = ?",
                    (provider, external_id),
                ).fetchone()
                if seen:
                    return None
            last = self._q(
                cur,
                "SELECT id, campaign_id FROM messages WHERE recipient = ? AND sent_at IS NOT NULL "
                "ORDER BY sent_at DESC LIMIT 1",
                (sender,),
            ).fetchone()
            self._q(
                cur,
                "INSERT INTO replies (provider, scope, sender, text, at, external_id, message_id, "
                "campaign_id, classification, needs_review) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    provider,
                    scope,
                    sender,
                    text,
                    ms(at),
                    external_id,
                    last[0] if last else None,
                    last[1] if last else None,
                    classification,
                    int(needs_review),
                ),
            )
            row = self._q(cur, "SELECT MAX(id) FROM replies").fetchone()
            return int(row[0])

    def replies(
        self, *, needs_review: bool | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Stored replies, newest first (``needs_review=True``: those flagged for review)."""
        if needs_review is None:
            return self._replies_where("", (), limit=limit)
        return self._replies_where("WHERE needs_review = ?", (int(needs_review),), limit=limit)

    def _replies_where(
        self, where: str, params: Sequence[Any], *, limit: int
    ) -> list[dict[str, Any]]:
        rows = self._read(
            "SELECT id, provider, scope, sender, text, at, message_id, campaign_id, "
            f"classification, needs_review, answered_at, answer FROM replies {where} "
            "ORDER BY at DESC, id DESC LIMIT ?",
            (*params, limit),
        )
        keys = (
            "id", "provider", "scope", "sender", "text", "at", "message_id", "campaign_id",
            "classification", "needs_review", "answered_at", "answer",
        )  # fmt: skip
        out = []
        for r in rows:
            item = dict(zip(keys, r, strict=True))
            item["at"] = dt(item["at"])
            item["answered_at"] = dt(item["answered_at"])
            item["needs_review"] = bool(item["needs_review"])
            out.append(item)
        return out

    def get_reply(self, reply_id: int) -> dict[str, Any]:
        """One stored reply.

        Raises:
            NotFoundError: When there is none.
        """
        for reply in self._replies_where("WHERE id = ?", (reply_id,), limit=1):
            return reply
        raise NotFoundError("reply", str(reply_id))

    def answer_reply(self, reply_id: int, answer: str, *, now: datetime) -> None:
        """Mark a reply answered with this text."""
        with self._tx() as cur:
            if (
                self._q(
                    cur,
                    "UPDATE replies SET answer = ?, answered_at = ?, needs_review = 0 WHERE id = ?",
                    (answer, ms(now), reply_id),
                ).rowcount
                == 0
            ):
                raise NotFoundError("reply", str(reply_id))

    def audit(
        self,
        *,
        actor: str | None,
        action: str,
        target: str | None,
        detail: str | None,
        now: datetime,
    ) -> None:
        """Append to the audit log."""
        with self._tx() as cur:
            self._q(
                cur,
                "INSERT INTO audit (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                (ms(now), actor, action, target, detail),
            )

    def audit_log(self, *, target: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The audit log, oldest first."""
        where, params = ("WHERE target = ?", (target,)) if target else ("", ())
        rows = self._read(
            f"SELECT at, actor, action, target, detail FROM audit {where} ORDER BY id LIMIT ?",
            (*params, limit),
        )
        return [
            {"at": dt(r[0]), "actor": r[1], "action": r[2], "target": r[3], "detail": r[4]}
            for r in rows
        ]

    def save_scenario(self, name: str, campaign_id: str, spec: Any, *, now: datetime) -> None:
        """Insert or replace a named scenario."""
        with self._tx() as cur:
            self._q(cur, "DELETE FROM scenarios WHERE name = ?", (name,))
            self._q(
                cur,
                "INSERT INTO scenarios (name, campaign_id, spec, updated_at) VALUES (?, ?, ?, ?)",
                (name, campaign_id, codec.dumps(spec), ms(now)),
            )

    def get_scenario(self, name: str) -> tuple[str, Any]:
        """``(campaign id, spec)`` of a scenario.

        Raises:
            NotFoundError: When there is none.
        """
        rows = self._read("SELECT campaign_id, spec FROM scenarios WHERE name = ?", (name,))
        if not rows:
            raise NotFoundError("scenario", name)
        return rows[0][0], codec.loads(rows[0][1])

    def scenarios(self) -> list[str]:
        """Scenario names, sorted."""
        return [r[0] for r in self._read("SELECT name FROM scenarios ORDER BY name")]


_INSERT_COLUMN_LIST = (
    "id",
    "key",
    "campaign_id",
    "contact_key",
    "step",
    "parent_id",
    "channel",
    "provider",
    "recipient",
    "state",
    "reason",
    "kind",
    "text",
    "payload",
    "segments",
    "test",
    "counts",
    "priority",
    "link_param",
    "not_before",
    "expires_at",
    "error",
    "created_at",
    "updated_at",
)
_INSERT_COLUMNS = ", ".join(_INSERT_COLUMN_LIST)
_INSERT_WIDTH = len(_INSERT_COLUMN_LIST)


def _enum_value(value: Any) -> Any:
    return getattr(value, "value", value)


def _planned_row(
    p: PlannedMessage,
    stamp: int | None,
    priority: bool,
    parents: Mapping[str, str],
    extra: dict[str, Any],
) -> tuple[Any, ...]:
    parent = parents.get(p.key)
    payload = {
        "template_code": p.template_code,
        "params": dict(p.params),
        "sender": p.sender,
        "encoding": p.encoding,
        "links": dict(p.links),
        **extra,
    }
    for name in ("media", "options"):
        value = getattr(p, name, None)
        if value:
            payload[name] = list(value) if name == "media" else dict(value)
    if parent is not None:
        state, not_before = MessageState.DEFERRED.value, None
    else:
        state = (MessageState.DEFERRED if p.deferred else MessageState.PLANNED).value
        not_before = ms(p.not_before)
    return (
        p.id,
        p.key,
        p.campaign_id,
        p.contact_key,
        p.step,
        parent,
        _enum_value(p.channel),
        p.provider,
        p.to,
        state,
        None,
        _enum_value(p.kind),
        p.text,
        json.dumps(payload, ensure_ascii=False),
        p.segments,
        int(p.test),
        int(p.counts_toward_caps),
        int(priority or p.test),
        p.link_param,
        not_before,
        ms(p.expires_at),
        None,
        stamp,
        stamp,
    )


def _skip_row(s: Skip, stamp: int | None, priority: bool) -> tuple[Any, ...]:
    skip_id = message_id(s.key)
    return (
        skip_id,
        s.key,
        s.campaign_id,
        s.contact_key,
        s.step,
        None,
        "",
        None,
        "",
        MessageState.SKIPPED.value,
        _enum_value(s.reason),
        "",
        "",
        "{}",
        0,
        int(s.test),
        0,
        int(priority),
        None,
        None,
        None,
        s.detail,
        stamp,
        stamp,
    )


def _column_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return ms(value)
    return _enum_value(value)


def _filters(
    *, campaign_id: str | None, states: Sequence[MessageState] | None, ids: Sequence[str] | None
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if campaign_id is not None:
        clauses.append("campaign_id = ?")
        params.append(campaign_id)
    if states:
        clauses.append(f"state IN ({','.join('?' for _ in states)})")
        params.extend(s.value for s in states)
    if ids is not None:
        clauses.append(f"id IN ({','.join('?' for _ in ids) or 'NULL'})")
        params.extend(ids)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), params


def _phone_info(phone: Phone | None) -> str | None:
    if phone is None:
        return None
    return json.dumps([phone.region, phone.country_code, phone.number_type, list(phone.time_zones)])


def _phone_from(e164: str | None, info: str | None) -> Phone | None:
    if e164 is None or info is None:
        return None
    region, country_code, number_type, zones = json.loads(info)
    return Phone(
        e164=e164,
        region=region,
        country_code=country_code,
        number_type=number_type,
        time_zones=tuple(zones),
    )
