"""Tests of the simulator (msgkit.testing.simulator): status query, media, inbound events."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from msgkit.core.delivery import MessageState
from msgkit.core.events import Click, Reply
from msgkit.core.pricing import Balance
from msgkit.engine.clock import FakeClock
from msgkit.exceptions import ProviderError
from msgkit.providers.base import InProcess, OutboundMessage, ReportsBalance
from msgkit.testing.simulator import SimulatorProvider, SimulatorServer, from_config


@pytest.mark.parametrize(
    ("rule", "answer", "state"),
    [
        (None, "delivered", MessageState.DELIVERED),
        ("undelivered", "undelivered", MessageState.UNDELIVERED),
        ("failed", "failed", MessageState.FAILED),
        ("canceled", "canceled", MessageState.FAILED),
    ],
)
def test_status_query_answers_by_rule(rule: str | None, answer: str, state: MessageState) -> None:
    """An accepted message is answered accepted, then delivered or as its rule says."""
    clock = FakeClock()
    server = SimulatorServer(clock=clock.now, rules={"13": rule} if rule else {})  # type: ignore[dict-item]
    entry = server.accept({"id": "m" * 16, "to": "+886912000013", "text": "hi"})
    assert entry["status"] == "accepted"
    assert server.status_of("m" * 16)["status"] == "accepted"  # type: ignore[index]
    clock.advance(5)
    found = server.status_of("m" * 16)
    assert found is not None
    assert found["status"] == answer
    assert (found["code"] is None) is (answer == "delivered")
    provider = SimulatorProvider("sim", server=server)
    message = OutboundMessage(id="m" * 16, channel="sms", to="+886912000013", text="hi")
    parsed = provider.parse_status(
        message,
        httpx.Response(200, json=found, request=provider.build_status(message, clock.now())),
    )
    assert parsed.state is state


def test_media_is_sent_and_recorded() -> None:
    """The adapter sends a message's media URLs; the server records them with it."""
    server = SimulatorServer()
    provider = SimulatorProvider("sim", server=server)
    with_media = OutboundMessage(
        id="a" * 16, channel="sms", to="+886912000001", text="hi", media=["https://x.example/a.png"]
    )
    plain = OutboundMessage(id="b" * 16, channel="sms", to="+886912000002", text="hi")
    (request,) = provider.build_send([with_media, plain])
    for item in json.loads(request.request.content)["messages"]:
        server.accept(item)
    assert server.messages["a" * 16].media == ("https://x.example/a.png",)
    assert server.messages["b" * 16].media == ()


def _sent(server: SimulatorServer, provider: SimulatorProvider, count: int, links: bool) -> None:
    batch = [
        OutboundMessage(
            id=f"{i:016d}",
            channel="sms",
            to=f"+8869120{i:05d}",
            text="hi",
            links={"shop": f"c{i}"} if links and i % 2 == 0 else {},
            link_param=f"p{i}" if links and i % 2 == 0 else None,
        )
        for i in range(count)
    ]
    for request in provider.build_send(batch):
        for item in json.loads(request.request.content)["messages"]:
            server.accept(item)


def test_the_simulator_is_an_in_process_provider() -> None:
    """SimulatorProvider offers InProcess; one talking to a simulator elsewhere has no events."""
    local = SimulatorProvider("sim")
    remote = SimulatorProvider("sim", base_url="http://localhost:9")
    assert isinstance(local, InProcess)
    assert local.local_transport() is not None
    assert remote.local_transport() is None
    assert remote.inbound_events() == []


def test_inbound_events_are_replies_and_clicks_on_the_messages_links() -> None:
    """Replies come as Reply to the sender, clicks as Click on the first link and its param."""
    clock = FakeClock()
    server = SimulatorServer(clock=clock.now, reply_rate=1.0, opt_out_rate=1.0, click_rate=1.0)
    provider = SimulatorProvider("sim", server=server, sender="ACME")
    _sent(server, provider, 4, links=True)
    clock.advance(5)
    events = [event for _, event in provider.inbound_events()]
    replies = [e for e in events if isinstance(e, Reply)]
    clicks = [e for e in events if isinstance(e, Click)]
    assert sorted(r.from_address for r in replies) == [f"+8869120{i:05d}" for i in range(4)]
    assert {(r.text, r.scope, r.provider) for r in replies} == {("STOP", "ACME", "sim")}
    assert sorted((c.code, c.param) for c in clicks) == [("c0", "p0"), ("c2", "p2")]


@settings(max_examples=30, deadline=None)
@given(
    count=st.integers(0, 12),
    reply_rate=st.sampled_from([0.0, 0.5, 1.0]),
    click_rate=st.sampled_from([0.0, 0.5, 1.0]),
    links=st.booleans(),
    seed=st.integers(0, 1000),
    after=st.integers(0, 30),
)
def test_inbound_events_are_positioned_and_resumable(
    count: int, reply_rate: float, click_rate: float, links: bool, seed: int, after: int
) -> None:
    """Positions increase; asking after one gives exactly the later events; no link, no click."""
    clock = FakeClock()
    server = SimulatorServer(
        clock=clock.now, reply_rate=reply_rate, click_rate=click_rate, seed=seed
    )
    provider = SimulatorProvider("sim", server=server)
    _sent(server, provider, count, links=links)
    clock.advance(5)
    everything = provider.inbound_events()
    positions = [p for p, _ in everything]
    assert positions == sorted(set(positions))
    assert provider.inbound_events(after) == [(p, e) for p, e in everything if p > after]
    clicks = [e for _, e in everything if isinstance(e, Click)]
    assert len(clicks) <= (count + 1) // 2 if links else not clicks
    assert len(everything) - len(clicks) <= count


def test_the_old_import_path_still_works() -> None:
    """msgkit.providers.simulator re-exports the simulator's names from msgkit.testing."""
    import msgkit.providers.simulator as old
    import msgkit.testing.simulator as new

    for name in new.__all__:
        assert getattr(old, name) is getattr(new, name)
    with pytest.raises(AttributeError):
        _ = old.Nothing


def _ask_balance(provider: SimulatorProvider) -> Balance | None:
    transport = provider.local_transport()
    assert transport is not None

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=transport) as client:
            return await client.send(provider.build_balance())

    return provider.parse_balance(asyncio.run(go()))


def test_balance_is_reported_only_when_set() -> None:
    """GET /v1/balance answers the server's balance; without one the provider reports None."""
    server = SimulatorServer()
    provider = SimulatorProvider("sim", server=server)
    assert isinstance(provider, ReportsBalance)
    assert _ask_balance(provider) is None
    server.balance = "3.5"  # type: ignore[assignment]
    server.currency = "TWD"
    assert _ask_balance(provider) == Balance(amount=Decimal("3.5"), currency="TWD")


def test_balance_from_the_settings() -> None:
    """``balance`` and ``currency`` of the simulator's msgkit.toml table set the server's."""
    provider = from_config("sim", {"type": "simulator", "balance": 9, "currency": "usd"}, {})
    assert _ask_balance(provider) == Balance(amount=Decimal(9), currency="USD")


def test_an_unreadable_balance_raises() -> None:
    """A balance answer that is not one raises a ProviderError, never a made-up balance."""
    provider = SimulatorProvider("sim")
    with pytest.raises(ProviderError, match="no balance"):
        provider.parse_balance(httpx.Response(200, json={"balance": "lots"}))
