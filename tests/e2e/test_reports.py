"""Reports: a LINE scenario with SMS fallback, a control group, clicks and replies,
triggered on two days; the report's figures checked against what the simulators
recorded and what `client.messages` and `client.replies` say."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import rich.console

import msgkit
from msgkit.testing import FakeClock, Simulator, SimulatorProvider
from tests.e2e.conftest import MakeClient

S = msgkit.MessageState
LINKS = msgkit.ShortLinks(
    base_url="https://go.example.com/l", secret="a-link-secret-of-32-characters!!"
)
DAY1 = [f"+88691210{i:04d}" for i in range(30)]
DAY2 = [f"+88691220{i:04d}" for i in range(30)]
#: Day 1's triggers come just before midnight (UTC): their fallbacks go out on day 2.
LATE = datetime(2026, 1, 5, 23, 59, 59, tzinfo=timezone.utc)
NEXT = datetime(2026, 1, 6, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def world(
    make_client: MakeClient, clock: FakeClock
) -> tuple[msgkit.Client, Simulator, Simulator, msgkit.Campaign]:
    line = Simulator(clock=clock.now, undelivered_rate=0.4, click_rate=0.5, reply_rate=0.3, seed=1)
    sms = Simulator(clock=clock.now, click_rate=0.5, reply_rate=0.3, seed=2)
    client = make_client(
        providers={
            "line": SimulatorProvider("line", channel="line", server=line),
            "sms": SimulatorProvider("sms", server=sms),
        },
        prices={"sms": {"price": "0.04", "currency": "USD"}, "line": {"price": "0.01"}},
    )
    track = {"track": "https://shop.example.com/track"}
    campaign = client.define_scenario(
        "shipped",
        msgkit.Template(body="Shipped! Track it: ${link:track}", links=track),
        channel="line",
        provider="line",
        policy=msgkit.SendPolicy(links=LINKS),
        control=msgkit.ControlGroup(percent=20, salt="shipped"),
        fallback=msgkit.Fallback(
            template=msgkit.Template(body="Shipped (SMS): ${link:track}", links=track),
            provider="sms",
            wait=timedelta(minutes=5),
        ),
    )
    clock.advance(LATE - clock.now())
    for number in DAY1:
        client.trigger("shipped", msgkit.Contact(phone=number))
    client.run(progress=False)
    clock.advance(NEXT - clock.now())
    for number in DAY2:
        client.trigger("shipped", msgkit.Contact(phone=number))
    client.run(progress=False)
    return client, line, sms, campaign


def _triggers(client: msgkit.Client, campaign: msgkit.Campaign, numbers: list[str]) -> dict:
    """What the messages say about the triggers of these numbers."""
    rows = [m for m in client.messages(campaign, limit=10_000) if m.contact_key in numbers]
    first = [m for m in rows if m.step == 0]
    second = [m for m in rows if m.step == 1]
    delivered = {m.contact_key for m in rows if m.state is S.DELIVERED}
    return {
        "planned": len(first),
        "control": sum(m.reason == "control_group" for m in first),
        "delivered": len(delivered),
        "first_delivered": sum(m.state is S.DELIVERED for m in first),
        "fallen_back": sum(m.state is S.FALLEN_BACK for m in first),
        "fallback_delivered": sum(m.state is S.DELIVERED for m in second),
        "ids": {m.id for m in rows},
    }


def test_report_counts_by_trigger_date_with_fallback_control_clicks_and_replies(
    world: tuple[msgkit.Client, Simulator, Simulator, msgkit.Campaign],
) -> None:
    """The report's funnel, channels, engagement and control comparison match the messages."""
    client, line, sms, campaign = world
    report = client.report(campaign)
    assert report.scenario == "shipped"
    day1, day2 = date(2026, 1, 5), date(2026, 1, 6)
    assert list(report.by_day) == [day1, day2]
    # A fallback of a day-1 trigger went out on day 2: it counts for day 1.
    late_sms = [m for m in sms.messages.values() if m.to in DAY1]
    assert late_sms
    assert {m.at.date() for m in late_sms} == {day2}
    for day, numbers in ((day1, DAY1), (day2, DAY2)):
        seen = _triggers(client, campaign, numbers)
        funnel = report.by_day[day]
        assert funnel.planned == seen["planned"] == len(numbers)
        assert funnel.skipped == ({"control_group": seen["control"]} if seen["control"] else {})
        assert funnel.delivered == seen["delivered"]
        assert funnel.first_delivered == seen["first_delivered"]
        assert funnel.fallen_back == seen["fallen_back"]
        assert funnel.fallback_delivered == seen["fallback_delivered"]
        assert funnel.fallback_delivered == sum(m.to in numbers for m in sms.messages.values())
        assert funnel.sent == len(numbers) - seen["control"]
    assert report.total.planned == len(DAY1) + len(DAY2)
    assert report.total.fallen_back > 0
    assert report.total.first_delivered > 0
    assert "counts for the day its first message was triggered" in " ".join(report.notes)
    # The channels count messages: what each simulator received.
    channels = {c.channel: c for c in report.channels}
    assert channels["line"].sent == len(line.messages)
    assert channels["line"].delivered == report.total.first_delivered
    assert channels["line"].fallen_back == report.total.fallen_back
    assert channels["sms"].sent == len(sms.messages)
    assert channels["sms"].delivered == report.total.fallback_delivered
    assert channels["sms"].segments == sum(m.step == 1 for m in client.messages(campaign)) - sum(
        m.step == 1 and m.state is S.SKIPPED for m in client.messages(campaign)
    )
    assert report.currency == "USD"  # the one currency the prices name
    assert channels["sms"].cost == len(sms.messages) * msgkit.Prices(default="0.04").price(None)
    # Engagement: clicks and replies as the client lists them.
    clicks = client.clicks(campaign)
    assert report.clicks == len(clicks) > 0
    assert report.unique_clicks == len({c["contact_key"] for c in clicks})
    ids = _triggers(client, campaign, DAY1 + DAY2)["ids"]
    replies = [r for r in client.replies(limit=1000) if r["message_id"] in ids]
    assert report.replies == len(replies) > 0
    # Control vs treated: the held-out triggers got nothing, so they clicked nothing.
    held_out = sum(_triggers(client, campaign, n)["control"] for n in (DAY1, DAY2))
    assert report.control.triggers == held_out > 0
    assert report.treated.triggers == report.total.planned - held_out
    assert report.control.clicked == 0
    assert report.treated.clicked == len({c["contact_key"] for c in clicks})
    assert report.treated.replied == len({r["sender"] for r in replies})
    assert report.click_lift == report.treated.click_rate


