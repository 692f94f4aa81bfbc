"""The Client: lists, campaigns, scenarios, permissions and sending, end to end in process."""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta
from pathlib import Path

import attrs
import pytest

import msgkit
from msgkit.core.access import Actor, RolePolicy
from msgkit.core.campaigns import CampaignStatus, Fallback
from msgkit.core.contacts import Contact
from msgkit.core.delivery import Channel, MessageState, SkipReason
from msgkit.core.policy import SendPolicy, SendSpeed
from msgkit.core.segments import Audience, ControlGroup, Part, Rule, Split
from msgkit.core.templates import Template
from msgkit.engine.clock import FakeClock
from msgkit.exceptions import ConfigError, InvalidTransitionError, PermissionDeniedError
from msgkit.providers.simulator import SimulatorProvider, SimulatorServer
from msgkit.store import MemoryStore

CSV = (
    "Mobile,Name,City\n"
    + "".join(
        f"0912-{i:03d}-{i:03d},Member {i},{'Taipei' if i % 2 else 'Tainan'}\n" for i in range(40)
    )
    + "not-a-number,Broken,Taipei\n0912-000-000,Dup,Taipei\n"
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> msgkit.Client:
    return msgkit.Client(store=MemoryStore(), clock=clock)


@pytest.fixture
def members(client: msgkit.Client, tmp_path: Path) -> str:
    path = tmp_path / "members.csv"
    path.write_text(CSV, encoding="utf-8")
    imported = client.import_list(path, phone="Mobile", variables={"name": "Name"}, region="TW")
    assert imported.summary.accepted == 40
    assert imported.summary.by_reason == {"invalid_phone": 1, "duplicate": 1}
    return imported.id


def test_campaign_from_file_to_delivery(client: msgkit.Client, members: str) -> None:
    """Import, estimate, start, run: everyone valid gets exactly one delivered message."""
    campaign = client.create_campaign("Spring", "Hi ${name}, spring sale!", audience=members)
    estimate = client.estimate(campaign)
    assert estimate.planned == 40
    assert client.progress(campaign).total == 0  # estimating writes nothing
    result = client.start(campaign)
    assert result.summary.planned == 40
    assert result.written == 40
    stats = client.run(progress=False)
    assert stats.sent == 40
    progress = client.progress(campaign)
    assert progress.by_state == {MessageState.DELIVERED: 40}
    assert progress.percent == 100.0
    assert client.campaign(campaign.id).status is CampaignStatus.FINISHED
    server = client.providers["simulator"].server  # type: ignore[attr-defined]
    assert server.stats()["duplicate_recipients"] == 0
    assert "Hi Member 3, spring sale!" in {m.text for m in server.messages.values()}
    actions = [entry["action"] for entry in client.audit_log(campaign)]
    assert actions == ["campaign.create", "campaign.start"]


def test_starting_twice_plans_nobody_twice(client: msgkit.Client, members: str) -> None:
    """A stop and a resume re-plan idempotently: what was planned is not planned again."""
    campaign = client.create_campaign("Twice", "Hello ${name}", audience=members)
    client.start(campaign)
    client.stop(campaign)
    again = client.resume(campaign)
    assert again.written == 0
    assert again.already == 40
    client.run(progress=False)
    assert client.progress(campaign).by_state == {MessageState.DELIVERED: 40}


def test_run_works_inside_a_running_event_loop(client: msgkit.Client, members: str) -> None:
    """Client.run() called from code already inside an event loop (Jupyter) works."""
    campaign = client.create_campaign("Notebook", "Hello", audience=members)
    client.start(campaign)

    async def notebook_cell() -> msgkit.engine.dispatcher.RunStats:  # type: ignore[name-defined]
        asyncio.get_running_loop()  # we are inside a loop, as in Jupyter
        return client.run(progress=False)

    stats = asyncio.run(notebook_cell())
    assert stats.sent == 40


def test_segment_split_and_control_group(client: msgkit.Client, members: str) -> None:
    """Only the segment's part is planned; the control group is recorded, not messaged."""
    audience = Audience(
        lists=[members],
        segment=Rule(field="City", op="eq", value="taipei"),
        split=Split(parts=[Part(name="first", count=10), Part(name="rest")], seed="s1"),
        part="first",
        control=ControlGroup(percent=30, salt="s1"),
    )
    campaign = client.create_campaign("Split", "Hi ${name}", audience=audience)
    result = client.start(campaign)
    summary = result.summary
    assert summary.planned + summary.held_out == 10
    assert summary.held_out >= 1
    client.run(progress=False)
    progress = client.progress(campaign)
    assert progress.by_reason == {SkipReason.CONTROL_GROUP.value: summary.held_out}
    assert progress.count(MessageState.DELIVERED) == summary.planned


def test_triggers_are_idempotent_with_a_key(client: msgkit.Client) -> None:
    """The same trigger key sends once; without a key every trigger is a new message."""
    client.define_scenario("order_shipped", "Order ${order} shipped")
    contact = Contact(phone="+886912000001")
    first = client.trigger("order_shipped", contact, {"order": "A1"}, key="A1-shipped")
    again = client.trigger("order_shipped", contact, {"order": "A1"}, key="A1-shipped")
    assert first.key == again.key
    client.trigger("order_shipped", contact, {"order": "A2"})
    client.trigger("order_shipped", contact, {"order": "A3"})
    client.run(progress=False)
    server = client.providers["simulator"].server  # type: ignore[attr-defined]
    texts = sorted(m.text for m in server.messages.values())
    assert texts == ["Order A1 shipped", "Order A2 shipped", "Order A3 shipped"]
    scenario = client.campaign("order_shipped")
    assert scenario.status is CampaignStatus.RUNNING  # triggered campaigns stay open


def test_disabled_scenario_refuses_triggers(client: msgkit.Client) -> None:
    """A disabled scenario takes no trigger until enabled again."""
    client.define_scenario("otp", "Your code is ${code}")
    client.disable("otp")
    with pytest.raises(InvalidTransitionError, match="disabled"):
        client.trigger("otp", Contact(phone="+886912000001"), {"code": "1234"})
    client.enable("otp")
    assert client.trigger("otp", Contact(phone="+886912000001"), {"code": "1234"})


def test_role_policy_guards_bulk_campaigns(clock: FakeClock, members: str) -> None:
    """Only admins create and start bulk campaigns; refusals are audited."""
    store = MemoryStore()
    admin = msgkit.Client(store=store, clock=clock, actor=Actor(name="ann", roles={"admin"}),
                          permissions=RolePolicy())  # fmt: skip
    marketer = admin.as_actor(Actor(name="bob", roles={"marketer"}))
    with pytest.raises(PermissionDeniedError, match="bob"):
        marketer.create_campaign("Nope", "hi")
    campaign = admin.create_campaign("Yes", "hi")
    with pytest.raises(PermissionDeniedError):
        marketer.start(campaign)
    log = admin.audit_log()
    assert [(e["actor"], e["action"], e["detail"]) for e in log] == [
        ("bob", "campaign.create", "denied"),
        ("ann", "campaign.create", None),
        ("bob", "campaign.start", "denied"),
    ]


def test_delete_and_edit_rules(client: msgkit.Client, members: str) -> None:
    """A running campaign cannot be deleted; a finished one cannot be edited."""
    campaign = client.create_campaign("Rules", "Hello", audience=members)
    client.start(campaign)
    with pytest.raises(InvalidTransitionError, match="running"):
        client.delete(campaign)
    client.run(progress=False)
    with pytest.raises(InvalidTransitionError):
        client.edit(campaign, name="again")
    assert client.delete(campaign).status is CampaignStatus.DELETED


def test_deleting_a_stopped_campaign_cancels_its_rest(client: msgkit.Client, members: str) -> None:
    """Deleting a stopped campaign skips its unsent messages as cancelled."""
    campaign = client.create_campaign("Cancel", "Hello", audience=members)
    client.start(campaign)
    client.stop(campaign)
    client.delete(campaign)
    progress = client.store.progress(campaign.id)
    assert progress.by_reason == {"cancelled": 40}
    assert client.run(progress=False).sent == 0


def test_web_chat_bulk_message_is_final(clock: FakeClock) -> None:
    """A web-chat bulk message cannot be edited once it started."""
    chat = SimulatorProvider("chat", channel=Channel.WEBCHAT)
    client = msgkit.Client(store=MemoryStore(), providers={"chat": chat}, clock=clock)
    list_id = client.create_list("visitors", [Contact(key="visitor-1")])
    campaign = client.create_campaign(
        "Welcome", "Hello!", audience=list_id, channel="webchat", provider="chat"
    )
    client.start(campaign)
    client.stop(campaign)
    with pytest.raises(InvalidTransitionError, match="web chat"):
        client.edit(campaign, name="changed")


def test_scheduled_campaign_starts_at_its_time(
    client: msgkit.Client, members: str, clock: FakeClock
) -> None:
    """A scheduled campaign is started by the worker when its time comes, not before."""
    campaign = client.create_campaign("Later", "Hello", audience=members)
    at = clock.now() + timedelta(minutes=3)
    client.schedule(campaign, at)
    client.run(progress=False)
    rows = client.messages(campaign)
    assert len(rows) == 40
    assert all(r.sent_at is not None and r.sent_at >= at for r in rows)


def test_test_send_goes_to_test_numbers_and_is_not_counted(client: msgkit.Client) -> None:
    """A test send reaches the test numbers only and never shows in the progress."""
    policy = SendPolicy(test_numbers=["+886912345678"])
    campaign = client.create_campaign("Draft", "Hello ${name:-there}", policy=policy)
    [item] = client.send_test(campaign)
    assert item.test
    client.run(progress=False)
    assert client.progress(campaign).total == 0
    server = client.providers["simulator"].server  # type: ignore[attr-defined]
    assert [m.to for m in server.messages.values()] == ["+886912345678"]


def test_send_speed_from_the_policy(client: msgkit.Client, members: str, clock: FakeClock) -> None:
    """A campaign limited to 10 messages/s takes about 4 s for 40."""
    speed = SendPolicy(send_speed=SendSpeed(messages=10))
    campaign = client.create_campaign("Slow", "Hello", audience=members, policy=speed)
    client.start(campaign)
    start = clock.now()
    client.run(progress=False)
    first_sent = min(r.sent_at for r in client.messages(campaign) if r.sent_at)
    last_sent = max(r.sent_at for r in client.messages(campaign) if r.sent_at)
    assert first_sent >= start
    assert timedelta(seconds=2.9) <= last_sent - first_sent <= timedelta(seconds=4.5)


def test_line_with_sms_fallback(clock: FakeClock, members: str) -> None:
    """LINE refused or unconfirmed: SMS once; LINE delivered: no SMS."""
    server = SimulatorServer(clock=clock.now, delivery_delay=30, rules={"line:001001": "invalid"})
    line = SimulatorProvider("line", channel=Channel.LINE, server=server)
    sms = SimulatorProvider("sms", server=server)
    client = msgkit.Client(store=MemoryStore(), providers={"line": line, "sms": sms}, clock=clock)
    list_id = client.create_list("tw", [Contact(phone=f"+88691200{i}{i:03d}") for i in range(1, 4)])
    campaign = client.create_campaign(
        "LINE first",
        "Your order is ready",
        audience=list_id,
        channel="line",
        provider="line",
        fallback=Fallback(template=Template(body="Order ready (SMS)"), provider="sms"),
    )
    client.start(campaign)
    client.run(progress=False)
    by_to: dict[str, list[str]] = {}
    for message in server.messages.values():
        by_to.setdefault(message.to, []).append(message.channel)
    assert by_to == {
        "+886912001001": ["line", "sms"],
        "+886912002002": ["line"],
        "+886912003003": ["line"],
    }


def test_unknown_provider_is_refused_early(client: msgkit.Client) -> None:
    """A campaign naming a provider that is not configured fails at creation."""
    with pytest.raises(ConfigError, match="no provider named 'nope'"):
        client.create_campaign("x", "hi", provider="nope")


def test_async_client(tmp_path: Path) -> None:
    """AsyncClient does the same with await, running the dispatcher in the caller's loop."""

    async def main() -> int:
        async with msgkit.AsyncClient(store=f"sqlite:///{tmp_path / 'a.db'}") as client:
            list_id = await client.create_list("l", [Contact(phone="+886912345678")])
            campaign = await client.create_campaign("a", "hello", audience=list_id)
            await client.start(campaign)
            stats = await client.arun()
            return stats.sent

    assert asyncio.run(main()) == 1


def test_a_scenario_fed_a_whole_list(client: msgkit.Client, members: str) -> None:
    """A scenario can send to an uploaded list as a bulk campaign tagged with it."""
    client.define_scenario("welcome", "Welcome ${name}!")
    campaign = client.send_scenario("welcome", members)
    assert "scenario:welcome" in campaign.tags
    client.run(progress=False)
    assert client.progress(campaign).count(MessageState.DELIVERED) == 40


def test_a_reply_is_answered_through_its_channel(client: msgkit.Client, members: str) -> None:
    """Answering a stored reply sends the text back to the number, once."""
    campaign = client.create_campaign("Ask", "Questions? Reply to this.", audience=members)
    client.start(campaign)
    client.run(progress=False)
    reply_id = client.store.add_reply(
        provider="simulator", scope=None, sender="+886912003003", text="Is it open on Sunday?",
        at=client.clock.now(),
    )  # fmt: skip
    assert reply_id is not None
    client.answer_reply(reply_id, "Yes, 10:00 to 18:00.")
    client.answer_reply(reply_id, "Yes, 10:00 to 18:00.")
    client.run(progress=False)
    server = client.providers["simulator"].server  # type: ignore[attr-defined]
    answers = [m for m in server.messages.values() if m.text == "Yes, 10:00 to 18:00."]
    assert [m.to for m in answers] == ["+886912003003"]
    assert client.replies()[0]["answer"] == "Yes, 10:00 to 18:00."


def test_an_abandoned_initialization_is_finished_by_the_worker(
    client: msgkit.Client, members: str, clock: FakeClock
) -> None:
    """A campaign left initializing by a dead process is planned again and sent, once."""
    campaign = client.create_campaign("Crashed", "Hello ${name}", audience=members)
    started = client.store.save_campaign(campaign.apply("start"), now=clock.now())
    # The process that started it died after planning the first 15 contacts.
    first = [c for chunk in client.store.iter_contacts(members) for c in chunk][:15]
    partial = Audience(lists=[client.create_list("first 15", first)])
    client.runner.initialize(attrs.evolve(started, audience=partial), now=clock.now())
    assert client.progress(campaign).total == 15
    clock.advance(600)
    client.run(progress=False)
    assert client.campaign(campaign.id).status is CampaignStatus.FINISHED
    assert client.progress(campaign).by_state == {MessageState.DELIVERED: 40}
    server = client.providers["simulator"].server  # type: ignore[attr-defined]
    assert server.stats()["duplicate_recipients"] == 0


def test_simulated_replies_opt_outs_and_clicks_reach_the_store(
    clock: FakeClock, members: str
) -> None:
    """The simulator's replies (some STOP) and clicks land in the store; STOP is honoured."""
    from msgkit.core.links import ShortLinks

    server = SimulatorServer(
        clock=clock.now, reply_rate=1.0, opt_out_rate=0.5, click_rate=0.5, seed=5
    )
    client = msgkit.Client(
        store=MemoryStore(),
        providers={"simulator": SimulatorProvider("simulator", server=server)},
        clock=clock,
    )
    csv_list = client.create_list(
        "l", [Contact(phone=f"+8869120{i:05d}", attributes={"name": f"n{i}"}) for i in range(40)]
    )
    links = ShortLinks(base_url="https://go.example.com/l", secret="k" * 32)
    template = Template(body="Sale: ${link:shop}", links={"shop": "https://shop.example.com"})
    first = client.create_campaign(
        "First", template, audience=csv_list, sender="Shop", policy=SendPolicy(links=links)
    )
    client.start(first)
    client.run(progress=False)
    replies = client.replies(limit=1000)
    stops = [r for r in replies if r["classification"] == "opt_out"]
    assert len(replies) == 40
    assert 5 < len(stops) < 35
    clicks, clickers = client.store.clicks(first.id)
    assert clicks == clickers
    assert 5 < clicks < 35
    second = client.create_campaign("Second", "Hello again", audience=csv_list, sender="Shop")
    result = client.start(second)
    assert result.summary.skipped == {SkipReason.SUPPRESSED: len(stops)}


def test_opening_removes_lists_abandoned_by_a_dead_importer(tmp_path: Path) -> None:
    """A hidden list left by an import whose process died here is removed on the next open."""
    path = tmp_path / "m.db"
    first = msgkit.Client(store=path)
    first.store.create_list(
        "killed", [], now=first.clock.now(), importer=f"{socket.gethostname()}:999999999:dead"
    )
    live = first.store.create_list(
        "elsewhere", [], now=first.clock.now(), importer="another-host:1:live"
    )
    first.close()
    with msgkit.Client(store=path) as again:
        assert again.store.unfinished_lists() == [(live, "another-host:1:live")]


def test_estimate_and_start_refuse_a_variable_no_column_provides(
    client: msgkit.Client, members: str
) -> None:
    """A stored campaign whose template misspells a column (saved past create) is refused
    by estimate and by start, which plan nothing and leave it a draft to be fixed."""
    good = client.create_campaign("Typo", "Hi ${name}", audience=members)
    now = client.clock.now()
    client.store.save_campaign(attrs.evolve(good, template=Template(body="Hi ${nmae}")), now=now)
    with pytest.raises(msgkit.MissingVariableError, match=r"did you mean \$\{name\}"):
        client.estimate(good)
    with pytest.raises(msgkit.MissingVariableError, match=r"\$\{nmae\}"):
        client.start(good)
    assert client.progress(good).total == 0
    assert client.campaign(good).status is CampaignStatus.DRAFT
    with pytest.raises(msgkit.MissingVariableError):
        client.edit(good, template=Template(body="Hi ${Nmae}"))


def test_lists_show_the_variables_they_provide(client: msgkit.Client, members: str) -> None:
    """An imported list provides its mapped variables and its other columns."""
    (info,) = client.lists()
    assert info["columns"] == ["Mobile", "Name", "City"]
    assert info["variables"] == ["City", "name"]


def test_prices_must_name_a_configured_provider(clock: FakeClock) -> None:
    """Client(prices=...) for a provider that is not configured is a ConfigError."""
    with pytest.raises(ConfigError, match="no provider named 'sms'") as caught:
        msgkit.Client(store=MemoryStore(), clock=clock, prices={"sms": 0.04})
    assert caught.value.key == "prices.sms"
    priced = msgkit.Client(store=MemoryStore(), clock=clock, prices={"simulator": "0.01"})
    assert str(priced.prices["simulator"].default) == "0.01"


def test_a_client_that_fails_to_start_closes_the_store_it_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wrong setting found after the store is open closes that store again (a
    PostgreSQL pool's threads are not left to the garbage collector); a store handed
    in is the caller's and stays open."""
    import msgkit.client._client as module

    opened: list[MemoryStore] = []
    real = module.open_store

    def spy(url: object, **options: object) -> object:
        store = real(url, **options)  # type: ignore[arg-type]
        opened.append(store)  # type: ignore[arg-type]
        return store

    monkeypatch.setattr(module, "open_store", spy)
    with pytest.raises(ConfigError, match="default provider"):
        msgkit.Client(store=str(tmp_path / "m.db"), default_provider="missing")
    with pytest.raises(msgkit.StoreError, match="closed database"):
        opened[0]._read("SELECT 1")  # type: ignore[attr-defined]
    mine = MemoryStore()
    with pytest.raises(ConfigError, match="default provider"):
        msgkit.Client(store=mine, default_provider="missing")
    assert mine.list_campaigns() == []
    mine.close()
