"""`AsyncClient`: `Client` for async code, every method awaited."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, TypeVar

from msgkit.client._client import Client, ImportedList
from msgkit.core.access import Actor, PermissionPolicy
from msgkit.core.campaigns import Campaign, CampaignKind, Fallback
from msgkit.core.contacts import Contact, PhoneCipher
from msgkit.core.delivery import Channel, MessageState
from msgkit.core.planning import PlanItem, PlanSummary
from msgkit.core.policy import SendPolicy
from msgkit.core.preview import MessagePreview
from msgkit.core.pricing import Balance, Prices
from msgkit.core.segments import Audience, ControlGroup
from msgkit.core.templates import Template
from msgkit.engine.clock import Clock
from msgkit.engine.dispatcher import Dispatcher, DispatcherSettings, RunStats
from msgkit.engine.runner import InitResult
from msgkit.engine.transport import Transport
from msgkit.inbound.app import Endpoint, InboundApp
from msgkit.io import ColumnMapping
from msgkit.providers.base import Provider
from msgkit.reports import Report
from msgkit.store import Store
from msgkit.store.base import AuditEntry, ListInfo, MessageRow, Progress, StoredReply

__all__ = ["AsyncClient"]

T = TypeVar("T")


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
        phone_key: PhoneCipher | str | None = None,
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
            phone_key=phone_key,
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

    async def preview_message(
        self, campaign: Campaign | str, contact: Contact | None = None
    ) -> MessagePreview:
        """See `Client.preview_message`."""
        return await self._call(self.sync.preview_message, campaign, contact)

    async def start(self, campaign: Campaign | str, *, over_balance: bool = False) -> InitResult:
        """See `Client.start`."""
        return await self._call(self.sync.start, campaign, over_balance=over_balance)

    async def resume(self, campaign: Campaign | str, *, over_balance: bool = False) -> InitResult:
        """See `Client.resume`."""
        return await self._call(self.sync.resume, campaign, over_balance=over_balance)

    async def balance(self, provider: str | None = None) -> Balance | None:
        """See `Client.balance`."""
        return await self._call(self.sync.balance, provider)

    async def balances(self, providers: Iterable[str]) -> dict[str, Balance | None]:
        """See `Client.balances`."""
        return await self._call(self.sync.balances, list(providers))

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
        control: ControlGroup | None = None,
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
            control=control,
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

    async def report(
        self,
        campaign: Campaign | str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> Report:
        """See `Client.report`."""
        return await self._call(self.sync.report, campaign, since=since, until=until)

    async def save_segment(
        self,
        campaign: Campaign | str,
        *,
        state: str,
        name: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> str:
        """See `Client.save_segment`."""
        return await self._call(
            self.sync.save_segment, campaign, state=state, name=name, since=since, until=until
        )

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
