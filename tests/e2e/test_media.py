"""Media (images) given with a template reach the recipient: MMS, LINE images.

A campaign's template carries the media URLs (``msgkit.Template(media=...)``); every
message of the campaign carries them to the provider. Checked through the simulator
(it records each message's media) and over real HTTP with the Twilio and LINE adapters
against local fake servers.
"""

from __future__ import annotations

import pytest

import msgkit
from msgkit.providers.alibaba import AlibabaSms
from msgkit.providers.line import LineNotifications
from msgkit.providers.twilio import TwilioSms
from msgkit.testing import FakeClock, Simulator
from tests.e2e.conftest import MakeClient
from tests.fakes.line_server import FakeLineServer
from tests.fakes.twilio_server import FakeTwilio
from tests.http_server import serve

IMAGE = "https://cdn.example.com/spring-sale.png"
COUPON = "https://cdn.example.com/coupon.jpg"
NUMBERS = ["+886912000001", "+886912000002", "+886912000003"]


def _members(client: msgkit.Client) -> str:
    return client.create_list("members", [msgkit.Contact(phone=n) for n in NUMBERS])


def test_template_media_reaches_the_simulator(client: msgkit.Client, sim: Simulator) -> None:
    """Every message of a campaign with template media carries its images, in order."""
    template = msgkit.Template(body="Spring sale: 20% off", media=(IMAGE, COUPON))
    campaign = client.create_campaign("Spring", template, audience=_members(client))
    client.start(campaign)
    client.run(progress=False)
    assert {m.to: m.media for m in sim.messages.values()} == dict.fromkeys(NUMBERS, (IMAGE, COUPON))
    assert client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED


def test_text_only_template_sends_no_media(client: msgkit.Client, sim: Simulator) -> None:
    """A template without media sends text only."""
    campaign = client.create_campaign("Plain", "Spring sale: 20% off", audience=_members(client))
    client.start(campaign)
    client.run(progress=False)
    assert {m.media for m in sim.messages.values()} == {()}


def test_template_media_reaches_twilio_as_media_urls(
    make_client: MakeClient, clock: FakeClock
) -> None:
    """Over HTTP, Twilio receives one MediaUrl per image with every MMS."""
    twilio = FakeTwilio()
    with serve(twilio) as url:
        client = make_client(
            providers={
                "twilio": TwilioSms(
                    "twilio",
                    account_sid="AC" + "0" * 32,
                    auth_token="secret-token",
                    sender="+15005550006",
                    base_url=url,
                    clock=clock.now,  # ValidityPeriod counts from the client's time
                )
            }
        )
        template = msgkit.Template(body="Your coupon", media=IMAGE)
        campaign = client.create_campaign("Coupon", template, audience=_members(client))
        client.start(campaign)
        client.run(progress=False)
    sent = {form["To"][0]: (form["Body"], form.get("MediaUrl")) for form in twilio.forms}
    assert sent == dict.fromkeys(NUMBERS, (["Your coupon"], [IMAGE]))
    assert client.progress(campaign).count(msgkit.MessageState.SUBMITTED) == 3


def test_template_media_reaches_line_as_images(make_client: MakeClient) -> None:
    """Over HTTP, LINE receives the text and then an image message per URL."""
    line = FakeLineServer()
    with serve(line) as url:
        client = make_client(
            providers={
                "line": LineNotifications("line", channel_access_token=line.token, base_url=url)
            }
        )
        template = msgkit.Template(body="Your coupon", media=(COUPON,))
        campaign = client.create_campaign(
            "Coupon", template, audience=_members(client), channel="line"
        )
        client.start(campaign)
        client.run(progress=False)
    assert len(line.pushes) == 3
    for push in line.pushes:
        assert push.messages == [
            {"type": "text", "text": "Your coupon"},
            {"type": "image", "originalContentUrl": COUPON, "previewImageUrl": COUPON},
        ]


def test_media_on_a_channel_without_media_is_refused_at_start(make_client: MakeClient) -> None:
    """A template with media on Alibaba (images are fixed at review) is refused, saying why."""
    client = make_client(
        providers={
            "ali": AlibabaSms(
                "ali",
                access_key_id="id",
                access_key_secret="secret",
                sign_name="Shop",
            )
        }
    )
    template = msgkit.Template(body="Spring sale", code="SMS_1", media=IMAGE, review="approved")
    campaign = client.create_campaign("Spring", template, audience=_members(client))
    with pytest.raises(msgkit.NotAllowedError, match="carries no media"):
        client.start(campaign)


def test_media_must_be_urls() -> None:
    """A media entry that is not an http(s) URL is refused, naming it and the fix."""
    with pytest.raises(msgkit.TemplateError, match=r"media\[1\] is 'coupon.jpg'"):
        msgkit.Template(body="Hi", media=(IMAGE, "coupon.jpg"))
