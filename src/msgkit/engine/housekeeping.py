"""The engine's periodic jobs: what happens to messages while nobody sends them.

The dispatcher (`msgkit.engine.dispatcher`) claims, sends and records; on its timer
(``DispatcherSettings.housekeeping_every``, and whenever nothing is due) it runs
`Housekeeping`, which:

1. starts scheduled campaigns that are due (the campaign runner's tick);
2. expires messages whose validity ended;
3. gives back messages claimed by a worker that died before sending them, and marks
   ``unknown`` the ones it died while sending;
4. reconciles unknown messages: asks the provider by our id, or follows the campaign's
   ``on_unknown`` policy;
5. releases a fallback whose first message was not confirmed within its wait, or
   cancels it when the first one was delivered;
6. polls delivery status where configured;
7. finishes the bulk campaigns that have nothing left to do.

Every job reads what is due from the store, turns it into observations (a timer that
elapsed, a polled status) and lets `msgkit.core.message.decide` say what changes; none
decides on its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import httpx

from msgkit.core.campaigns import Campaign, CampaignEvent, CampaignKind, CampaignStatus
from msgkit.core.delivery import MessageEvent, MessageState
from msgkit.core.message import (
    Change,
    Context,
    Elapsed,
    Followup,
    MessageFacts,
    MessageStatus,
    Observation,
    Polled,
    PolledStatus,
    Timer,
    decide,
)
from msgkit.engine.clock import Clock
from msgkit.engine.runner import CampaignRunner
from msgkit.providers.base import Provider, StatusResult
from msgkit.store.base import MessageRow
from msgkit.store.protocols import DeliveryStore

if TYPE_CHECKING:
    from msgkit.engine.dispatcher import DispatcherSettings, RunStats

__all__ = [
    "Housekeeping",
    "StoreCall",
    "cancelled",
    "dead_local_workers",
    "decide_with",
    "polled_of",
]

log = logging.getLogger("msgkit.engine")
T = TypeVar("T")


class StoreCall(Protocol):
    """How the engine calls its (blocking) store: off the event loop, one call at a time."""

    def __call__(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Awaitable[T]:
        """Run ``fn(*args, **kwargs)`` in the store's thread and return its result."""
        ...


def decide_with(
    settings: DispatcherSettings,
    message: MessageFacts,
    observed: Observation,
    now: datetime,
    *,
    campaign: Campaign | None = None,
    retry_at: datetime | None = None,
    fallback_released: bool = False,
    fallback_wait: timedelta | None = None,
) -> Change:
    """`decide`, with what the engine's settings and the campaign add to the context
    (and the message's ``fallback_wait``: a stored row's own, else the one given)."""
    row = message if isinstance(message, MessageRow) else None
    context = Context(
        retry_at=retry_at,
        fallback_released=fallback_released,
        fallback_wait=row.fallback_wait if row is not None else fallback_wait,
        on_unknown=campaign.on_unknown if campaign is not None else "mark_unknown",
        reconcile_grace=settings.reconcile_grace,
        reconcile_every=settings.reconcile_every,
        reconcile_for=settings.reconcile_for,
        poll_every=settings.poll_every,
    )
    return decide(message, observed, context=context, now=now)


def cancelled(message_id: str, detail: str) -> Change:
    """Skip a fallback message whose first message was delivered."""
    return Change(
        message_id=message_id,
        event=MessageEvent.SKIP,
        fields={"reason": "cancelled"},
        detail=detail,
    )


def dead_local_workers(workers: Sequence[str]) -> list[str]:
    """Of these worker ids, those of processes on this host that no longer run.

    Workers elsewhere (or with ids of another shape) are left to their leases.
    """
    host = socket.gethostname()
    dead = []
    for worker in workers:
        parts = worker.rsplit(":", 2)
        if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            dead.append(worker)
        except PermissionError:
            continue
    return dead


def polled_of(status: StatusResult) -> Polled:
    """A provider's status answer as the observation it is."""
    if not status.found:
        return Polled(status=PolledStatus.NOT_FOUND)
    reported = (
        {
            MessageState.SUBMITTED: PolledStatus.SENT,
            MessageState.DELIVERED: PolledStatus.DELIVERED,
            MessageState.UNDELIVERED: PolledStatus.UNDELIVERED,
            MessageState.FAILED: PolledStatus.FAILED,
        }.get(status.state)
        if status.state is not None
        else None
    )
    return Polled(
        status=reported or PolledStatus.PENDING,
        provider_message_id=status.provider_message_id,
        error_code=status.error_code,
    )


