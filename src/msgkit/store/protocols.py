"""What the rest of msgkit needs from a store, by responsibility.

The engine, the inbound sink and the client depend on these protocols, not on a class:
`CampaignStore` (campaigns, scenarios, the audit log), `AudienceStore` (recipient lists,
their contacts and rejected rows), `Outbox` (messages and every change of their state)
`Inbox` (send history, suppression, short links and clicks, replies) and
`SharedRates` (rate slots shared by every worker).
`DeliveryStore` is what sending and receiving need (everything but the lists), and
`Store` is all of it. `msgkit.store.SQLStore` implements them all, on SQLite and
(later) PostgreSQL; a test proves it to mypy.

Every method is one transaction. Times are aware datetimes.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from msgkit.core.campaigns import Campaign
from msgkit.core.contacts import Contact
from msgkit.core.delivery import MessageState
from msgkit.core.message import MessageStatus
from msgkit.core.optout import SuppressionKey
from msgkit.core.planning import PlannedMessage, Skip
from msgkit.store.base import (
    AuditEntry,
    Change,
    ChangeResult,
    Engagement,
    InsertResult,
    ListInfo,
    MessageRow,
    Progress,
    StoredReply,
    TriggerCounts,
)

__all__ = [
    "AudienceStore",
    "CampaignStore",
    "DeliveryStore",
    "HistoryRows",
    "Inbox",
    "Outbox",
    "ReceiptFacts",
    "SharedRates",
    "Store",
]

#: A message as a receipt's decision needs it: its status and its fallback's wait.
ReceiptFacts = tuple[MessageStatus, timedelta | None]

#: One send of the history: (channel, time, campaign id, campaign kind, campaign tags).
Sent = tuple[str, datetime, str | None, str | None, tuple[str, ...]]
#: The send history of recipients, as `Inbox.history` returns it.
HistoryRows = dict[str, list[Sent]]


class CampaignStore(Protocol):
    """Campaigns (their spec and lifecycle), named scenarios, the audit log."""

    def save_campaign(self, campaign: Campaign, *, now: datetime) -> Campaign:
        """Insert or update a campaign; a bulk campaign entering the run queue gets its place."""
        ...

    def get_campaign(self, campaign_id: str) -> Campaign:
        """The campaign with this id; `msgkit.NotFoundError` when there is none."""
        ...

    def find_campaign(self, ident: str) -> Campaign:
        """A campaign by id, or by name when exactly one campaign has that name."""
        ...

    def list_campaigns(self, *, include_deleted: bool = False) -> list[Campaign]:
        """Every campaign, oldest first."""
        ...

    def due_campaigns(self, *, now: datetime, stale_before: datetime) -> list[Campaign]:
        """Scheduled campaigns whose time has come, and initializations left stale."""
        ...

    def running_campaigns(self) -> list[Campaign]:
        """Campaigns that are initializing or running."""
        ...

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
        ...

    def audit_log(self, *, target: str | None = None, limit: int = 100) -> list[AuditEntry]:
        """The audit log, oldest first."""
        ...

    def save_scenario(self, name: str, campaign_id: str, spec: Any, *, now: datetime) -> None:
        """Insert or replace a named scenario."""
        ...

    def get_scenario(self, name: str) -> tuple[str, Any]:
        """``(campaign id, spec)`` of a scenario."""
        ...

    def scenarios(self) -> list[str]:
        """Scenario names, sorted."""
        ...


class AudienceStore(Protocol):
    """Recipient lists, their contacts (in import order) and rejected rows."""

    def create_list(
        self,
        name: str,
        columns: Sequence[str],
        *,
        now: datetime,
        importer: str | None = None,
        variables: Iterable[str] | None = None,
    ) -> str:
        """A new, empty recipient list (hidden until `finish_list` with ``importer``)."""
        ...

    def finish_list(self, list_id: str) -> None:
        """Show a list written with an ``importer``: its import is complete."""
        ...

    def unfinished_lists(self) -> list[tuple[str, str]]:
        """Lists still being imported (or abandoned by a crash): ``(list id, importer)``."""
        ...

    def set_list_variables(self, list_id: str, variables: Iterable[str] | None) -> None:
        """Declare the attribute names a list's contacts carry (None: not known)."""
        ...

    def add_contacts(self, list_id: str, contacts: Iterable[Contact]) -> InsertResult:
        """Append contacts to a list; a key already there is kept."""
        ...

    def add_rejections(
        self, list_id: str, rejections: Iterable[tuple[int, str | None, str, str]]
    ) -> int:
        """Record rejected rows ``(row_number, column, reason, detail)`` of an import."""
        ...

    def get_list(self, list_id: str) -> ListInfo:
        """A complete list by id or name."""
        ...

    def list_lists(self) -> list[ListInfo]:
        """Every complete recipient list, oldest first."""
        ...

    def iter_contacts(self, list_id: str, *, chunk: int = 1000) -> Iterator[list[Contact]]:
        """The contacts of a complete list in import order, a chunk at a time."""
        ...

    def rejections(self, list_id: str) -> list[tuple[int, str | None, str, str]]:
        """The rejected rows of a list, in file order."""
        ...

    def delete_list(self, list_id: str) -> None:
        """Remove a list with its contacts and rejections."""
        ...


