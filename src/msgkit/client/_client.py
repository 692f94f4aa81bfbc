"""`Client`: campaigns, lists and sending, synchronously.

Built from the configuration by `msgkit.client._config`; see `msgkit.client` for an
example.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

import attrs

from msgkit.client._config import (
    dispatcher_settings,
    load_config,
    make_prices,
    make_providers,
    phone_cipher,
)
from msgkit.client._inprocess import feed_inbound, transports
from msgkit.client._progress import ProgressBar, in_notebook
from msgkit.core import html
from msgkit.core.access import Actor, AllowAll, PermissionPolicy
from msgkit.core.campaigns import Campaign, CampaignEvent, CampaignKind, Fallback
from msgkit.core.contacts import Contact, PhoneCipher
from msgkit.core.delivery import Channel, MessageState
from msgkit.core.planning import PlanItem, PlannedMessage, PlanSummary, plan
from msgkit.core.policy import SendPolicy
from msgkit.core.preview import MessagePreview
from msgkit.core.pricing import Balance, Prices, shortfall
from msgkit.core.segments import Audience, ControlGroup
from msgkit.core.templates import Template
from msgkit.engine.clock import Clock, SystemClock
from msgkit.engine.dispatcher import (
    Dispatcher,
    DispatcherSettings,
    RunStats,
    dead_local_workers,
    new_worker_id,
)
from msgkit.engine.runner import CampaignRunner, InitResult
from msgkit.engine.sync import run_sync
from msgkit.engine.transport import Transport
from msgkit.exceptions import (
    AccountError,
    ConfigError,
    InvalidTransitionError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
)
from msgkit.inbound.app import Endpoint, InboundApp
from msgkit.inbound.sink import StoreSink
from msgkit.io import ColumnMapping, ContactImport, ImportSummary, import_contacts
from msgkit.providers.base import KeyedIds, Provider
from msgkit.reports import SEGMENT_STATES, Report, build_report
from msgkit.store import Store, open_store
from msgkit.store.base import AuditEntry, ListInfo, MessageRow, Progress, StoredReply

__all__ = ["Client", "ImportedList"]

log = logging.getLogger("msgkit.client")

#: How many contacts an imported list keeps to show (`ImportedList.preview`).
PREVIEW_ROWS = 5


@attrs.frozen(kw_only=True)
class ImportedList:
    """A recipient list written to the store.

    Attributes:
        id: Its id (for `Audience` and ``audience=``).
        name: Its name.
        summary: Rows read, imported and rejected, by reason.
        preview: The first contacts imported (five at most), to look at.

    The rejected rows stay in the import's temporary file (on disk past 1 MiB) until
    asked for: `rejections_csv` reads them as one string, `write_rejections_csv`
    copies them to a file a chunk at a time.
    """

    id: str
    name: str
    summary: ImportSummary
    preview: tuple[Contact, ...] = attrs.field(default=(), repr=False)
    _job: ContactImport = attrs.field(repr=False, eq=False, alias="job")

    @property
    def rejections_csv(self) -> str:
        """The rejected rows as CSV text, to hand back to whoever sent the file (cells a
        spreadsheet would run as formulas are written after a ``'``)."""
        return self._job.rejections_csv()

    def write_rejections_csv(self, target: IO[str]) -> None:
        """Write `rejections_csv` to a text file (open it with ``newline=""``), a chunk
        at a time."""
        self._job.write_rejections_csv(target)

    @property
    def blanked_cells_csv(self) -> str:
        """With ``on_bad_value="blank_cell"``, the cells left empty in imported contacts,
        as CSV text: row, column, reason, detail."""
        return self._job.blanked_cells_csv()

    def __str__(self) -> str:
        return f"list {self.name!r} ({self.id})\n{self.summary}"

    def _repr_html_(self) -> str:
        """The first rows (phones masked), the row count and the rejects, in HTML."""
        summary = self.summary
        counts: list[tuple[object, object]] = [
            ("rows", f"{summary.rows:,}"),
            ("imported", f"{summary.accepted:,}"),
            ("rejected", f"{summary.rejected:,}"),
        ]
        for reason, n in sorted(summary.by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
            counts.append((f"rejected: {reason}", f"{n:,}"))
        names = sorted({name for c in self.preview for name in c.attributes})
        rows = [
            [c.phone.masked if c.phone else c.key, *(c.attributes.get(n, "") for n in names)]
            for c in self.preview
        ]
        first = html.grid(["phone", *names], rows, title=f"first {len(rows)} rows")
        return html.table(counts, title=f"List {self.name} ({self.id})") + (first if rows else "")


def _actor(value: Actor | str | None) -> Actor:
    if value is None:
        return Actor(name=os.environ.get("USER") or "local")
    return value if isinstance(value, Actor) else Actor(name=value)


class Client:
    """Campaigns, lists and sending, synchronously.

    Args:
        store: A store URL (``sqlite:///msgkit.db``, ``memory://``), a path, or a
            store; default from the configuration, else ``./msgkit.db``.
        providers: Providers by name: adapters, or their settings as in
            ``msgkit.toml`` (``{"sms": {"type": "alibaba", ...}}``). Default: those
            of the configuration, else one in-process simulator named ``simulator``.
        config: A ``msgkit.toml`` path (or its parsed content).
        actor: Who acts (a name or an `Actor`); every operation is audited under it.
        permissions: Who may do what; default everyone may do everything.
        default_provider: The provider of campaigns that name none (default: the only
            one, or the first configured).
        clock: The clock (tests pass a `msgkit.engine.clock.FakeClock`).
        settings: How the dispatcher works (batch size, concurrency, retries...).
        transport: How HTTP requests are performed (default: a pooled httpx client;
            in-process simulators are reached without network).
        env: Where secrets are read from (default: the process environment).
        prices: Prices by provider name, for the cost of `estimate` and `start`: a
            `msgkit.Prices`, a number (the price everywhere), or a table as in
            ``msgkit.toml`` (``{"price": 0.045, "prices": {"TW": 0.04}, "currency":
            "USD"}``). They add to (and override) the prices of provider settings.
        phone_key: Keep phone numbers encrypted at rest with this key (URL-safe
            base64, from `msgkit.contacts.PhoneCipher.new_key`); default: the
            ``MSGKIT_PHONE_KEY`` environment variable (of ``env``), or the one
            ``phone_key_env`` in the configuration names. See docs/reliability.md.
    """

    def __init__(
        self,
        store: str | Path | Store | None = None,
        providers: Mapping[str, Provider | Mapping[str, Any]] | None = None,
        *,
        config: str | Path | Mapping[str, Any] | None = None,
        actor: Actor | str | None = None,
        permissions: PermissionPolicy | None = None,
        default_provider: str | None = None,
        clock: Clock | None = None,
        settings: DispatcherSettings | None = None,
        transport: Transport | None = None,
        env: Mapping[str, str] | None = None,
        prices: Mapping[str, Prices | Mapping[str, Any] | Decimal | float | str] | None = None,
        phone_key: PhoneCipher | str | None = None,
    ) -> None:
        cfg: Mapping[str, Any] = {}
        if isinstance(config, (str, Path)):
            cfg = load_config(config)
        elif config is not None:
            cfg = config
        self.clock: Clock = clock or SystemClock()
        given = store if store is not None else cfg.get("store")
        self.store = open_store(
            given,
            phone_key=phone_cipher(phone_key, cfg, env),
        )
        try:
            self.providers = make_providers(providers, cfg, env, self.clock)
            for provider in self.providers.values():
                if isinstance(provider, KeyedIds):
                    provider.digest_key = self.store.digest_key
            self.default_provider = (
                default_provider or cfg.get("default_provider") or next(iter(self.providers), None)
            )
            if self.default_provider is not None and self.default_provider not in self.providers:
                raise ConfigError(
                    f"default provider {self.default_provider!r} is not configured",
                    key="default_provider",
                    hint="configured: " + ", ".join(sorted(self.providers)),
                )
            self.actor = _actor(actor)
            self.permissions: PermissionPolicy = permissions or AllowAll()
            self.settings = settings or dispatcher_settings(cfg, self.providers)
            self._transport = transport
            self._inbound_seen: dict[str, int] = {}
            self.prices = make_prices(providers, cfg, prices, self.providers)
            self.runner = CampaignRunner(
                self.store,
                self.providers,
                default_provider=self.default_provider,
                prices=self.prices,
            )
            self._drop_abandoned_lists()
        except BaseException:
            # A store this client opened is closed again (its connections, a
            # PostgreSQL pool's threads); one handed in belongs to the caller.
            if given is None or isinstance(given, (str, Path)):
                self.store.close()
            raise

    def close(self) -> None:
        """Close the store."""
        self.store.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"Client(store={self.store.url!r}, providers={sorted(self.providers)!r}, "
            f"actor={self.actor.name!r})"
        )

    # --- permissions and audit ------------------------------------------------------------

    @contextlib.contextmanager
    def _audited(
        self, action: str, campaign: Campaign | None = None, target: str | None = None
    ) -> Iterator[None]:
        """Check the actor may do ``action``; audit it once it is done (or failed).

        A denied operation is audited as ``denied`` and raises; one that raises is
        audited as ``failed: <why>``; only one that completed is audited plainly.
        """
        target = target or (campaign.id if campaign else None)
        if not self.permissions.allows(self.actor, action, campaign):
            self._audit(action, target, "denied")
            raise PermissionDeniedError(self.actor.name, action)
        try:
            yield
        except Exception as exc:
            self._audit(action, target, f"failed: {exc}"[:500])
            raise
        self._audit(action, target, None)

    def _audit(self, action: str, target: str | None, detail: str | None) -> None:
        self.store.audit(
            actor=self.actor.name,
            action=action,
            target=target,
            detail=detail,
            now=self.clock.now(),
        )

    def as_actor(self, actor: Actor | str) -> Client:
        """This client acting as someone else (same store and providers)."""
        clone = object.__new__(Client)
        clone.__dict__.update(self.__dict__)
        clone.actor = _actor(actor)
        return clone

    # --- lists ------------------------------------------------------------------------

    def import_list(
        self,
        source: str | Path | bytes | IO[bytes],
        *,
        phone: str | None = None,
        mapping: ColumnMapping | None = None,
        variables: Mapping[str, str] | None = None,
        key: str | None = None,
        types: Mapping[str, str] | None = None,
        name: str | None = None,
        region: str | None = None,
        cipher: PhoneCipher | None = None,
        **options: Any,
    ) -> ImportedList:
        """Import a CSV or XLSX file into a stored list, in batches.

        Args:
            source: A path, the file's bytes, or a binary file object.
            phone: The phone column (or give ``mapping``).
            mapping: The full column mapping.
            variables: Template variable ← column, e.g. ``{"registration_date":
                "Registration Time"}``.
            key: The member-id column, if any.
            types: Column types (``"date"``, ``"int"``...).
            name: The list's name (default: the file name).
            region: The region of national numbers, e.g. ``"TW"``.
            cipher: Read the phone column as AES ciphertext with this key.
            options: More `msgkit.io.import_contacts` options (encoding, delimiter,
                sheet, max_bytes, time_zone, mobile_only, on_bad_value: ``"blank_cell"``
                keeps a contact whose optional cell is bad, without that cell).

        Returns:
            The stored list, with the import summary and the rejected rows as CSV.

        Raises:
            ImportFileError: When the file cannot be read, or a mapped column is missing.
        """
        if mapping is None:
            if phone is None:
                raise ConfigError(
                    "say which column holds the phone number",
                    key="phone",
                    hint='import_list(path, phone="Mobile")',
                )
            mapping = ColumnMapping(
                phone=phone, variables=variables or {}, key=key, types=types or {}
            )
        with (
            self._audited(
                "list.import", target=str(source) if isinstance(source, (str, Path)) else None
            ),
            import_contacts(source, mapping, region=region, cipher=cipher, **options) as job,
        ):
            list_name = name or (Path(source).name if isinstance(source, (str, Path)) else "list")
            with self._new_list(list_name, job.columns, variables=job.variables) as list_id:
                preview: tuple[Contact, ...] = ()
                for batch in job.batches(20_000):
                    preview = preview or tuple(batch[:PREVIEW_ROWS])
                    self.store.add_contacts(list_id, batch)
                self.store.add_rejections(
                    list_id,
                    # One at a time from the import's spool: never all in memory.
                    ((r.row, r.column, r.reason.value, r.detail) for r in job.iter_rejections()),
                )
            return ImportedList(
                id=list_id,
                name=list_name,
                summary=job.summary,
                preview=preview,
                job=job,
            )

    def create_list(self, name: str, contacts: Iterable[Contact]) -> str:
        """Store contacts given in code as a list; returns its id.

        Like `import_list`, all or nothing: when ``contacts`` raises, no list is left.
        The list provides, as template variables, every attribute name some contact
        carries: a campaign whose template needs another is refused.
        """
        names: set[str] = set()

        def noted() -> Iterator[Contact]:
            for contact in contacts:
                names.update(contact.attributes)
                yield contact

        with self._audited("list.import", target=name), self._new_list(name, ()) as list_id:
            self.store.add_contacts(list_id, noted())
            self.store.set_list_variables(list_id, names)
        return list_id

    @contextlib.contextmanager
    def _new_list(
        self, name: str, columns: Sequence[str], *, variables: Iterable[str] | None = None
    ) -> Iterator[str]:
        """A list written in batches but shown only when complete (all or nothing).

        It is created hidden, under this process's id; it is shown when the block ends,
        and removed when the block raises (or interrupted). A list hidden by a process
        that was killed is removed by the next client opened on its machine.
        """
        list_id = self.store.create_list(
            name,
            list(columns),
            now=self.clock.now(),
            importer=new_worker_id(),
            variables=variables,
        )
        try:
            yield list_id
        except BaseException:
            self.store.delete_list(list_id)
            raise
        self.store.finish_list(list_id)

    def _drop_abandoned_lists(self) -> None:
        """Remove the hidden leftovers of imports whose process died on this machine."""
        unfinished = dict(self.store.unfinished_lists())
        dead = set(dead_local_workers(list(unfinished.values())))
        for list_id, importer in unfinished.items():
            if importer in dead:
                with contextlib.suppress(LookupError):
                    self.store.delete_list(list_id)

    def lists(self) -> list[ListInfo]:
        """Stored lists: id, name, columns, variables (the attribute names its contacts
        carry, which templates may use), row and rejection counts."""
        return self.store.list_lists()

    def delete_list(self, list_id: str) -> None:
        """Remove a list and its rows."""
        with self._audited("list.delete", target=list_id):
            self.store.delete_list(list_id)

    # --- campaigns --------------------------------------------------------------------

    def campaign(self, ident: str | Campaign) -> Campaign:
        """A campaign by id or name (the stored, current version)."""
        return self.store.find_campaign(ident.id if isinstance(ident, Campaign) else ident)

    def campaigns(self) -> list[Campaign]:
        """Every campaign but deleted ones, oldest first."""
        return self.store.list_campaigns()

    def create_campaign(
        self,
        name: str,
        template: Template | str,
        *,
        audience: Audience | str | Sequence[str] | None = None,
        channel: Channel | str = Channel.SMS,
        provider: str | None = None,
        sender: str | None = None,
        kind: CampaignKind | str = CampaignKind.BULK,
        tags: Iterable[str] = (),
        send_at: datetime | None = None,
        policy: SendPolicy | None = None,
        fallback: Fallback | None = None,
        on_unknown: str = "mark_unknown",
    ) -> Campaign:
        """Create a campaign (a draft). See `Campaign` for the fields.

        ``audience`` is an `Audience`, or one or more stored list ids. With ``send_at``
        the campaign is created scheduled: a worker (`run`) starts it at that time, as
        if `schedule` had been called.

        Raises:
            ConfigError: The provider is not configured, or sends another channel.
            MissingVariableError: The template (or the fallback's) uses a variable that
                no column of the audience's lists provides; the error lists the columns
                and suggests the closest.
        """
        if isinstance(template, str):
            template = Template(body=template)
        if audience is not None and not isinstance(audience, Audience):
            audience = Audience(lists=audience)
        campaign = Campaign(
            name=name,
            template=template,
            audience=audience,
            channel=channel,
            provider=provider or self.default_provider,
            sender=sender,
            kind=kind,
            tags=tags,
            send_at=send_at,
            policy=policy or SendPolicy(),
            fallback=fallback,
            on_unknown=on_unknown,  # type: ignore[arg-type]
        )
        with self._audited("campaign.create", campaign):
            campaign = self.runner.with_list_ids(campaign)
            self.runner.check(campaign)  # a missing provider, list or variable fails now
            saved = self.store.save_campaign(campaign, now=self.clock.now())
        if send_at is not None:  # scheduling is starting: it asks for that permission too
            return self.schedule(saved, send_at)
        return saved

    def edit(self, campaign: Campaign | str, **changes: Any) -> Campaign:
        """Change a draft, scheduled or stopped campaign (not a running or finished one).

        Raises:
            InvalidTransitionError: For a campaign that cannot be edited now; a web-chat
                campaign is final once it started sending (see `Campaign.edit`).
        """
        current = self.campaign(campaign)
        with self._audited("campaign.edit", current):
            edited = self.runner.with_list_ids(current.edit(**changes))
            self.runner.check(edited)
            return self.store.save_campaign(edited, now=self.clock.now())

    def estimate(self, campaign: Campaign | str) -> PlanSummary:
        """What `start` would plan now, writing nothing: how many would receive it, who
        is skipped and why (``skipped`` by reason), segments, send times, and the cost
        from the configured prices (``cost``; None with ``unpriced`` naming the countries
        that have no price). The fallback step is counted in ``fallback``.

        It runs the very planning of `start` (same routes, suppression list, send
        history, control group, segment and fallback), so ``start(c).summary`` equals
        ``estimate(c)`` for the same data and time.

        Raises:
            ConfigError: The provider of a step is missing or serves another channel.
            MissingVariableError: A template variable no column of the audience provides
                (naming it, the columns there are and the closest one).
            NotAllowedError: The channel does not allow the template.
        """
        return self.runner.estimate(self.campaign(campaign), now=self.clock.now())

    def preview_message(
        self, campaign: Campaign | str, contact: Contact | None = None
    ) -> MessagePreview:
        """The message one recipient would get, rendered: by default the first member
        of the audience the campaign would send to; its fallback message too.

        In a notebook it shows as the channel draws it (SMS parts with their count and
        encoding, a LINE bubble, the web-chat widget with the agent's name); ``print``
        gives it as text. Nothing is written or sent.

        Args:
            campaign: The campaign (its id, name or the object).
            contact: Whom to render it for (their attributes fill the template);
                default: the first member of the audience that would receive it.

        Raises:
            NotFoundError: No member of the audience would receive it (all skipped).
            MissingVariableError: The contact lacks a variable the template uses.
        """
        current = self.campaign(campaign)
        now = self.clock.now()
        main, fallback_route = self.runner.routes(current)
        pairs: Iterable[tuple[PlanItem, PlanItem | None]]
        if contact is None:
            _, _, pairs = self.runner.pipeline(current, now=now)
        else:
            keyed = self.store.digest_key
            first = plan(current, [contact], now=now, route=main, start=now, digest_key=keyed)
            second: Iterable[PlanItem | None] = [None]
            if current.fallback is not None and fallback_route is not None:
                second = plan(
                    current,
                    [contact],
                    now=now,
                    route=fallback_route,
                    start=now,
                    step=1,
                    template=current.fallback.template,
                    digest_key=keyed,
                )
            pairs = zip(first, second, strict=True)
        for item, fallback in pairs:
            if not isinstance(item, PlannedMessage):
                continue
            after = None
            if isinstance(fallback, PlannedMessage) and fallback_route is not None:
                after = MessagePreview.of(fallback, scheme=fallback_route.scheme)
            return MessagePreview.of(item, scheme=main.scheme, fallback=after)
        raise NotFoundError(
            "message to preview",
            current.name,
            hint="no member of its audience would receive it (see estimate(campaign) "
            "for who is skipped and why), or pass contact=",
        )

    def start(self, campaign: Campaign | str, *, over_balance: bool = False) -> InitResult:
        """Start (or resume) a campaign now: plan its audience into the outbox.

        Where the provider of a step reports its balance (`balance`) and the estimated
        cost of the campaign (`estimate`, in the balance's currency; the fallback step's
        with its provider's) exceeds it, the campaign is refused: top up the account, or
        pass ``over_balance=True``. A provider that reports no balance, or a cost that is
        unknown (no prices, a country without one), never refuses.

        Args:
            campaign: The campaign (its id, name or the object).
            over_balance: Start even when the estimated cost exceeds the balance.

        Returns:
            What was planned: ``summary`` (recipients, skips by reason, segments, cost:
            what `estimate` said), rows written, fallbacks.

        Raises:
            AccountError: The estimated cost exceeds the provider's balance (saying both);
                the campaign is left as it was.
            MsgkitError: When the campaign cannot be planned as it is (a provider or list
                missing, a variable no column provides, a template its channel refuses or
                not approved yet); it is left as it was, to be fixed and started again.
        """
        current = self.campaign(campaign)
        with self._audited("campaign.start", current):
            self.runner.check(self.runner.with_list_ids(current), sending=True)
            if not over_balance:
                self._check_balance(current)
            _, result = self.runner.start(current, now=self.clock.now())
            return result

    def resume(self, campaign: Campaign | str, *, over_balance: bool = False) -> InitResult:
        """Resume a stopped campaign (what was sent is not sent again); the balance is
        checked as `start` does."""
        return self.start(campaign, over_balance=over_balance)

    def _check_balance(self, campaign: Campaign) -> None:
        """Refuse a campaign whose estimated cost exceeds its provider's balance.

        Raises:
            AccountError: Naming the cost, the balance and the fix.
            ProviderError: A balance query failed.
        """
        main, fallback = self.runner.routes(campaign)
        routes = [r for r in (main, fallback) if r is not None]
        # Only priced providers can have a known cost: ask no one else.
        names = sorted({r.provider for r in routes if r.provider and r.provider in self.prices})
        if not names:
            return
        balances = {n: b for n, b in self.balances(names).items() if b is not None}
        if not balances:
            return
        summary = self.runner.estimate(campaign, now=self.clock.now())
        costs: dict[str, Decimal] = {}
        currencies: dict[str, str | None] = {}
        for route, step in ((main, summary), (fallback, summary.fallback)):
            if route is None or step is None or step.cost is None or not route.provider:
                continue
            costs[route.provider] = costs.get(route.provider, Decimal(0)) + step.cost
            currencies[route.provider] = step.currency
        for name, balance in balances.items():
            cost = costs.get(name)
            missing = shortfall(cost, currencies.get(name), balance)
            if missing is None:
                continue
            raise AccountError(
                f"campaign {campaign.name!r} would cost about {cost} {balance.currency}, "
                f"more than the balance of {balance} (short by {missing})",
                provider=name,
                hint="top up the account, or start it anyway: "
                "start(campaign, over_balance=True) (msgkit start --over-balance)",
            )

    def balance(self, provider: str | None = None) -> Balance | None:
        """The balance a provider reports (default: the default provider).

        Asked through the engine's transport (an in-process simulator without network).

        Returns:
            The balance, or None when the provider cannot report one or reports none.

        Raises:
            ConfigError: No provider of that name is configured.
            ProviderError: The query failed (credentials, network).
        """
        name = provider or self.default_provider
        if name is None:
            raise ConfigError(
                "no provider is configured", key="providers", hint="configure a provider"
            )
        return self.balances([name])[name]

    def balances(self, providers: Iterable[str]) -> dict[str, Balance | None]:
        """The balance each of ``providers`` reports (None where it reports none), asked
        in one run of the engine's transport; see `balance`."""
        names = list(dict.fromkeys(providers))

        async def ask(stop: asyncio.Event) -> dict[str, Balance | None]:
            dispatcher = self.dispatcher()
            try:
                return {name: await dispatcher.balance(name) for name in names}
            finally:
                await dispatcher.aclose()

        return run_sync(ask)

    def schedule(self, campaign: Campaign | str, at: datetime) -> Campaign:
        """Schedule a draft to start at ``at`` (a worker starts it then)."""
        current = self.campaign(campaign)
        with self._audited("campaign.start", current):
            return self.store.save_campaign(current.schedule(at), now=self.clock.now())

    def unschedule(self, campaign: Campaign | str) -> Campaign:
        """Take a scheduled campaign back to a draft: it will not start at its time.

        Raises:
            InvalidTransitionError: When the campaign is not scheduled.
        """
        current = self.campaign(campaign)
        with self._audited("campaign.edit", current):
            draft = attrs.evolve(current.apply(CampaignEvent.UNSCHEDULE), send_at=None)
            return self.store.save_campaign(draft, now=self.clock.now())

    def stop(self, campaign: Campaign | str, *, reason: str | None = None) -> Campaign:
        """Stop: requests in flight finish, nothing new leaves."""
        current = self.campaign(campaign)
        with self._audited("campaign.stop", current):
            now = self.clock.now()
            stopped = self.store.save_campaign(
                current.apply(CampaignEvent.STOP, reason=reason), now=now
            )
            self.store.release_campaign(current.id, now=now)
            return stopped

    def enable(self, campaign: Campaign | str) -> Campaign:
        """Allow the campaign to start, resume and take triggers."""
        return self._event(campaign, CampaignEvent.ENABLE, "campaign.enable")

    def disable(self, campaign: Campaign | str) -> Campaign:
        """Keep the campaign from starting, resuming or taking triggers."""
        return self._event(campaign, CampaignEvent.DISABLE, "campaign.disable")

    def delete(self, campaign: Campaign | str) -> Campaign:
        """Delete a campaign that is not running; what was not sent is cancelled."""
        current = self.campaign(campaign)
        with self._audited("campaign.delete", current):
            now = self.clock.now()
            deleted = self.store.save_campaign(current.apply(CampaignEvent.DELETE), now=now)
            self.store.cancel_pending(current.id, now=now, detail="the campaign was deleted")
            return deleted

    def _event(self, campaign: Campaign | str, event: CampaignEvent, action: str) -> Campaign:
        current = self.campaign(campaign)
        with self._audited(action, current):
            return self.store.save_campaign(current.apply(event), now=self.clock.now())

    def send_test(self, campaign: Campaign | str, *, round: int = 1) -> list[PlanItem]:
        """Send the campaign to its policy's test numbers now (marked as tests)."""
        current = self.campaign(campaign)
        with self._audited("campaign.test", current):
            return self.runner.test_send(current, now=self.clock.now(), round=round)

    # --- scenarios and triggers -------------------------------------------------------------

    def define_scenario(
        self,
        name: str,
        template: Template | str,
        *,
        channel: Channel | str = Channel.SMS,
        provider: str | None = None,
        sender: str | None = None,
        fallback: Fallback | None = None,
        policy: SendPolicy | None = None,
        tags: Iterable[str] = (),
        control: ControlGroup | None = None,
    ) -> Campaign:
        """A named, reusable sending definition, ready for `trigger`.

        Defining it again replaces its definition (messages already sent stay theirs).

        Args:
            control: Hold out this share of the triggered contacts (recorded as skipped
                ``control_group``, not messaged), to compare with those who were sent
                it in `report`.
        """
        with self._audited("scenario.define", target=name):
            now = self.clock.now()
            try:
                campaign_id, _ = self.store.get_scenario(name)
                existing: Campaign | None = self.store.get_campaign(campaign_id)
            except LookupError:
                existing = None
            fields: dict[str, Any] = {
                "template": Template(body=template) if isinstance(template, str) else template,
                "channel": Channel(channel),
                "provider": provider or self.default_provider,
                "sender": sender,
                "fallback": fallback,
                "policy": policy or SendPolicy(),
                "tags": frozenset(tags) | {f"scenario:{name}"},
                "audience": None if control is None else Audience(control=control),
            }
            if existing is None:
                campaign = Campaign(name=name, kind=CampaignKind.TRIGGERED, **fields)
                campaign = campaign.apply(CampaignEvent.START).apply(CampaignEvent.INITIALIZED)
                campaign = attrs.evolve(campaign, started_at=now)
            else:
                campaign = attrs.evolve(existing, **fields)
            self.runner.routes(campaign)
            self.store.save_campaign(campaign, now=now)
            self.store.save_scenario(name, campaign.id, {"name": name}, now=now)
            return campaign

    def trigger(
        self,
        scenario: str,
        contact: Contact,
        values: Mapping[str, object] | None = None,
        *,
        key: str | None = None,
    ) -> PlanItem:
        """Send one message of a scenario to one contact (an order shipped, a code).

        Args:
            scenario: The scenario's name.
            contact: Who gets it.
            values: Values for the template's variables (the contact's attributes fill
                the rest).
            key: Makes the trigger idempotent: the same key sends once, however often
                it is triggered (e.g. ``f"order-{order.id}-shipped"``). Without it,
                every call is a new message.

        Returns:
            The planned message, or the skip with its reason.
        """
        campaign_id, _ = self.store.get_scenario(scenario)
        campaign = self.store.get_campaign(campaign_id)
        with self._audited("scenario.trigger", campaign):
            if not campaign.enabled:
                raise InvalidTransitionError("scenario", "disabled", "trigger", ("enable",))
            now = self.clock.now()
            first, _ = self.runner.trigger(
                campaign,
                contact,
                now=now,
                values=values,
                key=key or uuid.uuid4().hex,
            )
            return first

    def send_scenario(
        self,
        scenario: str,
        audience: Audience | str | Sequence[str],
        *,
        name: str | None = None,
        send_at: datetime | None = None,
    ) -> Campaign:
        """Feed a scenario a whole list: a bulk campaign with the scenario's definition.

        It is started at once, or scheduled for ``send_at``; it carries the scenario's
        ``scenario:NAME`` tag, so reports can group it with the triggered sends.
        """
        campaign_id, _ = self.store.get_scenario(scenario)
        definition = self.store.get_campaign(campaign_id)
        assert definition.template is not None
        campaign = self.create_campaign(
            name or f"{scenario} (list)",
            definition.template,
            audience=audience,
            channel=definition.channel,
            provider=definition.provider,
            sender=definition.sender,
            tags=definition.tags,
            policy=definition.policy,
            fallback=definition.fallback,
        )
        if send_at is not None:
            return self.schedule(campaign, send_at)
        self.start(campaign)
        return self.campaign(campaign.id)

    # --- replies --------------------------------------------------------------------------

    def replies(self, *, needs_review: bool | None = None, limit: int = 100) -> list[StoredReply]:
        """Stored replies, newest first; ``needs_review=True`` for possible opt-outs."""
        return self.store.replies(needs_review=needs_review, limit=limit)

    def answer_reply(self, reply_id: int, text: str) -> PlanItem:
        """Answer a reply: send ``text`` back through the channel and sender it came by.

        Returns:
            The planned answer (or the skip, e.g. when the number has opted out).
        """
        reply = self.store.get_reply(reply_id)
        with self._audited("reply.answer", target=str(reply_id)):
            channel, provider, sender = Channel.SMS, reply["provider"], None
            if reply["message_id"]:
                last = self.store.get_message(reply["message_id"])
                channel, provider = Channel(last.channel), last.provider
                sender = last.sender
            name = f"replies:{provider}:{sender or '-'}"
            try:
                self.store.get_scenario(name)
            except LookupError:
                self.define_scenario(
                    name,
                    Template(body="${text}"),
                    channel=channel,
                    provider=provider,
                    sender=sender,
                    policy=SendPolicy(validity=timedelta(hours=1)),
                )
            address = reply["sender"]
            contact = Contact(key=address) if channel is Channel.WEBCHAT else Contact(phone=address)
            item = self.trigger(name, contact, {"text": text}, key=f"reply-{reply_id}")
            self.store.answer_reply(reply_id, text, now=self.clock.now())
            return item

    def inbound_app(self, endpoints: Iterable[Endpoint], **options: Any) -> InboundApp:
        """The webhook ASGI application feeding this client's store.

        Receipts, replies (opt-outs included) and clicks that providers post to it
        change this client's messages, as `run` and `replies` then see them::

            app = client.inbound_app(endpoints_from_config(config["providers"]))
            # uvicorn mymodule:app

        Args:
            endpoints: The provider webhooks to serve (`msgkit.inbound.Endpoint`).
            options: More `msgkit.inbound.InboundApp` options (``hooks_path``,
                ``links_path``, ``max_body``).
        """
        sink = StoreSink(self.store, clock=self.clock.now)
        return InboundApp(sink, endpoints, clock=self.clock.now, **options)

    # --- sending ------------------------------------------------------------------------

    def dispatcher(self) -> Dispatcher:
        """A dispatcher for this client's store and providers (create it in the loop
        that runs it)."""
        return Dispatcher(
            self.store,
            self.providers,
            transport=transports(self.providers, self._transport),
            clock=self.clock,
            settings=self.settings,
            runner=self.runner,
        )

    async def _arun(
        self, until_idle: bool, progress: bool | None, stop: asyncio.Event | None = None
    ) -> RunStats:
        dispatcher = self.dispatcher()
        show = progress if progress is not None else (sys.stderr.isatty() or in_notebook())
        bar = ProgressBar(self.store) if show else None
        if bar is not None:
            dispatcher.on_step = bar.show
        try:
            stats = await dispatcher.run(until_idle=until_idle, stop=stop)
        finally:
            await dispatcher.aclose()
        # What in-process providers (the simulator) produced, as their webhooks would.
        sink = StoreSink(self.store, clock=self.clock.now)
        await feed_inbound(self.providers, sink, self._inbound_seen)
        if bar is not None:
            bar.show(dispatcher.stats, final=True)
        return stats

    def run(self, *, until_idle: bool = True, progress: bool | None = None) -> RunStats:
        """Send what is due, until nothing is due soon (or forever).

        Works from a plain script and from inside a running event loop (Jupyter).
        Interrupted there (KeyboardInterrupt), the engine stops first — requests in
        flight finish, claimed messages are given back for a later run, the progress
        bar stops — and then KeyboardInterrupt is raised.

        Args:
            until_idle: Return when nothing is due within the dispatcher's horizon;
                False runs until interrupted.
            progress: Show a progress bar; default when attached to a terminal or a
                notebook.
        """
        return run_sync(lambda stop: self._arun(until_idle, progress, stop))

    def progress(self, campaign: Campaign | str) -> Progress:
        """Counts by state; ``.percent`` done, ``.sent``, ``.pending``."""
        return self.store.progress(self.campaign(campaign).id)

    def messages(
        self,
        campaign: Campaign | str,
        *,
        states: Sequence[MessageState] | None = None,
        limit: int = 1000,
    ) -> list[MessageRow]:
        """The campaign's messages (numbers masked in their reprs)."""
        return self.store.messages(
            campaign_id=self.campaign(campaign).id, states=states, limit=limit
        )

    def clicks(self, campaign: Campaign | str, *, limit: int = 1000) -> list[dict[str, Any]]:
        """The clicks on the campaign's short links, oldest first.

        Each is attributed through its per-recipient tracking parameter: ``at``,
        ``link`` (the link's name in the template), ``code``, ``param``, and the
        ``message_id``, ``contact_key`` and ``recipient`` of the message it came from
        (None when the parameter matched none, e.g. a link shared without one).
        """
        return self.store.click_log(self.campaign(campaign).id, limit=limit)

    def report(
        self,
        campaign: Campaign | str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Report:
        """What became of a campaign: planned, skipped by reason, sent, delivered,
        undelivered, failed by code, expired, unknown, fallen back, clicks, replies,
        opt-outs, segments and cost, by trigger date and by channel, and the control
        group against the treated (`msgkit.reports.Report`).

        Args:
            campaign: The campaign (or scenario), by id or name.
            since: Count the triggers from this time on (aware).
            until: Count the triggers before this time (aware).
        """
        current = self.campaign(campaign)
        provider = current.provider or self.default_provider
        balance = None
        if provider is not None and provider in self.providers:
            try:
                balance = self.balance(provider)
            except ProviderError:
                # A report reads the store: an unreachable provider leaves its balance out.
                log.warning("the balance of %r could not be read", provider, exc_info=True)
        return build_report(
            self.store,
            current.id,
            since=since,
            until=until,
            now=self.clock.now(),
            prices=self.prices,
            balance=balance,
        )

    def save_segment(
        self,
        campaign: Campaign | str,
        *,
        state: str,
        name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> str:
        """Save the recipients of a campaign in a given state as a recipient list, for
        the next campaign (``audience=list_id``); returns the list's id.

        Args:
            campaign: The campaign, by id or name.
            state: ``"undelivered"`` (sent or meant to be, delivered by no step),
                ``"delivered"``, ``"clicked"``, ``"replied"`` (wrote back after it) or
                ``"control"`` (held out in the control group).
            name: The list's name (default: ``"<campaign>: <state>"``).

        A contact is saved with the number its messages went to; one held out in the
        control group got none, and is saved with its key (the number, unless it had a
        key of its own).
            since: Only triggers from this time on.
            until: Only triggers before this time.

        Raises:
            ConfigError: An unknown ``state``.
        """
        current = self.campaign(campaign)
        if state not in SEGMENT_STATES:
            raise ConfigError(
                f"cannot save a segment of recipients {state!r}",
                key="state",
                hint="use one of: " + ", ".join(SEGMENT_STATES),
            )
        members = self.store.trigger_recipients(current.id, state, since=since, until=until)

        def contacts() -> Iterator[Contact]:
            for key, addresses in members:
                # A skipped trigger (the control group's) keeps no address: its key is
                # the number, unless the contact had a key of its own.
                phone = next((a for a in [*addresses, key] if a.startswith("+")), None)
                yield Contact(key=key) if phone is None else Contact(phone=phone, key=key)

        return self.create_list(name or f"{current.name}: {state}", contacts())

    def audit_log(self, campaign: Campaign | str | None = None) -> list[AuditEntry]:
        """Who did what, when."""
        target = self.campaign(campaign).id if campaign is not None else None
        return self.store.audit_log(target=target)