class Housekeeping:
    """The periodic jobs of one worker (the dispatcher owns one and runs it on its timer).

    Args:
        store: The outbox.
        providers: Configured providers by name.
        db: How to call the store (the dispatcher's store thread).
        perform: Performs a provider's status request (the dispatcher's transport, within
            its concurrency).
        campaign: The campaign of an id (the dispatcher's per-pass cache), or None.
        clock: The clock to read.
        settings: The dispatcher's settings (intervals, reconciliation and polling).
        stats: The run's counts, added to.
        worker: This worker's id (its own claims are never taken for a dead worker's).
        runner: Starts scheduled campaigns when they are due.
    """

    def __init__(
        self,
        store: DeliveryStore,
        providers: Mapping[str, Provider],
        *,
        db: StoreCall,
        perform: Callable[[str, httpx.Request], Awaitable[httpx.Response]],
        campaign: Callable[[str], Awaitable[Campaign | None]],
        clock: Clock,
        settings: DispatcherSettings,
        stats: RunStats,
        worker: str,
        runner: CampaignRunner | None = None,
    ) -> None:
        self.store = store
        self.providers = providers
        self.clock = clock
        self.settings = settings
        self.stats = stats
        self.worker = worker
        self.runner = runner
        self._db = db
        self._perform = perform
        self._campaign = campaign
        self._last: datetime | None = None

    def soon(self) -> None:
        """Run at the next chance, not at the next tick (a fallback became due, say)."""
        self._last = None

    async def __call__(self, *, force: bool = False) -> None:
        """Run every job, when ``housekeeping_every`` has passed since the last run (or
        ``force``)."""
        now = self.clock.now()
        if (
            not force
            and self._last is not None
            and (now - self._last).total_seconds() < self.settings.housekeeping_every
        ):
            return
        self._last = now
        if self.runner is not None:
            await self._db(self.runner.tick, now=now)
        await self.expire(now)
        await self.recover(now)
        await self.reconcile(now)
        await self.fallbacks(now)
        await self.poll(now)
        await self.finish(now)

    def _decide(self, message: MessageFacts, observed: Observation, now: datetime) -> Change:
        return decide_with(self.settings, message, observed, now)

    async def expire(self, now: datetime) -> None:
        """Expire the messages whose validity ended before they were sent."""
        ids = await self._db(self.store.expirable, now=now)
        if ids:
            over = Elapsed(timer=Timer.VALIDITY)
            changes = [
                self._decide(MessageStatus(id=i, state=MessageState.PLANNED), over, now)
                for i in ids
            ]
            done = await self._db(self.store.apply, changes, now=now)
            self.stats.expired += sum(r.applied for r in done)

    async def recover(self, now: datetime) -> None:
        """Give back what dead workers claimed; mark unknown what they were sending."""
        holders = await self._db(self.store.holders)
        dead = dead_local_workers([h for h in holders if h != self.worker])
        over = Elapsed(timer=Timer.LEASE)

        def decide(rows: Sequence[MessageRow]) -> list[Change]:
            return [self._decide(r, over, now) for r in rows]

        # Found and changed in one transaction: a heartbeat that renews a lease, or a
        # worker that claims a message again, in between is never overridden.
        await self._db(self.store.recover_stale, MessageState.QUEUED, decide, now=now, dead=dead)
        sending = await self._db(
            self.store.recover_stale, MessageState.SENDING, decide, now=now, dead=dead
        )
        unknown = sum(r.applied for r in sending)
        if unknown:
            log.warning("%d messages were being sent by a worker that died", unknown)
            self.stats.unknown += unknown

    async def reconcile(self, now: datetime) -> None:
        """Ask the providers about unknown messages (or follow ``on_unknown``)."""
        # Held until the next attempt as they are read: the other workers' housekeeping
        # takes other messages, instead of asking the provider about these again.
        rows = await self._db(
            self.store.to_reconcile, now=now, hold_until=now + self.settings.reconcile_every
        )
        if not rows:
            return
        queries = []
        polled: dict[str, Polled] = {}
        for row in rows:
            provider = self.providers.get(row.provider or "")
            if provider is not None and provider.capabilities.status_query:
                queries.append((row, provider))
            else:
                polled[row.id] = Polled(status=PolledStatus.NO_QUERY)
        statuses = await asyncio.gather(*(self.status(row, p) for row, p in queries))
        for (row, _), status in zip(queries, statuses, strict=True):
            polled[row.id] = status
        with_fallback = [row.id for row in rows if row.fallback_wait is not None]
        released = (
            await self._db(self.store.fallbacks_released, with_fallback) if with_fallback else set()
        )
        changes = []
        for row in rows:
            campaign = await self._campaign(row.campaign_id)
            change = decide_with(
                self.settings,
                row,
                polled[row.id],
                now,
                campaign=campaign,
                fallback_released=row.id in released,
            )
            changes.append(change)
            if change.event is MessageEvent.RESEND:
                self.stats.resent += 1
            elif change.event is not None:
                self.stats.reconciled += 1
            if Followup.FALL_BACK in change.followups or Followup.CANCEL_FALLBACK in (
                change.followups
            ):
                self.soon()
        await self._db(self.store.apply, changes, now=now)

    async def status(self, row: MessageRow, provider: Provider) -> Polled:
        """Ask the provider about a message, as an observation (never raises)."""
        request = provider.build_status(row, row.sent_at or self.clock.now())
        if request is None:
            return Polled(status=PolledStatus.NO_QUERY)
        try:
            response = await self._perform(row.provider or "", request)
            status = provider.parse_status(row, response).for_message_sent(row.sent_at)
        except Exception as exc:  # noqa: BLE001 - asked again later
            # The type and the provider's words, no traceback: a transport error's text
            # or a chained cause could carry the query's URL (the number, a signature).
            log.warning(
                "status query for %s failed (%s); will ask again",
                row.id,
                getattr(exc, "message", None) or type(exc).__name__,
            )
            return Polled(status=PolledStatus.QUERY_FAILED)
        return polled_of(status)

    async def fallbacks(self, now: datetime) -> None:
        """Release the fallbacks whose wait is over, or cancel them (first one delivered)."""
        due = await self._db(self.store.fallback_due, now=now)
        if not due:
            return
        changes: list[Change] = []
        over = Elapsed(timer=Timer.FALLBACK_WAIT)
        for parent_id, parent_state, child_id in due:
            parent = MessageStatus(id=parent_id, state=parent_state)
            change = self._decide(parent, over, now)
            if Followup.CANCEL_FALLBACK in change.followups:
                changes.append(cancelled(child_id, "the first message was delivered"))
                self.stats.cancelled += 1
            elif Followup.FALL_BACK in change.followups:
                if change.event is not None:
                    changes.append(change)
                changes.append(
                    Change(
                        message_id=child_id,
                        event=MessageEvent.WAKE,
                        fields={"not_before": now},
                        detail=f"fallback for {parent_id}",
                    )
                )
                self.stats.fallen_back += 1
        await self._db(self.store.apply, changes, now=now)

    async def poll(self, now: datetime) -> None:
        """Poll the delivery status of submitted messages of the polled providers."""
        names = [n for n in self.settings.poll_receipts if n in self.providers]
        rows = await self._db(
            self.store.to_poll,
            providers=names,
            now=now,
            sent_before=now - self.settings.poll_after,
            sent_after=now - self.settings.poll_for,
        )
        if not rows:
            return
        statuses = await asyncio.gather(
            *(self.status(row, self.providers[row.provider or ""]) for row in rows)
        )
        changes = []
        for row, status in zip(rows, statuses, strict=True):
            change = self._decide(row, status, now)
            changes.append(change)
            self.stats.delivered += change.event is MessageEvent.DELIVER
            if Followup.CANCEL_FALLBACK in change.followups:
                self.soon()
        await self._db(self.store.apply, changes, now=now)

    async def finish(self, now: datetime) -> None:
        """Finish the running bulk campaigns that have nothing left to send or learn."""
        for campaign in await self._db(self.store.running_campaigns):
            if campaign.status is not CampaignStatus.RUNNING:
                continue
            if campaign.kind is CampaignKind.TRIGGERED:
                continue
            if await self._db(self.store.unsettled, campaign.id) == 0:
                finished = campaign.apply(CampaignEvent.FINISH)
                await self._db(self.store.save_campaign, finished, now=now)
                self.stats.campaigns_finished.append(campaign.id)
                log.info("campaign %s finished", campaign.id)
