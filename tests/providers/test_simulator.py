"""Tests of the simulator's status query and media recording (msgkit.providers.simulator)."""

from __future__ import annotations

import json

import httpx
import pytest

from msgkit.core.delivery import MessageState
from msgkit.engine.clock import FakeClock
from msgkit.providers.base import OutboundMessage
from msgkit.providers.simulator import SimulatorProvider, SimulatorServer


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
