"""Contact schedules and quiet hours through the front door: saved and read back, and
every message reaches its recipient inside their own local window, across DST switches;
what is due outside the window is deferred, or skipped when the campaign says so."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

import msgkit
import msgkit.testing
from msgkit.testing import FakeClock, Simulator
from tests.e2e.conftest import MakeClient, WriteCsv, deadline, tw_e164, tw_numbers

UTC = timezone.utc
WINDOW = "daily 09:00-20:00"
TAIPEI, NEW_YORK, BERLIN = "+886912345678", "+12125550123", "+4915112345678"
ZONES = {TAIPEI: "Asia/Taipei", NEW_YORK: "America/New_York", BERLIN: "Europe/Berlin"}


def _advance_to(clock: FakeClock, at: datetime) -> None:
    clock.advance((at - clock.now()).total_seconds())


def _drain(client: msgkit.Client, clock: FakeClock, campaign: msgkit.Campaign) -> None:
    """Run, move the clock to the next waiting message, run again, until none waits."""
    for _ in range(30):
        client.run(progress=False)
        waiting = [
            m.not_before
            for m in client.messages(
                campaign, states=[msgkit.MessageState.PLANNED, msgkit.MessageState.DEFERRED]
            )
            if m.not_before is not None
        ]
        if not waiting:
            return
        _advance_to(clock, max(min(waiting), clock.now() + timedelta(seconds=1)))
    raise AssertionError("messages still waiting after 30 rounds")


def _people(client: msgkit.Client, write_csv: WriteCsv, numbers: list[str]) -> str:
    path = write_csv([(n, f"P{i}") for i, n in enumerate(numbers)])
    return client.import_list(path, phone="Mobile", region="TW").id


def _local(at: datetime, number: str) -> datetime:
    return at.astimezone(ZoneInfo(ZONES[number]))


def test_a_campaign_with_a_schedule_is_saved_and_read_back(
    client: msgkit.Client, make_client: MakeClient
) -> None:
    """A campaign with a contact schedule and quiet hours is created, stored, read back equal."""
    policy = msgkit.SendPolicy(
        schedule=msgkit.ContactSchedule.parse(WINDOW, blackout=["2026-02-17"]),
        time_zone="Asia/Taipei",
        outside_schedule="skip",
    )
    campaign = client.create_campaign("Windowed", "Hello", policy=policy)
    quiet = msgkit.SendPolicy(schedule=msgkit.ContactSchedule.quiet_hours("21:00", "09:00"))
    other = client.create_campaign("Quiet", "Hello", policy=quiet)
    again = make_client()  # another process on the same file
    assert again.campaign(campaign.id).policy == policy
    assert again.campaign(other.id).policy == quiet
    assert again.campaign("Windowed").policy.schedule.windows[0].start == time(9)  # type: ignore[union-attr]


def test_every_message_goes_inside_the_recipients_local_window(
    client: msgkit.Client, sim: Simulator, clock: FakeClock, write_csv: WriteCsv
) -> None:
    """Taipei (open), New York (night) and Berlin each get their SMS between 09:00 and 20:00."""
    audience = _people(client, write_csv, [TAIPEI, NEW_YORK, BERLIN])
    policy = msgkit.SendPolicy(schedule=msgkit.ContactSchedule.parse(WINDOW))
    campaign = client.create_campaign("Windowed", "Hello", audience=audience, policy=policy)
    client.start(campaign)
    assert client.progress(campaign).count(msgkit.MessageState.DEFERRED) == 1  # New York
    _drain(client, clock, campaign)
    sent = {m.to: m.at for m in sim.messages.values()}
    assert set(sent) == set(ZONES)
    for number, at in sent.items():
        assert time(9) <= _local(at, number).time() < time(20), number
    assert sent[NEW_YORK] == datetime(2026, 1, 5, 14, 0, tzinfo=UTC)  # 09:00 EST
    assert client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED


@pytest.mark.parametrize(
    ("number", "start", "expected"),
    [
        # Berlin springs forward on Sunday 2026-03-29: 09:00 is 07:00 UTC, not 08:00.
        (
            BERLIN,
            datetime(2026, 3, 28, 19, 30, tzinfo=UTC),
            datetime(2026, 3, 29, 7, 0, tzinfo=UTC),
        ),
        # Berlin falls back on Sunday 2026-10-25: 09:00 is 08:00 UTC again.
        (
            BERLIN,
            datetime(2026, 10, 24, 18, 30, tzinfo=UTC),
            datetime(2026, 10, 25, 8, 0, tzinfo=UTC),
        ),
        # New York springs forward on Sunday 2026-03-08: 09:00 EDT is 13:00 UTC.
        (NEW_YORK, datetime(2026, 3, 8, 3, 0, tzinfo=UTC), datetime(2026, 3, 8, 13, 0, tzinfo=UTC)),
        # New York falls back on Sunday 2026-11-01: 09:00 EST is 14:00 UTC.
        (
            NEW_YORK,
            datetime(2026, 11, 1, 3, 0, tzinfo=UTC),
            datetime(2026, 11, 1, 14, 0, tzinfo=UTC),
        ),
    ],
)
def test_the_window_follows_the_wall_clock_across_dst(
    client: msgkit.Client,
    sim: Simulator,
    clock: FakeClock,
    write_csv: WriteCsv,
    number: str,
    start: datetime,
    expected: datetime,
) -> None:
    """Started in the evening before a DST switch, the SMS goes at 09:00 local the next day."""
    _advance_to(clock, start)
    audience = _people(client, write_csv, [number])
    policy = msgkit.SendPolicy(schedule=msgkit.ContactSchedule.parse(WINDOW))
    campaign = client.create_campaign("Night", "Good morning", audience=audience, policy=policy)
    client.start(campaign)
    _drain(client, clock, campaign)
    [message] = sim.messages.values()
    assert message.at == expected
    assert _local(message.at, number).time() == time(9)


def test_quiet_hours_hold_messages_until_morning(
    client: msgkit.Client, sim: Simulator, clock: FakeClock, write_csv: WriteCsv
) -> None:
    """Quiet hours 21:00-09:00 in Taipei: a campaign started at 23:00 there sends at 09:00."""
    _advance_to(clock, datetime(2026, 1, 5, 15, 0, tzinfo=UTC))  # 23:00 in Taipei
    audience = _people(client, write_csv, tw_numbers(3))
    policy = msgkit.SendPolicy(schedule=msgkit.ContactSchedule.quiet_hours("21:00", "09:00"))
    campaign = client.create_campaign("Quiet", "Morning", audience=audience, policy=policy)
    client.start(campaign)
    client.run(progress=False)
    assert not sim.messages
    _drain(client, clock, campaign)
    assert {m.at for m in sim.messages.values()} == {datetime(2026, 1, 6, 1, 0, tzinfo=UTC)}


def test_outside_the_schedule_the_campaign_can_skip(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """With outside_schedule='skip', a message due outside the window is skipped, not deferred."""
    audience = _people(client, write_csv, [TAIPEI, BERLIN])  # 17:00 and 10:00 now
    policy = msgkit.SendPolicy(
        schedule=msgkit.ContactSchedule.parse("daily 09:00-12:00"), outside_schedule="skip"
    )
    campaign = client.create_campaign("Morning only", "Hi", audience=audience, policy=policy)
    client.start(campaign)
    client.run(progress=False)
    assert {m.to for m in sim.messages.values()} == {BERLIN}
    assert client.progress(campaign).by_reason == {"outside_schedule": 1}
    [skipped] = client.messages(campaign, states=[msgkit.MessageState.SKIPPED])
    assert skipped.reason == "outside_schedule"
    assert "outside the contact schedule" in (skipped.error or "")
    assert client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED


def _paced(client: msgkit.Client, write_csv: WriteCsv, **fields: object) -> msgkit.Campaign:
    """Five Taipei numbers at one SMS a minute, in a window that closes at 17:03 there
    (it is 17:00): two of them are held back by the send speed past the window."""
    audience = _people(client, write_csv, tw_numbers(5))
    policy = msgkit.SendPolicy(
        schedule=msgkit.ContactSchedule.parse("daily 09:00-17:03"),
        send_speed=msgkit.SendSpeed(messages=1, per=timedelta(minutes=1)),
        **fields,  # type: ignore[arg-type]
    )
    campaign = client.create_campaign("Paced", "Hi", audience=audience, policy=policy)
    client.start(campaign)
    return campaign


def test_a_message_held_back_past_the_window_is_skipped_at_send_time(
    client: msgkit.Client, sim: Simulator, clock: FakeClock, write_csv: WriteCsv
) -> None:
    """Held by the send speed past the window's end, a message is skipped (outside_schedule)."""
    campaign = _paced(client, write_csv, outside_schedule="skip")
    _drain(client, clock, campaign)
    taipei = ZoneInfo("Asia/Taipei")
    assert len(sim.messages) == 3
    assert all(m.at.astimezone(taipei).time() < time(17, 3) for m in sim.messages.values())
    assert client.progress(campaign).by_reason == {"outside_schedule": 2}
    assert client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED


