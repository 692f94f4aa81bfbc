"""Web chat campaigns, with and without an SMS fallback, through the front door.

Web chat visitors are addressed by their contact key (the visitor id); the SMS
fallback goes to their phone number. The chat simulator never delivers to visitors
whose id ends in ``-gone`` (they left the site).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

import msgkit
from msgkit.testing import FakeClock, Simulator, SimulatorProvider
from tests.e2e.conftest import MakeClient

VISITORS = [
    msgkit.Contact(key="visitor-01", phone="+886912000001", attributes={"name": "Amy"}),
    msgkit.Contact(key="visitor-02-gone", phone="+886912000002", attributes={"name": "Bo"}),
    msgkit.Contact(key="visitor-03", phone="+886912000003", attributes={"name": "Cy"}),
    msgkit.Contact(key="visitor-04-gone", phone="+886912000004", attributes={"name": "Di"}),
]


@pytest.fixture
def chat(clock: FakeClock) -> Simulator:
    """The in-process web chat gateway; visitors who left are never reached."""
    return Simulator(clock=clock.now, rules={"-gone": "undelivered"})


@pytest.fixture
def chat_client(make_client: MakeClient, sim: Simulator, chat: Simulator) -> msgkit.Client:
    """A client with a web chat provider ``chat`` and an SMS provider ``sms``."""
    return make_client(
        providers={
            "chat": SimulatorProvider("chat", channel="webchat", server=chat),
            "sms": SimulatorProvider("sms", server=sim),
        }
    )


def test_webchat_campaign_reaches_every_visitor(
    chat_client: msgkit.Client, chat: Simulator, sim: Simulator
) -> None:
    """A web chat campaign without a fallback sends each visitor one chat and finishes."""
    visitors = chat_client.create_list("visitors", VISITORS)
    campaign = chat_client.create_campaign(
        "Chat hello",
        "Hi ${name}, need a hand?",
        audience=visitors,
        channel="webchat",
        provider="chat",
    )
    chat_client.start(campaign)
    chat_client.run(progress=False)
    got = {m.to: m.text for m in chat.messages.values()}
    assert got == {c.key: f"Hi {c.attributes['name']}, need a hand?" for c in VISITORS}
    assert {m.channel for m in chat.messages.values()} == {"webchat"}
    assert chat.recipients.most_common(1)[0][1] == 1
    assert not sim.messages
    assert chat_client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED
    progress = chat_client.progress(campaign)
    assert progress.count(msgkit.MessageState.DELIVERED) == 2
    assert progress.count(msgkit.MessageState.UNDELIVERED) == 2


def test_webchat_campaign_with_sms_fallback_finishes(
    chat_client: msgkit.Client, chat: Simulator, sim: Simulator
) -> None:
    """Visitors the chat does not reach get one SMS at their phone; the campaign finishes."""
    visitors = chat_client.create_list("visitors", VISITORS)
    campaign = chat_client.create_campaign(
        "Chat hello",
        "Hi ${name}, need a hand?",
        audience=visitors,
        channel="webchat",
        provider="chat",
        fallback=msgkit.Fallback(
            template=msgkit.Template(body="Hi ${name}, we tried to reach you in chat"),
            channel="sms",
            provider="sms",
            wait=timedelta(minutes=2),
        ),
    )
    result = chat_client.start(campaign)
    assert result.fallbacks == 4
    chat_client.run(progress=False)
    assert {m.to for m in chat.messages.values()} == {c.key for c in VISITORS}
    got = {m.to: m.text for m in sim.messages.values()}
    assert got == {
        "+886912000002": "Hi Bo, we tried to reach you in chat",
        "+886912000004": "Hi Di, we tried to reach you in chat",
    }
    assert sim.recipients.most_common(1)[0][1] == 1
    assert chat_client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED
    progress = chat_client.progress(campaign)
    assert progress.count(msgkit.MessageState.DELIVERED) == 2 + 2  # two chats, two SMS
    assert progress.count(msgkit.MessageState.FALLEN_BACK) == 2
    assert progress.by_reason == {"cancelled": 2}  # fallbacks of the chats that arrived


def test_a_refused_start_leaves_a_web_chat_campaign_editable(
    make_client: MakeClient, clock: FakeClock
) -> None:
    """A web chat campaign whose start is refused (its list was deleted) sent nothing: it
    stays a draft, can be pointed at another list, and then sends."""
    chat = Simulator(clock=clock.now)
    client = make_client({"chat": SimulatorProvider("chat", channel="webchat", server=chat)})
    gone = client.create_list("gone", [msgkit.Contact(key="visitor-1")])
    campaign = client.create_campaign("Hello", "Welcome back", audience=gone, channel="webchat")
    client.delete_list(gone)
    with pytest.raises(msgkit.NotFoundError):
        client.start(campaign)
    assert client.campaign(campaign).status is msgkit.CampaignStatus.DRAFT
    fresh = client.create_list("fresh", [msgkit.Contact(key="visitor-2")])
    client.edit(campaign, audience=msgkit.Audience(lists=[fresh]))
    client.start(campaign)
    client.run(progress=False)
    assert [m.to for m in chat.messages.values()] == ["visitor-2"]
