"""The outbox: messages, their event log and the send history they feed."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from msgkit.core.delivery import MESSAGE, Channel, MessageEvent, MessageState
from msgkit.core.message import Message
from msgkit.core.planning import Skip, message_id
from msgkit.core.templates import TemplateKind
from msgkit.exceptions import NotFoundError
from msgkit.store._base import BATCH, BULK_BATCH, SQLBase, chunks, dt, ms, trigger_range
from msgkit.store.base import (
    Change,
    ChangeResult,
    InsertResult,
    Leg,
    MessageRow,
    Progress,
    TriggerCounts,
)

_MESSAGE_COLUMNS = (
    "id, key, campaign_id, contact_key, step, parent_id, channel, provider, recipient, state, "
    "reason, kind, text, payload, segments, test, not_before, expires_at, fallback_at, "
    "attempts, provider_message_id, error_code, error, sent_at, link_param, counts"
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
_UNSENT = frozenset({MessageState.SENDING, MessageState.UNKNOWN})
_SENT = frozenset({MessageState.SUBMITTED, MessageState.DELIVERED, MessageState.UNDELIVERED})


def encode_details(message: Message) -> str:
    """The record's fields that have no column, as the ``payload`` column's JSON.

    A fixed schema (`decode_details` reads it back): ``template_code``, ``params``,
    ``sender``, ``encoding``, ``links``, ``zone``, ``region``, ``media``, ``options``,
    ``fallback_wait`` (seconds); a field at its default is left out.
    """
    # Per planned message (measured: ~10 µs of a 1,000,000-row plan): the fields are
    # tested one by one, not put in a dict and filtered, and one encoder serves all.
    m = message
    details: dict[str, Any] = {}
    if m.template_code is not None:
        details["template_code"] = m.template_code
    if m.params:
        details["params"] = m.params
    if m.sender is not None:
        details["sender"] = m.sender
    if m.encoding is not None:
        details["encoding"] = m.encoding
    if m.links:
        details["links"] = m.links
    if m.time_zone is not None:
        details["zone"] = m.time_zone
    if m.region is not None:
        details["region"] = m.region
    if m.media:
        details["media"] = list(m.media)
    if m.options:
        details["options"] = m.options
    if m.fallback_wait is not None:
        details["fallback_wait"] = m.fallback_wait.total_seconds()
    return _DETAILS_JSON.encode(details)


_DETAILS_JSON = json.JSONEncoder(ensure_ascii=False)


def decode_details(text: str) -> dict[str, Any]:
    """The record's fields `encode_details` stored, as `Message` keyword arguments."""
    data = json.loads(text) if text else {}
    wait = data.get("fallback_wait")
    return {
        "template_code": data.get("template_code"),
        "params": data.get("params") or {},
        "sender": data.get("sender"),
        "encoding": data.get("encoding"),
        "links": data.get("links") or {},
        "time_zone": data.get("zone"),
        "region": data.get("region"),
        "media": data.get("media") or (),
        "options": data.get("options") or {},
        "fallback_wait": None if wait is None else timedelta(seconds=float(wait)),
    }


def _row_to_message(row: Sequence[Any], opened: Mapping[str, str]) -> MessageRow:
    return MessageRow(
        id=row[0],
        key=row[1],
        campaign_id=row[2],
        contact_key=opened[row[3]],
        step=row[4],
        parent_id=row[5],
        # A skip written before skips kept their channel has none: SMS, the default.
        channel=row[6] or Channel.SMS,
        provider=row[7],
        to=opened[row[8]],
        state=MessageState(row[9]),
        reason=row[10],
        kind=row[11] or TemplateKind.NOTIFICATION,
        text=row[12],
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
        counts_toward_caps=bool(row[25]),
        **decode_details(row[13]),
    )


