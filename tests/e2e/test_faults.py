"""A provider that misbehaves in every way a real one does, and nobody lost or messaged
twice: each fault, against a Twilio-shaped server over real HTTP.

What each fault means (see ``docs/reliability.md``): an answer that says the message was
not taken (429, 503) is retried; one that leaves it open (500, 502, a timeout, a
connection closed mid-answer, an unreadable answer) makes the message ``unknown``, and
reconciliation asks Twilio's list whether it was taken before anything is sent again.
"""

from __future__ import annotations

from collections import Counter

import pytest

import msgkit
from msgkit.providers.twilio import TwilioSms
from msgkit.testing import FakeClock
from tests.e2e.conftest import MakeClient, deadline, sized, tw_e164, tw_numbers
from tests.fakes.faulty_twilio import FAULTS, FaultyTwilio
from tests.http_server import serve

S = msgkit.MessageState
QUICK = {"engine": {"request_timeout": "500ms"}}  # the server hangs for 2 s


def twilio(url: str, clock: FakeClock) -> TwilioSms:
    """The Twilio adapter pointed at the faulty server."""
    return TwilioSms(
        "tw",
        account_sid="AC" + "0" * 32,
        auth_token="secret-token",
        sender="+15005550006",
        base_url=url,
        clock=clock.now,
    )


def run_until_settled(client: msgkit.Client, campaign: msgkit.Campaign) -> None:
    """Run the engine until the campaign has nothing left to send or learn."""
    with deadline(sized(120, 1200)):
        client.run(progress=False)
    assert client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_ends_with_the_recipient_messaged_once(
    make_client: MakeClient, clock: FakeClock, fault: str
) -> None:
    """Whatever the provider does to a send, the recipient ends with exactly one message."""
    numbers = [tw_e164(n) for n in tw_numbers(4)]
    server = FaultyTwilio(clock=clock.now, faults={numbers[0]: [fault]}, hang=2.0)
    with serve(server) as url:
        client = make_client(providers={"tw": twilio(url, clock)}, config=QUICK)
        members = client.create_list("m", [msgkit.Contact(phone=n) for n in numbers])
        campaign = client.create_campaign("Hello", "Hello from us", audience=members)
        client.start(campaign)
        run_until_settled(client, campaign)
    assert server.taken == Counter(dict.fromkeys(numbers, 1))
    assert {m.state for m in client.messages(campaign)} == {S.SUBMITTED}
    assert client.progress(campaign).sent == len(numbers)


def test_many_faults_in_a_row_still_end_with_everybody_messaged_once(
    make_client: MakeClient, clock: FakeClock
) -> None:
    """Faults one after another on the same recipients, in one campaign: one message each."""
    numbers = [tw_e164(n) for n in tw_numbers(sized(30, 600))]
    scripts = [
        ["503", "timeout", "500"],
        ["429", "429-", "drop"],
        ["500+"],
        ["garbage", "502"],
        ["nosid"],
        ["slow", "slow"],
        ["502", "503", "500+"],
    ]
    faults = {n: list(scripts[i % len(scripts)]) for i, n in enumerate(numbers[::2])}
    server = FaultyTwilio(clock=clock.now, faults=faults, hang=2.0)
    with serve(server) as url:
        client = make_client(providers={"tw": twilio(url, clock)}, config=QUICK)
        members = client.create_list("m", [msgkit.Contact(phone=n) for n in numbers])
        campaign = client.create_campaign("Hello", "Hello from us", audience=members)
        client.start(campaign)
        run_until_settled(client, campaign)
    assert server.taken == Counter(dict.fromkeys(numbers, 1))
    assert Counter(m.state for m in client.messages(campaign)) == {S.SUBMITTED: len(numbers)}
