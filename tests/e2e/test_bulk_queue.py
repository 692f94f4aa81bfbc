"""The bulk queue: bulk campaigns one after another; triggers and tests never wait."""

from __future__ import annotations

import msgkit
from msgkit.testing import Simulator, SimulatorProvider
from tests.e2e.conftest import MakeClient, tw_e164, tw_numbers


def _list(client: msgkit.Client, name: str, count: int, start: int) -> str:
    contacts = [msgkit.Contact(phone=tw_e164(n)) for n in tw_numbers(count, start)]
    return client.create_list(name, contacts)


def _order(sim: Simulator) -> list[str]:
    """Texts in the order the simulator received them."""
    return [m.text for m in sorted(sim.messages.values(), key=lambda m: m.at)]


def _small_batches(make_client: MakeClient, sim: Simulator) -> msgkit.Client:
    providers = {"sms": SimulatorProvider("sms", server=sim, max_batch=5)}
    return make_client(providers, config={"engine": {"batch_size": 10}})


def test_bulk_campaigns_go_in_the_order_started(make_client: MakeClient, sim: Simulator) -> None:
    """All of campaign A's messages leave before any of B's, though B was created first."""
    client = _small_batches(make_client, sim)
    b = client.create_campaign("B", "from B", audience=_list(client, "b", 30, 0))
    a = client.create_campaign("A", "from A", audience=_list(client, "a", 30, 100))
    client.start(a)
    client.start(b)
    client.run(progress=False)
    order = list(sim.messages.values())  # the simulator records in arrival order
    texts = [m.text for m in order]
    assert texts == ["from A"] * 30 + ["from B"] * 30
    last_a = max(m.at for m in order if m.text == "from A")
    first_b = min(m.at for m in order if m.text == "from B")
    assert last_a <= first_b
    assert client.campaign(a).status is msgkit.CampaignStatus.FINISHED
    assert client.campaign(b).status is msgkit.CampaignStatus.FINISHED


def test_triggers_and_test_sends_do_not_wait_behind_a_bulk_campaign(
    make_client: MakeClient, sim: Simulator
) -> None:
    """A trigger and a test send made after a big bulk start leave before the bulk's rest."""
    client = _small_batches(make_client, sim)
    bulk = client.create_campaign(
        "Bulk",
        "bulk",
        audience=_list(client, "big", 60, 0),
        policy=msgkit.SendPolicy(test_numbers=["+886900000009"]),
    )
    client.start(bulk)
    client.define_scenario("code", "Your code is ${code}")
    client.trigger("code", msgkit.Contact(phone="+886900000001"), {"code": "1234"}, key="k1")
    client.send_test(bulk)
    client.run(progress=False)
    texts = [m.text for m in sim.messages.values()]
    assert len(texts) == 62
    assert set(texts[:2]) == {"Your code is 1234", "bulk"}
    assert sim.messages[next(iter(sim.messages))].to in {"+886900000001", "+886900000009"}
    first_two = {m.to for m in list(sim.messages.values())[:2]}
    assert first_two == {"+886900000001", "+886900000009"}
