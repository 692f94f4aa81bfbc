"""Test sends: only the policy's test numbers get them, marked as tests, in rounds."""

from __future__ import annotations

from collections import Counter

import pytest

import msgkit
from msgkit.testing import Simulator
from tests.e2e.conftest import tw_e164, tw_numbers

TESTERS = ["+886900000001", "+886900000002"]


def _campaign(client: msgkit.Client, count: int = 4) -> msgkit.Campaign:
    contacts = [
        msgkit.Contact(phone=tw_e164(n), attributes={"name": f"M{i}"})
        for i, n in enumerate(tw_numbers(count))
    ]
    members = client.create_list("members", contacts)
    return client.create_campaign(
        "Spring",
        "Hi ${name:-friend}, spring sale",
        audience=members,
        policy=msgkit.SendPolicy(test_numbers=TESTERS),
    )


def test_test_send_reaches_only_test_numbers_and_is_marked(
    client: msgkit.Client, sim: Simulator
) -> None:
    """send_test sends to the test numbers only; the messages are marked as tests."""
    campaign = _campaign(client)
    items = client.send_test(campaign)
    assert len(items) == 2
    client.run(progress=False)
    assert Counter(m.to for m in sim.messages.values()) == Counter(TESTERS)
    assert {m.text for m in sim.messages.values()} == {"Hi friend, spring sale"}
    rows = client.messages(campaign)
    assert len(rows) == 2
    assert all(row.test for row in rows)
    assert client.campaign(campaign).status is msgkit.CampaignStatus.DRAFT


def test_test_rounds_send_again_and_the_same_round_does_not(
    client: msgkit.Client, sim: Simulator
) -> None:
    """Each round is sent once: the same round again sends nothing, the next one sends again."""
    campaign = _campaign(client)
    client.send_test(campaign)
    client.send_test(campaign)
    client.run(progress=False)
    assert Counter(sim.recipients.values()) == Counter({1: 2})
    client.send_test(campaign, round=2)
    client.run(progress=False)
    assert Counter(sim.recipients.values()) == Counter({2: 2})


def test_real_campaign_is_unaffected_by_test_sends(client: msgkit.Client, sim: Simulator) -> None:
    """After a test send the campaign still goes to every member once, testers not included."""
    campaign = _campaign(client)
    client.send_test(campaign)
    client.run(progress=False)
    client.start(campaign)
    client.run(progress=False)
    members = {tw_e164(n) for n in tw_numbers(4)}
    assert set(sim.recipients) == members | set(TESTERS)
    assert all(count == 1 for count in sim.recipients.values())
    progress = client.progress(campaign)
    assert progress.total == 4  # test messages are not counted
    assert progress.sent == 4
    assert progress.percent == 100.0
    assert client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED
    real = [row for row in client.messages(campaign) if not row.test]
    assert {row.recipient for row in real} == members


def test_test_send_without_test_numbers_says_how_to_add_them(client: msgkit.Client) -> None:
    """A campaign with no test numbers: send_test raises an error naming test_numbers."""
    members = client.create_list("m", [msgkit.Contact(phone="+886912000001")])
    campaign = client.create_campaign("No testers", "Hi", audience=members)
    with pytest.raises(msgkit.ConfigError, match="test_numbers"):
        client.send_test(campaign)