def test_a_message_held_back_past_the_window_waits_for_the_next_opening(
    client: msgkit.Client, sim: Simulator, clock: FakeClock, write_csv: WriteCsv
) -> None:
    """Held by the send speed past the window's end, a message waits for the next opening
    (the default, ``outside_schedule="defer"``)."""
    campaign = _paced(client, write_csv)
    _drain(client, clock, campaign)
    taipei = ZoneInfo("Asia/Taipei")
    times = sorted(m.at.astimezone(taipei) for m in sim.messages.values())
    assert len(times) == 5
    assert all(time(9) <= t.time() < time(17, 3) for t in times)
    assert [t.date().day for t in times] == [5, 5, 5, 6, 6]
    assert sorted(m.to for m in sim.messages.values()) == sorted(tw_e164(n) for n in tw_numbers(5))
    assert client.progress(campaign).sent == 5


def test_a_released_fallback_outside_the_schedule_waits_for_the_opening(
    make_client: MakeClient, sim: Simulator, clock: FakeClock
) -> None:
    """A LINE step that is skipped releases its SMS fallback; outside the schedule that SMS
    waits for the next opening (run() returns meanwhile) and then goes, once."""
    line = Simulator(clock=clock.now)
    client = make_client(
        {
            "line": msgkit.testing.SimulatorProvider("line", channel="line", server=line),
            "sms": msgkit.testing.SimulatorProvider("sms", server=sim),
        }
    )
    members = client.create_list(
        "members",
        [
            msgkit.Contact(phone="+886912000001", attributes={"name": "Amy"}),
            msgkit.Contact(phone="+886912000002"),  # no name: the LINE text cannot be made
        ],
    )
    campaign = client.create_campaign(
        "Morning",
        "Hi ${name}, good morning",
        audience=members,
        channel="line",
        provider="line",
        fallback=msgkit.Fallback(template=msgkit.Template(body="Good morning"), provider="sms"),
        policy=msgkit.SendPolicy(
            schedule=msgkit.ContactSchedule.parse("daily 09:00-12:00"), time_zone="Asia/Taipei"
        ),
    )
    client.start(campaign)  # 17:00 in Taipei: everything waits for 09:00 tomorrow
    with deadline(20):
        client.run(progress=False)
        clock.advance(timedelta(hours=16, minutes=30))  # 09:30 in Taipei
        client.run(progress=False)
    assert [m.to for m in line.messages.values()] == ["+886912000001"]
    assert [(m.to, m.text) for m in sim.messages.values()] == [("+886912000002", "Good morning")]
    opened = datetime(2026, 1, 6, 1, 0, tzinfo=timezone.utc)  # 09:00 Taipei
    assert all(m.at >= opened for m in [*line.messages.values(), *sim.messages.values()])
