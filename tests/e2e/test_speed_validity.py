"""Send speed (`msgkit.SendSpeed`) and validity (`validity`, `ends_at`): with the fake
clock, when each message reaches the gateway, and what is not sent in time."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

import msgkit
from msgkit.testing import FakeClock, Simulator

NUMBERS = [f"+8869120000{i:02d}" for i in range(10)]


def _campaign(client: msgkit.Client, policy: msgkit.SendPolicy) -> msgkit.Campaign:
    members = client.create_list("members", [msgkit.Contact(phone=n) for n in NUMBERS])
    return client.create_campaign("Paced", "Hello", audience=members, policy=policy)


def _send_times(sim: Simulator, since: datetime) -> list[float]:
    return sorted((m.at - since).total_seconds() for m in sim.messages.values())


@pytest.mark.parametrize(
    "speed",
    [msgkit.SendSpeed(messages=2), msgkit.SendSpeed(messages=1, per=timedelta(minutes=1))],
)
def test_send_speed_is_never_exceeded_in_any_window(
    client: msgkit.Client, sim: Simulator, clock: FakeClock, speed: msgkit.SendSpeed
) -> None:
    """No window of `per` holds more than `messages` sends; ten take (10 - 1) / rate."""
    start = clock.now()
    campaign = _campaign(client, msgkit.SendPolicy(send_speed=speed, validity=None))
    client.start(campaign)
    client.run(progress=False)
    times = _send_times(sim, start)
    per = speed.per.total_seconds()
    for i, t in enumerate(times):
        assert sum(1 for u in times[i:] if u < t + per) <= speed.messages, times
    assert times[-1] - times[0] >= (len(times) - speed.messages) * per / speed.messages


def test_messages_not_sent_within_validity_expire_and_are_reported(
    client: msgkit.Client, sim: Simulator, clock: FakeClock
) -> None:
    """Paced past its validity, the rest of a campaign expires: not sent, counted expired."""
    start = clock.now()
    speed = msgkit.SendSpeed(messages=1, per=timedelta(minutes=1))
    validity = timedelta(minutes=3, seconds=30)
    campaign = _campaign(client, msgkit.SendPolicy(send_speed=speed, validity=validity))
    client.start(campaign)
    client.run(progress=False)
    assert all(m.at <= start + validity for m in sim.messages.values())
    progress = client.progress(campaign)
    expired = progress.count(msgkit.MessageState.EXPIRED)
    assert expired >= 5
    assert expired + progress.count(msgkit.MessageState.DELIVERED) == 10
    assert len(sim.messages) == 10 - expired


def test_nothing_is_sent_at_or_after_ends_at(
    client: msgkit.Client, sim: Simulator, clock: FakeClock
) -> None:
    """A campaign paced past its end date sends nothing from ends_at on."""
    ends_at = clock.now() + timedelta(minutes=3, seconds=30)
    speed = msgkit.SendSpeed(messages=1, per=timedelta(minutes=1))
    campaign = _campaign(client, msgkit.SendPolicy(send_speed=speed, ends_at=ends_at))
    client.start(campaign)
    client.run(progress=False)
    assert sim.messages
    assert all(m.at < ends_at for m in sim.messages.values())
    assert client.progress(campaign).count(msgkit.MessageState.EXPIRED) >= 5


def test_a_campaign_started_after_its_end_date_sends_nothing(
    client: msgkit.Client, sim: Simulator, clock: FakeClock
) -> None:
    """Started after ends_at, every recipient is skipped as expired, and reported so."""
    ends_at = clock.now() + timedelta(hours=1)
    campaign = _campaign(client, msgkit.SendPolicy(ends_at=ends_at))
    clock.advance(2 * 3600)
    started = client.start(campaign)
    client.run(progress=False)
    assert started.summary.planned == 0
    assert sim.messages == {}
    assert client.progress(campaign).by_reason == {msgkit.SkipReason.EXPIRED.value: 10}


def test_an_end_date_brought_forward_on_a_stopped_campaign_holds(
    client: msgkit.Client, sim: Simulator, clock: FakeClock
) -> None:
    """Stopped, given an earlier end date, and resumed: nothing goes out after the new end."""
    speed = msgkit.SendSpeed(messages=1, per=timedelta(minutes=1))
    campaign = _campaign(client, msgkit.SendPolicy(send_speed=speed))
    client.start(campaign)
    client.stop(campaign)
    ends_at = clock.now() + timedelta(minutes=2, seconds=30)
    client.edit(campaign, policy=msgkit.SendPolicy(send_speed=speed, ends_at=ends_at))
    client.resume(campaign)
    client.run(progress=False)
    assert sim.messages
    assert all(m.at < ends_at for m in sim.messages.values())
    assert client.progress(campaign).count(msgkit.MessageState.EXPIRED) >= 5
