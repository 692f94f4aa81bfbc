"""What a notebook user sees: the HTML of lists, plans, progress, campaigns and a
rendered message, and a progress bar that updates in the cell."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

import msgkit
from msgkit.testing import Simulator, SimulatorProvider
from tests.e2e.conftest import MakeClient, WriteCsv, tw_numbers

HOSTILE = '<script>alert("x")</script>'


def test_an_imported_list_shows_its_first_rows_masked_and_escaped(
    client: msgkit.Client, write_csv: WriteCsv
) -> None:
    """An imported list's HTML shows its counts, rejects and first rows, phones masked,
    names escaped."""
    path = write_csv([("0912-345-678", HOSTILE), ("0912-000-111", "Bo"), ("12345", "Bad")])
    members = client.import_list(path, phone="Mobile", variables={"name": "Name"}, region="TW")
    page = members._repr_html_()
    assert "+8869****5678" in page
    assert "912345678" not in page
    assert "&lt;script&gt;" in page
    assert "<script>" not in page
    assert "rejected: invalid_phone" in page
    assert len(members.preview) == 2


def test_a_plan_progress_and_campaign_render_as_html(
    client: msgkit.Client, write_csv: WriteCsv
) -> None:
    """The estimate, the campaign and its progress render as HTML tables with their figures."""
    path = write_csv([(n, "Amy") for n in tw_numbers(4)])
    members = client.import_list(path, phone="Mobile", variables={"name": "Name"}, region="TW")
    campaign = client.create_campaign("Sale <b>now</b>", "Hi ${name}, 20% off", audience=members.id)
    plan = client.estimate(campaign)._repr_html_()
    assert "<th>planned</th><td>4 (0 deferred)</td>" in plan
    assert "<th>segments</th><td>4</td>" in plan
    page = client.campaign(campaign)._repr_html_()
    assert "Campaign Sale &lt;b&gt;now&lt;/b&gt;" in page
    assert "<th>status</th><td>draft</td>" in page
    client.start(campaign)
    client.run(progress=False)
    progress = client.progress(campaign)._repr_html_()
    assert '<progress value="4" max="4"' in progress
    assert "<th>delivered</th><td>4</td>" in progress


def test_an_sms_preview_shows_the_first_members_parts_and_encoding(
    client: msgkit.Client, write_csv: WriteCsv
) -> None:
    """preview_message renders the first member's SMS: masked number, its parts and
    encoding, the hostile name escaped; nothing is sent."""
    path = write_csv([("0912-345-678", HOSTILE + " 陳"), ("0912-000-111", "Bo")])
    members = client.import_list(path, phone="Mobile", variables={"name": "Name"}, region="TW")
    body = "Hi ${name}, " + "the spring sale starts today. " * 3
    campaign = client.create_campaign("Spring", body, audience=members.id)
    preview = client.preview_message(campaign)
    assert preview.to == "+8869****5678"
    assert preview.text.startswith(f"Hi {HOSTILE} 陳, the spring")
    assert preview.length is not None
    assert preview.length.encoding == "UCS-2"
    assert preview.length.segments == 2
    page = preview._repr_html_()
    assert "2 parts, UCS-2" in page
    assert "part 2 of 2" in page
    assert "&lt;script&gt;" in page
    assert "<script>" not in page
    assert str(preview).startswith("SMS to +8869****5678: 2 parts, UCS-2\n")
    assert client.progress(campaign).total == 0


def test_a_line_preview_shows_a_bubble_and_its_sms_fallback(
    make_client: MakeClient, sim: Simulator
) -> None:
    """A LINE campaign's preview is a bubble from the account, with the SMS fallback
    measured; a given contact's own attributes fill the template."""
    client = make_client(
        providers={
            "line": SimulatorProvider("line", server=sim, channel="line"),
            "sms": SimulatorProvider("sms", server=sim),
        }
    )
    members = client.create_list(
        "tw", [msgkit.Contact(phone="+886912345678", attributes={"code": "B7"})]
    )
    campaign = client.create_campaign(
        "Parcel",
        "Your parcel ${code} is ready",
        audience=members,
        channel="line",
        provider="line",
        sender="Shop & Co",
        fallback=msgkit.Fallback(
            template=msgkit.Template(body="Parcel ready (SMS)"), provider="sms"
        ),
    )
    amy = msgkit.Contact(phone="+886955123456", attributes={"code": "<A1>"})
    preview = client.preview_message(campaign, amy)
    assert preview.channel is msgkit.Channel.LINE
    assert preview.text == "Your parcel <A1> is ready"
    page = preview._repr_html_()
    assert "Shop &amp; Co" in page
    assert "Your parcel &lt;A1&gt; is ready" in page
    assert preview.fallback is not None
    assert preview.fallback.length is not None
    assert "1 part, GSM-7" in page
    assert len(sim.messages) == 0


def test_a_web_chat_preview_shows_the_agents_name(make_client: MakeClient, sim: Simulator) -> None:
    """A web-chat campaign's preview is the chat widget under the agent's name."""
    client = make_client(
        providers={"chat": SimulatorProvider("chat", channel="webchat", server=sim)}
    )
    visitors = client.create_list("visitors", [msgkit.Contact(key="visitor-1")])
    campaign = client.create_campaign(
        "Welcome", "Hello!", audience=visitors, channel="webchat", sender="Mia"
    )
    page = client.preview_message(campaign)._repr_html_()
    assert "Mia" in page
    assert "Hello!" in page
    assert "visitor-1" in page


def test_a_preview_with_nobody_to_send_to_says_why(client: msgkit.Client) -> None:
    """Previewing a campaign whose whole audience is held out names it and what to do."""
    members = client.create_list("one", [msgkit.Contact(phone="+886912345678")])
    audience = msgkit.Audience(lists=[members], control=msgkit.ControlGroup(percent=100, salt="s"))
    campaign = client.create_campaign("Nobody", "Hi", audience=audience)
    with pytest.raises(msgkit.NotFoundError, match="estimate"):
        client.preview_message(campaign)


def test_progress_in_a_notebook_is_html_updated_in_place(
    client: msgkit.Client, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In a Jupyter kernel, run's progress is one HTML display updated in place, not
    stderr text."""
    shown: list[tuple[str, str]] = []

    class Handle:
        def update(self, content: Any) -> None:
            shown.append(("update", content.data))

    def display(content: Any, display_id: bool = False) -> Handle:
        assert display_id
        shown.append(("display", content.data))
        return Handle()

    kernel = types.SimpleNamespace(config={"IPKernelApp": {}})
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: kernel  # type: ignore[attr-defined]
    module = types.ModuleType("IPython.display")
    module.display = display  # type: ignore[attr-defined]
    module.HTML = lambda data: types.SimpleNamespace(data=data)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", module)
    members = client.create_list(
        "tw", [msgkit.Contact(phone=f"+88691234{i:04d}") for i in range(3)]
    )
    campaign = client.create_campaign("Spring", "Spring sale", audience=members)
    client.start(campaign)
    client.run()
    assert shown[0][0] == "display"
    assert all(kind == "update" for kind, _ in shown[1:])
    assert '<progress value="3" max="3"' in shown[-1][1]
    assert "sent 3" in shown[-1][1]
    assert capsys.readouterr().err == ""
