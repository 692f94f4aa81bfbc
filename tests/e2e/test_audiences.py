"""Audiences: segments (all / any / not, static), splits by percent and count, control
groups, and dedupe across lists — as docs/audiences.md and docs/sending.md teach them."""

from __future__ import annotations

from datetime import timedelta

import pytest

import msgkit
import msgkit.testing
from msgkit.core.segments import Ago
from msgkit.testing import Simulator
from tests.e2e.conftest import WriteCsv, tw_e164, tw_numbers

NUMBERS = tw_numbers(40)
CITIES = ("Taipei", "Tainan", "Taichung", "Kaohsiung")


def _members(client: msgkit.Client, write_csv: WriteCsv) -> str:
    """40 members: m0..m39, cities in turn, age 20 + i, VIP every third."""
    path = write_csv(
        [
            (f"m{i}", n, f"Member {i}", CITIES[i % 4], 20 + i, "yes" if i % 3 == 0 else "no")
            for i, n in enumerate(NUMBERS)
        ],
        header=("Member ID", "Mobile", "Name", "City", "Age", "VIP"),
    )
    members = client.import_list(
        path,
        phone="Mobile",
        key="Member ID",
        variables={"name": "Name"},
        types={"Age": "int"},
        region="TW",
    )
    assert members.summary.accepted == 40
    return members.id


def _run(client: msgkit.Client, name: str, audience: msgkit.Audience) -> set[str]:
    """Start a campaign for ``audience``, send it, and return who got a message."""
    campaign = client.create_campaign(name, "Hi ${name}", audience=audience)
    client.start(campaign)
    client.run(progress=False)
    assert client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED
    return {
        m.recipient for m in client.messages(campaign) if m.state is msgkit.MessageState.DELIVERED
    }


def _who(*indexes: int) -> set[str]:
    return {tw_e164(NUMBERS[i]) for i in indexes}


