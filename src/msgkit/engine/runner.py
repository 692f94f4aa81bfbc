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
from collections.abc import Container, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta

import attrs

from msgkit.core.campaigns import Campaign, CampaignEvent, CampaignStatus
from msgkit.core.contacts import Contact
from msgkit.core.delivery import Channel, MessageState
from msgkit.core.fatigue import SentRecord, history_since
from msgkit.core.optout import SuppressionKey
from msgkit.core.planning import (
    PlanItem,
    PlannedMessage,
    PlanSummary,
    Route,
    check_step,
    message_id,
    message_key,
    plan,
    plan_one,
    plan_tests,
)
from msgkit.core.pricing import Prices
from msgkit.core.rfm import needs_scores, with_scores
from msgkit.core.segments import Audience
from msgkit.core.templates import Template, check_variables
from msgkit.exceptions import ConfigError, NotFoundError, StoreError
from msgkit.providers.base import Provider
from msgkit.store.base import InsertResult, ListInfo
from msgkit.store.protocols import Store

__all__ = [
    "IN_FLIGHT",
    "PLANNED_OR_SENT",
    "CampaignRunner",
    "InitResult",
    "sent_records",
]

log = logging.getLogger("msgkit.engine")

_BATCH = 1000
#: Recipients planned per write: the store commits a bulk write in large transactions
#: (random-key indexes make small commits cost a page per row per index).
_WRITE = 20_000
#: An initializing campaign not touched for this long was left by a dead process.
STALE_INIT = timedelta(minutes=2)


@attrs.frozen(kw_only=True)
class InitResult:
    """What planning a campaign wrote.

    Attributes:
        summary: Recipients, skips by reason, segments, cost, send times (the first
            step; the fallback step in ``summary.fallback``): what `estimate` said.
        written: Rows written (both steps).
        already: Rows that were in the outbox already (a resumed or repeated start).
        fallbacks: Fallback messages planned (they wait for their parent).
    """

    summary: PlanSummary
    written: int
    already: int
    fallbacks: int


#: What counts toward frequency caps when planning: every message sent, and every
#: message of another campaign that is still to be sent (or may have been).
PLANNED_OR_SENT = (
    MessageState.PLANNED,
    MessageState.DEFERRED,
    MessageState.QUEUED,
    MessageState.SENDING,
    MessageState.UNKNOWN,
)
#: What counts just before sending: every message sent, and every one in flight.
IN_FLIGHT = (MessageState.SENDING, MessageState.UNKNOWN)

HistoryRows = Mapping[str, Sequence[tuple[str, datetime, str | None, str | None, tuple[str, ...]]]]


def sent_records(rows: HistoryRows) -> dict[str, list[SentRecord]]:
    """The store's history rows as the caps read them, per recipient."""
    return {
        recipient: [
            SentRecord(at=at, channel=channel, tags=tags) for channel, at, _, _, tags in found
        ]
        for recipient, found in rows.items()
    }


