"""Errors as a user meets them: each says what is wrong, once, and what to do."""

from __future__ import annotations

import pytest

import msgkit
from msgkit.providers.base import OutboundMessage
from msgkit.providers.twilio import TwilioSms
from msgkit.testing import Simulator, SimulatorProvider
from tests.e2e.conftest import MakeClient


def test_unknown_provider_type_names_its_key_once(db: str) -> None:
    """A Client with a misspelled provider type says providers.NAME.type once, and the types."""
    with pytest.raises(msgkit.ConfigError) as info:
        msgkit.Client(store=db, providers={"sms": {"type": "twillio"}})
    text = str(info.value)
    assert text.startswith("providers.sms.type: unknown provider type 'twillio'")
    assert text.count("type:") == 1
    assert "known types:" in text
    assert "twilio" in text
    assert info.value.key == "providers.sms.type"


def test_wrong_setting_names_its_key_once(db: str) -> None:
    """A setting of the wrong kind is named once, with what pydantic expected."""
    with pytest.raises(msgkit.ConfigError) as info:
        msgkit.Client(store=db, providers={"us": {"type": "twilio", "account_sid": 12}}, env={})
    assert str(info.value) == "providers.us.account_sid: Input should be a valid string"


def _twilio() -> TwilioSms:
    return TwilioSms("us", account_sid="AC" + "0" * 32, auth_token="t0ken", sender="+14155550100")


@pytest.mark.parametrize("to", ["0912345678", "", "0912-345-678"])
def test_twilio_refuses_an_address_not_in_e164(to: str) -> None:
    """The Twilio adapter refuses a national or empty number before sending, as LINE does."""
    message = OutboundMessage(id="m" * 16, channel="sms", to=to, text="Hi")
    with pytest.raises(msgkit.RejectedError) as info:
        _twilio().build_send([message])
    text = str(info.value)
    assert "not an E.164 number" in text
    assert "parse_phone" in text
    assert "provider 'us'" in text
    if to:
        assert to not in text  # the number is masked


def test_twilio_takes_an_e164_address() -> None:
    """An E.164 number builds one request to it."""
    message = OutboundMessage(id="m" * 16, channel="sms", to="+886912345678", text="Hi")
    (sent,) = _twilio().build_send([message])
    assert b"To=%2B886912345678" in sent.request.content


def test_editing_a_sent_web_chat_campaign_says_why_and_what_to_do(
    make_client: MakeClient, sim: Simulator
) -> None:
    """Editing a web chat campaign that sent says it is final once sent, and to make a new one."""
    chat = SimulatorProvider("chat", channel="webchat", server=sim)
    client = make_client(providers={"chat": chat})
    visitors = client.create_list("visitors", [msgkit.Contact(key="visitor-1")])
    campaign = client.create_campaign("Welcome", "Hello!", audience=visitors, channel="webchat")
    client.start(campaign)
    client.run(progress=False)
    assert [(m.to, m.text) for m in sim.messages.values()] == [("visitor-1", "Hello!")]
    status = client.campaign(campaign).status.value
    with pytest.raises(msgkit.InvalidTransitionError) as info:
        client.edit(campaign, template=msgkit.Template(body="Hello again!"))
    text = str(info.value)
    assert text.startswith(f"cannot edit a web chat campaign that is {status}: it has started")
    assert "create a new campaign" in text
    assert "from " not in text
    assert "nothing: it is final" not in text
    assert client.campaign(campaign).template.body == "Hello!"