def test_all_conditions_narrow_the_audience(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """Rule & Rule sends only to members matching both conditions."""
    members = _members(client, write_csv)
    segment = msgkit.Rule(field="City", op="eq", value="taipei") & msgkit.Rule(
        field="Age", op="ge", value=40
    )
    got = _run(client, "Taipei 40+", msgkit.Audience(lists=[members], segment=segment))
    assert got == _who(*(i for i in range(40) if i % 4 == 0 and 20 + i >= 40))
    assert set(sim.recipients) == got


def test_any_and_not_conditions(client: msgkit.Client, write_csv: WriteCsv) -> None:
    """Rule | Rule takes either; ~Rule excludes; they combine."""
    members = _members(client, write_csv)
    south = msgkit.Rule(field="City", op="in", value=["Tainan", "Kaohsiung"])
    vip = msgkit.Rule(field="VIP", op="eq", value="yes")
    got = _run(client, "South or VIP", msgkit.Audience(lists=[members], segment=south | vip))
    assert got == _who(*(i for i in range(40) if i % 4 in (1, 3) or i % 3 == 0))
    got = _run(
        client,
        "South, not VIP",
        msgkit.Audience(lists=[members], segment=south & ~vip),
    )
    assert got == _who(*(i for i in range(40) if i % 4 in (1, 3) and i % 3 != 0))


def test_static_segment_sends_to_the_keys_it_holds(
    client: msgkit.Client, write_csv: WriteCsv
) -> None:
    """A StaticSegment of member ids sends to those members only."""
    members = _members(client, write_csv)
    segment = msgkit.StaticSegment(keys={"m1", "m7", "m33", "not-a-member"})
    got = _run(client, "Chosen", msgkit.Audience(lists=[members], segment=segment))
    assert got == _who(1, 7, 33)


def test_split_by_percent_parts_are_disjoint_and_cover_the_list(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """Each part of a percent split is its own campaign; together they reach everyone once."""
    members = _members(client, write_csv)
    split = msgkit.Split(
        parts=[msgkit.Part(name="A", percent=50), msgkit.Part(name="B", percent=50)],
        seed="spring-ab",
    )
    a = _run(client, "A", msgkit.Audience(lists=[members], split=split, part="A"))
    b = _run(client, "B", msgkit.Audience(lists=[members], split=split, part="B"))
    assert a
    assert b
    assert not a & b
    assert a | b == _who(*range(40))
    assert set(sim.recipients.values()) == {1}


def test_split_by_count_takes_exactly_that_many(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """A count part takes exactly its count; the rest part takes everyone else."""
    members = _members(client, write_csv)
    split = msgkit.Split(
        parts=[msgkit.Part(name="first", count=15), msgkit.Part(name="rest")], seed="wave"
    )
    first = _run(client, "First wave", msgkit.Audience(lists=[members], split=split, part="first"))
    rest = _run(client, "Second wave", msgkit.Audience(lists=[members], split=split, part="rest"))
    assert len(first) == 15
    assert len(rest) == 25
    assert first | rest == _who(*range(40))
    assert set(sim.recipients.values()) == {1}


def test_split_by_count_applies_after_the_segment(
    client: msgkit.Client, write_csv: WriteCsv
) -> None:
    """A count part counts within the segment: 5 of the 10 Taipei members."""
    members = _members(client, write_csv)
    split = msgkit.Split(
        parts=[msgkit.Part(name="five", count=5), msgkit.Part(name="rest")], seed="s"
    )
    got = _run(
        client,
        "Five in Taipei",
        msgkit.Audience(
            lists=[members],
            segment=msgkit.Rule(field="City", op="eq", value="Taipei"),
            split=split,
            part="five",
        ),
    )
    assert len(got) == 5
    assert got <= _who(*range(0, 40, 4))


def test_control_group_is_held_out_reported_and_stable(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """The control group gets nothing, is reported as such, and is the same every run."""
    members = _members(client, write_csv)
    control = msgkit.ControlGroup(percent=25, salt="spring")
    first = client.create_campaign(
        "With control", "Hi ${name}", audience=msgkit.Audience(lists=[members], control=control)
    )
    planned = client.start(first).summary
    client.run(progress=False)
    held_keys = {
        m.contact_key
        for m in client.messages(first)
        if m.reason == msgkit.SkipReason.CONTROL_GROUP.value
    }
    assert held_keys == {f"m{i}" for i in range(40) if control.holds_out(f"m{i}")}
    held = _who(*(int(k[1:]) for k in held_keys))
    assert 0 < len(held) < 40
    assert planned.held_out == len(held)
    progress = client.progress(first)
    assert progress.by_reason == {msgkit.SkipReason.CONTROL_GROUP.value: len(held)}
    assert progress.count(msgkit.MessageState.DELIVERED) == 40 - len(held)
    assert not held & set(sim.recipients)
    # A second campaign with the same control group holds out the very same members.
    again = _run(client, "Again", msgkit.Audience(lists=[members], control=control))
    assert again == _who(*range(40)) - held


def _two_lists(client: msgkit.Client, write_csv: WriteCsv) -> msgkit.Audience:
    """Members 0-9 in one list, members 5-14 (written another way) in a second."""
    first = client.import_list(
        write_csv([(n, "A") for n in NUMBERS[:10]], name="a.csv"), phone="Mobile", region="TW"
    )
    second = client.import_list(
        write_csv([(n.replace("-", ""), "B") for n in NUMBERS[5:15]], name="b.csv"),
        phone="Mobile",
        region="TW",
    )
    return msgkit.Audience(lists=[first.id, second.id])


def test_two_lists_of_one_audience_are_deduped(
    client: msgkit.Client, sim: Simulator, write_csv: WriteCsv
) -> None:
    """A number in both lists of an audience gets one message; start reports the repeats."""
    campaign = client.create_campaign("Both", "Hello", audience=_two_lists(client, write_csv))
    assert client.estimate(campaign).skipped == {msgkit.SkipReason.DUPLICATE: 5}
    started = client.start(campaign)
    assert started.summary.planned == 15
    assert started.summary.skipped == {msgkit.SkipReason.DUPLICATE: 5}
    client.run(progress=False)
    assert sim.recipients == {tw_e164(n): 1 for n in NUMBERS[:15]}
    assert client.progress(campaign).count(msgkit.MessageState.DELIVERED) == 15


def test_duplicates_across_lists_are_recorded_in_progress(
    client: msgkit.Client, write_csv: WriteCsv
) -> None:
    """The repeats start() reports as duplicates are in the campaign's progress too."""
    campaign = client.create_campaign("Both", "Hello", audience=_two_lists(client, write_csv))
    client.start(campaign)
    client.run(progress=False)
    assert client.progress(campaign).by_reason == {msgkit.SkipReason.DUPLICATE.value: 5}


def test_an_audience_may_name_its_list(client: msgkit.Client, sim: Simulator) -> None:
    """A campaign addressed to a list by its name reaches the list, and is stored by id."""
    list_id = client.create_list("vip", [msgkit.Contact(phone="+886912000001")])
    campaign = client.create_campaign("By name", "Hello", audience="vip")
    assert campaign.audience is not None
    assert campaign.audience.lists == (list_id,)
    client.start(campaign)
    client.run(progress=False)
    assert [m.to for m in sim.messages.values()] == ["+886912000001"]


def test_an_audience_naming_no_list_is_refused(client: msgkit.Client) -> None:
    """A list that does not exist is an error at create (naming it and the lists there
    are) and at start when it was deleted since; nothing is planned."""
    client.create_list("vip", [msgkit.Contact(phone="+886912000001")])
    with pytest.raises(msgkit.NotFoundError, match="'vipp'") as caught:
        client.create_campaign("Typo", "Hello", audience="vipp")
    assert "vip" in str(caught.value.hint)
    other = client.create_list("gone", [msgkit.Contact(phone="+886912000002")])
    campaign = client.create_campaign("Gone", "Hello", audience=other)
    client.delete_list(other)
    with pytest.raises(msgkit.NotFoundError, match=other):
        client.start(campaign)
    assert client.progress(campaign).total == 0


def test_a_resumed_count_split_plans_the_same_people(
    client: msgkit.Client, sim: Simulator, clock: msgkit.testing.FakeClock
) -> None:
    """A count split over a segment that changes with time is cut once, at the start: a
    resume the next day sends to the people first chosen, and no more than the count."""
    now = clock.now()
    members = client.create_list(
        "members",
        [
            msgkit.Contact(
                phone=f"+8869120000{i:02d}",
                attributes={"joined": (now - timedelta(hours=2 + 3 * i)).isoformat()},
            )
            for i in range(12)
        ],
    )
    recent = msgkit.Rule(field="joined", op="after", value=Ago(days=1))  # 8 of them today
    split = msgkit.Split(parts=[msgkit.Part(name="A", count=4), msgkit.Part(name="rest")], seed="s")
    campaign = client.create_campaign(
        "Welcome",
        "Welcome aboard",
        audience=msgkit.Audience(lists=[members], segment=recent, split=split, part="A"),
    )
    first = client.start(campaign)
    client.stop(campaign)
    clock.advance(timedelta(hours=12))  # some have left the segment, others not
    client.resume(campaign)
    client.run(progress=False)
    assert first.summary.planned == 4
    assert len(sim.messages) == 4
    assert client.campaign(campaign).audience.cut is not None  # kept with the campaign
