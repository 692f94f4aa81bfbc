"""Receipts and replies through the real webhook app, for a campaign sent over Twilio.

A small fake Twilio API (served over real HTTP) takes the messages; the test then posts
the status callbacks and incoming messages Twilio would, signed with the auth token, to
the client's `inbound_app`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Mapping
from datetime import timedelta

import httpx
import pytest

import msgkit
from msgkit.inbound import Endpoint, twilio_signature
from msgkit.providers.twilio import TwilioSms
from msgkit.testing import FakeClock
from tests.e2e.conftest import MakeClient
from tests.fakes.twilio_server import FakeTwilio
from tests.http_server import serve

SID = "AC" + "0" * 32
TOKEN = "twilio-auth-token"
PUBLIC = "https://hooks.example.com"
SENDER = "+15005550006"
NUMBERS = [f"+88691200000{i}" for i in range(4)]


@pytest.fixture
def twilio() -> Iterator[tuple[FakeTwilio, str]]:
    fake = FakeTwilio()
    with serve(fake) as url:
        yield fake, url


@pytest.fixture
def tw_client(
    make_client: MakeClient, twilio: tuple[FakeTwilio, str], clock: FakeClock
) -> msgkit.Client:
    _, url = twilio
    provider = TwilioSms(
        "tw",
        account_sid=SID,
        auth_token=TOKEN,
        sender=SENDER,
        status_callback=f"{PUBLIC}/hooks/tw/status",
        base_url=url,
        clock=clock.now,
    )
    return make_client({"tw": provider})


def _post(
    client: msgkit.Client, url: str, form: Mapping[str, str], *, token: str = TOKEN
) -> httpx.Response:
    """POST a form to the client's webhook app as Twilio would, signed with ``token``."""
    app = client.inbound_app([Endpoint(name="tw", kind="twilio", secret=TOKEN, public_url=PUBLIC)])
    headers = {"X-Twilio-Signature": twilio_signature(url, form, token)}

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=PUBLIC) as http:
            return await http.post(url.removeprefix(PUBLIC), data=dict(form), headers=headers)

    return asyncio.run(go())


def _status(client: msgkit.Client, sent: Mapping[str, str], status: str) -> httpx.Response:
    form = {"MessageSid": sent["sid"], "MessageStatus": status, "To": sent["To"]}
    if status in ("undelivered", "failed"):
        form["ErrorCode"] = "30003"
    return _post(client, sent["StatusCallback"], form)


def _campaign(
    client: msgkit.Client, numbers: list[str] = NUMBERS, sender: str | None = None
) -> msgkit.Campaign:
    members = client.create_list("m", [msgkit.Contact(phone=n) for n in numbers])
    campaign = client.create_campaign(
        "Hello", "Hello from us", audience=members, provider="tw", sender=sender
    )
    client.start(campaign)
    client.run(progress=False)
    return campaign


def test_signed_receipts_change_states_and_forged_ones_are_refused(
    tw_client: msgkit.Client, twilio: tuple[FakeTwilio, str]
) -> None:
    """Signed status callbacks mark messages delivered/undelivered; a forged one is 403."""
    fake, _ = twilio
    campaign = _campaign(tw_client)
    assert tw_client.progress(campaign).by_state == {msgkit.MessageState.SUBMITTED: 4}
    first, second, third, _ = fake.sent
    forged = {"MessageSid": first["sid"], "MessageStatus": "delivered", "To": first["To"]}
    refused = _post(tw_client, first["StatusCallback"], forged, token="not-the-token")
    assert refused.status_code == 403
    assert tw_client.progress(campaign).by_state == {msgkit.MessageState.SUBMITTED: 4}
    assert _status(tw_client, first, "delivered").status_code == 200
    assert _status(tw_client, second, "undelivered").status_code == 200
    assert _status(tw_client, third, "sent").status_code == 200
    by_to = {m.recipient: m for m in tw_client.messages(campaign)}
    assert by_to[first["To"]].state is msgkit.MessageState.DELIVERED
    assert by_to[second["To"]].state is msgkit.MessageState.UNDELIVERED
    assert by_to[second["To"]].error_code == "30003"
    assert by_to[third["To"]].state is msgkit.MessageState.SUBMITTED
    progress = tw_client.progress(campaign)
    assert progress.count(msgkit.MessageState.DELIVERED) == 1
    assert progress.count(msgkit.MessageState.UNDELIVERED) == 1