class OutboxTables(SQLBase):
    """Messages and every change of their state."""

    # --- the outbox ---------------------------------------------------------------

    def insert_messages(
        self,
        items: Iterable[Message | Skip],
        *,
        now: datetime,
        priority: bool = False,
    ) -> InsertResult:
        """Write planned messages and skips, one transaction per batch (``BULK_BATCH``).

        A message whose idempotency key is already in the outbox is not written again
        and is counted as a duplicate: planning the same audience twice is harmless.

        Args:
            items: Planned messages and skips.
            now: The time of writing.
            priority: Whether they go before bulk messages (triggered and test sends).

        A message with a ``parent_id`` (a fallback) waits (deferred, no time) until
        its parent fails or its wait is over.
        """
        total = InsertResult()
        stamp = ms(now)
        # Rows are made as the items stream by: only the rows of one transaction are
        # held, never the items of a whole batch besides.
        rows_of = (
            _skip_row(item, stamp, priority)
            if isinstance(item, Skip)
            else _planned_row(item, stamp, priority)
            for item in items
        )
        for rows in chunks(rows_of, BULK_BATCH):
            with self._tx() as cur:
                written = self._many(
                    cur,
                    f"INSERT INTO messages ({_INSERT_COLUMNS}) VALUES "
                    f"({','.join('?' * _INSERT_WIDTH)}) ON CONFLICT (key) DO NOTHING",
                    self._sealed_rows(cur, rows) if self.encrypted else rows,
                )
            total = total + InsertResult(inserted=written, duplicates=len(rows) - written)
        return total

    def _sealed_rows(self, cur: Any, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Outbox rows with their contact key and recipient as blind indexes (sealed)."""
        ix = self._seal(cur, (a for r in rows for a in (r[_CONTACT_KEY], r[_RECIPIENT])))
        return [
            (
                *r[:_CONTACT_KEY],
                ix(r[_CONTACT_KEY]),
                *r[_CONTACT_KEY + 1 : _RECIPIENT],
                ix(r[_RECIPIENT]),
                *r[_RECIPIENT + 1 :],
            )
            for r in rows
        ]

    def _messages(self, rows: Sequence[Sequence[Any]]) -> list[MessageRow]:
        """Message rows as records, their contact keys and recipients opened."""
        opened = self._open(v for r in rows for v in (r[3], r[8]))
        return [_row_to_message(r, opened) for r in rows]

    def _active_bulk(self, cur: Any, now: int | None) -> str | None:
        row = self._q(
            cur,
            # Two EXISTS, not one with an OR inside: with the OR, SQLite searched the
            # campaign's messages by another index, scanning past every message already
            # sent -- a claim cost 0.1 s at 340,000 sent of a 1,000,000-message campaign.
            "SELECT c.id FROM campaigns c WHERE c.kind = 'bulk' AND c.status = 'running' "
            "AND c.enabled = 1 AND (EXISTS (SELECT 1 FROM messages m "
            "WHERE m.campaign_id = c.id AND m.state IN ('planned', 'deferred') "
            "AND m.not_before <= ?) OR EXISTS (SELECT 1 FROM messages m "
            "WHERE m.campaign_id = c.id AND m.state IN ('queued', 'sending'))) "
            "ORDER BY c.queue_seq LIMIT 1",
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
            for chunk in chunks(ids):
                marks = self._in(chunk)
                # Set-based: the claim events first (they keep the state each message
                # is claimed from), then one UPDATE of the chunk, then its rows.
                self._q(
                    cur,
                    "INSERT INTO events (message_id, campaign_id, at, event, from_state, "
                    "to_state) SELECT id, campaign_id, ?, 'claim', state, 'queued' "
                    f"FROM messages WHERE id IN ({marks}) AND state IN ('planned', 'deferred')",
                    (stamp, *chunk),
                )
                self._q(
                    cur,
                    "UPDATE messages SET state = 'queued', worker = ?, lease_until = ?, "
                    f"updated_at = ? WHERE id IN ({marks}) AND state IN ('planned', 'deferred')",
                    (worker, lease, stamp, *chunk),
                )
                rows = self._q(
                    cur,
                    f"SELECT {_MESSAGE_COLUMNS} FROM messages "
                    f"WHERE id IN ({marks}) AND state = 'queued' AND worker = ?",
                    (*chunk, worker),
                ).fetchall()
                claimed.extend(self._messages(rows))
        order = {i: n for n, i in enumerate(ids)}
        claimed.sort(key=lambda m: order[m.id])
        return claimed

    def apply(
        self, changes: Sequence[Change], *, now: datetime, worker: str | None = None
    ) -> list[ChangeResult]:
        """Apply events to messages, in one transaction.

        Each change is checked against the message lifecycle: a change the current
        state does not allow (a late "sent" receipt after "delivered", a second
        delivery) is not applied and is reported with ``applied=False``. A change with
        no event sets its fields only, in the state the message is in (no event is
        logged). With
        ``worker``, only messages that worker holds are changed. Changes to the same
        message apply in order. A sent message is added to the send history when it
        counts toward frequency caps (test sends and exempt campaigns do not).
        """
        if not changes:
            return []
        with self._tx() as cur:
            return self._apply(cur, changes, now=now, worker=worker)

    def _apply(
        self,
        cur: Any,
        changes: Sequence[Change],
        *,
        now: datetime,
        worker: str | None,
        shared: bool = True,
    ) -> list[ChangeResult]:
        """`apply` within the transaction of ``cur``.

        With ``shared`` (and a dialect whose ``shared`` lock it has), the recipients of
        the messages it marks ``sending`` that count toward caps are held shared first
        (before the rows, as `mark_checked` takes them): a capped mark of another
        worker reading those recipients' sends waits for this one, or this for it.
        """
        stamp = ms(now)
        results: list[ChangeResult] = []
        if shared and self.dialect.shared:
            sends = sorted({c.message_id for c in changes if c.event is MessageEvent.SEND})
            locks: list[str] = []
            for chunk in chunks(sends):
                locks += [
                    _recipient_lock(r[0])
                    for r in self._q(
                        cur,
                        f"SELECT recipient FROM messages WHERE id IN ({self._in(chunk)}) "
                        "AND counts = 1",
                        chunk,
                    ).fetchall()
                ]
            self._shared(cur, locks)
        # By id: [state, campaign, recipient, channel, counts] as the transaction
        # leaves it (a message changed twice is checked against its first change).
        current: dict[str, list[Any]] = {}
        for chunk in chunks(sorted({c.message_id for c in changes})):
            for row in self._q(
                cur,
                "SELECT id, state, campaign_id, recipient, channel, counts, worker "
                # In one order (by id): two transactions locking rows never deadlock.
                f"FROM messages WHERE id IN ({self._in(chunk)}) "
                f"ORDER BY id{self.dialect.lock_rows}",
                chunk,
            ).fetchall():
                if worker is None or row[6] == worker:
                    current[row[0]] = [row[1], row[2], row[3], row[4], row[5]]
        # (message id, head of its UPDATE, the values it sets, the state it needs)
        updates: list[tuple[str, str, tuple[Any, ...], str]] = []
        events: list[tuple[Any, ...]] = []
        history: list[tuple[Any, ...]] = []
        for change in changes:
            mid, event = change.message_id, change.event
            known = current.get(mid)
            if known is None:
                results.append(ChangeResult(message_id=mid, applied=False, old=None, new=None))
                continue
            old_value = known[0]
            old = MessageState(old_value)
            if event is None:
                # No transition: set the fields, if the message is still as decided.
                if change.decided_in is not None and change.decided_in is not old:
                    results.append(ChangeResult(message_id=mid, applied=False, old=old, new=old))
                    continue
                if change.fields:
                    fields = _columns(change.fields)
                    names = tuple(sorted(fields))
                    updates.append(
                        (
                            mid,
                            _update_head(names, state=False, send=False),
                            tuple(fields[n] for n in names),
                            old_value,
                        )
                    )
                results.append(ChangeResult(message_id=mid, applied=True, old=old, new=old))
                continue
            new = _next_state(old, event)
            if new is None:
                results.append(ChangeResult(message_id=mid, applied=False, old=old, new=old))
                continue
            fields = _columns(change.fields)
            send = event is MessageEvent.SEND
            if send:
                fields.setdefault("sent_at", stamp)
            names = tuple(sorted(fields))
            updates.append(
                (
                    mid,
                    _update_head(names, state=True, send=send),
                    (new.value, stamp, *(fields[n] for n in names)),
                    old_value,
                )
            )
            known[0] = new.value
            events.append((mid, known[1], stamp, event.value, old_value, new.value, change.detail))
            if old in _UNSENT and new in _SENT and known[4]:
                history.append((known[2], known[3], stamp, known[1]))
            results.append(ChangeResult(message_id=mid, applied=True, old=old, new=new))
        self._update(cur, updates)
        self._many(
            cur,
            "INSERT INTO events (message_id, campaign_id, at, event, from_state, to_state, "
            "detail) VALUES (?, ?, ?, ?, ?, ?, ?)",
            events,
        )
        self._many(
            cur,
            "INSERT INTO send_history (recipient, channel, at, campaign_id) VALUES (?, ?, ?, ?)",
            history,
        )
        return results

    def _update(self, cur: Any, updates: Sequence[tuple[str, str, tuple[Any, ...], str]]) -> None:
        """Run the UPDATEs of `apply`: the updates of one message in order (its n-th in
        the n-th round; a round changes each message once); in a round, the messages
        given the same values from the same state in one ``UPDATE ... WHERE id IN``
        (the marks of a claimed batch), the others in one executemany a shape."""
        rounds: list[dict[tuple[str, tuple[Any, ...], str], list[str]]] = []
        seen: dict[str, int] = {}
        for mid, head, values, old in updates:
            n = seen.get(mid, 0)
            seen[mid] = n + 1
            if n == len(rounds):
                rounds.append({})
            rounds[n].setdefault((head, values, old), []).append(mid)
        for groups in rounds:
            single: dict[str, list[tuple[Any, ...]]] = {}
            for (head, values, old), ids in groups.items():
                if len(ids) == 1:
                    single.setdefault(head, []).append((*values, ids[0], old))
                    continue
                for chunk in chunks(ids):
                    self._q(
                        cur,
                        f"{head} WHERE state = ? AND id IN ({self._in(chunk)})",
                        (*values, old, *chunk),
                    )
            for head, rows in single.items():
                self._many(cur, f"{head} WHERE id = ? AND state = ?", rows)

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
        return self._messages(rows)[0]

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
        return self._messages(rows)

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

    def expirable(self, *, now: datetime, limit: int = BATCH) -> list[str]:
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
        limit: int = BATCH,
    ) -> list[MessageRow]:
        """Queued or sending messages of a dead worker: its lease ran out, or it is in ``dead``."""
        known_dead = f" OR worker IN ({self._in(dead)})" if dead else ""
        rows = self._read(
            # The IN repeats the condition of the index of held messages, to use it.
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE state IN ('queued', 'sending') "
            "AND state = ? "
            f"AND (lease_until < ?{known_dead}) ORDER BY lease_until LIMIT ?",
            (state.value, ms(now), *dead, limit),
        )
        return self._messages(rows)

    def recover_stale(
        self,
        state: MessageState,
        decide: Callable[[Sequence[MessageRow]], Sequence[Change]],
        *,
        now: datetime,
        dead: Sequence[str] = (),
        limit: int = BATCH,
    ) -> list[ChangeResult]:
        """Find the messages `stale` finds and apply the changes ``decide`` makes of
        them, in one transaction.

        The rows stay locked from the read to the write (PostgreSQL: ``FOR UPDATE SKIP
        LOCKED``, a row another transaction holds -- a heartbeat renewing it -- is left
        for the next pass; SQLite: the write lock of the transaction): a lease renewed
        or a message claimed again after it was found is never released or marked
        unknown. The store only guards; ``decide`` says what happens.
        """
        known_dead = f" OR worker IN ({self._in(dead)})" if dead else ""
        lock = " FOR UPDATE SKIP LOCKED" if self.dialect.skip_locked else ""
        with self._tx() as cur:
            rows = self._q(
                cur,
                # The IN repeats the condition of the index of held messages, to use it.
                f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE state IN ('queued', 'sending') "
                "AND state = ? "
                f"AND (lease_until < ?{known_dead}) ORDER BY lease_until LIMIT ?{lock}",
                (state.value, ms(now), *dead, limit),
            ).fetchall()
            if not rows:
                return []
            changes = decide(self._messages(rows))
            return self._apply(cur, changes, now=now, worker=None) if changes else []

    def holders(self) -> list[str]:
        """The workers holding queued or sending messages."""
        return [
            r[0]
            for r in self._read(
                "SELECT DISTINCT worker FROM messages WHERE state IN ('queued', 'sending') "
                "AND worker IS NOT NULL"
            )
        ]

    def to_reconcile(
        self, *, now: datetime, limit: int = BATCH, hold_until: datetime | None = None
    ) -> list[MessageRow]:
        """Unknown messages due for another reconciliation attempt.

        With ``hold_until``, the messages returned are due again only then (in the same
        transaction): another worker does not ask the provider about them meanwhile,
        and if this one dies before it decides, they are asked about again then.
        """
        select = (
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE state = 'unknown' "
            "AND not_before IS NOT NULL AND not_before <= ? ORDER BY not_before LIMIT ?"
        )
        if hold_until is None:
            return self._messages(self._read(select, (ms(now), limit)))
        lock = " FOR UPDATE SKIP LOCKED" if self.dialect.skip_locked else ""
        with self._tx() as cur:
            rows = self._q(cur, select + lock, (ms(now), limit)).fetchall()
            for chunk in chunks([r[0] for r in rows]):
                self._q(
                    cur,
                    f"UPDATE messages SET not_before = ? WHERE id IN ({self._in(chunk)}) "
                    "AND state = 'unknown'",
                    (ms(hold_until), *chunk),
                )
        return self._messages(rows)

    def to_poll(
        self,
        *,
        providers: Sequence[str],
        now: datetime,
        sent_before: datetime,
        sent_after: datetime,
        limit: int = BATCH,
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
        return self._messages(rows)

    def fallback_due(self, *, now: datetime, limit: int = BATCH) -> list[tuple[str, str, str]]:
        """Parents whose waiting fallback message must now be released or cancelled.

        Returns:
            ``(parent_id, parent_state, child_id)`` for each waiting child whose parent
            is delivered (cancel), failed or undelivered (fall back), or submitted or
            unknown with its waiting time over (fall back).
        """
        rows = self._read(
            "SELECT p.id, p.state, c.id FROM messages c JOIN messages p ON p.id = c.parent_id "
            "WHERE c.state IN ('deferred', 'planned', 'queued') AND ("
            "p.state IN ('delivered', 'failed', 'undelivered', 'expired', 'skipped') "
            "OR (p.state IN ('submitted', 'unknown') AND p.fallback_at IS NOT NULL "
            "AND p.fallback_at <= ?) "
            # An unknown parent from before the wait was kept with it: once reported.
            "OR (p.state = 'unknown' AND p.fallback_at IS NULL AND p.not_before IS NULL)) "
            # A child waits for its parent while deferred with no time; once released
            # (or held back at send time, with a time) only a delivery cancels it.
            "AND ((c.state = 'deferred' AND c.not_before IS NULL) OR p.state = 'delivered') "
            "LIMIT ?",
            (ms(now), limit),
        )
        return [(r[0], r[1], r[2]) for r in rows]

    def waiting_children(self, parent_ids: Sequence[str]) -> list[str]:
        """Fallback messages of these parents that have not been sent yet."""
        return self._ids_where(
            "SELECT id FROM messages WHERE parent_id IN ({ids}) "
            "AND state IN ('deferred', 'planned', 'queued')",
            parent_ids,
        )

    def _ids_where(self, sql: str, ids: Sequence[str]) -> list[str]:
        """The first column of ``sql`` (its ``{ids}`` the given ids), chunk by chunk."""
        found: list[str] = []
        for chunk in chunks(list(ids)):
            found.extend(r[0] for r in self._read(sql.format(ids=self._in(chunk)), chunk))
        return found

    def last_message_to(self, recipient: str, *, channel: str | None = None) -> MessageRow | None:
        """The last message sent to ``recipient`` (on ``channel``), or None."""
        where, params = "", [self._ix(recipient)]
        if channel is not None:
            where, params = " AND channel = ?", [self._ix(recipient), channel]
        rows = self._read(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE recipient = ?{where} "
            "AND sent_at IS NOT NULL ORDER BY sent_at DESC LIMIT 1",
            params,
        )
        return self._messages(rows)[0] if rows else None

    def fallbacks_released(self, parent_ids: Sequence[str]) -> set[str]:
        """Of these messages, those whose fallback no longer waits (it went, or is going)."""
        return set(
            self._ids_where(
                "SELECT parent_id FROM messages WHERE parent_id IN ({ids}) "
                "AND NOT (state = 'deferred' AND not_before IS NULL) AND state <> 'skipped'",
                parent_ids,
            )
        )

    def parents_delivered(self, ids: Sequence[str]) -> set[str]:
        """Of these messages, those whose parent has been delivered."""
        return set(
            self._ids_where(
                "SELECT c.id FROM messages c JOIN messages p ON p.id = c.parent_id "
                "WHERE c.id IN ({ids}) AND p.state = 'delivered'",
                ids,
            )
        )

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
        # Each part finds its time by an index, without reading the messages it does not
        # want (see migration 4): a waiting message of a running campaign (the earliest
        # of each campaign and state, one index seek each), a waiting test send (they go
        # in any campaign not deleted), a reconciliation, a fallback deadline (the
        # earliest whose fallback still waits), a lease, a scheduled start.
        parts = [
            *(
                "SELECT (SELECT MIN(m.not_before) FROM messages m WHERE m.campaign_id = c.id "
                f"AND m.state = '{state}' AND m.not_before IS NOT NULL) AS t FROM campaigns c "
                "WHERE c.status = 'running' AND c.enabled = 1"
                for state in ("planned", "deferred")
            ),
            "SELECT MIN(m.not_before) FROM messages m JOIN campaigns c ON c.id = m.campaign_id "
            "WHERE m.test = 1 AND m.state IN ('planned', 'deferred') "
            "AND m.not_before IS NOT NULL AND c.status <> 'deleted'",
            "SELECT MIN(not_before) FROM messages WHERE state = 'unknown' "
            "AND not_before IS NOT NULL",
            "SELECT (SELECT p.fallback_at FROM messages p "
            "WHERE p.state IN ('submitted', 'unknown') AND p.fallback_at IS NOT NULL "
            "AND EXISTS (SELECT 1 FROM messages w WHERE w.parent_id = p.id "
            "AND w.state = 'deferred' AND w.not_before IS NULL) "
            "ORDER BY p.fallback_at LIMIT 1)",
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

    def trigger_counts(
        self,
        campaign_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[TriggerCounts]:
        """A campaign's triggers (first messages, tests left out), grouped by the hour
        they were planned in and by how their first message and its fallback ended.

        One grouped query: a report reads counts, never the messages themselves.
        ``since``/``until`` bound the trigger time (``since <= t < until``).
        """
        leg = (
            "{m}.channel, {m}.provider, {region}, {m}.state, {m}.reason, "
            "CASE WHEN {m}.state = 'failed' THEN {m}.error_code END, "
            "CASE WHEN {m}.state = 'deferred' AND {m}.not_before IS NULL THEN 1 ELSE 0 END"
        )
        first = leg.format(m="r", region=self.dialect.json_text("r.payload", "region"))
        second = leg.format(m="c", region=self.dialect.json_text("c.payload", "region"))
        where, params = trigger_range("r", campaign_id, since, until)
        rows = self._read(
            f"SELECT r.created_at / 3600000, {first}, {second}, COUNT(*), "
            "SUM(r.segments), SUM(COALESCE(c.segments, 0)) "
            "FROM messages r LEFT JOIN messages c ON c.parent_id = r.id "
            f"WHERE {where} "
            "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15",
            params,
        )
        found = []
        for row in rows:
            fallback = None
            if row[8] is not None:
                fallback = Leg(
                    channel=row[8],
                    provider=row[9],
                    region=row[10],
                    state=MessageState(row[11]),
                    reason=row[12],
                    error_code=row[13],
                    waiting=bool(row[14]),
                    segments=int(row[17]),
                )
            found.append(
                TriggerCounts(
                    hour=dt(int(row[0]) * 3600000),  # type: ignore[arg-type]
                    first=Leg(
                        channel=row[1],
                        provider=row[2],
                        region=row[3],
                        state=MessageState(row[4]),
                        reason=row[5],
                        error_code=row[6],
                        waiting=bool(row[7]),
                        segments=int(row[16]),
                    ),
                    fallback=fallback,
                    count=int(row[15]),
                )
            )
        return found

    def trigger_recipients(
        self,
        campaign_id: str,
        outcome: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[tuple[str, list[str]]]:
        """The contacts of a campaign's triggers that ended in ``outcome``: ``(contact
        key, the addresses its messages went to, first message first)``, once each.

        Args:
            campaign_id: The campaign.
            outcome: ``"undelivered"`` (sent or meant to be, and delivered by no step),
                ``"delivered"``, ``"clicked"``, ``"replied"`` (from one of its addresses,
                after the trigger) or ``"control"`` (held out in the control group).
            since: Triggers from this time on.
            until: Triggers before this time.
        """
        conditions = {
            "undelivered": "r.state <> 'skipped' AND NOT EXISTS (SELECT 1 FROM messages x "
            "WHERE (x.id = r.id OR x.parent_id = r.id) AND x.state = 'delivered')",
            "delivered": "EXISTS (SELECT 1 FROM messages x "
            "WHERE (x.id = r.id OR x.parent_id = r.id) AND x.state = 'delivered')",
            "clicked": "EXISTS (SELECT 1 FROM clicks k JOIN messages x ON x.id = k.message_id "
            "WHERE x.id = r.id OR x.parent_id = r.id)",
            "replied": "EXISTS (SELECT 1 FROM replies y WHERE y.at >= r.created_at AND "
            "(y.sender = r.contact_key OR y.sender IN (SELECT x.recipient FROM messages x "
            "WHERE x.id = r.id OR x.parent_id = r.id)))",
            "control": "r.state = 'skipped' AND r.reason = 'control_group'",
        }
        if outcome not in conditions:
            raise ValueError(
                f"unknown outcome {outcome!r}: use one of " + ", ".join(sorted(conditions))
            )
        where, params = trigger_range("r", campaign_id, since, until)
        rows = self._read(
            "SELECT r.contact_key, r.recipient, c.recipient FROM messages r "
            "LEFT JOIN messages c ON c.parent_id = r.id "
            f"WHERE {where} AND {conditions[outcome]} ORDER BY r.created_at, r.id",
            params,
        )
        opened = self._open(v for r in rows for v in r)
        found: dict[str, list[str]] = {}
        for key, first, second in rows:
            addresses = found.setdefault(opened[key], [])
            for address in (first and opened[first], second and opened[second]):
                if address and address not in addresses:
                    addresses.append(address)
        return list(found.items())

    def unsettled(self, campaign_id: str) -> int:
        """Messages of a campaign that still need the dispatcher."""
        rows = self._read(
            "SELECT COUNT(*) FROM messages WHERE campaign_id = ? AND (state IN "
            "('planned', 'deferred', 'queued', 'sending') OR (state = 'unknown' AND "
            "not_before IS NOT NULL) OR (state IN ('submitted', 'unknown') "
            "AND fallback_at IS NOT NULL AND EXISTS (SELECT 1 FROM messages c "
            "WHERE c.parent_id = messages.id "
            "AND c.state = 'deferred' AND c.not_before IS NULL)))",
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
        # Only what it still holds: a message whose lease ran out meanwhile may be
        # another worker's now.
        return sum(r.applied for r in self.apply(changes, now=now, worker=worker))

    def renew_leases(self, worker: str, *, until: datetime) -> int:
        """Extend the lease of every message ``worker`` holds (queued or sending)."""
        with self._tx() as cur:
            # The IN repeats the condition of the index of held messages, to use it.
            held = "state IN ('queued', 'sending') AND worker = ? AND lease_until < ?"
            params = (worker, ms(until))
            if self.dialect.lock_rows:
                # Rows locked in id order first, as `apply` locks them: a receipt
                # applied to one of them meanwhile waits instead of deadlocking.
                ids = [
                    r[0]
                    for r in self._q(
                        cur,
                        f"SELECT id FROM messages WHERE {held} ORDER BY id{self.dialect.lock_rows}",
                        params,
                    ).fetchall()
                ]
                renewed = 0
                for chunk in chunks(ids):
                    self._q(
                        cur,
                        f"UPDATE messages SET lease_until = ? WHERE id IN ({self._in(chunk)}) "
                        f"AND {held}",
                        (ms(until), *chunk, *params),
                    )
                    renewed += int(cur.rowcount)
                return renewed
            self._q(cur, f"UPDATE messages SET lease_until = ? WHERE {held}", (ms(until), *params))
            return int(cur.rowcount)

    def resolve_provider_ids(
        self, provider: str | None, provider_ids: Sequence[str]
    ) -> dict[str, str]:
        """Our message ids for provider message ids (of one provider, or any)."""
        found: dict[str, str] = {}
        for chunk in chunks(list(provider_ids)):
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
#: Where a row of `_INSERT_COLUMN_LIST` holds an address (sealed in a keyed store).
_CONTACT_KEY = _INSERT_COLUMN_LIST.index("contact_key")
_RECIPIENT = _INSERT_COLUMN_LIST.index("recipient")
_INSERT_WIDTH = len(_INSERT_COLUMN_LIST)


def _recipient_lock(stored: str) -> str:
    """The name of the lock on a recipient's sends (``stored``: its column's value)."""
    return f"recipient:{stored}"


@functools.lru_cache(maxsize=256)
def _update_head(names: tuple[str, ...], *, state: bool, send: bool) -> str:
    """The UPDATE of a change, up to its WHERE: its state (and time) when it has an
    event, these columns, one more attempt for a send."""
    sets = [*(("state = ?", "updated_at = ?") if state else ()), *(f"{n} = ?" for n in names)]
    if send:
        sets.append("attempts = attempts + 1")
    return f"UPDATE messages SET {', '.join(sets)}"


@functools.cache
def _next_state(old: MessageState, event: MessageEvent) -> MessageState | None:
    """The state ``event`` leads ``old`` to, or None when the lifecycle does not allow it."""
    return MESSAGE.next(old, event) if MESSAGE.can(old, event) else None


def _columns(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A change's fields as column values; only the columns a change may set."""
    values = {k: _column_value(v) for k, v in fields.items()}
    if not _SETTABLE.issuperset(values):
        raise ValueError(f"cannot set {sorted(set(values) - _SETTABLE)} on a message")
    return values


def _enum_value(value: Any) -> Any:
    return getattr(value, "value", value)


#: `ms` of the few distinct send times and expiries of a plan (one per zone, mostly),
#: converted once rather than per row.
_plan_ms = functools.lru_cache(maxsize=1024)(ms)


def _planned_row(p: Message, stamp: int | None, priority: bool) -> tuple[Any, ...]:
    parent = p.parent_id
    if parent is not None:
        state, not_before = MessageState.DEFERRED.value, None
    else:
        state = (MessageState.DEFERRED if p.deferred else MessageState.PLANNED).value
        not_before = _plan_ms(p.not_before)
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
        encode_details(p),
        p.segments,
        int(p.test),
        int(p.counts_toward_caps),
        int(priority or p.test),
        p.link_param,
        not_before,
        _plan_ms(p.expires_at),
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
        _enum_value(s.channel),
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
