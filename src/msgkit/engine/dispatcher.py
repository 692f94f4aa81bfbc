"""The dispatcher: the I/O loop that claims due messages, sends them and records what
happened, durably.

One pass (`Dispatcher.step`):

1. Housekeeping when its timer says so (`msgkit.engine.housekeeping`: expiry, dead
   workers, reconciliation, fallbacks, receipt polling, finishing campaigns).
2. Claim a batch of due messages (triggered and test sends first, then the bulk
   campaign at the head of the queue). Settle those that cannot go (a fallback whose
   first message was delivered, a message past its validity, a provider that is not
   configured), group the rest per provider and campaign, and send each group in chunks
   of the provider's batch size, with bounded concurrency, under the provider's rate
   limit and the campaign's send speed (both shared by every worker on the store:
   `msgkit.engine.ratelimit.SharedBucket`).
3. Each chunk goes one way (`Dispatcher._send_chunk`): checked again at the time it
   leaves (`msgkit.core.planning.at_send`: schedule, caps, validity), marked
   ``sending`` in the store before its request leaves, sent, and its results recorded
   through `msgkit.core.message.decide` in one transaction. A chunk with frequency caps
   is checked against its recipients' sends read in the transaction that marks it, so
   caps hold across workers.

Failures: retryable errors retry with exponential backoff and jitter (at least the
provider's ``Retry-After``) until the retry policy gives up; permanent errors fail the
message with the provider's code; account-level errors stop the campaign with the
reason and put its messages back, instead of failing the whole list.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import random
import socket
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar

import attrs
import httpx

from msgkit.core.campaigns import Campaign, CampaignEvent, CampaignStatus
from msgkit.core.contacts import parse_phone
from msgkit.core.delivery import MessageEvent, MessageState, SkipReason
from msgkit.core.fatigue import FrequencyCap, SentRecord, history_since
from msgkit.core.message import Change, Elapsed, Followup, MessageStatus, Sent, Timer
from msgkit.core.optout import OptOutScope, suppression_key
from msgkit.core.planning import at_send, caps_in_force
from msgkit.core.pricing import Balance
from msgkit.engine.clock import Clock, SystemClock
from msgkit.engine.commit import GroupCommit
from msgkit.engine.housekeeping import (
    Housekeeping,
    cancelled,
    dead_local_workers,
    decide_with,
    polled_of,
)
from msgkit.engine.ratelimit import AHEAD, SharedBucket
from msgkit.engine.retry import RetryPolicy
from msgkit.engine.runner import IN_FLIGHT, CampaignRunner, sent_records
from msgkit.engine.transport import AiohttpTransport, Transport
from msgkit.exceptions import (
    ConfigError,
    InvalidPhoneError,
    InvalidTransitionError,
    NotFoundError,
    ProviderError,
    RejectedError,
    StoreError,
    UnavailableError,
)
from msgkit.providers.base import (
    OutboundMessage,
    Outcome,
    Provider,
    ReportsBalance,
    SendRequest,
    SendResult,
)
from msgkit.providers.common import results as results_for
from msgkit.providers.transport import SendRun
from msgkit.store.base import ChangeResult, MessageRow
from msgkit.store.protocols import DeliveryStore, HistoryRows

__all__ = [
    "Dispatcher",
    "DispatcherSettings",
    "RunStats",
    "dead_local_workers",
    "new_worker_id",
    "polled_of",
    "speed_of",
]

log = logging.getLogger("msgkit.engine")
T = TypeVar("T")

#: What a sent message's result can do that makes it count no more toward caps.
_WITHDRAWN = frozenset({MessageEvent.RETRY, MessageEvent.FAIL})


@attrs.frozen(kw_only=True)
class DispatcherSettings:
    """How the dispatcher works.

    Attributes:
        batch_size: Messages claimed per pass.
        concurrency: Requests in flight at once.
        lease: How long a claim or a send may take before other workers consider the
            worker dead (longer than the slowest request).
        retry: Backoff and attempts for retryable errors.
        housekeeping_every: Seconds between housekeeping passes while busy.
        idle_poll: Seconds to sleep when nothing is due (running forever).
        horizon: ``run(until_idle=True)`` waits for work due within this, and returns
            when the next due work is further away.
        reconcile_grace: A status query that does not find a message younger than this
            is asked again later (providers index messages with a delay); older, the
            message is taken as never received and sent again.
        reconcile_every: Time between status queries of one unknown message.
        reconcile_for: How long after sending an unknown message is reconciled (its
            status query failing, or finding nothing final); then it is reported
            ``unknown`` and its fallback, if any, goes when its wait is over.
        poll_receipts: Providers whose delivery status is polled (for providers that
            push no receipts, or where webhooks cannot reach you).
        poll_after: Poll a submitted message's status this long after sending.
        poll_every: Time between polls of one message.
        poll_for: Stop polling a message this long after it was sent.
        request_timeout: Seconds a provider request may take (connect, send, answer)
            on the engine's own HTTP client; a request that times out after it was sent
            leaves its message ``unknown`` (reconciled, never blindly re-sent).
    """

    batch_size: int = 500
    concurrency: int = 16
    lease: timedelta = timedelta(minutes=2)
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    housekeeping_every: float = 1.0
    idle_poll: float = 1.0
    horizon: timedelta = timedelta(minutes=5)
    reconcile_grace: timedelta = timedelta(minutes=5)
    reconcile_every: timedelta = timedelta(minutes=1)
    reconcile_for: timedelta = timedelta(hours=1)
    poll_receipts: frozenset[str] = attrs.field(factory=frozenset, converter=frozenset)
    poll_after: timedelta = timedelta(seconds=30)
    poll_every: timedelta = timedelta(minutes=1)
    poll_for: timedelta = timedelta(hours=24)
    request_timeout: float = 30.0


@attrs.define
class RunStats:
    """What a run did: counts of messages by outcome, and the campaigns it worked on.

    Attributes:
        campaigns: The campaigns whose messages this run claimed (test sends aside).
        campaigns_stopped: Campaigns this run stopped (an account error, say).
        campaigns_finished: Campaigns this run found finished.
    """

    sent: int = 0
    retried: int = 0
    failed: int = 0
    unknown: int = 0
    reconciled: int = 0
    resent: int = 0
    expired: int = 0
    fallen_back: int = 0
    cancelled: int = 0
    deferred: int = 0
    skipped: int = 0
    delivered: int = 0
    campaigns: set[str] = attrs.field(factory=set)
    campaigns_stopped: list[str] = attrs.field(factory=list)
    campaigns_finished: list[str] = attrs.field(factory=list)


def new_worker_id() -> str:
    """A worker id that tells where it runs: ``host:pid:random``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def speed_of(campaign: Campaign) -> float | None:
    """The campaign's send speed in messages per second, or None for unlimited."""
    speed = campaign.policy.send_speed
    return None if speed is None else speed.per_second


