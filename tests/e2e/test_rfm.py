"""RFM segments: a list with purchase columns, scored 1–5 by quintile, champions and at-risk
customers messaged, and nobody else."""

from __future__ import annotations

from pathlib import Path

import pytest

import msgkit
from msgkit.testing import Simulator
from tests.e2e.conftest import WriteCsv, tw_e164, tw_numbers

# name: (last purchase, orders, spent, city). Ten scored customers (quintiles of 2),
# and Kim, whose purchase cells are empty: scored 0, in no RFM segment.
CUSTOMERS = {
    "Ann": ("2025-01-05", "7", "700", "Taipei"),
    "Ben": ("2025-02-05", "6", "650", "Taipei"),
    "Cid": ("2025-03-05", "1", "30", "Taipei"),
    "Dee": ("2025-04-05", "2", "40", "Tainan"),
    "Eve": ("2025-05-05", "3", "50", "Tainan"),
    "Fay": ("2025-06-05", "4", "60", "Taipei"),
    "Gus": ("2025-07-05", "5", "70", "Tainan"),
    "Hal": ("2025-08-05", "0", "0", "Taipei"),
    "Ivy": ("2025-09-05", "9", "990", "Taipei"),
    "Joe": ("2025-10-05", "8", "980", "Tainan"),
    "Kim": ("", "", "", "Taipei"),
}
NUMBERS = dict(zip(CUSTOMERS, tw_numbers(len(CUSTOMERS)), strict=True))
RFM = msgkit.RFM(recency="Last purchase", frequency="Orders", monetary="Spent")


@pytest.fixture
def customers(client: msgkit.Client, write_csv: WriteCsv) -> str:
    """The customer list, imported from a CSV with purchase columns."""
    path: Path = write_csv(
        [(NUMBERS[name], name, *cells) for name, cells in CUSTOMERS.items()],
        header=("Mobile", "Name", "Last purchase", "Orders", "Spent", "City"),
    )
    return client.import_list(path, phone="Mobile", variables={"name": "Name"}, region="TW").id


def _send(
    client: msgkit.Client, sim: Simulator, customers: str, segment: object, text: str
) -> set[str]:
    audience = msgkit.Audience(lists=[customers], segment=segment)  # type: ignore[arg-type]
    campaign = client.create_campaign(text, text + " ${name}", audience=audience)
    estimated = client.estimate(campaign).planned
    client.start(campaign)
    client.run(progress=False)
    got = {m.to for m in sim.messages.values() if m.text.startswith(text)}
    assert estimated == len(got)
    assert client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED
    assert client.progress(campaign).count(msgkit.MessageState.DELIVERED) == len(got)
    return got


def _who(*names: str) -> set[str]:
    return {tw_e164(NUMBERS[name]) for name in names}


def test_champions_get_the_campaign(client: msgkit.Client, sim: Simulator, customers: str) -> None:
    """Champions (5-5-5 over the list's quintiles) get the message, and nobody else."""
    got = _send(client, sim, customers, RFM.segment("champions"), "Thank you")
    assert got == _who("Ivy", "Joe")
    assert {m.text for m in sim.messages.values()} == {"Thank you Ivy", "Thank you Joe"}


def test_at_risk_customers_get_the_win_back(
    client: msgkit.Client, sim: Simulator, customers: str
) -> None:
    """At risk (R 1-2, F 3-5): frequent buyers who stopped buying get the win-back."""
    got = _send(client, sim, customers, RFM.segment("at_risk"), "We miss you")
    assert got == _who("Ann", "Ben")


def test_scores_by_hand_and_combined_with_a_rule(
    client: msgkit.Client, sim: Simulator, customers: str
) -> None:
    """rfm.score() and a Rule combine like any condition; missing values are in no segment."""
    taipei = msgkit.Rule(field="City", op="eq", value="Taipei")
    got = _send(client, sim, customers, RFM.score(r=5, f=5, m=5) & taipei, "Taipei VIP")
    assert got == _who("Ivy")
    low = _send(client, sim, customers, RFM.score(r=(1, 2, 3, 4, 5), f=1), "Come back")
    assert low == _who("Cid", "Hal")  # Kim, with no purchase data, is not scored


def test_unknown_segment_name_lists_the_names() -> None:
    """A misspelled segment name is refused with the names there are."""
    with pytest.raises(msgkit.ConfigError, match="champions, loyal"):
        RFM.segment("champs")
    with pytest.raises(msgkit.ConfigError, match="between 1 and 5"):
        RFM.score(r=6)