def test_report_of_a_time_range_counts_only_its_triggers(
    world: tuple[msgkit.Client, Simulator, Simulator, msgkit.Campaign],
) -> None:
    """since/until bound the trigger time: day 2 alone, day-1 fallbacks sent on day 2 out."""
    client, _, sms, campaign = world
    start = datetime(2026, 1, 6, tzinfo=timezone.utc)
    report = client.report(campaign, since=start)
    assert list(report.by_day) == [date(2026, 1, 6)]
    assert report.total.planned == len(DAY2)
    assert report.total.fallback_delivered == sum(m.to in DAY2 for m in sms.messages.values())
    before = client.report(campaign, until=start)
    assert before.total.planned == len(DAY1)
    assert before.total.planned + report.total.planned == client.report(campaign).total.planned


def test_report_renders_as_tables_html_csv_json_and_a_chart(
    world: tuple[msgkit.Client, Simulator, Simulator, msgkit.Campaign], tmp_path: Path
) -> None:
    """The report prints with rich, shows as HTML, and writes CSV, JSON and a PNG chart."""
    client, _, _, campaign = world
    report = client.report(campaign)
    console = rich.console.Console(record=True, width=120)
    console.print(report)
    text = console.export_text()
    assert "2026-01-05" in text
    assert "fallen back" in text
    assert "Control group vs treated" in text
    assert "<table>" in report._repr_html_()
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert [r["trigger_date"] for r in rows] == ["2026-01-05", "2026-01-06", "total"]
    assert int(rows[-1]["planned"]) == report.total.planned
    assert int(rows[-1]["skipped:control_group"]) == report.control.triggers
    data = json.loads(report.to_json())
    assert data["total"]["delivered"] == report.total.delivered
    assert data["by_day"]["2026-01-05"]["planned"] == len(DAY1)
    chart = report.save_chart(tmp_path / "funnel.png")
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_save_segment_keeps_the_recipients_in_a_state_for_the_next_campaign(
    world: tuple[msgkit.Client, Simulator, Simulator, msgkit.Campaign], clock: FakeClock
) -> None:
    """save_segment writes the control group (or clickers...) as a list a campaign can use."""
    client, line, _, campaign = world
    report = client.report(campaign)
    control = client.save_segment(campaign, state="control", name="shipped control")
    info = {i["id"]: i for i in client.lists()}[control]
    assert info["name"] == "shipped control"
    assert info["rows"] == report.control.triggers
    clicked = client.save_segment(campaign, state="clicked")
    assert {i["id"]: i for i in client.lists()}[clicked]["rows"] == report.unique_clicks
    # The next campaign goes to the control group, and to nobody else.
    held = {
        m.contact_key
        for m in client.messages(campaign)
        if m.step == 0 and m.reason == "control_group"
    }
    follow = client.create_campaign(
        "Follow-up", "We missed you", audience=control, channel="line", provider="line"
    )
    before = set(line.messages)
    client.start(follow)
    client.run(progress=False)
    assert {line.messages[i].to for i in set(line.messages) - before} == held
    with pytest.raises(msgkit.ConfigError, match="undelivered"):
        client.save_segment(campaign, state="bounced")
