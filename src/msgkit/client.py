"""`Client` and `AsyncClient`: the one object most users touch.

::

    import msgkit

    client = msgkit.Client()                       # ./msgkit.db, the local simulator
    members = client.import_list("members.csv", phone="Mobile", region="TW")
    campaign = client.create_campaign(
        "Spring sale",
        msgkit.Template(body="Hi ${name}, 20% off this week"),
        audience=members.id,
    )
    client.start(campaign)                         # plan the audience into the outbox
    client.run()                                   # send until nothing is due
    print(client.progress(campaign))

The client ties the layers together: it imports lists into the store, plans campaigns
with the pure planner (through `CampaignRunner`), runs the dispatcher, and checks every
operation against a permission policy and writes it to the audit log. `Client` is
synchronous and works from a plain script and inside Jupyter's running event loop;
`AsyncClient` is the same with ``await``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, TypeVar

import attrs

from msgkit.core.access import Actor, AllowAll, PermissionPolicy
from msgkit.core.campaigns import Campaign, CampaignEvent, CampaignKind, Fallback
from msgkit.core.contacts import Contact, PhoneCipher
from msgkit.core.delivery import Channel, MessageState
from msgkit.core.planning import PlanItem, PlanSummary
from msgkit.core.policy import SendPolicy
from msgkit.core.pricing import Prices
from msgkit.core.segments import Audience
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
from msgkit.engine.transport import HttpxTransport, Transport
from msgkit.exceptions import ConfigError, InvalidTransitionError, PermissionDeniedError
from msgkit.inbound.app import Endpoint, InboundApp
from msgkit.inbound.events import Reply
from msgkit.inbound.sink import StoreSink
from msgkit.io import ColumnMapping, ImportSummary, import_contacts
from msgkit.providers.base import Provider
from msgkit.providers.registry import load_prices, load_providers
from msgkit.providers.simulator import SimulatorProvider, SimulatorServer
from msgkit.store import Store, open_store
from msgkit.store.base import AuditEntry, ListInfo, MessageRow, Progress, StoredReply

__all__ = ["AsyncClient", "Client", "ImportedList", "load_config"]

T = TypeVar("T")

if sys.version_info >= (3, 11):  # pragma: no cover - depends on the interpreter
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def load_config(path: str | Path) -> dict[str, Any]:
    """Read ``msgkit.toml``.

    Raises:
        ConfigError: When the file is missing or is not valid TOML (with the line).
    """
    file = Path(path)
    try:
        with file.open("rb") as handle:
            return dict(tomllib.load(handle))
    except FileNotFoundError:
        raise ConfigError(
            f"no configuration file {file}",
            key="config",
            hint="create msgkit.toml (see the docs) or pass --config PATH",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file} is not valid TOML: {exc}", key="config") from None


@attrs.frozen(kw_only=True)
class ImportedList:
    """A recipient list written to the store.

    Attributes:
        id: Its id (for `Audience` and ``audience=``).
        name: Its name.
        summary: Rows read, imported and rejected, by reason.
        rejections_csv: The rejected rows as CSV text, to hand back to whoever sent the file.
    """

    id: str
    name: str
    summary: ImportSummary
    rejections_csv: str = attrs.field(repr=False)

    def __str__(self) -> str:
        return f"list {self.name!r} ({self.id})\n{self.summary}"


def _actor(value: Actor | str | None) -> Actor:
    if value is None:
        return Actor(name=os.environ.get("USER") or "local")
    return value if isinstance(value, Actor) else Actor(name=value)


def _in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    get = getattr(shell, "get_ipython", None)
    return bool(get and get() is not None and "IPKernelApp" in getattr(get(), "config", {}))


class _ProgressBar:
    """A one-line progress bar on a terminal (or a text update in a notebook)."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self._last = 0.0

    def due(self) -> bool:
        """Whether it is time to draw again (at most five times a second)."""
        return time.monotonic() - self._last >= 0.2

    def update(self, done: int, total: int, stats: RunStats, *, final: bool = False) -> None:
        self._last = time.monotonic()
        percent = 100.0 if total == 0 else 100.0 * done / total
        filled = int(percent / 5)
        bar = "#" * filled + "-" * (20 - filled)
        line = (
            f"\r[{bar}] {percent:5.1f}%  {done:,}/{total:,}  sent {stats.sent:,}  "
            f"failed {stats.failed:,}  retrying {stats.retried:,}"
        )
        self.stream.write(line + ("\n" if final else ""))
        self.stream.flush()


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
    ) -> None:
        cfg: Mapping[str, Any] = {}
        if isinstance(config, (str, Path)):
            cfg = load_config(config)
        elif config is not None:
            cfg = config
        self.clock: Clock = clock or SystemClock()
        self.store = open_store(store if store is not None else cfg.get("store"))
        self.providers = self._providers(providers, cfg, env, self.clock)
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
        self.settings = settings or self._settings(cfg)
        self._transport = transport
        self._inbound_seen: dict[str, int] = {}
        self.prices = self._prices(providers, cfg, prices)
        self.runner = CampaignRunner(
            self.store, self.providers, default_provider=self.default_provider, prices=self.prices
        )
        self._drop_abandoned_lists()

    # --- setup ------------------------------------------------------------------------

    @staticmethod
    def _providers(
        given: Mapping[str, Provider | Mapping[str, Any]] | None,
        cfg: Mapping[str, Any],
        env: Mapping[str, str] | None,
        clock: Clock,
    ) -> dict[str, Provider]:
        if given is None:
            table = cfg.get("providers") or {}
            if not table:
                server = SimulatorServer(clock=clock.now)
                return {"simulator": SimulatorProvider("simulator", server=server)}
            return load_providers(table, env)
        built: dict[str, Provider] = {}
        settings = {n: p for n, p in given.items() if isinstance(p, Mapping)}
        if settings:
            built.update(load_providers(settings, env))
        for name, provider in given.items():
            if not isinstance(provider, Mapping):
                if provider.name != name:
                    raise ConfigError(
                        f"provider {provider.name!r} is registered as {name!r}",
                        key="providers",
                        hint="use the same name in both places",
                    )
                built[name] = provider
        return {name: built[name] for name in given}

    def _prices(
        self,
        given: Mapping[str, Provider | Mapping[str, Any]] | None,
        cfg: Mapping[str, Any],
        explicit: Mapping[str, Prices | Mapping[str, Any] | Decimal | float | str] | None,
    ) -> dict[str, Prices]:
        if given is None:
            table: Mapping[str, Any] = cfg.get("providers") or {}
        else:
            table = {n: p for n, p in given.items() if isinstance(p, Mapping)}
        prices = load_prices(table)
        for name, value in (explicit or {}).items():
            if name not in self.providers:
                raise ConfigError(
                    f"no provider named {name!r} is configured",
                    key=f"prices.{name}",
                    hint="configured: " + ", ".join(sorted(self.providers)),
                )
            prices[name] = Prices.parse(value, key=f"prices.{name}")
        return prices

    def _settings(self, cfg: Mapping[str, Any]) -> DispatcherSettings:
        engine = dict(cfg.get("engine") or {})
        polled = {
            name
            for name, p in self.providers.items()
            if isinstance(p, SimulatorProvider) and p.local_transport() is not None
        }
        engine.setdefault("poll_receipts", sorted(polled | set(engine.get("poll_receipts", ()))))
        if polled:
            # A local simulator answers at once: poll it often, unlike a real provider.
            engine.setdefault("poll_after", timedelta(seconds=1))
            engine.setdefault("poll_every", timedelta(seconds=1))
        try:
            return DispatcherSettings(**engine)
        except TypeError as exc:
            raise ConfigError(
                str(exc), key="engine", hint="see DispatcherSettings for the [engine] settings"
            ) from None

    def _transports(self) -> dict[str, Transport] | Transport | None:
        local: dict[str, Transport] = {}
        for name, provider in self.providers.items():
            make = getattr(provider, "local_transport", None)
            inner = make() if callable(make) else None
            if inner is not None:
                local[name] = HttpxTransport(transport=inner)
        if not local:
            return self._transport
        if self._transport is not None:
            return {n: local.get(n, self._transport) for n in self.providers}
        return local

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
                sheet, max_bytes, time_zone, mobile_only).

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
                for batch in job.batches(1000):
                    self.store.add_contacts(list_id, batch)
                self.store.add_rejections(
                    list_id,
                    ((r.row, r.column, r.reason.value, r.detail) for r in job.rejections()),
                )
            return ImportedList(
                id=list_id,
                name=list_name,
                summary=job.summary,
                rejections_csv=job.rejections_csv(),
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

    def start(self, campaign: Campaign | str) -> InitResult:
        """Start (or resume) a campaign now: plan its audience into the outbox.

        Returns:
            What was planned: ``summary`` (recipients, skips by reason, segments, cost:
            what `estimate` said), rows written, fallbacks.

        Raises:
            MsgkitError: When the campaign cannot be planned as it is (a provider or list
                missing, a variable no column provides, a template its channel refuses or
                not approved yet); it is left as it was, to be fixed and started again.
        """
        current = self.campaign(campaign)
        with self._audited("campaign.start", current):
            self.runner.check(self.runner.with_list_ids(current), sending=True)
            _, result = self.runner.start(current, now=self.clock.now())
            return result

    def resume(self, campaign: Campaign | str) -> InitResult:
        """Resume a stopped campaign (what was sent is not sent again)."""
        return self.start(campaign)

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
    ) -> Campaign:
        """A named, reusable sending definition, ready for `trigger`.

        Defining it again replaces its definition (messages already sent stay theirs).
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
            transport=self._transports(),
            clock=self.clock,
            settings=self.settings,
            runner=self.runner,
        )

    async def _arun(
        self, until_idle: bool, progress: bool | None, stop: asyncio.Event | None = None
    ) -> RunStats:
        dispatcher = self.dispatcher()
        show = progress if progress is not None else (sys.stderr.isatty() or _in_notebook())
        bar = _ProgressBar() if show else None
        if bar is not None:
            dispatcher.on_step = functools.partial(self._show, bar)
        try:
            stats = await dispatcher.run(until_idle=until_idle, stop=stop)
        finally:
            await dispatcher.aclose()
        await self._pull_simulators()
        if bar is not None:
            self._show(bar, dispatcher.stats, final=True)
        return stats

    async def _pull_simulators(self) -> None:
        """Feed the replies and clicks in-process simulators produced into the store, as
        webhooks would for a real provider (opt-outs included)."""
        sink = StoreSink(self.store, clock=self.clock.now)
        for name, provider in self.providers.items():
            server = getattr(provider, "server", None)
            if not isinstance(provider, SimulatorProvider) or provider.local_transport() is None:
                continue
            assert server is not None
            events = server.inbound(self._inbound_seen.get(name, 0))
            if not events:
                continue
            self._inbound_seen[name] = events[-1]["seq"]
            replies = [
                Reply(
                    provider=name,
                    channel=provider.capabilities.channel,
                    from_address=e["from"],
                    text=e["text"],
                    scope=e.get("to"),
                    received_at=datetime.fromisoformat(e["at"]),
                    provider_message_id=f"sim-{e['seq']}",
                )
                for e in events
                if e["type"] == "reply"
            ]
            if replies:
                await sink.replies(replies)
            for event in (e for e in events if e["type"] == "click"):
                row = self.store.get_message(event["message_id"])
                for code in row.links.values():
                    self.store.record_click(
                        code, row.link_param, now=datetime.fromisoformat(event["at"])
                    )
                    break

    def _show(self, bar: _ProgressBar, stats: RunStats, *, final: bool = False) -> None:
        if not final and not bar.due():
            return  # counting reads the store: not on every pass
        # The campaigns this run worked on (finished ones included) and those still to go.
        ids = set(stats.campaigns) | {c.id for c in self.store.running_campaigns()}
        total = done = 0
        for campaign_id in sorted(ids):
            progress = self.store.progress(campaign_id)
            total += progress.sendable
            done += progress.done
        bar.update(done, total, stats, final=final)

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

    def audit_log(self, campaign: Campaign | str | None = None) -> list[AuditEntry]:
        """Who did what, when."""
        target = self.campaign(campaign).id if campaign is not None else None
        return self.store.audit_log(target=target)


class AsyncClient:
    """`Client` for async code: every method of `Client`, awaited.

    It runs natively in the caller's event loop: the store's work (reading, planning,
    writing) goes to a worker thread (`asyncio.to_thread`), so the loop never blocks on
    the database, and `arun` runs the dispatcher in the caller's loop itself::

        async with msgkit.AsyncClient("sqlite:///msgkit.db") as client:
            members = await client.import_list("members.csv", phone="Mobile", region="TW")
            campaign = await client.create_campaign("Spring", "Hi!", audience=members.id)
            await client.start(campaign)
            await client.arun()
            print(await client.progress(campaign))

    The arguments are those of `Client`; `close` is `aclose` and `run` is `arun`.
    `sync` is the `Client` underneath (same store, providers and actor).
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
    ) -> None:
        self.sync = Client(
            store,
            providers,
            config=config,
            actor=actor,
            permissions=permissions,
            default_provider=default_provider,
            clock=clock,
            settings=settings,
            transport=transport,
            env=env,
            prices=prices,
        )

    async def _call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(fn, *args, **kwargs)

    def __repr__(self) -> str:
        return "Async" + repr(self.sync)

    async def aclose(self) -> None:
        """Close the store; see `Client.close`."""
        await self._call(self.sync.close)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def as_actor(self, actor: Actor | str) -> AsyncClient:
        """This client acting as someone else (same store and providers)."""
        clone = object.__new__(AsyncClient)
        clone.sync = self.sync.as_actor(actor)
        return clone

    # --- lists ------------------------------------------------------------------------

    async def import_list(
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
        """See `Client.import_list`."""
        return await self._call(
            self.sync.import_list,
            source,
            phone=phone,
            mapping=mapping,
            variables=variables,
            key=key,
            types=types,
            name=name,
            region=region,
            cipher=cipher,
            **options,
        )

    async def create_list(self, name: str, contacts: Iterable[Contact]) -> str:
        """See `Client.create_list` (``contacts`` is read in the worker thread)."""
        return await self._call(self.sync.create_list, name, contacts)

    async def lists(self) -> list[ListInfo]:
        """See `Client.lists`."""
        return await self._call(self.sync.lists)

    async def delete_list(self, list_id: str) -> None:
        """See `Client.delete_list`."""
        await self._call(self.sync.delete_list, list_id)

    # --- campaigns --------------------------------------------------------------------

    async def campaign(self, ident: str | Campaign) -> Campaign:
        """See `Client.campaign`."""
        return await self._call(self.sync.campaign, ident)

    async def campaigns(self) -> list[Campaign]:
        """See `Client.campaigns`."""
        return await self._call(self.sync.campaigns)

    async def create_campaign(
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
        """See `Client.create_campaign`."""
        return await self._call(
            self.sync.create_campaign,
            name,
            template,
            audience=audience,
            channel=channel,
            provider=provider,
            sender=sender,
            kind=kind,
            tags=tags,
            send_at=send_at,
            policy=policy,
            fallback=fallback,
            on_unknown=on_unknown,
        )

    async def edit(self, campaign: Campaign | str, **changes: Any) -> Campaign:
        """See `Client.edit`."""
        return await self._call(self.sync.edit, campaign, **changes)

    async def estimate(self, campaign: Campaign | str) -> PlanSummary:
        """See `Client.estimate`."""
        return await self._call(self.sync.estimate, campaign)

    async def start(self, campaign: Campaign | str) -> InitResult:
        """See `Client.start`."""
        return await self._call(self.sync.start, campaign)

    async def resume(self, campaign: Campaign | str) -> InitResult:
        """See `Client.resume`."""
        return await self._call(self.sync.resume, campaign)

    async def schedule(self, campaign: Campaign | str, at: datetime) -> Campaign:
        """See `Client.schedule`."""
        return await self._call(self.sync.schedule, campaign, at)

    async def unschedule(self, campaign: Campaign | str) -> Campaign:
        """See `Client.unschedule`."""
        return await self._call(self.sync.unschedule, campaign)

    async def stop(self, campaign: Campaign | str, *, reason: str | None = None) -> Campaign:
        """See `Client.stop`."""
        return await self._call(self.sync.stop, campaign, reason=reason)

    async def enable(self, campaign: Campaign | str) -> Campaign:
        """See `Client.enable`."""
        return await self._call(self.sync.enable, campaign)

    async def disable(self, campaign: Campaign | str) -> Campaign:
        """See `Client.disable`."""
        return await self._call(self.sync.disable, campaign)

    async def delete(self, campaign: Campaign | str) -> Campaign:
        """See `Client.delete`."""
        return await self._call(self.sync.delete, campaign)

    async def send_test(self, campaign: Campaign | str, *, round: int = 1) -> list[PlanItem]:
        """See `Client.send_test` (then `arun` sends it)."""
        return await self._call(self.sync.send_test, campaign, round=round)

    # --- scenarios and triggers -------------------------------------------------------------

    async def define_scenario(
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
    ) -> Campaign:
        """See `Client.define_scenario`."""
        return await self._call(
            self.sync.define_scenario,
            name,
            template,
            channel=channel,
            provider=provider,
            sender=sender,
            fallback=fallback,
            policy=policy,
            tags=tags,
        )

    async def trigger(
        self,
        scenario: str,
        contact: Contact,
        values: Mapping[str, object] | None = None,
        *,
        key: str | None = None,
    ) -> PlanItem:
        """See `Client.trigger`."""
        return await self._call(self.sync.trigger, scenario, contact, values, key=key)

    async def send_scenario(
        self,
        scenario: str,
        audience: Audience | str | Sequence[str],
        *,
        name: str | None = None,
        send_at: datetime | None = None,
    ) -> Campaign:
        """See `Client.send_scenario`."""
        return await self._call(
            self.sync.send_scenario, scenario, audience, name=name, send_at=send_at
        )

    # --- replies --------------------------------------------------------------------------

    async def replies(
        self, *, needs_review: bool | None = None, limit: int = 100
    ) -> list[StoredReply]:
        """See `Client.replies`."""
        return await self._call(self.sync.replies, needs_review=needs_review, limit=limit)

    async def answer_reply(self, reply_id: int, text: str) -> PlanItem:
        """See `Client.answer_reply` (then `arun` sends the answer)."""
        return await self._call(self.sync.answer_reply, reply_id, text)

    def inbound_app(self, endpoints: Iterable[Endpoint], **options: Any) -> InboundApp:
        """See `Client.inbound_app` (an ASGI application: serve it in any event loop)."""
        return self.sync.inbound_app(endpoints, **options)

    # --- sending ------------------------------------------------------------------------

    def dispatcher(self) -> Dispatcher:
        """See `Client.dispatcher` (create it in the loop that runs it)."""
        return self.sync.dispatcher()

    async def arun(self, *, until_idle: bool = True, progress: bool | None = None) -> RunStats:
        """Run the dispatcher in this event loop (not in a thread); see `Client.run`."""
        return await self.sync._arun(until_idle, progress)

    async def progress(self, campaign: Campaign | str) -> Progress:
        """See `Client.progress`."""
        return await self._call(self.sync.progress, campaign)

    async def messages(
        self,
        campaign: Campaign | str,
        *,
        states: Sequence[MessageState] | None = None,
        limit: int = 1000,
    ) -> list[MessageRow]:
        """See `Client.messages`."""
        return await self._call(self.sync.messages, campaign, states=states, limit=limit)

    async def clicks(self, campaign: Campaign | str, *, limit: int = 1000) -> list[dict[str, Any]]:
        """See `Client.clicks`."""
        return await self._call(self.sync.clicks, campaign, limit=limit)

    async def audit_log(self, campaign: Campaign | str | None = None) -> list[AuditEntry]:
        """See `Client.audit_log`."""
        return await self._call(self.sync.audit_log, campaign)