class _History:
    """The recipients' sends for the caps, as the store held them when a capped chunk
    is marked (sent, and in flight anywhere), kept current while the chunk is checked:
    a message marked ``sending`` counts from then (`going`), and stops counting when it
    did not go (`withdraw`), as it would in the store.

    Attributes:
        caps: The caps in force for each message, by message id.
    """

    def __init__(
        self, caps: dict[str, Sequence[FrequencyCap]], found: dict[str, list[SentRecord]]
    ) -> None:
        self.caps = caps
        self._found = found
        self._mine: dict[str, tuple[str, SentRecord]] = {}

    def of(self, row: MessageRow) -> list[SentRecord]:
        """The recipient's sends, when the message has caps to check (else none)."""
        return self._found.setdefault(row.recipient, []) if self.caps.get(row.id) else []

    def going(self, row: MessageRow, record: SentRecord) -> None:
        """Count a message that goes now (when it counts toward caps)."""
        found = self._found.get(row.recipient)
        if found is not None and row.counts_toward_caps:
            found.append(record)
            self._mine[row.id] = (row.recipient, record)

    def withdraw(self, message_id: str) -> None:
        """Stop counting a message counted by `going`."""
        mine = self._mine.pop(message_id, None)
        if mine is not None:
            self._found[mine[0]].remove(mine[1])


