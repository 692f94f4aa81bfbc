"""The dispatcher: claims due messages from the outbox and sends them, durably.

One pass (`Dispatcher.step`):

1. Housekeeping: expire messages whose validity ended; give back messages claimed by
   a worker that died before sending them; mark ``unknown`` the ones it died while
   sending, and reconcile them (ask the provider by our id; otherwise follow the
   campaign's ``on_unknown`` policy); release or cancel fallback messages; poll
   delivery status where configured; finish campaigns with nothing left.
2. Claim a batch of due messages (triggered and test sends first, then the bulk
   campaign at the head of the queue), group them per provider and campaign, and send
   each group in chunks of the provider's batch size, with bounded concurrency, under
   the provider's rate limit and the campaign's send speed.
3. Every message is marked ``sending`` (in the store) before its request leaves, and
   its outcome is recorded in the same transaction as its state change.

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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, TypeVar

import attrs
import httpx

from msgkit.core.campaigns import Campaign, CampaignEvent, CampaignKind, CampaignStatus
from msgkit.core.contacts import parse_phone
from msgkit.core.delivery import MessageEvent, MessageState, SkipReason
from msgkit.core.fatigue import SentRecord, history_since
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
    Sent,
    Timer,
    decide,
)
from msgkit.core.optout import OptOutScope, suppression_key
from msgkit.core.planning import at_send, caps_in_force
from msgkit.engine.clock import Clock, SystemClock
from msgkit.engine.ratelimit import TokenBucket
from msgkit.engine.retry import RetryPolicy
from msgkit.engine.runner import IN_FLIGHT, CampaignRunner, sent_records
from msgkit.engine.transport import HttpxTransport, Transport
from msgkit.exceptions import (
    InvalidPhoneError,
    InvalidTransitionError,
    NotFoundError,
    ProviderError,
    RejectedError,
)
from msgkit.providers.base import (
    OutboundMessage,
    Outcome,
    Provider,
    SendRequest,
    SendResult,
    StatusResult,
)
from msgkit.providers.common import results as results_for
from msgkit.providers.transport import SendRun
from msgkit.store.base import MessageRow
from msgkit.store.protocols import DeliveryStore

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


def speed_of(campaign: Campaign) -> float | None:
    """The campaign's send speed in messages per second, or None for unlimited."""
    speed = campaign.policy.send_speed
    return None if speed is None else speed.per_second


