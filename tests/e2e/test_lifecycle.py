"""A campaign's lifecycle through the Client: start, stop, resume, enable, disable, delete."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

import msgkit
from msgkit.testing import FakeClock, Simulator, SimulatorProvider
from tests.e2e.conftest import MakeClient, tw_e164, tw_numbers

S = msgkit.MessageState


def _members(client: msgkit.Client, count: int, start: int = 0) -> str:
    contacts = [
        msgkit.Contact(phone=tw_e164(n), attributes={"name": f"M{i}"})
        for i, n in enumerate(tw_numbers(count, start))
    ]
    return client.create_list("members", contacts)


def test_campaign_goes_from_draft_to_finished(client: msgkit.Client, sim: Simulator) -> None:
    """A campaign is a draft, running once started, finished once everyone got it."""
    members = _members(client, 6)
    campaign = client.create_campaign("Spring", "Hi ${name}", audience=members)
    assert campaign.status is msgkit.CampaignStatus.DRAFT
    assert client.progress(campaign).total == 0
    assert client.progress(campaign).percent == 100.0  # nothing to send yet
    client.start(campaign)
    assert client.campaign(campaign).status is msgkit.CampaignStatus.RUNNING
    planned = client.progress(campaign)
    assert planned.pending == 6
    assert planned.percent == 0.0
    client.run(progress=False)
    done = client.progress(campaign)
    assert done.by_state == {S.DELIVERED: 6}
    assert done.sent == 6
    assert done.percent == 100.0
    assert client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED
    assert sorted(m.text for m in sim.messages.values()) == [f"Hi M{i}" for i in range(6)]


def test_stop_mid_send_then_resume_sends_the_rest_exactly_once(
    make_client: MakeClient, clock: FakeClock
) -> None:
    """A stop lets nothing new leave; a resume sends each of the rest exactly once."""
    slow = Simulator(clock=clock.now, latency=(0.02, 0.02))
    providers = {"sms": SimulatorProvider("sms", server=slow, max_batch=1)}
    worker = make_client(providers, config={"engine": {"concurrency": 1, "batch_size": 2}})
    operator = make_client(providers)
    members = _members(operator, 40)
    campaign = operator.create_campaign("Slow", "Hi ${name}", audience=members)
    operator.start(campaign)
    runner = threading.Thread(target=worker.run, kwargs={"progress": False})
    runner.start()
    deadline = time.monotonic() + 10
    while len(slow.messages) < 5 and time.monotonic() < deadline:
        time.sleep(0.005)
    operator.stop(campaign, reason="checking the text")
    at_stop = len(slow.messages)
    runner.join(timeout=10)
    assert not runner.is_alive()
    after_stop = len(slow.messages)
    assert after_stop - at_stop <= 2  # only what was in flight (one claimed batch)
    stopped = operator.progress(campaign)
    assert operator.campaign(campaign).status is msgkit.CampaignStatus.STOPPED
    assert operator.campaign(campaign).stop_reason == "checking the text"
    assert stopped.pending == 40 - after_stop
    assert stopped.sent == after_stop
    assert 0 < stopped.percent < 100

    operator.resume(campaign)
    operator.run(progress=False)
    assert Counter(slow.recipients.values()) == Counter({1: 40})
    assert operator.progress(campaign).count(S.DELIVERED, S.SUBMITTED) == 40
    assert operator.campaign(campaign).status is msgkit.CampaignStatus.FINISHED


def test_disabled_campaign_refuses_start_and_resume_and_keeps_its_status(
    client: msgkit.Client, sim: Simulator
) -> None:
    """Disabled, a campaign cannot start or resume (the error says enable) and keeps its status."""
    members = _members(client, 3)
    campaign = client.create_campaign("Off", "Hi ${name}", audience=members)
    client.disable(campaign)
    assert client.campaign(campaign).enabled is False
    with pytest.raises(msgkit.InvalidTransitionError, match="enable"):
        client.start(campaign)
    assert client.campaign(campaign).status is msgkit.CampaignStatus.DRAFT
    client.enable(campaign)
    client.start(campaign)
    client.stop(campaign)
    client.disable(campaign)
    with pytest.raises(msgkit.InvalidTransitionError, match="enable"):
        client.resume(campaign)
    assert client.campaign(campaign).status is msgkit.CampaignStatus.STOPPED
    client.run(progress=False)
    assert sim.messages == {}
    client.enable(campaign)
    client.resume(campaign)
    client.run(progress=False)
    assert len(sim.recipients) == 3


def test_delete_refused_while_running_and_cancels_the_rest(
    client: msgkit.Client, sim: Simulator
) -> None:
    """A running campaign cannot be deleted; a stopped one is, and what was not sent never goes."""
    members = _members(client, 4)
    campaign = client.create_campaign("Gone", "Hi ${name}", audience=members)
    client.start(campaign)
    with pytest.raises(msgkit.InvalidTransitionError, match="stop"):
        client.delete(campaign)
    client.stop(campaign)
    client.delete(campaign)
    assert client.campaign(campaign).status is msgkit.CampaignStatus.DELETED
    assert campaign.id not in {c.id for c in client.campaigns()}
    client.run(progress=False)
    assert sim.messages == {}
    progress = client.progress(campaign)
    assert progress.pending == 0
    assert progress.count(S.SKIPPED) == 4


def test_campaigns_lists_every_campaign_but_deleted_ones_with_tags(
    client: msgkit.Client, clock: FakeClock
) -> None:
    """campaigns() lists campaigns oldest first, with their tags and status; deleted ones go."""
    members = _members(client, 1)
    first = client.create_campaign("First", "Hi", audience=members, tags=["spring", "vip"])
    clock.advance(1)
    second = client.create_campaign("Second", "Hi", audience=members, tags="autumn")
    clock.advance(1)
    third = client.create_campaign("Third", "Hi", audience=members)
    client.delete(third)
    listed = client.campaigns()
    assert [c.name for c in listed] == ["First", "Second"]
    assert listed[0].tags == {"spring", "vip"}
    assert listed[1].tags == {"autumn"}
    assert client.campaign("Second").id == second.id
    assert client.campaign(first.id).status is msgkit.CampaignStatus.DRAFT


def test_campaigns_created_at_the_same_instant_are_listed_in_creation_order(
    client: msgkit.Client,
) -> None:
    """campaigns() keeps creation order even for campaigns created within one clock tick."""
    names = [f"C{i}" for i in range(12)]
    for name in names:
        client.create_campaign(name, "Hi")
    assert [c.name for c in client.campaigns()] == names
