"""What may go out: control characters stripped, bidirectional overrides refused (or
stripped, by the campaign's rule), and a length cap when the provider states none — each
refusal a skipped message with its reason."""

from __future__ import annotations

import msgkit
from msgkit.testing import Simulator
from tests.e2e.conftest import MakeClient, tw_e164, tw_numbers

S = msgkit.MessageState


def members(client: msgkit.Client, names: list[str]) -> str:
    """One contact per name (their ``name`` attribute); the list id."""
    numbers = [tw_e164(n) for n in tw_numbers(len(names))]
    contacts = [
        msgkit.Contact(phone=n, attributes={"name": name})
        for n, name in zip(numbers, names, strict=True)
    ]
    return client.create_list("members", contacts)


def test_control_characters_in_values_are_stripped(client: msgkit.Client, sim: Simulator) -> None:
    """A NUL, an escape or a C1 control in a value never reaches the recipient."""
    audience = members(client, ["Amy\x00", "B\x1b[31mob", "Cid\x85", "Dee"])
    campaign = client.create_campaign("Hi", "Hi ${name}\nsee you", audience=audience)
    client.start(campaign)
    client.run(progress=False)
    assert sorted(m.text for m in sim.messages.values()) == [
        "Hi Amy\nsee you",
        "Hi B[31mob\nsee you",
        "Hi Cid\nsee you",
        "Hi Dee\nsee you",
    ]


def test_a_bidi_override_is_refused_with_its_reason(client: msgkit.Client, sim: Simulator) -> None:
    """A right-to-left override in a value skips that message as unsafe_content."""
    audience = members(client, ["Amy", "\u202egnp.exe", "Cid"])
    campaign = client.create_campaign("Hi", "Hi ${name}", audience=audience)
    assert client.estimate(campaign).skipped == {msgkit.SkipReason.UNSAFE_CONTENT: 1}
    client.start(campaign)
    client.run(progress=False)
    assert sorted(m.text for m in sim.messages.values()) == ["Hi Amy", "Hi Cid"]
    (skipped,) = client.messages(campaign, states=[S.SKIPPED])
    assert skipped.reason == "unsafe_content"
    assert "U+202E" in (skipped.error or "")


def test_the_campaign_may_strip_bidi_overrides_instead(
    client: msgkit.Client, sim: Simulator
) -> None:
    """ContentPolicy(bidi="strip") sends the text without the override."""
    audience = members(client, ["\u2067Amy\u2069"])
    policy = msgkit.SendPolicy(content=msgkit.ContentPolicy(bidi="strip"))
    campaign = client.create_campaign("Hi", "Hi ${name}", audience=audience, policy=policy)
    client.start(campaign)
    client.run(progress=False)
    assert [m.text for m in sim.messages.values()] == ["Hi Amy"]


def test_a_huge_value_is_not_sent_as_thousands_of_parts(
    client: msgkit.Client, sim: Simulator
) -> None:
    """A 2 MB value is skipped (over the 1,600 characters cap), not sent as 13,000 SMS."""
    audience = members(client, ["x" * 2_000_000, "Amy"])
    campaign = client.create_campaign("Hi", "Hi ${name}", audience=audience)
    client.start(campaign)
    client.run(progress=False)
    assert [m.text for m in sim.messages.values()] == ["Hi Amy"]
    (skipped,) = client.messages(campaign, states=[S.SKIPPED])
    assert skipped.reason == "not_allowed"
    assert "at most 1600" in (skipped.error or "")


def test_a_content_policy_is_kept_with_the_campaign(make_client: MakeClient) -> None:
    """A campaign's ContentPolicy is stored and read back by another client."""
    policy = msgkit.SendPolicy(
        content=msgkit.ContentPolicy(control="refuse", bidi="strip", max_length=300)
    )
    first = make_client()
    campaign = first.create_campaign(
        "Hi", "Hi there", audience=members(first, ["Amy"]), policy=policy
    )
    assert make_client().campaign(campaign.id).policy.content == policy.content