class Dispatcher:
    """Sends what the outbox holds.

    Args:
        store: The outbox.
        providers: Configured providers by name.
        transport: How requests are performed: one for all providers, or one per
            provider name (missing names use an `HttpxTransport`).
        clock: The clock to read and sleep on.
        settings: How it works.
        worker: This worker's id (unique per running process).
        rng: The random source of retry jitter.
        runner: Starts scheduled campaigns when they are due, and finishes the
            planning of campaigns a dead process left initializing.

    Attributes:
        on_step: Called with the run's stats after each pass that sent something
            (a progress display).
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
        self._own_transport = transport is None
        self._provider_buckets: dict[str, TokenBucket] = {}
        self._campaign_buckets: dict[str, tuple[float, TokenBucket]] = {}
        self._semaphore = asyncio.Semaphore(self.settings.concurrency)
        self._send_lock = asyncio.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="msgkit-store")
        self._last_housekeeping: datetime | None = None
        self._campaigns: dict[str, Campaign] = {}
        self._stop: asyncio.Event | None = None
        self.runner = runner
        self.on_step: Callable[[RunStats], None] | None = None

    # --- plumbing -------------------------------------------------------------

    async def _db(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    def _transport(self, provider: str) -> Transport:
        found = self._transports.get(provider) or self._default_transport
        if found is None:
            found = HttpxTransport()
            self._default_transport = found
            self._own_transport = True  # made here: closed by `aclose`
        return found

    async def aclose(self) -> None:
        """Close the transports this dispatcher opened, and its store thread."""
        if self._own_transport and self._default_transport is not None:
            await self._default_transport.aclose()
        self._executor.shutdown(wait=True)

    def _provider_bucket(self, name: str, provider: Provider) -> TokenBucket | None:
        rate = provider.capabilities.rate_per_second
        if not rate:
            return None
        if name not in self._provider_buckets:
            self._provider_buckets[name] = TokenBucket(rate, self.clock)
        return self._provider_buckets[name]

    def _campaign_bucket(self, campaign: Campaign) -> TokenBucket | None:
        speed = speed_of(campaign)
        if speed is None:
            return None
        known = self._campaign_buckets.get(campaign.id)
        if known is None or known[0] != speed:
            known = (speed, TokenBucket(speed, self.clock, burst=max(1.0, speed)))
            self._campaign_buckets[campaign.id] = known
        return known[1]

    async def _campaign(self, campaign_id: str, *, fresh: bool = False) -> Campaign | None:
        if fresh or campaign_id not in self._campaigns:
            try:
                self._campaigns[campaign_id] = await self._db(self.store.get_campaign, campaign_id)
            except NotFoundError:
                return None
        return self._campaigns[campaign_id]

    def _context(
        self,
        row: MessageRow | None = None,
        *,
        campaign: Campaign | None = None,
        retry_at: datetime | None = None,
    ) -> Context:
        """What `decide` needs to know of the engine, the campaign and the message."""
        settings = self.settings
        return Context(
            retry_at=retry_at,
            fallback_wait=row.fallback_wait if row is not None else None,
            on_unknown=campaign.on_unknown if campaign is not None else "mark_unknown",
            reconcile_grace=settings.reconcile_grace,
            reconcile_every=settings.reconcile_every,
            reconcile_for=settings.reconcile_for,
            poll_every=settings.poll_every,
        )

    def _decide(self, message: MessageFacts, observed: Observation, now: datetime) -> Change:
        row = message if isinstance(message, MessageRow) else None
        return decide(message, observed, context=self._context(row), now=now)

    # --- running ------------------------------------------------------------------

    async def run(self, *, until_idle: bool = True, stop: asyncio.Event | None = None) -> RunStats:
        """Send until nothing is due within the horizon (or forever, or until ``stop``).

        Setting ``stop`` stops the run soon: requests in flight finish and are recorded,
        nothing new is sent, and messages claimed but not sent are given back.

        Returns:
            What this run did.
        """
        self._stop = stop
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
        finally:
            await self._db(self.store.release_worker, self.worker, now=self.clock.now())
        return self.stats

    def _stopping(self) -> bool:
        return self._stop is not None and self._stop.is_set()

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

    async def _send_rows(self, rows: Sequence[MessageRow]) -> None:
        now = self.clock.now()
        changes: list[Change] = []
        cancel = await self._db(self.store.parents_delivered, [r.id for r in rows if r.parent_id])
        groups: dict[tuple[str | None, str], list[MessageRow]] = defaultdict(list)
        for row in rows:
            if row.id in cancel:
                changes.append(_skip(row.id, "the first message was delivered"))
                self.stats.cancelled += 1
            elif row.expires_at is not None and row.expires_at <= now:
                changes.append(self._decide(row, Elapsed(timer=Timer.VALIDITY), now))
                self.stats.expired += 1
            else:
                groups[(row.provider, row.campaign_id)].append(row)
        for (provider_name, campaign_id), members in list(groups.items()):
            if provider_name not in self.providers:
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
                del groups[(provider_name, campaign_id)]
        if changes:
            await self._db(self.store.apply, changes, now=now, worker=self.worker)
        tasks = []
        for (provider_name, campaign_id), members in groups.items():
            assert provider_name is not None
            provider = self.providers[provider_name]
            size = max(1, provider.capabilities.max_batch)
            campaign = await self._campaign(campaign_id)
            speed = speed_of(campaign) if campaign else None
            if speed is not None:
                size = min(size, max(1, int(speed)))  # a chunk is at most a second's worth
            chunks = [members[i : i + size] for i in range(0, len(members), size)]
            if speed is not None:
                # A paced campaign's chunks go one after another (the bucket spaces them
                # anyway), so each is checked and sent at the time it really leaves.
                tasks.append(self._send_in_turn(provider_name, provider, campaign_id, chunks))
                continue
            tasks.extend(
                self._send_chunk(provider_name, provider, campaign_id, chunk) for chunk in chunks
            )
        await asyncio.gather(*tasks)

    async def _send_in_turn(
        self,
        name: str,
        provider: Provider,
        campaign_id: str,
        chunks: Sequence[Sequence[MessageRow]],
    ) -> None:
        for chunk in chunks:
            if self._stopping():
                return  # the rest is still queued: given back when the run ends
            await self._send_chunk(name, provider, campaign_id, chunk)

    async def _send_chunk(
        self, name: str, provider: Provider, campaign_id: str, rows: Sequence[MessageRow]
    ) -> None:
        campaign = await self._campaign(campaign_id)
        bucket = self._campaign_bucket(campaign) if campaign else None
        if bucket is not None and not await self._unless_stopped(bucket.take(len(rows))):
            return  # asked to stop while paced: still queued, given back at the end
        async with self._semaphore:
            if self._stopping():
                return  # still queued: given back when the run ends
            # Checked and marked under one lock, so that two chunks to the same person
            # cannot both pass a cap that allows one more.
            async with self._send_lock:
                now = self.clock.now()
                lease = now + self.settings.lease
                go, held = await self._recheck(campaign, rows, now)
                marked = await self._db(
                    self.store.apply,
                    [
                        *(
                            Change(
                                message_id=r.id,
                                event=MessageEvent.SEND,
                                fields={"lease_until": lease},
                            )
                            for r in go
                        ),
                        *held,
                    ],
                    now=now,
                    worker=self.worker,
                )
            held_ids = {c.message_id for c in held}
            sending = {m.message_id for m in marked if m.applied and m.message_id not in held_ids}
            batch = [r for r in rows if r.id in sending]
            if not batch:
                return
            by_id = {r.id: r for r in batch}
            results = await self._send_batch(name, provider, list(batch))
            isolate = {r.message_id for r in results if r.isolate and r.outcome is Outcome.RETRY}
            if isolate and len(batch) > 1:
                # The provider refused the request for one message without saying which:
                # send each of those alone, once, before deciding anything.
                results = [r for r in results if r.message_id not in isolate]
                for message_id in sorted(isolate):
                    alone = [by_id[message_id]]
                    results.extend(await self._send_batch(name, provider, alone))
        await self._record(name, provider, campaign, by_id, results)

    async def _recheck(
        self, campaign: Campaign | None, rows: Sequence[MessageRow], now: datetime
    ) -> tuple[list[MessageRow], list[Change]]:
        """The rows that may go now, and the changes of those that may not.

        Time passed since planning (the send speed held a message back, another
        campaign sent first, a worker was down): the contact schedule, the China rule,
        the frequency caps and the validity are checked again (`at_send`), with the
        recipient's sends and those in flight. A message that may go later is deferred
        to then; one that may not go is skipped with the reason, or expired.
        """
        if campaign is None:
            return list(rows), []
        caps = {
            r.id: caps_in_force(
                campaign.policy,
                kind=r.kind or "notification",
                channel=r.channel,
                tags=campaign.tags,
                test=r.test,
            )
            for r in rows
        }
        history: dict[str, list[SentRecord]] = {}
        since = history_since([c for found in caps.values() for c in found], now)
        if since is not None:
            addresses = sorted({r.recipient for r in rows if caps[r.id]})
            rows_found = await self._db(
                self.store.history, addresses, since=since, pending=IN_FLIGHT
            )
            history = sent_records(rows_found)
        go: list[MessageRow] = []
        held: list[Change] = []
        for row in rows:
            zone_name, region = _zone_and_region(row, campaign.policy.time_zone)
            mine = history.setdefault(row.recipient, []) if caps[row.id] else []
            when = at_send(
                campaign,
                now=now,
                channel=row.channel,
                kind=row.kind or "notification",
                zone_name=zone_name,
                region=region,
                expires_at=row.expires_at,
                history=mine,
                test=row.test,
            )
            if when.at == now:
                go.append(row)
                if caps[row.id]:
                    mine.append(SentRecord(at=now, channel=row.channel, tags=campaign.tags))
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
        requests, results = self._build(name, provider, batch)
        bucket = self._provider_bucket(name, provider)
        for sent in requests:
            if bucket is not None:
                await bucket.take(1)
            results.extend(await self._perform(name, provider, sent))
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
        provider: Provider,
        campaign: Campaign | None,
        rows: Mapping[str, MessageRow],
        results: Sequence[SendResult],
    ) -> None:
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
            sending = attrs.evolve(row, state=MessageState.SENDING)  # marked before it left
            context = self._context(row, retry_at=retry_at)
            change = decide(sending, observed, context=context, now=now)
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
                self._last_housekeeping = None  # release the fallback at the next pass
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
        await self._db(self.store.apply, changes, now=now, worker=self.worker)
        if suppress:
            await self._db(self.store.suppress, suppress, now=now)
        if account_error is not None and campaign is not None:
            await self._stop_campaign(campaign.id, str(account_error))

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

    # --- housekeeping ------------------------------------------------------------------

    async def housekeeping(self, *, force: bool = False) -> None:
        """Expire, recover from dead workers, reconcile, fall back, poll, finish."""
        now = self.clock.now()
        last = self._last_housekeeping
        if (
            not force
            and last is not None
            and ((now - last).total_seconds() < self.settings.housekeeping_every)
        ):
            return
        self._last_housekeeping = now
        if self.runner is not None:
            await self._db(self.runner.tick, now=now)
        await self._expire(now)
        await self._recover(now)
        await self._reconcile(now)
        await self._fallbacks(now)
        await self._poll(now)
        await self._finish(now)

    async def _expire(self, now: datetime) -> None:
        ids = await self._db(self.store.expirable, now=now)
        if ids:
            over = Elapsed(timer=Timer.VALIDITY)
            changes = [
                self._decide(MessageStatus(id=i, state=MessageState.PLANNED), over, now)
                for i in ids
            ]
            done = await self._db(self.store.apply, changes, now=now)
            self.stats.expired += sum(r.applied for r in done)

    async def _recover(self, now: datetime) -> None:
        holders = await self._db(self.store.holders)
        dead = dead_local_workers([h for h in holders if h != self.worker])
        over = Elapsed(timer=Timer.LEASE)
        queued = await self._db(self.store.stale, MessageState.QUEUED, now=now, dead=dead)
        if queued:
            await self._db(self.store.apply, [self._decide(r, over, now) for r in queued], now=now)
        sending = await self._db(self.store.stale, MessageState.SENDING, now=now, dead=dead)
        if sending:
            log.warning("%d messages were being sent by a worker that died", len(sending))
            await self._db(self.store.apply, [self._decide(r, over, now) for r in sending], now=now)
            self.stats.unknown += len(sending)

    async def _reconcile(self, now: datetime) -> None:
        rows = await self._db(self.store.to_reconcile, now=now)
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
        statuses = await asyncio.gather(*(self._status(row, p) for row, p in queries))
        for (row, _), status in zip(queries, statuses, strict=True):
            polled[row.id] = status
        changes = []
        for row in rows:
            campaign = await self._campaign(row.campaign_id)
            context = self._context(row, campaign=campaign)
            change = decide(row, polled[row.id], context=context, now=now)
            changes.append(change)
            if change.event is MessageEvent.RESEND:
                self.stats.resent += 1
            elif change.event is not None:
                self.stats.reconciled += 1
            if Followup.FALL_BACK in change.followups or Followup.CANCEL_FALLBACK in (
                change.followups
            ):
                self._last_housekeeping = None
        await self._db(self.store.apply, changes, now=now)

    async def _status(self, row: MessageRow, provider: Provider) -> Polled:
        """Ask the provider about a message, as an observation (never raises)."""
        request = provider.build_status(row, row.sent_at or self.clock.now())
        if request is None:
            return Polled(status=PolledStatus.NO_QUERY)
        try:
            async with self._semaphore:
                response = await self._transport(row.provider or "").send(request)
            status = provider.parse_status(row, response)
        except Exception:
            log.warning("status query for %s failed; will ask again", row.id, exc_info=True)
            return Polled(status=PolledStatus.QUERY_FAILED)
        return polled_of(status)

    async def _fallbacks(self, now: datetime) -> None:
        due = await self._db(self.store.fallback_due, now=now)
        if not due:
            return
        changes: list[Change] = []
        over = Elapsed(timer=Timer.FALLBACK_WAIT)
        for parent_id, parent_state, child_id in due:
            parent = MessageStatus(id=parent_id, state=parent_state)
            change = self._decide(parent, over, now)
            if Followup.CANCEL_FALLBACK in change.followups:
                changes.append(_skip(child_id, "the first message was delivered"))
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

    async def _poll(self, now: datetime) -> None:
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
            *(self._status(row, self.providers[row.provider or ""]) for row in rows)
        )
        changes = []
        for row, status in zip(rows, statuses, strict=True):
            change = self._decide(row, status, now)
            changes.append(change)
            self.stats.delivered += change.event is MessageEvent.DELIVER
            if Followup.CANCEL_FALLBACK in change.followups:
                self._last_housekeeping = None
        await self._db(self.store.apply, changes, now=now)

    async def _finish(self, now: datetime) -> None:
        for campaign in await self._db(self.store.running_campaigns):
            if campaign.status is not CampaignStatus.RUNNING:
                continue
            if campaign.kind is CampaignKind.TRIGGERED:
                continue
            if await self._db(self.store.unsettled, campaign.id) == 0:
                finished = campaign.apply(CampaignEvent.FINISH)
                await self._db(self.store.save_campaign, finished, now=now)
                self._campaigns[campaign.id] = finished
                self.stats.campaigns_finished.append(campaign.id)
                log.info("campaign %s finished", campaign.id)


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


def _skip(message_id: str, detail: str) -> Change:
    return Change(
        message_id=message_id,
        event=MessageEvent.SKIP,
        fields={"reason": "cancelled"},
        detail=detail,
    )


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
