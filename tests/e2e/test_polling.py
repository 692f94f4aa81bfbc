"""Delivery status polled from the provider: a polled failure ends the message.

The in-process simulator's receipts are polled (its status query), as for a provider
that pushes none. Numbers ending in 13 are accepted and then answered ``failed``, in 14
``canceled`` (as Twilio's status query does).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

import msgkit
from msgkit.testing import FakeClock, Simulator, SimulatorProvider
from tests.e2e.conftest import MakeClient, deadline

NUMBERS = ["+886912000011", "+886912000012", "+886912000013", "+886912000014"]
FAILING = {"+886912000013", "+886912000014"}


@pytest.fixture
def failing_sim(clock: FakeClock) -> Simulator:
    """A gateway whose status query answers failed (…13) and canceled (…14)."""
    return Simulator(clock=clock.now, rules={"13": "failed", "14": "canceled"})


def test_polled_failure_ends_the_message(make_client: MakeClient, failing_sim: Simulator) -> None:
    """A message polled as failed or canceled ends undelivered and the campaign finishes."""
    client = make_client(providers={"sms": SimulatorProvider("sms", server=failing_sim)})
    members = client.create_list("members", [msgkit.Contact(phone=n) for n in NUMBERS])
    campaign = client.create_campaign("Notice", "Your order shipped", audience=members)
    client.start(campaign)
    with deadline(20):
        client.run(progress=False)
    assert set(failing_sim.recipients) == set(NUMBERS)
    assert client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED
    states = {m.recipient: m.state for m in client.messages(campaign)}
    assert states == {
        n: msgkit.MessageState.UNDELIVERED if n in FAILING else msgkit.MessageState.DELIVERED
        for n in NUMBERS
    }
    codes = {m.recipient: m.error_code for m in client.messages(campaign) if m.recipient in FAILING}
    assert codes == dict.fromkeys(FAILING, "UNDELIVERABLE")
    asked = failing_sim.requests
    with deadline(20):
        client.run(progress=False)
    assert failing_sim.requests == asked  # nothing left to poll, nothing sent again


def test_polled_failure_releases_the_fallback(
    make_client: MakeClient, failing_sim: Simulator, sim: Simulator
) -> None:
    """A LINE message polled as failed gets its SMS fallback at once, not after the wait."""
    client = make_client(
        providers={
            "line": SimulatorProvider("line", channel="line", server=failing_sim),
            "sms": SimulatorProvider("sms", server=sim),
        }
    )
    members = client.create_list("members", [msgkit.Contact(phone=n) for n in NUMBERS])
    campaign = client.create_campaign(
        "Notice",
        "Your order shipped",
        audience=members,
        channel="line",
        provider="line",
        fallback=msgkit.Fallback(
            template=msgkit.Template(body="Your order shipped (SMS)"),
            provider="sms",
            wait=timedelta(minutes=30),
        ),
    )
    client.start(campaign)
    with deadline(20):
        client.run(progress=False)
    assert {m.to: m.text for m in sim.messages.values()} == dict.fromkeys(
        FAILING, "Your order shipped (SMS)"
    )
    sent_line = min(m.at for m in failing_sim.messages.values())
    assert all(m.at - sent_line < timedelta(minutes=5) for m in sim.messages.values())
    assert client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED
    progress = client.progress(campaign)
    assert progress.count(msgkit.MessageState.FALLEN_BACK) == 2
    assert progress.count(msgkit.MessageState.DELIVERED) == 4  # two LINE, two SMS