def _scopes(routes: Iterable[Route | None]) -> list[str]:
    """The suppression scopes that stop what these routes send."""
    scopes = {"*"}
    for route in routes:
        if route is None:
            continue
        scopes.add(route.channel.value)
        if route.sender:
            scopes.add(f"{route.channel.value}/{route.sender}")
    return sorted(scopes)


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
        prices: Prices by provider name, for the cost in plan summaries.
    """

    def __init__(
        self,
        store: Store,
        providers: Mapping[str, Provider],
        *,
        default_provider: str | None = None,
        prices: Mapping[str, Prices] | None = None,
    ) -> None:
        self.store = store
        self.providers = dict(providers)
        self.default_provider = default_provider
        self.prices = dict(prices or {})

    # --- routes -------------------------------------------------------------------

    def route(
        self, channel: Channel, provider: str | None, sender: str | None, *, check: bool = True
    ) -> Route:
        """The route of one step: the provider's limits and effective sender as plain data.

        The sender is the step's own, else the provider's default sender
        (``Capabilities.default_sender``): what the message goes out as, and what
        sender-scoped opt-outs are matched on.

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
        # The effective sender: a step that names none sends as the provider's default,
        # and opt-outs to that default must bind it (they are keyed on the sender).
        return Route(
            channel=channel,
            provider=name,
            sender=sender or caps.default_sender,
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
        """The campaign with what its audience needs a pass over the lists for: the
        quintiles of RFM segments (over the whole lists), then a count split's cut (over
        the segment). Both are kept on the audience, so a resumed start reuses them."""
        audience = campaign.audience
        if audience is None:
            return campaign
        if needs_scores(audience.segment):
            everyone = (c for chunk in self._contacts(audience) for c in chunk)
            segment = with_scores(audience.segment, everyone)
            audience = attrs.evolve(audience, segment=segment)
            campaign = attrs.evolve(campaign, audience=audience)
        if not audience.needs_cut:
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
                # What other campaigns have planned counts too, not only what was sent.
                addresses = [a for c in chunk if (a := _address(c, campaign.channel))]
                history = sent_records(
                    self.store.history(
                        addresses,
                        since=since,
                        pending=PLANNED_OR_SENT,
                        exclude_campaign=campaign.id,
                    )
                )
            for contact in chunk:
                yield contact, history.get(_address(contact, campaign.channel) or "", ())

    def _suppression(self, routes: Iterable[Route | None]) -> Container[SuppressionKey]:
        """The suppression list of what these routes send, for a plan."""
        return self.store.suppression_set(_scopes(routes))

    def _suppressed(
        self, address: str | None, routes: Iterable[Route | None]
    ) -> frozenset[SuppressionKey]:
        """The suppression entries of one address for these routes (one trigger: asked
        by its address, not by loading the whole list)."""
        if not address:
            return frozenset()
        found = self.store.suppressed(_scopes(routes), [address])
        return frozenset(SuppressionKey(scope, a) for scope, a in found)

    # --- checks -------------------------------------------------------------------------

    def with_list_ids(self, campaign: Campaign) -> Campaign:
        """The campaign with its audience's lists named by id (a list may be given by
        its name).

        Raises:
            NotFoundError: For a list that does not exist (or no longer does), naming the
                lists there are.
        """
        audience = campaign.audience
        if audience is None:
            return campaign
        ids = tuple(self._list(entry)["id"] for entry in audience.lists)
        if ids == audience.lists:
            return campaign
        return attrs.evolve(campaign, audience=attrs.evolve(audience, lists=ids))

    def _list(self, ident: str) -> ListInfo:
        try:
            return self.store.get_list(ident)
        except NotFoundError:
            names = [f"{x['name']} ({x['id']})" for x in self.store.list_lists()[:20]]
            raise NotFoundError(
                "list",
                ident,
                hint="the lists are: " + ", ".join(names) if names else "import a list first",
            ) from None

    def audience_variables(self, campaign: Campaign) -> frozenset[str] | None:
        """The variables the campaign's stored lists provide (their contacts'
        attributes), or None when some list does not declare its columns.

        Raises:
            NotFoundError: For a list that does not exist.
        """
        audience = campaign.audience
        if audience is None:
            return None
        names: set[str] = set()
        for list_id in audience.lists:
            declared = self._list(list_id).get("variables")
            if declared is None:
                return None
            names.update(declared)
        return frozenset(names)

    def check(self, campaign: Campaign, *, sending: bool = False) -> tuple[Route, Route | None]:
        """Refuse a campaign that cannot be planned as it is, before anything is written:
        a provider missing or of another channel, a list that does not exist, a template
        variable that no column of the audience provides; with ``sending``, also a
        template its channel refuses or that is not approved yet (a draft may wait for
        the review). Returns the routes of both steps.

        Raises:
            ConfigError: For the provider.
            NotFoundError: For a list of the audience that does not exist.
            MissingVariableError: Naming the variable, the columns there are, and the
                closest one.
            NotAllowedError: With ``sending``, for the template (see `check_step`).
        """
        routes = self.routes(campaign)
        main, fallback_route = routes
        if sending:
            check_step(campaign, main)
            if campaign.fallback is not None and fallback_route is not None:
                check_step(campaign, fallback_route, campaign.fallback.template)
        available = self.audience_variables(campaign)
        if available is not None:
            if campaign.template is not None:
                check_variables(campaign.template, available)
            if campaign.fallback is not None:
                check_variables(campaign.fallback.template, available, what="the fallback template")
        return routes

    # --- planning -------------------------------------------------------------------------

    def pipeline(
        self, campaign: Campaign, *, now: datetime
    ) -> tuple[Campaign, PlanSummary, Iterator[tuple[PlanItem, PlanItem | None]]]:
        """The one planning pipeline of `estimate` and `initialize`, writing nothing.

        Checks the campaign (`check`), resolves its split, reads the suppression list of
        both steps' routes, and plans both steps over one read of the audience (with each
        chunk's send history). The summary counts the pairs as they are consumed; the
        fallback step is counted in ``summary.fallback``.

        Returns:
            The campaign (its split resolved), the summary (complete once the pairs are
            consumed), and the pairs ``(main item, fallback item or None)``, one per
            member of the audience, in order.
        """
        campaign = self.with_list_ids(campaign)  # one stored by an older msgkit may name lists
        main, fallback_route = self.check(campaign, sending=True)
        campaign = self._resolve(campaign, now)
        suppression = self._suppression([main, fallback_route])
        summary = PlanSummary(prices=self.prices.get(main.provider or ""))
        # Both steps read one stream of the audience in lockstep (each yields one item per
        # member), so the store is read once and tee buffers a single item.
        audience = self._with_history(campaign, now)
        for_fallback: Iterable[tuple[Contact, Sequence[SentRecord]]] = ()
        if campaign.fallback is not None:
            audience, for_fallback = itertools.tee(audience)
        first = self._plan(campaign, audience, main, now=now, step=0, suppression=suppression)
        pairs: Iterator[tuple[PlanItem, PlanItem | None]]
        if campaign.fallback is not None and fallback_route is not None:
            summary.fallback = PlanSummary(prices=self.prices.get(fallback_route.provider or ""))
            second = self._plan(
                campaign,
                for_fallback,
                fallback_route,
                now=now,
                step=1,
                template=campaign.fallback.template,
                suppression=suppression,
            )
            pairs = zip(first, second, strict=True)
        else:
            pairs = ((item, None) for item in first)
        return campaign, summary, _counted(summary, pairs)

    def estimate(self, campaign: Campaign, *, now: datetime) -> PlanSummary:
        """What `initialize` would plan now, writing nothing: recipients, skips by
        reason, segments, cost (the fallback step in ``summary.fallback``).

        Raises:
            ConfigError: The provider of a step is missing or serves another channel.
            MissingVariableError: A template variable no column of the audience provides.
            NotAllowedError: The route does not allow the template.
        """
        _, summary, pairs = self.pipeline(campaign, now=now)
        for _ in pairs:
            pass
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
        suppression: Container[SuppressionKey] = frozenset(),
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
            digest_key=self.store.digest_key,
        )

    def initialize(self, campaign: Campaign, *, now: datetime) -> InitResult:
        """Plan the whole audience into the outbox (idempotently) and register links.

        The campaign should be ``initializing``; it is saved now and then while planning
        so other workers can tell a live initialization from an abandoned one.
        """
        return self._initialize(campaign, now=now)[1]

    def _initialize(self, campaign: Campaign, *, now: datetime) -> tuple[Campaign, InitResult]:
        """`initialize`, returning the campaign as planned too (its audience's split cut
        and RFM quintiles resolved, to be kept: a resume plans the same people)."""
        campaign, summary, pairs = self.pipeline(campaign, now=now)
        self._save_links(campaign)
        written = InsertResult()
        fallbacks = 0
        wait = campaign.fallback.wait if campaign.fallback is not None else None
        remaining = iter(pairs)
        taken = _WRITE

        def linked() -> Iterator[PlanItem]:
            # One batch of recipients, streamed to the store (each message next to its
            # fallback): nothing of a batch is held but the rows being written.
            nonlocal fallbacks, taken
            taken = 0
            for pair in itertools.islice(remaining, _WRITE):
                taken += 1
                first, second = _linked(*pair, wait)
                yield first
                if second is not None:
                    fallbacks += isinstance(second, PlannedMessage)
                    yield second

        while taken == _WRITE:  # a full batch: there may be more
            written = written + self.store.insert_messages(linked(), now=now)
            if taken == _WRITE:
                self.store.save_campaign(campaign, now=now)  # still alive
        return campaign, InitResult(
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
            planned, result = self._initialize(campaign, now=now)
        except Exception as exc:
            # Planning refused the campaign (a template the channel does not allow, a
            # provider missing): stop it with the reason instead of leaving it half-made.
            self.store.save_campaign(campaign.apply(CampaignEvent.STOP, reason=str(exc)), now=now)
            raise
        running = self.store.save_campaign(planned.apply(CampaignEvent.INITIALIZED), now=now)
        return running, result

    def test_send(self, campaign: Campaign, *, now: datetime, round: int = 1) -> list[PlanItem]:
        """Plan and write a test send to the campaign's test numbers.

        Raises:
            ConfigError: When the campaign's policy has no test numbers.
        """
        if not campaign.policy.test_numbers:
            raise ConfigError(
                f"campaign {campaign.name!r} has no test numbers to send a test to",
                key="test_numbers",
                hint="give them in its policy: SendPolicy(test_numbers=['+886912345678']) "
                "(client.edit(campaign, policy=...))",
            )
        main, _ = self.routes(campaign)
        items = list(
            plan_tests(
                campaign,
                now=now,
                route=main,
                suppression=self._suppression([main]),
                round=round,
                digest_key=self.store.digest_key,
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
            digest_key = self.store.digest_key
            this = message_id(
                message_key(campaign.id, address, 0, trigger=key, digest_key=digest_key)
            )
            rows = self.store.history(
                [address], since=since, pending=PLANNED_OR_SENT, exclude_ids=[this]
            )
            history = sent_records(rows).get(address, [])
        suppression = self._suppressed(address, [main, fallback_route])
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
            digest_key=self.store.digest_key,
        )
        second: PlanItem | None = None
        wait: timedelta | None = None
        if campaign.fallback is not None and fallback_route is not None:
            wait = campaign.fallback.wait
            second = plan_one(
                campaign,
                contact,
                now=now,
                history=history,
                route=fallback_route,
                suppression=suppression,
                control=audience.control if audience else None,
                values=values,
                start=now,
                step=1,
                template=campaign.fallback.template,
                trigger=key,
                digest_key=self.store.digest_key,
            )
        self._save_links(campaign)
        first, second = _linked(first, second, wait)
        self.store.insert_messages([first], now=now, priority=True)
        if second is not None:
            # As in a bulk plan: the fallback waits for its parent, a skipped one
            # included (stored under its key's id), which releases it.
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
            except StoreError:
                raise  # the store failed, not the campaign: the run stops and says so
            except Exception:
                log.exception("campaign %s could not be started; it is stopped", campaign.id)
                continue
            started.append(campaign.id)
        return started


def _counted(
    summary: PlanSummary, pairs: Iterable[tuple[PlanItem, PlanItem | None]]
) -> Iterator[tuple[PlanItem, PlanItem | None]]:
    for first, second in pairs:
        summary.add(first)
        if second is not None:
            summary.add(second)
        yield first, second


def _item_id(item: PlanItem) -> str:
    """The outbox id of a planned message or a skip."""
    return item.id if isinstance(item, PlannedMessage) else message_id(item.key)


def _linked(
    parent: PlanItem, child: PlanItem | None, wait: timedelta | None
) -> tuple[PlanItem, PlanItem | None]:
    """A message and its fallback, linked: the parent carries the fallback's wait, the
    child its parent's id (a skipped parent's is the id of its key: the two steps may
    address the contact differently, a web chat visitor key and a phone number)."""
    if wait is not None and isinstance(parent, PlannedMessage):
        parent = attrs.evolve(parent, fallback_wait=wait)
    if isinstance(child, PlannedMessage):
        child = attrs.evolve(child, parent_id=_item_id(parent))
    return parent, child
