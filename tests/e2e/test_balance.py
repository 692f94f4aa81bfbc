"""A provider's balance: shown by the client and the report, and it keeps a campaign the
account cannot pay for from starting unless told to."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

import msgkit
from msgkit.testing import Simulator, SimulatorProvider
from tests.e2e.conftest import MakeClient, tw_e164, tw_numbers

PRICES = {"sms": {"price": "0.05", "currency": "USD"}}


def _campaign(
    client: msgkit.Client, count: int, name: str = "Spring", start: int = 0
) -> msgkit.Campaign:
    contacts = [msgkit.Contact(phone=tw_e164(n)) for n in tw_numbers(count, start)]
    list_id = client.create_list(f"{name} members", contacts)
    return client.create_campaign(name, "Spring sale: 20% off this week", audience=list_id)


def test_client_reports_the_simulators_balance(make_client: MakeClient, sim: Simulator) -> None:
    """Client.balance gives what the provider reports, and None where it reports none."""
    client = make_client()
    assert client.balance() is None
    sim.balance = Decimal("12.34")
    assert client.balance("sms") == msgkit.Balance(amount=Decimal("12.34"), currency="USD")


def test_campaign_costing_more_than_the_balance_is_refused(
    make_client: MakeClient, sim: Simulator
) -> None:
    """start refuses a campaign whose cost exceeds the balance: nothing planned, a draft."""
    sim.balance = Decimal("0.40")
    client = make_client(prices=PRICES)
    campaign = _campaign(client, 10)  # 10 x 0.05 = 0.50 USD
    with pytest.raises(msgkit.AccountError) as refused:
        client.start(campaign)
    message = str(refused.value)
    assert "0.50 USD" in message
    assert "0.40 USD" in message
    assert "over_balance=True" in message
    assert "top up" in message
    assert client.campaign(campaign).status is msgkit.CampaignStatus.DRAFT
    assert client.progress(campaign).total == 0
    client.run(progress=False)
    assert not sim.messages
    starts = [e for e in client.audit_log(campaign) if e["action"] == "campaign.start"]
    assert len(starts) == 1
    assert starts[0]["detail"].startswith("failed:")


def test_over_balance_starts_it_anyway(make_client: MakeClient, sim: Simulator) -> None:
    """start(..., over_balance=True) starts a campaign that costs more than the balance."""
    sim.balance = Decimal("0.40")
    client = make_client(prices=PRICES)
    campaign = _campaign(client, 10)
    client.start(campaign, over_balance=True)
    client.run(progress=False)
    assert len(sim.recipients) == 10
    assert client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED


def test_resume_checks_the_balance_too(make_client: MakeClient, sim: Simulator) -> None:
    """resume refuses like start when the balance is short, and over_balance overrides it."""
    client = make_client(prices=PRICES)
    campaign = _campaign(client, 10)
    client.start(campaign)
    client.stop(campaign)
    sim.balance = Decimal("0.01")
    with pytest.raises(msgkit.AccountError):
        client.resume(campaign)
    assert client.campaign(campaign).status is msgkit.CampaignStatus.STOPPED
    client.resume(campaign, over_balance=True)
    client.run(progress=False)
    assert len(sim.recipients) == 10


def test_campaign_the_balance_covers_goes(make_client: MakeClient, sim: Simulator) -> None:
    """A campaign costing less than the balance starts and is sent."""
    sim.balance = Decimal("5.00")
    client = make_client(prices=PRICES)
    campaign = _campaign(client, 10)
    client.start(campaign)
    client.run(progress=False)
    assert len(sim.recipients) == 10


def test_no_balance_or_no_price_never_blocks(make_client: MakeClient, sim: Simulator) -> None:
    """A provider that reports no balance, or a cost that is unknown, never refuses."""
    client = make_client(prices=PRICES)
    reported_none = _campaign(client, 10, "No balance")
    client.start(reported_none)  # the simulator reports no balance
    client.run(progress=False)
    sim.balance = Decimal("0")
    unpriced = make_client()  # no prices: the cost is unknown
    campaign = _campaign(unpriced, 3, "Unpriced", start=100)
    unpriced.start(campaign)
    unpriced.run(progress=False)
    assert len(sim.recipients) == 13


def test_fallback_provider_balance_counts(make_client: MakeClient, sim: Simulator) -> None:
    """The fallback step's cost is held against its own provider's balance."""
    line = Simulator(clock=sim.clock)
    sim.balance = Decimal("0.20")  # the SMS fallback's account: 10 x 0.05 = 0.50 USD
    client = make_client(
        {
            "line": SimulatorProvider("line", server=line, channel="line"),
            "sms": SimulatorProvider("sms", server=sim),
        },
        prices={"line": {"price": "0.01", "currency": "USD"}, **PRICES},
    )
    contacts = [msgkit.Contact(phone=tw_e164(n)) for n in tw_numbers(10)]
    list_id = client.create_list("members", contacts)
    campaign = client.create_campaign(
        "Parcel",
        "Your parcel is ready",
        audience=list_id,
        channel="line",
        provider="line",
        fallback=msgkit.Fallback(
            template=msgkit.Template(body="Parcel ready (SMS)"), provider="sms"
        ),
    )
    with pytest.raises(msgkit.AccountError, match="'sms'"):
        client.start(campaign)
    assert client.campaign(campaign).status is msgkit.CampaignStatus.DRAFT


def test_report_shows_the_balance(make_client: MakeClient, sim: Simulator) -> None:
    """The report shows the provider's balance in its tables, HTML and data."""
    sim.balance = Decimal("7.50")
    client = make_client(prices=PRICES)
    campaign = _campaign(client, 3)
    client.start(campaign)
    client.run(progress=False)
    report = client.report(campaign)
    assert report.balance == msgkit.Balance(amount="7.50", currency="USD")
    assert json.loads(report.to_json())["balance"] == {"amount": "7.50", "currency": "USD"}
    assert "7.50" in report._repr_html_()
    sim.balance = None
    assert client.report(campaign).balance is None
    assert "balance" not in client.report(campaign)._repr_html_()
