"""Scheduled sends: nothing leaves before the time; the worker starts the campaign then."""

from __future__ import annotations

from datetime import timedelta

import pytest

import msgkit
from msgkit.testing import FakeClock, Simulator
from tests.e2e.conftest import tw_e164, tw_numbers


def _members(client: msgkit.Client, count: int) -> str:
    contacts = [msgkit.Contact(phone=tw_e164(n)) for n in tw_numbers(count)]
    return client.create_list("members", contacts)


def test_send_at_sends_nothing_before_and_everything_when_due(
    client: msgkit.Client, sim: Simulator, clock: FakeClock
) -> None:
    """A campaign created with send_at is started by the worker at that time, not before."""
    at = clock.now() + timedelta(hours=2)
    campaign = client.create_campaign(
        "Later", "See you soon", audience=_members(client, 5), send_at=at
    )
    assert client.campaign(campaign).status is msgkit.CampaignStatus.SCHEDULED
    client.run(progress=False)  # nothing due within the horizon
    assert sim.messages == {}
    assert client.progress(campaign).total == 0
    clock.advance(timedelta(hours=1, minutes=50))
    client.run(progress=False)  # ten minutes early: still nothing
    assert sim.messages == {}
    clock.advance(timedelta(minutes=9))
    client.run(progress=False)  # a minute before: the worker waits for it, then sends
    assert len(sim.recipients) == 5
    assert all(m.at >= at for m in sim.messages.values())
    assert client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED
    assert client.progress(campaign).percent == 100.0


def test_schedule_then_worker_starts_it(
    client: msgkit.Client, sim: Simulator, clock: FakeClock
) -> None:
    """client.schedule(c, at) on a draft: the worker (run) starts it when due, once."""
    campaign = client.create_campaign("Tonight", "Tonight only", audience=_members(client, 3))
    at = clock.now() + timedelta(minutes=30)
    scheduled = client.schedule(campaign, at)
    assert scheduled.status is msgkit.CampaignStatus.SCHEDULED
    assert scheduled.send_at == at
    clock.advance(timedelta(minutes=31))
    client.run(progress=False)
    client.run(progress=False)
    assert sorted(sim.recipients.values()) == [1, 1, 1]
    assert min(m.at for m in sim.messages.values()) >= at


def test_unschedule_and_edit_before_the_time(
    client: msgkit.Client, sim: Simulator, clock: FakeClock
) -> None:
    """A scheduled campaign can be edited, or unscheduled back to a draft that never goes."""
    members = _members(client, 2)
    at = clock.now() + timedelta(hours=1)
    edited = client.create_campaign("Edited", "Old text", audience=members)
    client.schedule(edited, at)
    client.edit(edited, template=msgkit.Template(body="New text"))
    dropped = client.create_campaign("Dropped", "Never", audience=members)
    client.schedule(dropped, at)
    back = client.unschedule(dropped)
    assert back.status is msgkit.CampaignStatus.DRAFT
    assert back.send_at is None
    clock.advance(timedelta(hours=2))
    client.run(progress=False)
    assert sorted(m.text for m in sim.messages.values()) == ["New text", "New text"]
    assert client.campaign(dropped).status is msgkit.CampaignStatus.DRAFT
    assert client.progress(dropped).total == 0


def test_schedule_in_the_past_or_naive_is_refused(client: msgkit.Client, clock: FakeClock) -> None:
    """Scheduling needs an aware time; the error says to add a time zone."""
    campaign = client.create_campaign("Naive", "Hi", audience=_members(client, 1))
    with pytest.raises(ValueError, match="time zone"):
        client.schedule(campaign, clock.now().replace(tzinfo=None))
    assert client.campaign(campaign).status is msgkit.CampaignStatus.DRAFT
