"""Provider options given with a template reach the adapter with every message.

A template carries the provider options its adapter reads (``msgkit.Template(options=...)``:
LINE's ``flex`` and ``alt_text``, Alibaba's ``extend_code``, Chatwoot's ``inbox_id``...);
every message of the campaign, its fallback's template's own, carries them to the
provider. Checked over real HTTP with the LINE adapter against a local fake server.
"""

from __future__ import annotations

import pytest

import msgkit
from msgkit.providers.line import LineNotifications
from tests.e2e.conftest import MakeClient
from tests.fakes.line_server import FakeLineServer
from tests.http_server import serve

NUMBERS = ["+886912000001", "+886912000002"]
FLEX = {"type": "bubble", "body": {"type": "box", "layout": "vertical", "contents": []}}


def _line_client(make_client: MakeClient, line: FakeLineServer, url: str) -> msgkit.Client:
    return make_client(
        providers={"line": LineNotifications("line", channel_access_token=line.token, base_url=url)}
    )


def test_template_options_reach_line_as_a_flex_message(make_client: MakeClient) -> None:
    """Over HTTP, LINE receives the text and then the flex message the template's options give."""
    line = FakeLineServer()
    with serve(line) as url:
        client = _line_client(make_client, line, url)
        template = msgkit.Template(
            body="Your order shipped", options={"flex": FLEX, "alt_text": "Order shipped"}
        )
        members = client.create_list("members", [msgkit.Contact(phone=n) for n in NUMBERS])
        campaign = client.create_campaign("Shipped", template, audience=members, channel="line")
        client.start(campaign)
        client.run(progress=False)
    assert len(line.pushes) == len(NUMBERS)
    for push in line.pushes:
        assert push.messages == [
            {"type": "text", "text": "Your order shipped"},
            {"type": "flex", "altText": "Order shipped", "contents": FLEX},
        ]
    assert client.progress(campaign).count(msgkit.MessageState.SUBMITTED) == len(NUMBERS)


def test_triggered_message_carries_template_options(make_client: MakeClient) -> None:
    """A triggered message carries its template's options to LINE too."""
    line = FakeLineServer()
    given = [{"type": "sticker", "packageId": "446", "stickerId": "1988"}]
    with serve(line) as url:
        client = _line_client(make_client, line, url)
        template = msgkit.Template(body="Thanks!", options={"line_messages": given})
        client.define_scenario("thanks", template, channel="line")
        client.trigger("thanks", msgkit.Contact(phone=NUMBERS[0]))
        client.run(progress=False)
    assert [push.messages for push in line.pushes] == [given]


def test_options_must_be_json() -> None:
    """Options that cannot be stored are refused, naming the option and the fix."""
    with pytest.raises(msgkit.TemplateError, match=r"options\['flex'\] is a set"):
        msgkit.Template(body="Hi", options={"flex": {1, 2}})
