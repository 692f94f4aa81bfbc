"""Planning campaigns into the outbox: starting, resuming, scheduled starts, triggers.

`CampaignRunner` is where the pure planner (`msgkit.core.planning`) meets the store: it
streams a campaign's stored audience with each chunk's send history, hands the planner
the provider's limits as a `Route`, and writes what comes out in batches. Writing is
idempotent (one row per idempotency key), so initializing again after a crash or a
stop plans nobody twice.

A campaign with a fallback is planned in one pass for both steps: the fallback message
of each recipient is written with its parent and waits until the engine releases or
cancels it.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from msgkit.core.campaigns import Campaign, CampaignEvent, CampaignStatus
from msgkit.core.contacts import Contact
from msgkit.core.delivery import Channel
from msgkit.core.fatigue import SentRecord, history_since
from msgkit.core.optout import SuppressionKey
from msgkit.core.planning import (
    PlanItem,
    PlannedMessage,
    PlanSummary,
    Route,
    Skip,
    message_id,
    plan,
    plan_one,
    plan_tests,
)
from msgkit.core.segments import Audience
from msgkit.core.templates import Template
from msgkit.exceptions import ConfigError
from msgkit.providers.base import Provider
from msgkit.store.base import InsertResult
from msgkit.store.sql import SQLStore

__all__ = ["CampaignRunner", "InitResult"]

log = logging.getLogger("msgkit.engine")

_BATCH = 1000
#: An initializing campaign not touched for this long was left by a dead process.
STALE_INIT = timedelta(minutes=2)


@attrs.frozen(kw_only=True)
class InitResult:
    """What planning a campaign wrote.

    Attributes:
        summary: Recipients, skips by reason, segments, cost, send times (step 0).
        written: Rows written (both steps).
        already: Rows that were in the outbox already (a resumed or repeated start).
        fallbacks: Fallback messages planned (they wait for their parent).
    """

    summary: PlanSummary
    written: int
    already: int
    fallbacks: int


def _address(contact: Contact, channel: Channel) -> str | None:
    if channel is Channel.WEBCHAT:
        return contact.key
    return contact.phone.e164 if contact.phone else None


class CampaignRunner:
    """Plans campaigns into the outbox of ``store``.

    Args:
        store: The outbox.
        providers: Configured providers, for their limits (`Route`).
        default_provider: The provider of campaigns that name none.
    """

    def __init__(
        self,
        store: SQLStore,
        providers: Mapping[str, Provider],
        *,
        default_provider: str | None = None,
    ) -> None:
        self.store = store
        self.providers = dict(providers)
        self.default_provider = default_provider

    # --- routes -------------------------------------------------------------------

    def route(
        self, channel: Channel, provider: str | None, sender: str | None, *, check: bool = True
    ) -> Route:
        """The route of one step: the provider's limits as plain data.

        Raises:
            ConfigError: With ``check``, when the provider is not configured or serves
                another channel.
        """
        name = provider or self.default_provider
        found = self.providers.get(name or "")
        if found is None:
            if check:
                raise ConfigError(
                    f"no provider named {name!r} is configured",
                    key="provider",
                    hint="configured: " + (", ".join(sorted(self.providers)) or "none"),
                )
            return Route(channel=channel, provider=name, sender=sender)
        caps = found.capabilities
        if check and caps.channel is not channel:
            raise ConfigError(
                f"provider {name!r} sends {caps.channel.value}, not {channel.value}",
                key="provider",
                hint=f"pick a {channel.value} provider for this step",
            )
        return Route(
            channel=channel,
            provider=name,
            sender=sender,
            scheme=caps.scheme,
            content=caps.content,
            max_text=caps.max_text,
            regions=caps.regions,
        )

    def routes(self, campaign: Campaign, *, check: bool = True) -> tuple[Route, Route | None]:
        """The routes of the main step and of the fallback step (if any)."""
        main = self.route(campaign.channel, campaign.provider, campaign.sender, check=check)
        fallback = campaign.fallback
        if fallback is None:
            return main, None
        return main, self.route(fallback.channel, fallback.provider, fallback.sender, check=check)

    # --- audiences ----------------------------------------------------------------------

    def _contacts(self, audience: Audience) -> Iterator[list[Contact]]:
        for list_id in audience.lists:
            yield from self.store.iter_contacts(list_id, chunk=_BATCH)

    def _resolve(self, campaign: Campaign, now: datetime) -> Campaign:
        audience = campaign.audience
        if audience is None or not audience.needs_cut:
            return campaign
        assert audience.split is not None
        assert audience.part is not None
        keys = (
            c.key
            for chunk in self._contacts(audience)
            for c in chunk
            if audience.in_segment(c, now=now)
        )
        cut = audience.split.cut(audience.part, keys)
        return attrs.evolve(campaign, audience=attrs.evolve(audience, cut=cut))

    def _with_history(
        self, campaign: Campaign, now: datetime
    ) -> Iterator[tuple[Contact, Sequence[SentRecord]]]:
        audience = campaign.audience
        if audience is None:
            return
        since = history_since(campaign.policy.caps, now)
        for everyone in self._contacts(audience):
            # The segment and split part are applied here, before the history is read
            # (the planner gets the members only).
            chunk = [c for c in everyone if audience.matches(c, now=now)]
            history: dict[str, list[SentRecord]] = {}
            if since is not None:
                addresses = [a for c in chunk if (a := _address(c, campaign.channel))]
                for found, rows in self.store.history(addresses, since=since).items():
                    history[found] = [
                        SentRecord(at=at, channel=channel, tags=tags)
                        for channel, at, _, _, tags in rows
                    ]
            for contact in chunk:
                yield contact, history.get(_address(contact, campaign.channel) or "", ())

    def _suppression(self, routes: Iterable[Route | None]) -> frozenset[SuppressionKey]:
        scopes = {"*"}
        for route in routes:
            if route is None:
                continue
            scopes.add(route.channel.value)
            if route.sender:
                scopes.add(f"{route.channel.value}/{route.sender}")
        return self.store.suppression_set(sorted(scopes))

    # --- planning -------------------------------------------------------------------------

    def estimate(self, campaign: Campaign, *, now: datetime) -> PlanSummary:
        """How many would receive the campaign and what it would cost, writing nothing."""
        main, _ = self.routes(campaign, check=False)
        campaign = self._resolve(campaign, now)
        summary = PlanSummary()
        for item in self._plan(campaign, self._with_history(campaign, now), main, now=now, step=0):
            summary.add(item)
        return summary

    def _plan(
        self,
        campaign: Campaign,
        audience_items: Iterable[tuple[Contact, Sequence[SentRecord]]],
        route: Route,
        *,
        now: datetime,
        step: int,
        template: Template | None = None,
        suppression: frozenset[SuppressionKey] = frozenset(),
    ) -> Iterator[PlanItem]:
        audience = campaign.audience
        return plan(
            campaign,
            audience_items,
            now=now,
            route=route,
            suppression=suppression,
            control=audience.control if audience else None,
            start=campaign.started_at or campaign.send_at or now,
            step=step,
            template=template,
        )

    def initialize(self, campaign: Campaign, *, now: datetime) -> InitResult:
        """Plan the whole audience into the outbox (idempotently) and register links.

        The campaign should be ``initializing``; it is saved now and then while planning
        so other workers can tell a live initialization from an abandoned one.
        """
        main, fallback_route = self.routes(campaign)
        campaign = self._resolve(campaign, now)
        suppression = self._suppression([main, fallback_route])
        self._save_links(campaign)
        summary = PlanSummary()
        written = InsertResult()
        fallbacks = 0
        # Both steps read one stream of the audience in lockstep (each yields one item per
        # member), so the store is read once and tee buffers a single item.
        audience = self._with_history(campaign, now)
        for_fallback: Iterable[tuple[Contact, Sequence[SentRecord]]] = ()
        if campaign.fallback is not None:
            audience, for_fallback = itertools.tee(audience)
        first = summary.track(
            self._plan(campaign, audience, main, now=now, step=0, suppression=suppression)
        )
        extra: dict[str, Any] = {}
        if campaign.fallback is not None and fallback_route is not None:
            extra["fallback_wait"] = campaign.fallback.wait.total_seconds()
            second = self._plan(
                campaign,
                for_fallback,
                fallback_route,
                now=now,
                step=1,
                template=campaign.fallback.template,
                suppression=suppression,
            )
            pairs: Iterator[tuple[PlanItem, PlanItem | None]] = zip(first, second, strict=True)
        else:
            pairs = ((item, None) for item in first)
        for index, batch in enumerate(_batched(pairs, _BATCH)):
            parents_items = [p for p, _ in batch]
            written = written + self.store.insert_messages(
                parents_items, now=now, payload_extra=extra
            )
            children = [c for _, c in batch if c is not None]
            if children:
                # The parent's id comes from the paired parent item (a skipped parent
                # is stored under the id of its key): the two steps may address the
                # contact differently (a web chat visitor key, a phone number).
                parents = {c.key: _item_id(p) for p, c in batch if isinstance(c, PlannedMessage)}
                fallbacks += len(parents)
                written = written + self.store.insert_messages(children, now=now, parents=parents)
            if index % 20 == 19:
                self.store.save_campaign(campaign, now=now)  # still alive
        return InitResult(
            summary=summary,
            written=written.inserted,
            already=written.duplicates,
            fallbacks=fallbacks,
        )

    def _save_links(self, campaign: Campaign) -> None:
        links = campaign.policy.links
        templates = [campaign.template]
        if campaign.fallback is not None:
            templates.append(campaign.fallback.template)
        if links is None:
            return
        rows = {
            link.code: (link.name, link.target)
            for template in templates
            if template is not None
            for link in links.links_for(campaign.id, template)
        }
        if rows:
            self.store.save_links(campaign.id, rows)

    def start(self, campaign: Campaign, *, now: datetime) -> tuple[Campaign, InitResult]:
        """Start (or resume) a campaign: initializing, plan, running. Returns both."""
        event = CampaignEvent.START
        if campaign.status is CampaignStatus.STOPPED:
            event = CampaignEvent.RESUME
        if campaign.status is not CampaignStatus.INITIALIZING:
            campaign = campaign.apply(event)
        if campaign.started_at is None:
            campaign = attrs.evolve(campaign, started_at=now)
        campaign = self.store.save_campaign(campaign, now=now)
        try:
            result = self.initialize(campaign, now=now)
        except Exception as exc:
            # Planning refused the campaign (a template the channel does not allow, a
            # provider missing): stop it with the reason instead of leaving it half-made.
            self.store.save_campaign(campaign.apply(CampaignEvent.STOP, reason=str(exc)), now=now)
            raise
        running = self.store.save_campaign(campaign.apply(CampaignEvent.INITIALIZED), now=now)
        return running, result

    def test_send(self, campaign: Campaign, *, now: datetime, round: int = 1) -> list[PlanItem]:
        """Plan and write a test send to the campaign's test numbers."""
        main, _ = self.routes(campaign)
        items = list(
            plan_tests(
                campaign,
                now=now,
                route=main,
                suppression=self._suppression([main]),
                round=round,
            )
        )
        self._save_links(campaign)
        self.store.insert_messages(items, now=now, priority=True)
        return items

    def trigger(
        self,
        campaign: Campaign,
        contact: Contact,
        *,
        now: datetime,
        values: Mapping[str, object] | None = None,
        key: str | None = None,
    ) -> tuple[PlanItem, PlanItem | None]:
        """Plan and write one triggered message (and its waiting fallback)."""
        main, fallback_route = self.routes(campaign)
        address = _address(contact, campaign.channel)
        history: list[SentRecord] = []
        since = history_since(campaign.policy.caps, now)
        if since is not None and address:
            rows = self.store.history([address], since=since).get(address, [])
            history = [SentRecord(at=at, channel=ch, tags=tags) for ch, at, _, _, tags in rows]
        suppression = self._suppression([main, fallback_route])
        audience = campaign.audience
        first = plan_one(
            campaign,
            contact,
            now=now,
            history=history,
            route=main,
            suppression=suppression,
            control=audience.control if audience else None,
            values=values,
            start=now,
            trigger=key,
        )
        extra: dict[str, Any] = {}
        second: PlanItem | None = None
        if campaign.fallback is not None and fallback_route is not None:
            extra["fallback_wait"] = campaign.fallback.wait.total_seconds()
            second = plan_one(
                campaign,
                contact,
                now=now,
                history=history,
                route=fallback_route,
                suppression=suppression,
                values=values,
                start=now,
                step=1,
                template=campaign.fallback.template,
                trigger=key,
            )
        self._save_links(campaign)
        self.store.insert_messages([first], now=now, priority=True, payload_extra=extra)
        if isinstance(second, PlannedMessage) and isinstance(first, PlannedMessage):
            self.store.insert_messages(
                [second], now=now, priority=True, parents={second.key: first.id}
            )
        elif isinstance(second, Skip):
            self.store.insert_messages([second], now=now, priority=True)
        return first, second

    # --- the worker's part ------------------------------------------------------------------

    def tick(self, *, now: datetime) -> list[str]:
        """Start scheduled campaigns that are due, and finish abandoned initializations.

        Returns:
            The ids of the campaigns started or resumed.
        """
        started = []
        for campaign in self.store.due_campaigns(now=now, stale_before=now - STALE_INIT):
            try:
                self.start(campaign, now=now)
            except Exception:
                log.exception("campaign %s could not be started; it is stopped", campaign.id)
                continue
            started.append(campaign.id)
        return started


def _item_id(item: PlanItem) -> str:
    """The outbox id of a planned message or a skip."""
    return item.id if isinstance(item, PlannedMessage) else message_id(item.key)


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch
