"""Frequency caps across campaigns, through the front door: what is planned counts, what
ends unsent stops counting, and the cap holds again when a message is about to go."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import msgkit
from msgkit.testing import FakeClock, Simulator, SimulatorProvider
from tests.e2e.conftest import MakeClient, WriteCsv, tw_e164, tw_numbers

TAIPEI = ZoneInfo("Asia/Taipei")
ONE_SMS_A_DAY = msgkit.FrequencyCap(limit=1, per="day", channel="sms")


def _policy(**fields: object) -> msgkit.SendPolicy:
    return msgkit.SendPolicy(caps=[ONE_SMS_A_DAY], **fields)  # type: ignore[arg-type]


def _promo(
    client: msgkit.Client, name: str, audience: str, policy: msgkit.SendPolicy
) -> msgkit.Campaign:
    template = msgkit.Template(body=f"{name}: 20% off", kind="promotional")
    return client.create_campaign(name, template, audience=audience, policy=policy)


def _members(client: msgkit.Client, write_csv: WriteCsv, count: int = 4) -> str:
    path = write_csv([(n, f"M{i}") for i, n in enumerate(tw_numbers(count))])
    return client.import_list(path, phone="Mobile", region="TW").id


def _per_local_day(sim: Simulator) -> Counter[tuple[str, object]]:
    """How many SMS each number got on each of its (Taipei) calendar days."""
    return Counter((m.to, m.at.astimezone(TAIPEI).date()) for m in sim.messages.values())


def _advance_to(clock: FakeClock, at: datetime) -> None:
    clock.advance((at - clock.now()).total_seconds())


def _texts(sim: Simulator, numbers: Sequence[str]) -> dict[str, list[str]]:
    got: dict[str, list[str]] = {tw_e164(n): [] for n in numbers}
    for m in sorted(sim.messages.values(), key=lambda m: m.at):
        got[m.to].append(m.text)
    return got


def test_two_campaigns_started_together_send_one_sms_a_day(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """Two capped campaigns started before run(): each number gets one SMS that day."""
    members = _members(client, write_csv)
    first = _promo(client, "First", members, _policy())
    second = _promo(client, "Second", members, _policy())
    client.start(first)
    client.start(second)
    client.run(progress=False)
    assert set(_per_local_day(sim).values()) == {1}
    assert _texts(sim, tw_numbers(4)) == {tw_e164(n): ["First: 20% off"] for n in tw_numbers(4)}
    assert client.progress(second).by_reason == {"capped": 4}
    capped = client.messages(second, states=[msgkit.MessageState.SKIPPED])
    assert all("at most 1 sms message per day" in (m.error or "") for m in capped)
    for campaign in (first, second):
        assert client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED


def test_a_cancelled_plan_stops_counting(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """A campaign stopped and deleted before sending leaves the cap free for the next."""
    members = _members(client, write_csv)
    first = _promo(client, "First", members, _policy())
    client.start(first)
    client.stop(first)
    client.delete(first)
    second = _promo(client, "Second", members, _policy())
    client.start(second)
    client.run(progress=False)
    assert _texts(sim, tw_numbers(4)) == {tw_e164(n): ["Second: 20% off"] for n in tw_numbers(4)}
    assert client.progress(second).by_reason == {}


def test_a_failed_message_stops_counting(
    make_client: MakeClient, clock: FakeClock, write_csv: WriteCsv
) -> None:
    """A message the provider refused does not use up the day's cap."""
    refusing = Simulator(clock=clock.now, rules={"001": "invalid"})
    client = make_client({"sms": SimulatorProvider("sms", server=refusing)})
    members = _members(client, write_csv)
    first = _promo(client, "First", members, _policy())
    client.start(first)
    client.run(progress=False)
    assert client.progress(first).count(msgkit.MessageState.FAILED) == 1

    quiet = Simulator(clock=clock.now)
    client = make_client({"sms": SimulatorProvider("sms", server=quiet)})
    second = _promo(client, "Second", members, _policy())
    client.start(second)
    client.run(progress=False)
    assert {m.to for m in quiet.messages.values()} == {tw_e164(tw_numbers(4)[1])}
    assert client.progress(second).by_reason == {"capped": 3}


def _deferred_into_a_used_day(
    client: msgkit.Client, clock: FakeClock, members: str, when_capped: str
) -> tuple[msgkit.Campaign, msgkit.Campaign]:
    """First waits for its window (Tuesday 10:00 Taipei); Second, with no window, is
    started at 09:00 that Tuesday and sends at once, using the day's cap."""
    window = msgkit.ContactSchedule.parse("daily 10:00-20:00")
    first = _promo(client, "First", members, _policy(schedule=window, when_capped=when_capped))
    _advance_to(clock, datetime(2026, 1, 5, 13, 0, tzinfo=timezone.utc))  # Mon 21:00 Taipei
    client.start(first)
    client.run(progress=False)
    assert client.progress(first).count(msgkit.MessageState.DEFERRED) == 4

    _advance_to(clock, datetime(2026, 1, 6, 1, 0, tzinfo=timezone.utc))  # Tue 09:00 Taipei
    second = _promo(client, "Second", members, _policy())
    client.start(second)
    client.run(progress=False)
    assert client.progress(second).sent == 4

    _advance_to(clock, datetime(2026, 1, 6, 2, 0, tzinfo=timezone.utc))  # Tue 10:00 Taipei
    client.run(progress=False)
    return first, second


def test_the_cap_holds_at_send_time_for_a_deferred_message(
    client: msgkit.Client, sim: Simulator, clock: FakeClock, write_csv: WriteCsv
) -> None:
    """A message deferred into a day whose cap another campaign used is skipped as capped."""
    first, _ = _deferred_into_a_used_day(client, clock, _members(client, write_csv), "skip")
    assert set(_per_local_day(sim).values()) == {1}
    assert _texts(sim, tw_numbers(4)) == {tw_e164(n): ["Second: 20% off"] for n in tw_numbers(4)}
    assert client.progress(first).by_reason == {"capped": 4}
    assert client.campaign(first).status is msgkit.CampaignStatus.FINISHED


def test_a_deferring_campaign_waits_for_the_next_day_at_send_time(
    client: msgkit.Client, sim: Simulator, clock: FakeClock, write_csv: WriteCsv
) -> None:
    """With when_capped='defer', the message capped at send time goes the next local day."""
    first, _ = _deferred_into_a_used_day(client, clock, _members(client, write_csv), "defer")
    assert client.progress(first).count(msgkit.MessageState.DEFERRED) == 4
    waiting = client.messages(first)
    assert {m.not_before for m in waiting} == {datetime(2026, 1, 7, 2, 0, tzinfo=timezone.utc)}

    _advance_to(clock, datetime(2026, 1, 7, 2, 0, tzinfo=timezone.utc))  # Wed 10:00 Taipei
    client.run(progress=False)
    assert set(_per_local_day(sim).values()) == {1}
    assert _texts(sim, tw_numbers(4)) == {
        tw_e164(n): ["Second: 20% off", "First: 20% off"] for n in tw_numbers(4)
    }
    assert client.progress(first).sent == 4


def test_notifications_are_not_capped(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """A notification campaign is exempt from caps and does not use them up either."""
    members = _members(client, write_csv)
    notice = client.create_campaign(
        "Notice", "Your order shipped", audience=members, policy=_policy()
    )
    promo = _promo(client, "Promo", members, _policy())
    client.start(notice)
    client.start(promo)
    client.run(progress=False)
    assert set(sim.recipients.values()) == {2}
    assert client.progress(promo).by_reason == {}


def test_the_day_is_the_recipients_own(
    client: msgkit.Client, sim: Simulator, clock: FakeClock, write_csv: WriteCsv
) -> None:
    """After the recipient's midnight (16:00 UTC in Taipei) the cap allows a new SMS."""
    members = _members(client, write_csv)
    first = _promo(client, "First", members, _policy())
    client.start(first)
    client.run(progress=False)
    clock.advance(timedelta(hours=7).total_seconds())  # 16:00 UTC: Tuesday in Taipei
    second = _promo(client, "Second", members, _policy())
    client.start(second)
    client.run(progress=False)
    assert set(sim.recipients.values()) == {2}
    assert set(_per_local_day(sim).values()) == {1}