class Outbox(Protocol):
    """Messages, their claims, and every change of their state (with its event log)."""

    @property
    def digest_key(self) -> bytes | None:
        """The key of the recipient digest in message keys, ids and link parameters
        (a store that encrypts numbers has one), or None."""
        ...

    def insert_messages(
        self,
        items: Iterable[PlannedMessage | Skip],
        *,
        now: datetime,
        priority: bool = False,
    ) -> InsertResult:
        """Write planned messages and skips; a key already in the outbox is a duplicate.

        A message with a ``parent_id`` (a fallback) waits until its parent releases it.
        """
        ...

    def claim(
        self, *, worker: str, now: datetime, limit: int, lease_until: datetime
    ) -> list[MessageRow]:
        """Claim up to ``limit`` due messages for ``worker`` (planned/deferred -> queued)."""
        ...

    def apply(
        self, changes: Sequence[Change], *, now: datetime, worker: str | None = None
    ) -> list[ChangeResult]:
        """Apply events to messages, in one transaction, as the lifecycle allows."""
        ...

    def get_message(self, message_id: str) -> MessageRow:
        """One message of the outbox."""
        ...

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
        ...

    def events(self, message_id: str) -> list[tuple[datetime, str, str | None, str | None]]:
        """The event log of one message: (time, event, from, to), oldest first."""
        ...

    def expirable(self, *, now: datetime, limit: int = ...) -> list[str]:
        """Ids of waiting messages whose validity has ended."""
        ...

    def stale(
        self,
        state: MessageState,
        *,
        now: datetime,
        dead: Sequence[str] = (),
        limit: int = ...,
    ) -> list[MessageRow]:
        """Queued or sending messages of a dead worker."""
        ...

    def recover_stale(
        self,
        state: MessageState,
        decide: Callable[[Sequence[MessageRow]], Sequence[Change]],
        *,
        now: datetime,
        dead: Sequence[str] = (),
        limit: int = ...,
    ) -> list[ChangeResult]:
        """The messages `stale` finds, and the changes ``decide`` makes of them applied,
        in one transaction that holds them from the read to the write (a heartbeat or a
        new claim in between is not overridden)."""
        ...

    def holders(self) -> list[str]:
        """The workers holding queued or sending messages."""
        ...

    def to_reconcile(
        self, *, now: datetime, limit: int = ..., hold_until: datetime | None = None
    ) -> list[MessageRow]:
        """Unknown messages due for another reconciliation attempt; with ``hold_until``,
        those returned are due again only then (workers divide them, none asks twice)."""
        ...

    def to_poll(
        self,
        *,
        providers: Sequence[str],
        now: datetime,
        sent_before: datetime,
        sent_after: datetime,
        limit: int = ...,
    ) -> list[MessageRow]:
        """Submitted messages of these providers, sent in a window, with no receipt yet."""
        ...

    def fallback_due(self, *, now: datetime, limit: int = ...) -> list[tuple[str, str, str]]:
        """``(parent_id, parent_state, child_id)`` of fallbacks to release or cancel now."""
        ...

    def waiting_children(self, parent_ids: Sequence[str]) -> list[str]:
        """Fallback messages of these parents that have not been sent yet."""
        ...

    def last_message_to(self, recipient: str, *, channel: str | None = None) -> MessageRow | None:
        """The last message sent to ``recipient`` (on ``channel``), or None."""
        ...

    def fallbacks_released(self, parent_ids: Sequence[str]) -> set[str]:
        """Of these messages, those whose fallback no longer waits (it went, or is going)."""
        ...

    def parents_delivered(self, ids: Sequence[str]) -> set[str]:
        """Of these messages, those whose parent has been delivered."""
        ...

    def next_due(
        self,
        *,
        now: datetime,
        poll_providers: Sequence[str] = (),
        poll_after: timedelta = ...,
        poll_since: datetime | None = None,
    ) -> datetime | None:
        """The earliest time something waits for."""
        ...

    def progress(self, campaign_id: str, *, include_tests: bool = False) -> Progress:
        """Counts by state (and skip reason) of one campaign's messages."""
        ...

    def trigger_counts(
        self,
        campaign_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[TriggerCounts]:
        """A campaign's triggers grouped by trigger hour and by how their first message
        and its fallback ended (for reports)."""
        ...

    def trigger_recipients(
        self,
        campaign_id: str,
        outcome: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[tuple[str, list[str]]]:
        """``(contact key, addresses)`` of the triggers that ended in ``outcome``
        (undelivered, delivered, clicked, replied, control)."""
        ...

    def unsettled(self, campaign_id: str) -> int:
        """Messages of a campaign that still need the dispatcher."""
        ...

    def cancel_pending(self, campaign_id: str, *, now: datetime, detail: str) -> int:
        """Skip (cancelled) every message of a campaign that has not been sent."""
        ...

    def release_campaign(self, campaign_id: str, *, now: datetime) -> int:
        """Give back the queued (not yet sending) messages of a stopped campaign."""
        ...

    def release_worker(self, worker: str, *, now: datetime) -> int:
        """Give back the queued messages of a worker that is stopping (never sent)."""
        ...

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
        """Read the recipients' send history (as `Inbox.history` does) and apply the
        changes ``check`` makes of it, in one transaction that no other worker's
        `mark_checked` of the same recipients interleaves with (frequency caps across
        workers)."""
        ...

    def renew_leases(self, worker: str, *, until: datetime) -> int:
        """Extend the lease of every message ``worker`` holds (queued or sending) to
        ``until``: the worker's heartbeat while a long pass (a slow rate) holds them."""
        ...

    def resolve_provider_ids(
        self, provider: str | None, provider_ids: Sequence[str]
    ) -> dict[str, str]:
        """Our message ids for provider message ids (of one provider, or any)."""
        ...


class Inbox(Protocol):
    """What comes back and what it leads to: send history, suppression, short links and
    clicks, replies."""

    def receipt_facts(self, ids: Sequence[str]) -> dict[str, ReceiptFacts]:
        """What `msgkit.core.message.decide` reads of these messages when a receipt
        comes (the ones the outbox holds), and their fallback's wait."""
        ...

    def history(
        self,
        recipients: Sequence[str],
        *,
        since: datetime,
        pending: Iterable[MessageState] = (),
        exclude_campaign: str | None = None,
        exclude_ids: Iterable[str] = (),
    ) -> dict[str, list[Sent]]:
        """Recent sends (and, with ``pending``, committed sends) per recipient."""
        ...

    def suppress(
        self, entries: Iterable[tuple[str, str, str | None, str | None]], *, now: datetime
    ) -> int:
        """Add ``(scope, recipient, reason, source)`` to the suppression list."""
        ...

    def unsuppress(self, scope: str, recipient: str) -> bool:
        """Remove one entry (an opt-in); whether it was there."""
        ...

    def suppressed(self, scopes: Sequence[str], recipients: Sequence[str]) -> set[tuple[str, str]]:
        """Which of these (scope, recipient) pairs are suppressed."""
        ...

    def suppression_set(self, scopes: Sequence[str]) -> Container[SuppressionKey]:
        """Every suppression entry of these scopes, for the planner (a container of
        `SuppressionKey`: the SQL stores answer by index, opening none)."""
        ...

    def suppression_count(self) -> int:
        """How many entries the suppression list has."""
        ...

    def save_links(self, campaign_id: str, links: Mapping[str, tuple[str, str]]) -> None:
        """Register short codes: ``{code: (link name, target URL)}``."""
        ...

    def resolve_link(self, code: str) -> tuple[str, str] | None:
        """``(campaign id, target)`` of a short code, or None."""
        ...

    def record_click(
        self, code: str, param: str | None, *, now: datetime, user_agent: str | None = None
    ) -> str | None:
        """Record a click on a short link; returns the target, or None for an unknown code."""
        ...

    def clicks(self, campaign_id: str) -> tuple[int, int]:
        """(all clicks, distinct recipients who clicked) of a campaign."""
        ...

    def engagement(
        self,
        campaign_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Engagement:
        """Clicks, replies, opt-outs, and the control group against the treated (for
        reports)."""
        ...

    def click_log(self, campaign_id: str, *, limit: int = 1000) -> list[dict[str, Any]]:
        """The clicks of a campaign, oldest first, each with the message it is attributed to."""
        ...

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
        """Store an inbound reply; returns its id, or None if it was already stored."""
        ...

    def replies(self, *, needs_review: bool | None = None, limit: int = 100) -> list[StoredReply]:
        """Stored replies, newest first (``needs_review=True``: those flagged for review)."""
        ...

    def get_reply(self, reply_id: int) -> StoredReply:
        """One stored reply."""
        ...

    def answer_reply(self, reply_id: int, answer: str, *, now: datetime) -> None:
        """Mark a reply answered with this text."""
        ...


class SharedRates(Protocol):
    """Rates that hold across every worker on the store (`msgkit.core.rates`)."""

    def reserve_rate(
        self, key: str, units: float, rate: float, *, now: datetime, ahead: timedelta
    ) -> datetime:
        """Reserve the next slot of ``units`` at ``rate`` per second of the rate ``key``
        (``provider:NAME``, ``campaign:ID``) for all workers together; returns when the
        slot begins (the caller waits until then). A slot further than ``ahead`` from
        ``now`` was set by another clock, and is not waited for."""
        ...


class DeliveryStore(CampaignStore, Outbox, Inbox, SharedRates, Protocol):
    """What sending and receiving need: campaigns, the outbox and the inbox (the
    dispatcher and the inbound sink take this)."""


class Store(CampaignStore, AudienceStore, Outbox, Inbox, SharedRates, Protocol):
    """A whole store: every responsibility, the URL it was opened with, and closing."""

    url: str

    def close(self) -> None:
        """Close the store's connections."""
        ...
