"""The README's first campaign, as written there, on a fresh SQLite file."""

from __future__ import annotations

import msgkit
from msgkit.testing import Simulator
from tests.e2e.conftest import WriteCsv, tw_e164, tw_numbers


def test_readme_campaign_reaches_every_member(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """Import, create, estimate, start, run: each member gets their own text, once."""
    numbers = tw_numbers(5)
    path = write_csv([(n, f"Member {i}") for i, n in enumerate(numbers)])
    members = client.import_list(path, phone="Mobile", variables={"name": "Name"}, region="TW")
    campaign = client.create_campaign(
        "Spring sale", "Hi ${name}, 20% off this week", audience=members.id
    )
    assert client.estimate(campaign).planned == 5
    client.start(campaign)
    client.run(progress=False)
    got = {m.to: m.text for m in sim.messages.values()}
    assert got == {tw_e164(n): f"Hi Member {i}, 20% off this week" for i, n in enumerate(numbers)}
    assert sim.recipients.most_common(1)[0][1] == 1
    assert client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED
    assert client.progress(campaign).count(msgkit.MessageState.DELIVERED) == 5
