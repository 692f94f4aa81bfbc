"""What comes back: send history, suppression, short links, clicks, replies."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from msgkit.core.delivery import MessageState
from msgkit.core.message import MessageStatus
from msgkit.core.optout import IndexedSuppression
from msgkit.exceptions import NotFoundError
from msgkit.store._base import SQLBase, chunks, dt, instant, ms, trigger_range
from msgkit.store.base import Engagement, GroupCounts, StoredReply


class InboundTables(SQLBase):
    """History for frequency caps, suppression lists, links and clicks, replies."""

    # --- receipts ----------------------------------------------------------------------

    def receipt_facts(
        self, ids: Sequence[str]
    ) -> dict[str, tuple[MessageStatus, timedelta | None]]:
        """What `msgkit.core.message.decide` reads of these messages when a receipt
        comes (the ones the outbox holds), and their fallback's wait: four columns and
        one JSON field, not the whole record."""
        wait = self.dialect.json_text("payload", "fallback_wait")
        found: dict[str, tuple[MessageStatus, timedelta | None]] = {}
        for chunk in chunks(sorted(set(ids))):
            for mid, state, sent_at, pid, seconds in self._read(
                f"SELECT id, state, sent_at, provider_message_id, {wait} FROM messages "
                f"WHERE id IN ({self._in(chunk)})",
                chunk,
            ):
                found[mid] = (
                    MessageStatus(
                        id=mid, state=state, sent_at=dt(sent_at), provider_message_id=pid
                    ),
                    None if seconds is None else timedelta(seconds=float(seconds)),
                )
        return found

    # --- history and suppression -------------------------------------------------------

    def history(
        self,
        recipients: Sequence[str],
        *,
        since: datetime,
        pending: Iterable[MessageState] = (),
        exclude_campaign: str | None = None,
        exclude_ids: Iterable[str] = (),
    ) -> dict[str, list[tuple[str, datetime, str | None, str | None, tuple[str, ...]]]]:
        """Recent sends per recipient: (channel, time, campaign id, kind, campaign tags).

        What was sent (the send history) always counts. With ``pending``, so do the
        messages not sent yet that are in one of those states and count toward caps,
        at their planned time (or the time their send began): what other campaigns
        have committed to send. A message that ends skipped, failed, cancelled or
        expired thus stops counting. A fallback still waiting for its parent (no time
        yet) does not count: at most one of the two is sent.

        Args:
            recipients: The addresses.
            since: The earliest time that matters (`msgkit.core.fatigue.history_since`).
            pending: The unsent states that count (planning: every unsent state; about
                to send: the messages in flight).
            exclude_campaign: Leave out the pending messages of this campaign (it is
                being planned again: its own messages are the ones being planned).
            exclude_ids: Leave out these pending messages (the one about to be sent).
        """
        states = sorted({MessageState(s).value for s in pending})
        excluded = set(exclude_ids)
        found: dict[str, list[tuple[str, datetime, str | None, str | None, tuple[str, ...]]]] = {}
        tags_cache: dict[str, tuple[str, ...]] = {}
        for plain in chunks(list(recipients)):
            # In a keyed store the columns hold blind indexes: ask by index, answer by
            # the address asked about.
            asked = {self._ix(r): r for r in plain}
            chunk = list(asked)
            rows = self._read(
                "SELECT h.recipient, h.channel, h.at, h.campaign_id, c.kind, c.spec, NULL "
                "FROM send_history h LEFT JOIN campaigns c ON c.id = h.campaign_id "
                f"WHERE h.recipient IN ({self._in(chunk)}) AND h.at >= ?",
                (*chunk, ms(since)),
            )
            if states:
                mine = "" if exclude_campaign is None else " AND m.campaign_id <> ?"
                rows += self._read(
                    "SELECT m.recipient, m.channel, COALESCE(m.sent_at, m.not_before), "
                    "m.campaign_id, c.kind, c.spec, m.id "
                    "FROM messages m LEFT JOIN campaigns c ON c.id = m.campaign_id "
                    f"WHERE m.recipient IN ({self._in(chunk)}) AND m.counts = 1 "
                    f"AND m.state IN ({self._in(states)}) "
                    f"AND COALESCE(m.sent_at, m.not_before) >= ?{mine}",
                    (
                        *chunk,
                        *states,
                        ms(since),
                        *(() if exclude_campaign is None else (exclude_campaign,)),
                    ),
                )
            rows.sort(key=lambda r: (r[2], r[3] or ""))
            for recipient, channel, at, campaign_id, kind, spec, pending_id in rows:
                if pending_id is not None and pending_id in excluded:
                    continue
                tags: tuple[str, ...] = ()
                if campaign_id and spec:
                    if campaign_id not in tags_cache:
                        tags_cache[campaign_id] = tuple(sorted(self._load_spec(spec).tags))
                    tags = tags_cache[campaign_id]
                found.setdefault(asked[recipient], []).append(
                    (channel, dt(at), campaign_id, kind, tags)  # type: ignore[arg-type]
                )
        return found

    def suppress(
        self, entries: Iterable[tuple[str, str, str | None, str | None]], *, now: datetime
    ) -> int:
        """Add ``(scope, recipient, reason, source)`` to the suppression list."""
        count = 0
        for chunk in chunks(entries):
            with self._tx() as cur:
                ix = self._seal(cur, (e[1] for e in chunk))
                count += self._many(
                    cur,
                    "INSERT INTO suppressions (scope, recipient, reason, source, at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, recipient) DO NOTHING",
                    [(scope, ix(address), *rest, ms(now)) for scope, address, *rest in chunk],
                )
        return count

    def unsuppress(self, scope: str, recipient: str) -> bool:
        """Remove one entry (an opt-in); whether it was there."""
        with self._tx() as cur:
            return bool(
                self._q(
                    cur,
                    "DELETE FROM suppressions WHERE scope = ? AND recipient = ?",
                    (scope, self._ix(recipient)),
                ).rowcount
            )

    def suppressed(self, scopes: Sequence[str], recipients: Sequence[str]) -> set[tuple[str, str]]:
        """Which of these (scope, recipient) pairs are suppressed."""
        found: set[tuple[str, str]] = set()
        if not scopes:
            return found
        for plain in chunks(list(recipients)):
            asked = {self._ix(r): r for r in plain}
            chunk = list(asked)
            rows = self._read(
                "SELECT scope, recipient FROM suppressions WHERE "
                f"scope IN ({self._in(scopes)}) AND recipient IN ({self._in(chunk)})",
                (*scopes, *chunk),
            )
            found.update((r[0], asked[r[1]]) for r in rows)
        return found

    def suppression_set(self, scopes: Sequence[str]) -> IndexedSuppression:
        """Every suppression entry of these scopes, for the planner: tested by the index
        of an address, so a keyed store opens none of them."""
        if not scopes:
            return IndexedSuppression(entries=frozenset(), index=self._ix)
        rows = self._read(
            f"SELECT scope, recipient FROM suppressions WHERE scope IN ({self._in(scopes)})",
            tuple(scopes),
        )
        return IndexedSuppression(entries=frozenset((r[0], r[1]) for r in rows), index=self._ix)

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

    def engagement(
        self,
        campaign_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Engagement:
        """Clicks, replies and opt-outs of a campaign's triggers (``since <= trigger time
        < until``), and the control group against the treated, in grouped queries.

        A click counts for the trigger of the message its tracking parameter names
        (without a range, clicks that name none count in ``clicks`` too). A reply counts
        for the message it was attributed to (the last one sent to its sender). For the
        comparison, a trigger "replied" when one of its addresses wrote after it.
        """
        where, params = trigger_range("r", campaign_id, since, until)
        triggers = (
            "SELECT x.id, x.campaign_id FROM messages x "
            "JOIN messages r ON r.id = COALESCE(x.parent_id, x.id) "
            f"WHERE {where}"
        )
        clicks = self._read(
            "SELECT COUNT(*), COUNT(DISTINCT x.contact_key) FROM clicks k "
            "JOIN messages x ON x.id = k.message_id "
            f"WHERE k.message_id IN (SELECT t.id FROM ({triggers}) t)",
            params,
        )[0]
        total_clicks = int(clicks[0])
        if since is None and until is None:
            total_clicks += int(
                self._read(
                    "SELECT COUNT(*) FROM clicks WHERE campaign_id = ? AND message_id IS NULL",
                    (campaign_id,),
                )[0][0]
            )
        replies = self._read(
            "SELECT COUNT(*), COUNT(DISTINCT CASE WHEN classification = 'opt_out' "
            "THEN sender END) FROM replies "
            f"WHERE message_id IN (SELECT t.id FROM ({triggers}) t)",
            params,
        )[0]
        groups = self._read(
            "SELECT g.grp, COUNT(*), SUM(g.clicked), SUM(g.replied) FROM (SELECT "
            "CASE WHEN r.state = 'skipped' THEN 'control' ELSE 'treated' END AS grp, "
            "CASE WHEN EXISTS (SELECT 1 FROM clicks k JOIN messages x ON x.id = k.message_id "
            "WHERE x.id = r.id OR x.parent_id = r.id) THEN 1 ELSE 0 END AS clicked, "
            "CASE WHEN EXISTS (SELECT 1 FROM replies y WHERE y.at >= r.created_at AND "
            "(y.sender = r.contact_key OR y.sender IN (SELECT x.recipient FROM messages x "
            "WHERE x.id = r.id OR x.parent_id = r.id))) THEN 1 ELSE 0 END AS replied "
            f"FROM messages r WHERE {where} "
            "AND (r.state <> 'skipped' OR r.reason = 'control_group')) g GROUP BY g.grp",
            params,
        )
        by_group = {
            grp: GroupCounts(triggers=int(n), clicked=int(c or 0), replied=int(y or 0))
            for grp, n, c, y in groups
        }
        return Engagement(
            clicks=total_clicks,
            unique_clicks=int(clicks[1]),
            replies=int(replies[0]),
            opt_outs=int(replies[1]),
            control=by_group.get("control", GroupCounts()),
            treated=by_group.get("treated", GroupCounts()),
        )

    def click_log(self, campaign_id: str, *, limit: int = 1000) -> list[dict[str, Any]]:
        """The clicks of a campaign, oldest first, each with the message it is attributed
        to (None when its parameter matched no recipient)."""
        rows = self._read(
            "SELECT c.at, l.name, c.code, c.param, c.message_id, m.contact_key, m.recipient "
            "FROM clicks c JOIN links l ON l.code = c.code "
            "LEFT JOIN messages m ON m.id = c.message_id "
            "WHERE c.campaign_id = ? ORDER BY c.at, c.id LIMIT ?",
            (campaign_id, limit),
        )
        return [
            {
                "at": dt(r[0]),
                "link": r[1],
                "code": r[2],
                "param": r[3],
                "message_id": r[4],
                "contact_key": r[5],
                "recipient": r[6],
            }
            for r in self._opened_rows(rows, (5, 6))
        ]

    def _opened_rows(
        self, rows: Sequence[Sequence[Any]], columns: tuple[int, ...]
    ) -> list[list[Any]]:
        """Rows with the addresses in these columns opened (None stays None)."""
        opened = self._open(r[c] for r in rows for c in columns)
        found = []
        for row in rows:
            values = list(row)
            for c in columns:
                if values[c] is not None:
                    values[c] = opened[values[c]]
            found.append(values)
        return found

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
            last = self._q(
                cur,
                "SELECT id, campaign_id FROM messages WHERE recipient = ? AND sent_at IS NOT NULL "
                "ORDER BY sent_at DESC LIMIT 1",
                (self._ix(sender),),
            ).fetchone()
            self._seal(cur, (sender,))
            row = self._q(
                cur,
                "INSERT INTO replies (provider, scope, sender, text, at, external_id, message_id, "
                "campaign_id, classification, needs_review) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                # A reply stored already (same provider and external id) is not stored
                # again: the unique index decides, not a read first (two workers at once).
                "ON CONFLICT (provider, external_id) DO NOTHING RETURNING id",
                (
                    provider,
                    scope,
                    self._ix(sender),
                    text,
                    ms(at),
                    external_id,
                    last[0] if last else None,
                    last[1] if last else None,
                    classification,
                    int(needs_review),
                ),
            ).fetchone()
            return None if row is None else int(row[0])

    def replies(self, *, needs_review: bool | None = None, limit: int = 100) -> list[StoredReply]:
        """Stored replies, newest first (``needs_review=True``: those flagged for review)."""
        if needs_review is None:
            return self._replies_where("", (), limit=limit)
        return self._replies_where("WHERE needs_review = ?", (int(needs_review),), limit=limit)

    def _replies_where(self, where: str, params: Sequence[Any], *, limit: int) -> list[StoredReply]:
        rows = self._read(
            "SELECT id, provider, scope, sender, text, at, message_id, campaign_id, "
            f"classification, needs_review, answered_at, answer FROM replies {where} "
            "ORDER BY at DESC, id DESC LIMIT ?",
            (*params, limit),
        )
        opened = self._open(r[3] for r in rows)
        return [
            StoredReply(
                id=r[0],
                provider=r[1],
                scope=r[2],
                sender=opened[r[3]],
                text=r[4],
                at=instant(r[5]),
                message_id=r[6],
                campaign_id=r[7],
                classification=r[8],
                needs_review=bool(r[9]),
                answered_at=dt(r[10]),
                answer=r[11],
            )
            for r in rows
        ]

    def get_reply(self, reply_id: int) -> StoredReply:
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
