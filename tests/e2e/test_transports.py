"""A transport given to the Client serves run after run: each run is its own event loop,
and the transport opens its connections again in the next one."""

from __future__ import annotations

import pytest

import msgkit
from msgkit.engine.transport import AiohttpTransport, HttpxTransport, Transport
from msgkit.providers.twilio import TwilioSms
from msgkit.testing import FakeClock
from tests.e2e.conftest import MakeClient, tw_e164, tw_numbers
from tests.fakes.twilio_server import FakeTwilio
from tests.http_server import serve


@pytest.mark.parametrize("make", [HttpxTransport, AiohttpTransport])
def test_a_given_transport_serves_one_run_after_another(
    make_client: MakeClient, clock: FakeClock, make: type[Transport]
) -> None:
    """Three campaigns, three runs, one transport given to the Client: each sends once."""
    fake = FakeTwilio()
    numbers = [tw_e164(n) for n in tw_numbers(9)]
    with serve(fake) as url:
        provider = TwilioSms(
            "tw",
            account_sid="AC" + "0" * 32,
            auth_token="t",
            sender="+15005550006",
            base_url=url,
            clock=clock.now,
        )
        client = make_client({"tw": provider}, transport=make())
        for run in range(3):
            batch = numbers[run * 3 : run * 3 + 3]
            members = client.create_list(f"m{run}", [msgkit.Contact(phone=n) for n in batch])
            campaign = client.create_campaign(f"c{run}", "Hello", audience=members)
            client.start(campaign)
            client.run(progress=False)
            assert client.progress(campaign).sent == 3
    assert sorted(s["To"] for s in fake.sent) == sorted(numbers)
