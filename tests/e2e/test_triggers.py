"""Scenarios and triggers: one message per key, even from two clients on one file."""

from __future__ import annotations

from collections import Counter

import pytest

import msgkit
import msgkit.testing
from msgkit.testing import Simulator
from tests.e2e.conftest import MakeClient, tw_e164, tw_numbers

ALICE = msgkit.Contact(phone="+886912345678", attributes={"name": "Alice"})


def test_trigger_sends_the_scenario_to_one_contact(client: msgkit.Client, sim: Simulator) -> None:
    """A trigger sends the scenario's text, with its values and the contact's attributes."""
    client.define_scenario("shipped", "Hi ${name}, order ${order} shipped")
    item = client.trigger("shipped", ALICE, {"order": "A-1001"}, key="A-1001-shipped")
    assert not isinstance(item, msgkit.SkipReason)
    client.run(progress=False)
    [got] = sim.messages.values()
    assert (got.to, got.text) == ("+886912345678", "Hi Alice, order A-1001 shipped")


def test_same_key_sends_once_even_from_two_clients(make_client: MakeClient, sim: Simulator) -> None:
    """The same key triggered again, by this or another client on the same file, sends once."""
    first = make_client()
    second = make_client()
    first.define_scenario("shipped", "Order ${order} shipped")
    for client in (first, second, first):
        client.trigger("shipped", ALICE, {"order": "A-1"}, key="A-1-shipped")
    second.trigger("shipped", ALICE, {"order": "A-2"}, key="A-2-shipped")
    first.run(progress=False)
    second.run(progress=False)
    assert Counter(m.text for m in sim.messages.values()) == Counter(
        {"Order A-1 shipped": 1, "Order A-2 shipped": 1}
    )


def test_without_a_key_every_trigger_is_a_new_message(
    client: msgkit.Client, sim: Simulator
) -> None:
    """Triggers without a key are all sent (each one is an event of its own)."""
    client.define_scenario("code", "Your code is ${code}")
    client.trigger("code", ALICE, {"code": "1"})
    client.trigger("code", ALICE, {"code": "2"})
    client.run(progress=False)
    assert sorted(m.text for m in sim.messages.values()) == ["Your code is 1", "Your code is 2"]


def test_disabled_scenario_refuses_triggers(client: msgkit.Client, sim: Simulator) -> None:
    """A disabled scenario refuses triggers with an error saying to enable it; enabled, it sends."""
    client.define_scenario("code", "Your code is ${code}")
    client.disable("code")
    with pytest.raises(msgkit.InvalidTransitionError, match="enable"):
        client.trigger("code", ALICE, {"code": "1"}, key="c1")
    client.run(progress=False)
    assert sim.messages == {}
    client.enable("code")
    client.trigger("code", ALICE, {"code": "1"}, key="c1")
    client.run(progress=False)
    assert [m.text for m in sim.messages.values()] == ["Your code is 1"]


def test_unknown_scenario_is_a_clear_error(client: msgkit.Client) -> None:
    """Triggering a scenario that was never defined names it and says how to define it."""
    with pytest.raises(msgkit.NotFoundError, match="define_scenario"):
        client.trigger("nope", ALICE, key="x")


def test_send_scenario_with_a_list(client: msgkit.Client, sim: Simulator) -> None:
    """send_scenario feeds a whole list: each member gets the scenario's text once."""
    client.define_scenario("welcome", "Welcome ${name}")
    contacts = [
        msgkit.Contact(phone=tw_e164(n), attributes={"name": f"M{i}"})
        for i, n in enumerate(tw_numbers(5))
    ]
    members = client.create_list("members", contacts)
    campaign = client.send_scenario("welcome", members)
    client.run(progress=False)
    assert sorted(m.text for m in sim.messages.values()) == [f"Welcome M{i}" for i in range(5)]
    assert Counter(sim.recipients.values()) == Counter({1: 5})
    assert "scenario:welcome" in client.campaign(campaign).tags
    assert client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED
    # the scenario itself still answers triggers afterwards
    client.trigger("welcome", ALICE, key="alice")
    client.run(progress=False)
    assert sim.recipients["+886912345678"] == 1


def test_triggered_fallback_goes_when_the_first_step_is_skipped(
    make_client: MakeClient, sim: Simulator, clock: msgkit.testing.FakeClock
) -> None:
    """A trigger whose LINE step is skipped (its text needs a name the contact lacks)
    sends its SMS fallback, as a bulk campaign does."""
    line = Simulator(clock=clock.now)
    client = make_client(
        {
            "line": msgkit.testing.SimulatorProvider("line", channel="line", server=line),
            "sms": msgkit.testing.SimulatorProvider("sms", server=sim),
        }
    )
    client.define_scenario(
        "ready",
        "Hi ${name}, order ${order} is ready",
        channel="line",
        provider="line",
        fallback=msgkit.Fallback(
            template=msgkit.Template(body="Order ${order} is ready"), provider="sms"
        ),
    )
    client.trigger("ready", msgkit.Contact(phone="+886912000001"), {"order": "A-7"}, key="A-7")
    client.run(progress=False)
    assert line.messages == {}
    assert [(m.to, m.text) for m in sim.messages.values()] == [
        ("+886912000001", "Order A-7 is ready")
    ]