class Dispatcher:
    """Sends what the outbox holds.

    Args:
        store: The outbox.
        providers: Configured providers by name.
        transport: How requests are performed: one for all providers, or one per
            provider name (missing names use an `AiohttpTransport`).
        clock: The clock to read and sleep on.
        settings: How it works.
        worker: This worker's id (unique per running process).
        rng: The random source of retry jitter.
        runner: Starts scheduled campaigns when they are due, and finishes the
            planning of campaigns a dead process left initializing.

    Attributes:
        on_step: Called with the run's stats after each pass that sent something
            (a progress display).
        housekeeping: The periodic jobs (`msgkit.engine.housekeeping.Housekeeping`);
            ``await dispatcher.housekeeping(force=True)`` runs them now.
    """

    def __init__(
        self,
        store: DeliveryStore,
        providers: Mapping[str, Provider],
        *,
        transport: Transport | Mapping[str, Transport] | None = None,
        clock: Clock | None = None,
        settings: DispatcherSettings | None = None,
        worker: str | None = None,
        rng: random.Random | None = None,
        runner: CampaignRunner | None = None,
    ) -> None:
        self.store = store
        self.providers = dict(providers)
        self.clock = clock or SystemClock()
        self.settings = settings or DispatcherSettings()
        self.worker = worker or new_worker_id()
        self.stats = RunStats()
        self._rng = rng or random.Random()  # noqa: S311 - jitter only
        if transport is None or isinstance(transport, Mapping):
            self._transports: dict[str, Transport] = dict(transport or {})
            self._default_transport: Transport | None = None
        else:
            self._transports = {}
            self._default_transport = transport
        self._provider_buckets: dict[str, SharedBucket] = {}
        self._campaign_buckets: dict[str, SharedBucket] = {}
        self._semaphore = asyncio.Semaphore(self.settings.concurrency)
        self._ahead = asyncio.Semaphore(2 * self.settings.concurrency)
        self._send_lock = asyncio.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="msgkit-store")
        # Message changes of concurrent chunks share transactions (one fsync for many).
        self._commit: GroupCommit[Change, ChangeResult] = GroupCommit(self._write)
        self._campaigns: dict[str, Campaign] = {}
        self._renewed: datetime | None = None
        self._stop: asyncio.Event | None = None
        self._failed: StoreError | None = None
        self.runner = runner
        self.on_step: Callable[[RunStats], None] | None = None
        self.housekeeping = Housekeeping(
            store,
            self.providers,
            db=self._db,
            perform=self._query,
            campaign=self._campaign,
            clock=self.clock,
            settings=self.settings,
            stats=self.stats,
            worker=self.worker,
            runner=runner,
        )

    # --- plumbing -------------------------------------------------------------

    async def _db(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor, functools.partial(fn, *args, **kwargs)
            )
        except StoreError as exc:
            self._failed = exc  # the run stops: nothing more is marked to go
            raise

    async def _write(self, changes: list[Change]) -> list[ChangeResult]:
        """One group's transaction, stamped when it is written (at or after the time
        each of its callers decided at)."""
        return await self._db(self.store.apply, changes, now=self.clock.now(), worker=self.worker)

    def _transport(self, provider: str) -> Transport:
        found = self._transports.get(provider) or self._default_transport
        if found is None:
            found = AiohttpTransport(
                timeout=self.settings.request_timeout,
                max_connections=max(64, self.settings.concurrency),
            )
            self._default_transport = found
        return found

    async def aclose(self) -> None:
        """Close the transports (their connections belong to this run's event loop; a
        given transport opens them again in the next run), and the store thread."""
        try:
            await self._commit.flush()
        finally:
            used = {id(t): t for t in (*self._transports.values(), self._default_transport)}
            try:
                for transport in used.values():
                    if transport is not None:
                        await transport.aclose()
            finally:
                self._executor.shutdown(wait=True)

    async def _reserve(self, key: str, units: float, rate: float, now: datetime) -> datetime:
        return await self._db(self.store.reserve_rate, key, units, rate, now=now, ahead=AHEAD)

    def _provider_bucket(self, name: str, provider: Provider) -> SharedBucket | None:
        """The provider's rate, shared by every worker on the store."""
        rate = provider.capabilities.rate_per_second
        if not rate:
            return None
        if name not in self._provider_buckets:
            self._provider_buckets[name] = SharedBucket(
                f"provider:{name}", rate, self.clock, self._reserve
            )
        return self._provider_buckets[name]

    def _campaign_bucket(self, campaign: Campaign) -> SharedBucket | None:
        """The campaign's send speed, shared by every worker on the store."""
        speed = speed_of(campaign)
        if speed is None:
            return None
        known = self._campaign_buckets.get(campaign.id)
        if known is None or known.rate != speed:
            known = SharedBucket(f"campaign:{campaign.id}", speed, self.clock, self._reserve)
            self._campaign_buckets[campaign.id] = known
        return known

    async def _heartbeat(self) -> None:
        """Renew the leases of what this worker holds, every quarter of a lease: a pass
        held back by a rate (500 messages at a shared 10/s) outlasts its claim's lease,
        and other workers would take its messages for a dead worker's. A worker that
        dies stops renewing, and its claims pass to the others when the lease ends.

        A heartbeat the store fails (a deadlock past its retries, a moment offline) does
        not stop the run: it is tried again at the next beat, well within the lease."""
        now = self.clock.now()
        if self._renewed is not None and now - self._renewed < self.settings.lease / 4:
            return
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(
                self._executor,
                functools.partial(
                    self.store.renew_leases, self.worker, until=now + self.settings.lease
                ),
            )
        except StoreError as exc:
            log.warning(
                "the leases of worker %s were not renewed (again next beat): %s", self.worker, exc
            )
            return
        self._renewed = now

    async def _campaign(self, campaign_id: str, *, fresh: bool = False) -> Campaign | None:
        if fresh or campaign_id not in self._campaigns:
            try:
                self._campaigns[campaign_id] = await self._db(self.store.get_campaign, campaign_id)
            except NotFoundError:
                return None
        return self._campaigns[campaign_id]

    async def _query(self, provider: str, request: httpx.Request) -> httpx.Response:
        """Perform a status query, within the concurrency limit."""
        async with self._semaphore:
            return await self._transport(provider).send(request)

    async def balance(self, provider: str) -> Balance | None:
        """The balance ``provider`` reports, asked through this dispatcher's transport.

        Returns:
            The balance, or None when the provider cannot report one
            (`msgkit.providers.base.ReportsBalance`) or reports none.

        Raises:
            ConfigError: No provider of that name is configured.
            ProviderError: The query failed (`UnavailableError` when it could not be
                performed, `AuthError` for refused credentials).
        """
        found = self.providers.get(provider)
        if found is None:
            raise ConfigError(
                f"no provider named {provider!r} is configured",
                key="provider",
                hint="configured: " + (", ".join(sorted(self.providers)) or "none"),
            )
        if not isinstance(found, ReportsBalance):
            return None
        request = found.build_balance()
        if request is None:
            return None
        try:
            response = await self._query(provider, request)
        except httpx.TransportError as exc:
            raise UnavailableError(
                f"the balance query could not be performed ({type(exc).__name__})",
                provider=provider,
                hint="check the provider's base_url and the network, then try again",
            ) from exc
        return found.parse_balance(response)

    # --- running ------------------------------------------------------------------

    async def run(self, *, until_idle: bool = True, stop: asyncio.Event | None = None) -> RunStats:
        """Send until nothing is due within the horizon (or forever, or until ``stop``).

        Setting ``stop`` stops the run soon: requests in flight finish and are recorded,
        nothing new is sent, and messages claimed but not sent are given back.

        Returns:
            What this run did.
        """
        self._stop = stop
        self._failed = None
        try:
            while not self._stopping():
                if await self.step():
                    continue
                # Nothing to claim: do the waiting work now, then sleep until more is due.
                await self.housekeeping(force=True)
                if await self.step():
                    continue
                now = self.clock.now()
                due = await self._next_due(now)
                if until_idle and (due is None or due - now > self.settings.horizon):
                    break
                wait = self.settings.idle_poll if due is None else (due - now).total_seconds()
                if not until_idle:
                    wait = min(wait, self.settings.idle_poll)
                await self._pause(max(wait, 0.001))
        except StoreError as exc:  # raised below, once the campaigns are stopped
            self._failed = self._failed or exc
        finally:
            await self._commit.flush()
            failure = self._failed
            if failure is not None:
                await self._halt(failure)
            try:
                await self._db(self.store.release_worker, self.worker, now=self.clock.now())
            except StoreError:
                if failure is None:
                    raise
                log.warning("the messages claimed by %s wait for their lease to end", self.worker)
        if failure is not None:
            raise failure
        return self.stats

    def _stopping(self) -> bool:
        return self._failed is not None or (self._stop is not None and self._stop.is_set())

    async def _halt(self, failure: StoreError) -> None:
        """Stop the campaigns this run was sending, the store's failure as the reason.

        Each is stopped only if the store can record it (a full disk often still takes
        a small change; a lock held by another process does not): otherwise it stays
        running, and the next run continues it.
        """
        for campaign_id in sorted(self.stats.campaigns):
            try:
                await self._stop_campaign(campaign_id, str(failure))
            except StoreError as again:
                log.warning("campaign %s could not be stopped: %s", campaign_id, again.what)

    async def _pause(self, seconds: float) -> None:
        """Sleep on the clock, waking early when the run is asked to stop."""
        await self._unless_stopped(self.clock.sleep(seconds))

    async def _unless_stopped(self, waiting: Awaitable[None]) -> bool:
        """Wait for ``waiting``, or until the run is asked to stop: True when it completed."""
        if self._stop is None:
            await waiting
            return True
        done = asyncio.ensure_future(waiting)
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({done, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (done, stopped):
                task.cancel()
            await asyncio.gather(done, stopped, return_exceptions=True)
        return done.done() and not done.cancelled()

    async def _next_due(self, now: datetime) -> datetime | None:
        return await self._db(
            self.store.next_due,
            now=now,
            poll_providers=[n for n in self.settings.poll_receipts if n in self.providers],
            poll_after=self.settings.poll_after,
            poll_since=now - self.settings.poll_for,
        )

    async def step(self) -> bool:
        """One pass: housekeeping when due, then claim and send one batch.

        Returns:
            Whether anything was claimed.
        """
        await self.housekeeping()
        self._campaigns.clear()  # read campaigns afresh each pass: they may have been edited
        now = self.clock.now()
        self._renewed = now  # the claim below starts a lease: renewed from it on
        rows = await self._db(
            self.store.claim,
            worker=self.worker,
            now=now,
            limit=self.settings.batch_size,
            lease_until=now + self.settings.lease,
        )
        if not rows:
            return False
        self.stats.campaigns.update(r.campaign_id for r in rows if not r.test)
        await self._send_rows(rows)
        if self.on_step is not None:
            self.on_step(self.stats)
        return True

    # --- sending ------------------------------------------------------------------------

    async def _send_rows(self, rows: Sequence[MessageRow]) -> None:
        """Send a claimed batch: settle what cannot go, then send each group's chunks."""
        groups = await self._groups(rows)
        history = await self._history(groups)
        await _together(
            self._send_group(provider, campaign_id, members, history)
            for (provider, campaign_id), members in groups.items()
        )

    async def _groups(self, rows: Sequence[MessageRow]) -> dict[tuple[str, str], list[MessageRow]]:
        """The claimed rows that may be sent, per provider and campaign; the others are
        settled here (cancelled fallbacks, expired messages, unknown providers)."""
        now = self.clock.now()
        changes: list[Change] = []
        cancel = await self._db(self.store.parents_delivered, [r.id for r in rows if r.parent_id])
        groups: dict[tuple[str | None, str], list[MessageRow]] = defaultdict(list)
        for row in rows:
            if row.id in cancel:
                changes.append(cancelled(row.id, "the first message was delivered"))
                self.stats.cancelled += 1
            elif row.expires_at is not None and row.expires_at <= now:
                changes.append(decide_with(self.settings, row, Elapsed(timer=Timer.VALIDITY), now))
                self.stats.expired += 1
            else:
                groups[(row.provider, row.campaign_id)].append(row)
        sendable: dict[tuple[str, str], list[MessageRow]] = {}
        for (provider_name, campaign_id), members in groups.items():
            if provider_name is not None and provider_name in self.providers:
                sendable[(provider_name, campaign_id)] = members
                continue
            reason = (
                f"no provider named {provider_name!r} is configured "
                f"(configured: {', '.join(sorted(self.providers)) or 'none'})"
            )
            campaign = await self._campaign(campaign_id)
            if campaign is not None and campaign.status is CampaignStatus.RUNNING:
                await self._stop_campaign(campaign_id, reason)  # puts its messages back
            else:  # a test send: nothing to stop, so the message cannot go
                changes.extend(
                    Change(
                        message_id=r.id,
                        event=MessageEvent.SKIP,
                        fields={"reason": "not_allowed", "error": reason},
                        detail=reason,
                    )
                    for r in members
                )
        await self._commit.submit(changes)
        return sendable

    async def _history(self, groups: Mapping[tuple[str, str], Sequence[MessageRow]]) -> _History:
        """The caps in force for each message of a claimed batch."""
        caps: dict[str, Sequence[FrequencyCap]] = {}
        for (_, campaign_id), members in groups.items():
            campaign = await self._campaign(campaign_id)
            if campaign is None:
                continue
            for row in members:
                caps[row.id] = caps_in_force(
                    campaign.policy,
                    kind=row.kind or "notification",
                    channel=row.channel,
                    tags=campaign.tags,
                    test=row.test,
                )
        # The recipients' sends are read when a capped chunk is marked, in the same
        # transaction (`_mark_capped`): a read here would be stale by then on a store
        # that other workers send from.
        return _History(caps, {})

    async def _send_group(
        self, name: str, campaign_id: str, members: Sequence[MessageRow], history: _History
    ) -> None:
        """Send one provider's messages of one campaign, in chunks of its batch size."""
        provider = self.providers[name]
        campaign = await self._campaign(campaign_id)
        size = max(1, provider.capabilities.max_batch)
        speed = speed_of(campaign) if campaign else None
        if speed is not None:
            size = min(size, max(1, int(speed)))  # a chunk is at most a second's worth
        chunks = [members[i : i + size] for i in range(0, len(members), size)]
        if speed is None:
            await _together(self._send_chunk(name, provider, campaign, c, history) for c in chunks)
            return
        # A paced campaign's chunks start as its bucket allows, each checked and marked
        # before the next is paced (so at the time it really leaves), and then overlap: a
        # chunk's request and result do not hold back the next one's start.
        bucket = self._campaign_bucket(campaign) if campaign else None
        going: list[asyncio.Task[None]] = []
        try:
            for chunk in chunks:
                if self._stopping():
                    break  # the rest is still queued: given back when the run ends
                if bucket is not None and not await self._unless_stopped(bucket.take(len(chunk))):
                    break  # asked to stop while paced: still queued, given back at the end
                await self._heartbeat()
                marked = asyncio.Event()
                going.append(
                    asyncio.create_task(
                        self._send_chunk(name, provider, campaign, chunk, history, marked=marked)
                    )
                )
                await marked.wait()
        finally:
            await _together(going)

    async def _send_chunk(
        self,
        name: str,
        provider: Provider,
        campaign: Campaign | None,
        rows: Sequence[MessageRow],
        history: _History,
        *,
        marked: asyncio.Event | None = None,
    ) -> None:
        """The one way a chunk goes (paced by the caller): check again, mark sending,
        send, record. ``marked`` is set once it is marked (or will not go).

        Chunks are checked and marked up to `concurrency` ahead of those in flight, so
        that waiting for a mark's commit does not leave a request slot idle.
        """
        await self._ahead.acquire()
        try:
            try:
                batch = await self._mark(campaign, rows, history)
            finally:
                if marked is not None:
                    marked.set()
            if not batch:
                return
            async with self._semaphore:  # marked: it goes, even when asked to stop now
                results = await self._send_batch(name, provider, batch)
        finally:
            self._ahead.release()
        changes = await self._record(name, campaign, {r.id: r for r in batch}, results)
        for change in changes:
            if change.event in _WITHDRAWN:
                history.withdraw(change.message_id)

    async def _mark(
        self, campaign: Campaign | None, rows: Sequence[MessageRow], history: _History
    ) -> list[MessageRow]:
        """Check a chunk again and mark those that go ``sending``; returns them."""
        if self._stopping():
            return []  # still queued: given back when the run ends
        if any(history.caps.get(r.id) for r in rows):
            return await self._mark_capped(campaign, rows, history)
        # Without caps the check of one chunk does not depend on another's: their marks
        # share commits.
        now = self.clock.now()
        go, held = self._recheck(campaign, rows, now, history)
        marked = await self._commit.submit(self._marks(go, held, now))
        return self._sending(go, held, marked, history)

    async def _mark_capped(
        self, campaign: Campaign | None, rows: Sequence[MessageRow], history: _History
    ) -> list[MessageRow]:
        """`_mark` when caps bind: the recipients' sends are read again, and the chunk
        checked and marked, in one store transaction that no other worker's capped mark
        of the same recipients interleaves with (`mark_checked`); in this process, under
        one lock. Two chunks to the same person, from this worker or another, cannot
        both pass a cap that allows one more."""
        async with self._send_lock:
            await self._commit.flush()  # this worker's earlier marks count
            now = self.clock.now()
            capped = [r for r in rows if history.caps.get(r.id)]
            since = history_since([c for r in capped for c in history.caps[r.id]], now)
            decided: list[tuple[list[MessageRow], list[Change]]] = []

            def check(found: HistoryRows) -> list[Change]:
                # Read in the transaction: a send another worker marked after this one
                # read ``now`` is later than ``now``, and counts as now (as does one
                # stamped by a clock ahead of this one), not as a send to come.
                at = max(now, self.clock.now())
                records = {
                    recipient: [attrs.evolve(r, at=min(r.at, at)) for r in listed]
                    for recipient, listed in sent_records(found).items()
                }
                fresh = _History(history.caps, {r.recipient: [] for r in capped} | records)
                go, held = self._recheck(campaign, rows, at, fresh)
                decided.append((go, held))
                return self._marks(go, held, at)

            marked = await self._db(
                self.store.mark_checked,
                sorted({r.recipient for r in capped}),
                check,
                since=since or now,
                pending=IN_FLIGHT,
                now=now,
                worker=self.worker,
            )
            go, held = decided[0] if decided else ([], [])
            return self._sending(go, held, marked, history)

    def _marks(
        self, go: Sequence[MessageRow], held: Sequence[Change], now: datetime
    ) -> list[Change]:
        """The changes of a checked chunk: those that go are marked ``sending`` (with a
        lease), the others held back as decided."""
        lease = now + self.settings.lease
        marks = [
            Change(message_id=r.id, event=MessageEvent.SEND, fields={"lease_until": lease})
            for r in go
        ]
        return [*marks, *held]

    @staticmethod
    def _sending(
        go: Sequence[MessageRow],
        held: Sequence[Change],
        marked: Sequence[ChangeResult],
        history: _History,
    ) -> list[MessageRow]:
        """The rows of ``go`` the store marked ``sending`` (the others were given back
        or taken meanwhile: they stop counting in ``history``)."""
        held_ids = {c.message_id for c in held}
        sending = {m.message_id for m in marked if m.applied and m.message_id not in held_ids}
        for row in go:
            if row.id not in sending:
                history.withdraw(row.id)
        return [r for r in go if r.id in sending]

    def _recheck(
        self,
        campaign: Campaign | None,
        rows: Sequence[MessageRow],
        now: datetime,
        history: _History,
    ) -> tuple[list[MessageRow], list[Change]]:
        """The rows that may go now, and the changes of those that may not.

        Time passed since planning (the send speed held a message back, another
        campaign sent first, a worker was down): the contact schedule, the China rule,
        the frequency caps and the validity are checked again (`at_send`), with the
        recipient's sends and those in flight. A message that may go later is deferred
        to then; one that may not go is skipped with the reason, or expired. Those that
        go count in ``history`` from now.
        """
        if campaign is None:
            return list(rows), []
        go: list[MessageRow] = []
        held: list[Change] = []
        for row in rows:
            zone_name, region = _zone_and_region(row, campaign.policy.time_zone)
            when = at_send(
                campaign,
                now=now,
                channel=row.channel,
                kind=row.kind or "notification",
                zone_name=zone_name,
                region=region,
                expires_at=row.expires_at,
                history=history.of(row),
                test=row.test,
            )
            if when.at == now:
                go.append(row)
                history.going(row, SentRecord(at=now, channel=row.channel, tags=campaign.tags))
            elif when.at is not None:
                held.append(
                    Change(
                        message_id=row.id,
                        event=MessageEvent.DEFER,
                        fields={"not_before": when.at, "lease_until": None},
                        detail=f"held back at send time until {when.at:%Y-%m-%d %H:%M} UTC "
                        "(contact schedule, quiet hours or frequency caps)",
                    )
                )
                self.stats.deferred += 1
            elif when.reason is SkipReason.EXPIRED:
                held.append(
                    Change(
                        message_id=row.id,
                        event=MessageEvent.EXPIRE,
                        fields={"reason": "expired", "error": when.detail},
                        detail=when.detail,
                    )
                )
                self.stats.expired += 1
            else:
                reason = when.reason or SkipReason.NOT_ALLOWED
                held.append(
                    Change(
                        message_id=row.id,
                        event=MessageEvent.SKIP,
                        fields={"reason": reason.value, "error": when.detail},
                        detail=when.detail,
                    )
                )
                self.stats.skipped += 1
        return go, held

    async def _send_batch(
        self, name: str, provider: Provider, batch: Sequence[OutboundMessage]
    ) -> list[SendResult]:
        """Build and perform a batch's requests: one result per message, never raises.

        When the provider refused a request for one of its messages without saying
        which (``isolate``), each of those is sent alone, once, before anything is decided.
        """
        requests, results = self._build(name, provider, batch)
        bucket = self._provider_bucket(name, provider)
        for sent in requests:
            if bucket is not None:
                await bucket.take(1)
                await self._heartbeat()
            results.extend(await self._perform(name, provider, sent))
        isolate = {r.message_id for r in results if r.isolate and r.outcome is Outcome.RETRY}
        if not isolate or len(batch) == 1:
            return results
        results = [r for r in results if r.message_id not in isolate]
        for message in sorted((m for m in batch if m.id in isolate), key=lambda m: m.id):
            results.extend(await self._send_batch(name, provider, [message]))
        return results

    def _build(
        self, name: str, provider: Provider, batch: Sequence[OutboundMessage]
    ) -> tuple[list[SendRequest], list[SendResult]]:
        """The requests for a batch; a message the adapter cannot express fails alone."""
        try:
            return provider.build_send(batch), []
        except RejectedError as exc:
            if len(batch) == 1:
                return [], [SendResult(message_id=batch[0].id, outcome=Outcome.FAILED, error=exc)]
        except Exception as exc:
            log.exception("provider %s could not build a request", name)
            error = ProviderError(f"could not build the request: {exc}", provider=name)
            return [], [
                SendResult(message_id=m.id, outcome=Outcome.RETRY, error=error) for m in batch
            ]
        requests: list[SendRequest] = []
        results: list[SendResult] = []
        for message in batch:
            more, failed = self._build(name, provider, [message])
            requests.extend(more)
            results.extend(failed)
        return requests, results

    async def _perform(self, name: str, provider: Provider, sent: SendRequest) -> list[SendResult]:
        """Perform a request and its follow-ups; one result per message, never raises."""
        run = SendRun(provider, sent)
        transport = self._transport(name)
        extra: list[SendResult] = []
        while (current := run.next_request()) is not None:
            try:
                response = await transport.send(current.request)
            except httpx.TransportError as exc:
                run.failed(exc)
                continue
            try:
                run.received(response)
            except Exception as exc:
                log.exception("provider %s sent a response its adapter cannot read", name)
                error = ProviderError(
                    f"unreadable response: {exc}", provider=name, status=response.status_code
                )
                idempotent = provider.capabilities.idempotent or current.safe
                outcome = Outcome.RETRY if idempotent else Outcome.UNKNOWN
                extra.extend(results_for(current, outcome, error=error))
        results = [*run.results, *extra]
        answered = {r.message_id for r in results}
        missing = [i for i in sent.message_ids if i not in answered]
        if missing:
            error = ProviderError("no result for this message in the response", provider=name)
            results.extend(
                SendResult(message_id=i, outcome=Outcome.UNKNOWN, error=error) for i in missing
            )
        return results

    async def _record(
        self,
        name: str,
        campaign: Campaign | None,
        rows: Mapping[str, MessageRow],
        results: Sequence[SendResult],
    ) -> list[Change]:
        """Decide and store what each result means for its message (and its follow-ups)."""
        now = self.clock.now()
        changes: list[Change] = []
        suppress: list[tuple[str, str, str | None, str | None]] = []
        account_error: ProviderError | None = None
        for result in results:
            row = rows.get(result.message_id)
            if row is None:
                continue
            attempts = row.attempts + 1
            error = result.error
            retry_at = None
            if result.outcome is Outcome.RETRY and not self.settings.retry.gives_up(attempts):
                delay = self.settings.retry.delay(
                    attempts, retry_after=result.retry_after, rng=self._rng
                )
                retry_at = now + timedelta(seconds=delay)
            observed = Sent(
                outcome=result.outcome,
                attempt=attempts,
                provider_message_id=result.provider_message_id,
                error_code=error.provider_code if error else None,
                error=str(error) if error else None,
                fallback_now=result.fallback_now,
                suppress=result.suppress,
            )
            sending = MessageStatus(  # marked before it left (a copy of the row costs more)
                id=row.id,
                state=MessageState.SENDING,
                sent_at=row.sent_at,
                provider_message_id=row.provider_message_id,
            )
            change = decide_with(
                self.settings,
                sending,
                observed,
                now,
                retry_at=retry_at,
                fallback_wait=row.fallback_wait,
            )
            changes.append(change)
            if change.event is MessageEvent.ACCEPT:
                self.stats.sent += 1
            elif change.event is MessageEvent.FAIL:
                self.stats.failed += 1
            elif change.event is MessageEvent.LOSE:
                self.stats.unknown += 1
            elif Followup.RETRY in change.followups:
                self.stats.retried += 1
            if Followup.FALL_BACK in change.followups:
                self.housekeeping.soon()  # release the fallback at the next pass
            if Followup.SUPPRESS in change.followups:
                key = suppression_key(
                    row.recipient,
                    scope=OptOutScope.SENDER,
                    channel=row.channel,
                    sender=row.sender,
                )
                suppress.append((key.scope, key.address, "opted out at the provider", name))
            if Followup.STOP_CAMPAIGN in change.followups and account_error is None:
                account_error = error or ProviderError("account refused", provider=name)
        await self._commit.submit(changes)
        if suppress:
            await self._db(self.store.suppress, suppress, now=now)
        if account_error is not None and campaign is not None:
            await self._stop_campaign(campaign.id, str(account_error))
        return changes

    async def _stop_campaign(self, campaign_id: str, reason: str) -> None:
        campaign = await self._campaign(campaign_id, fresh=True)
        if campaign is None:
            return
        now = self.clock.now()
        if campaign.status in (CampaignStatus.RUNNING, CampaignStatus.INITIALIZING):
            try:
                stopped = campaign.apply(CampaignEvent.STOP, reason=reason)
            except InvalidTransitionError:
                return
            await self._db(self.store.save_campaign, stopped, now=now)
            await self._db(
                self.store.audit,
                actor="msgkit",
                action="campaign.stop",
                target=campaign_id,
                detail=reason,
                now=now,
            )
            self._campaigns[campaign_id] = stopped
            self.stats.campaigns_stopped.append(campaign_id)
            log.warning("campaign %s stopped: %s", campaign_id, reason)
        await self._db(self.store.release_campaign, campaign_id, now=now)


async def _together(aws: Iterable[Awaitable[None]]) -> None:
    """Run ``aws`` concurrently until every one has ended, then raise the first error.

    Unlike a plain `asyncio.gather`, a failing chunk (the store failed to record it)
    does not leave its siblings running after the pass: their requests in flight
    finish and are recorded, or left ``sending`` for reconciliation.
    """
    for outcome in await asyncio.gather(*aws, return_exceptions=True):
        if isinstance(outcome, BaseException):
            raise outcome


def _zone_and_region(row: MessageRow, default: str) -> tuple[str, str | None]:
    """The recipient's zone (as the planner chose it) and phone region of a message."""
    phone = None
    if row.recipient.startswith("+"):
        try:
            phone = parse_phone(row.recipient)
        except InvalidPhoneError:
            phone = None
    zone_name = row.time_zone
    if not zone_name:
        zones = phone.time_zones if phone is not None else ()
        zone_name = zones[0] if len(zones) == 1 else default
    return str(zone_name), phone.region if phone is not None else None