def test_receipts_out_of_order_or_twice_are_idempotent(
    tw_client: msgkit.Client, twilio: tuple[FakeTwilio, str]
) -> None:
    """A late "sent" after "delivered", or "delivered" twice, leaves the message delivered."""
    fake, _ = twilio
    campaign = _campaign(tw_client, NUMBERS[:1])
    [sent] = fake.sent
    for status in ("delivered", "sent", "delivered", "undelivered"):
        assert _status(tw_client, sent, status).status_code == 200
    [row] = tw_client.messages(campaign)
    assert row.state is msgkit.MessageState.DELIVERED
    assert tw_client.progress(campaign).by_state == {msgkit.MessageState.DELIVERED: 1}


def _incoming(client: msgkit.Client, sender: str, text: str) -> httpx.Response:
    form = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "From": sender,
        "To": SENDER,
        "Body": text,
    }
    return _post(client, f"{PUBLIC}/hooks/tw/inbound", form)


def test_replies_are_listed_and_answered_through_their_channel(
    tw_client: msgkit.Client, twilio: tuple[FakeTwilio, str]
) -> None:
    """A reply is listed by replies() and answered through Twilio from the number it reached."""
    fake, _ = twilio
    _campaign(tw_client)
    assert _incoming(tw_client, NUMBERS[1], "What time do you open?").status_code == 200
    [reply] = tw_client.replies()
    assert (reply["sender"], reply["text"]) == (NUMBERS[1], "What time do you open?")
    assert reply["needs_review"] is False
    tw_client.answer_reply(reply["id"], "We open at 9")
    tw_client.run(progress=False)
    answer = fake.sent[-1]
    assert (answer["To"], answer["Body"], answer["From"]) == (NUMBERS[1], "We open at 9", SENDER)
    assert len(fake.sent) == len(NUMBERS) + 1
    [answered] = tw_client.replies()
    assert answered["answer"] == "We open at 9"
    assert answered["answered_at"] is not None


def _stop_then_send_again(
    client: msgkit.Client, fake: FakeTwilio, sender: str | None
) -> tuple[list[str], list[tuple[str, str | None]]]:
    _campaign(client, sender=sender)
    _incoming(client, NUMBERS[0], "STOP")
    before = len(fake.sent)
    second = _campaign(client, sender=sender)
    again = sorted(m["To"] for m in fake.sent[before:])
    skipped = [
        (m.contact_key, m.reason)
        for m in client.messages(second)
        if m.state is msgkit.MessageState.SKIPPED
    ]
    return again, skipped


def test_stop_reply_opts_out_of_the_next_campaign_from_that_sender(
    tw_client: msgkit.Client, twilio: tuple[FakeTwilio, str]
) -> None:
    """STOP to a campaign's sender number: the next campaign from it skips that number."""
    again, skipped = _stop_then_send_again(tw_client, twilio[0], SENDER)
    assert again == sorted(NUMBERS[1:])
    assert skipped == [(NUMBERS[0], msgkit.SkipReason.SUPPRESSED)]


def test_stop_reply_protects_from_a_campaign_naming_no_sender(
    tw_client: msgkit.Client, twilio: tuple[FakeTwilio, str]
) -> None:
    """STOP to the provider's default number opts out of campaigns that name no sender."""
    again, skipped = _stop_then_send_again(tw_client, twilio[0], None)
    assert again == sorted(NUMBERS[1:])
    assert skipped == [(NUMBERS[0], msgkit.SkipReason.SUPPRESSED)]


def test_possible_opt_outs_are_flagged_for_review(
    tw_client: msgkit.Client, twilio: tuple[FakeTwilio, str]
) -> None:
    """'please stop texting me' is stored flagged for review, not taken as an opt-out."""
    _campaign(tw_client, sender=SENDER)
    _incoming(tw_client, NUMBERS[2], "please stop texting me")
    _incoming(tw_client, NUMBERS[1], "thanks!")
    flagged = tw_client.replies(needs_review=True)
    assert [(r["sender"], r["text"]) for r in flagged] == [(NUMBERS[2], "please stop texting me")]
    assert len(tw_client.replies()) == 2


@pytest.mark.parametrize("sid", [True, False])
def test_a_replayed_reply_is_stored_once(
    tw_client: msgkit.Client, twilio: tuple[FakeTwilio, str], clock: FakeClock, sid: bool
) -> None:
    """The same signed incoming message replayed later is one reply, MessageSid or not."""
    _campaign(tw_client)
    form = {"From": NUMBERS[1], "To": SENDER, "Body": "When do you open?"}
    if sid:
        form["MessageSid"] = "SM" + uuid.uuid4().hex
    for _ in range(2):
        assert _post(tw_client, f"{PUBLIC}/hooks/tw/inbound", form).status_code == 200
        clock.advance(timedelta(minutes=3))
    assert [r["text"] for r in tw_client.replies()] == ["When do you open?"]
