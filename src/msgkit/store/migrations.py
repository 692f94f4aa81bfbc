"""Versioned schema migrations, applied on open.

Each migration is a list of statements applied in one transaction together with the new
version number, so running them twice (two processes opening one database) is safe. A
database whose version is newer than the newest migration here is refused: an older
msgkit must not write to a schema it does not know.

The SQL is portable between SQLite and PostgreSQL; ``{id}`` stands for an
auto-incrementing integer primary key.
"""

from __future__ import annotations

__all__ = ["LATEST", "MIGRATIONS"]

MIGRATIONS: list[list[str]] = [
    # 1: the whole first schema.
    [
        """CREATE TABLE campaigns (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            kind TEXT NOT NULL,
            status TEXT NOT NULL,
            enabled INTEGER NOT NULL,
            scenario TEXT,
            queue_seq BIGINT,
            send_at BIGINT,
            stop_reason TEXT,
            spec TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL
        )""",
        "CREATE INDEX campaigns_queue ON campaigns (kind, status, queue_seq)",
        """CREATE TABLE lists (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            columns TEXT NOT NULL,
            row_count BIGINT NOT NULL DEFAULT 0,
            rejected_count BIGINT NOT NULL DEFAULT 0,
            created_at BIGINT NOT NULL
        )""",
        """CREATE TABLE contacts (
            list_id TEXT NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
            seq BIGINT NOT NULL,
            key TEXT NOT NULL,
            phone TEXT,
            phone_info TEXT,
            attributes TEXT NOT NULL,
            time_zone TEXT,
            locale TEXT,
            PRIMARY KEY (list_id, key)
        )""",
        "CREATE INDEX contacts_seq ON contacts (list_id, seq)",
        """CREATE TABLE rejections (
            list_id TEXT NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
            row_number BIGINT NOT NULL,
            column_name TEXT,
            reason TEXT NOT NULL,
            detail TEXT
        )""",
        "CREATE INDEX rejections_list ON rejections (list_id, row_number)",
        """CREATE TABLE messages (
            id TEXT PRIMARY KEY,
            key TEXT NOT NULL UNIQUE,
            campaign_id TEXT NOT NULL,
            contact_key TEXT NOT NULL,
            step INTEGER NOT NULL,
            parent_id TEXT,
            channel TEXT NOT NULL,
            provider TEXT,
            recipient TEXT NOT NULL,
            state TEXT NOT NULL,
            reason TEXT,
            kind TEXT NOT NULL,
            text TEXT NOT NULL,
            payload TEXT NOT NULL,
            segments INTEGER NOT NULL,
            test INTEGER NOT NULL,
            counts INTEGER NOT NULL,
            priority INTEGER NOT NULL,
            link_param TEXT,
            not_before BIGINT,
            expires_at BIGINT,
            fallback_at BIGINT,
            attempts INTEGER NOT NULL DEFAULT 0,
            worker TEXT,
            lease_until BIGINT,
            provider_message_id TEXT,
            error_code TEXT,
            error TEXT,
            created_at BIGINT NOT NULL,
            updated_at BIGINT NOT NULL,
            sent_at BIGINT
        )""",
        "CREATE INDEX messages_due ON messages (priority, state, not_before)",
        "CREATE INDEX messages_campaign ON messages (campaign_id, state, not_before)",
        "CREATE INDEX messages_provider_id ON messages (provider, provider_message_id)",
        "CREATE INDEX messages_parent ON messages (parent_id)",
        "CREATE INDEX messages_recipient ON messages (recipient, sent_at)",
        "CREATE INDEX messages_link_param ON messages (campaign_id, link_param)",
        """CREATE TABLE events (
            id {id},
            message_id TEXT,
            campaign_id TEXT,
            at BIGINT NOT NULL,
            event TEXT NOT NULL,
            from_state TEXT,
            to_state TEXT,
            detail TEXT
        )""",
        "CREATE INDEX events_message ON events (message_id)",
        """CREATE TABLE send_history (
            recipient TEXT NOT NULL,
            channel TEXT NOT NULL,
            at BIGINT NOT NULL,
            campaign_id TEXT,
            kind TEXT,
            tags TEXT
        )""",
        "CREATE INDEX send_history_recipient ON send_history (recipient, at)",
        """CREATE TABLE suppressions (
            scope TEXT NOT NULL,
            recipient TEXT NOT NULL,
            reason TEXT,
            source TEXT,
            at BIGINT NOT NULL,
            PRIMARY KEY (scope, recipient)
        )""",
        """CREATE TABLE links (
            code TEXT PRIMARY KEY,
            campaign_id TEXT NOT NULL,
            name TEXT NOT NULL,
            target TEXT NOT NULL
        )""",
        """CREATE TABLE clicks (
            id {id},
            code TEXT NOT NULL,
            param TEXT,
            message_id TEXT,
            campaign_id TEXT,
            at BIGINT NOT NULL,
            user_agent TEXT
        )""",
        "CREATE INDEX clicks_campaign ON clicks (campaign_id)",
        """CREATE TABLE replies (
            id {id},
            provider TEXT,
            scope TEXT,
            sender TEXT NOT NULL,
            text TEXT NOT NULL,
            at BIGINT NOT NULL,
            external_id TEXT,
            message_id TEXT,
            campaign_id TEXT,
            classification TEXT,
            needs_review INTEGER NOT NULL DEFAULT 0,
            answered_at BIGINT,
            answer TEXT
        )""",
        "CREATE UNIQUE INDEX replies_external ON replies (provider, external_id)",
        """CREATE TABLE audit (
            id {id},
            at BIGINT NOT NULL,
            actor TEXT,
            action TEXT NOT NULL,
            target TEXT,
            detail TEXT
        )""",
        """CREATE TABLE scenarios (
            name TEXT PRIMARY KEY,
            campaign_id TEXT NOT NULL,
            spec TEXT NOT NULL,
            updated_at BIGINT NOT NULL
        )""",
    ],
    # 2: a list is written hidden, and shown only once its import is complete; the
    # template variables a list's contacts carry; campaigns and lists keep the order
    # they were created in (several may share one millisecond).
    [
        # The import writing the list (``host:pid:random``); NULL once it is complete.
        "ALTER TABLE lists ADD COLUMN importer TEXT",
        # JSON list of attribute names; NULL: not declared.
        "ALTER TABLE lists ADD COLUMN variables TEXT",
        "ALTER TABLE campaigns ADD COLUMN created_seq BIGINT",
        "UPDATE campaigns SET created_seq = (SELECT COUNT(*) FROM campaigns AS c "
        "WHERE c.created_at < campaigns.created_at "
        "OR (c.created_at = campaigns.created_at AND c.id <= campaigns.id))",
        "ALTER TABLE lists ADD COLUMN created_seq BIGINT",
        "UPDATE lists SET created_seq = (SELECT COUNT(*) FROM lists AS l "
        "WHERE l.created_at < lists.created_at "
        "OR (l.created_at = lists.created_at AND l.id <= lists.id))",
    ],
    # 3: reports find the clicks of a message and the replies of a recipient by index.
    [
        "CREATE INDEX clicks_message ON clicks (message_id)",
        "CREATE INDEX replies_sender ON replies (sender, at)",
    ],
    # 4: the housekeeping queries and the claim of priority messages find their few rows
    # by partial indexes. Each holds only the rows in the states it names (in flight,
    # unknown, waiting with a validity or a fallback deadline, waiting tests and
    # priority messages), so it stays small however many messages were sent; without
    # them each query scanned the outbox (0.1-0.5 s at 1,000,000 messages). A query
    # uses one only when its WHERE repeats the index's condition word for word.
    [
        # holders, stale, the earliest lease: the messages workers hold.
        "CREATE INDEX messages_held ON messages (worker, lease_until) "
        "WHERE state IN ('queued', 'sending')",
        # to_reconcile and its due time.
        "CREATE INDEX messages_unknown ON messages (not_before) WHERE state = 'unknown'",
        # expirable: waiting messages with a validity.
        "CREATE INDEX messages_expiry ON messages (expires_at) "
        "WHERE state IN ('planned', 'deferred') AND expires_at IS NOT NULL",
        # the earliest fallback deadline: sent messages whose fallback may still go.
        "CREATE INDEX messages_fallback_at ON messages (fallback_at) "
        "WHERE state IN ('submitted', 'unknown') AND fallback_at IS NOT NULL",
        # the earliest waiting test send (a test goes even when its campaign does not).
        "CREATE INDEX messages_tests ON messages (not_before) "
        "WHERE test = 1 AND state IN ('planned', 'deferred')",
        # The claim of priority messages (triggered, tests) reads only waiting priority
        # messages: a partial index of those replaces (priority, state, not_before),
        # which every insert and every change of state of every message had to update.
        "DROP INDEX messages_due",
        "CREATE INDEX messages_priority ON messages (not_before) "
        "WHERE priority = 1 AND state IN ('planned', 'deferred')",
    ],
    # 5: phone numbers encrypted at rest (a store opened with a phone key). Every column
    # that holds an address (contacts.key and .phone, messages.contact_key and
    # .recipient, send_history, suppressions, replies.sender) then holds its blind index
    # (HMAC-SHA256), so equality, joins, UNIQUE and dedupe work as they did; the address
    # itself is kept once here, AES-GCM sealed, for what must read it back (sending,
    # reports, exports). A database without a phone key never writes this table.
    [
        "CREATE TABLE addresses (ix TEXT PRIMARY KEY, sealed TEXT NOT NULL)",
    ],
    # 6: rates shared by every worker on the store (`msgkit.core.rates`): when the next
    # slot of each begins, in microseconds since the epoch. The key names the rate:
    # ``provider:NAME`` or ``campaign:ID``.
    [
        "CREATE TABLE rate_slots (key TEXT PRIMARY KEY, due BIGINT NOT NULL)",
    ],
]

#: The schema version this msgkit writes.
LATEST = len(MIGRATIONS)
