"""Tests of msgkit.core.policy: the campaign's sending rules as one value."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from msgkit import Campaign, InvalidPhoneError
from msgkit.core.links import ShortLinks
from msgkit.core.optout import OptOutScope
from msgkit.core.policy import (
    BIDI_CONTROLS,
    CONTROL_CHARACTERS,
    DEFAULT_VALIDITY,
    ContentPolicy,
    SendPolicy,
    SendSpeed,
)


def test_defaults() -> None:
    """The default policy: 3 days' validity, any time, no caps, unlimited speed, sender scope."""
    policy = SendPolicy()
    assert policy.validity == DEFAULT_VALIDITY == timedelta(days=3)
    assert policy.schedule is None
    assert policy.caps == ()
    assert policy.send_speed is None
    assert policy.optout_scope is OptOutScope.SENDER
    assert policy.time_zone == "UTC"
    assert policy.link_params


def test_values_are_checked() -> None:
    """Bad zones, naive end dates, non-positive validity and unknown modes are refused."""
    with pytest.raises(ValueError, match="IANA"):
        SendPolicy(time_zone="Somewhere/Else")
    with pytest.raises(ValueError, match="aware"):
        SendPolicy(ends_at=datetime(2024, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="positive"):
        SendPolicy(validity=timedelta(0))
    with pytest.raises(ValueError, match="when_capped"):
        SendPolicy(when_capped="drop")  # type: ignore[arg-type]
    with pytest.raises(InvalidPhoneError):
        SendPolicy(test_numbers=["0912 345 678"])  # national form: needs +886


def test_test_numbers_are_parsed_and_deduplicated() -> None:
    """Test numbers are parsed to E.164 once each, and printed masked."""
    policy = SendPolicy(test_numbers=["+886 912 345 678", "+886912345678", "+573001234567"])
    assert [p.e164 for p in policy.test_numbers] == ["+886912345678", "+573001234567"]
    assert "+886912345678" not in repr(policy)


def test_secret_not_in_repr() -> None:
    """The short-link secret never appears in the policy's or the campaign's repr."""
    secret = "a-very-secret-link-key-0123456789"
    links = ShortLinks(base_url="https://go.example.com/l", secret=secret)
    campaign = Campaign(name="x", policy=SendPolicy(links=links))
    assert secret not in repr(campaign)
    assert "secret=***" in repr(campaign)


def test_send_speed() -> None:
    """Per-minute speeds convert to per-second, and say how long a count takes."""
    speed = SendSpeed(messages=600, per=timedelta(minutes=1))
    assert speed.per_second == 10.0
    assert speed.duration(3_600) == timedelta(minutes=6)
    with pytest.raises(ValueError, match="at least 1"):
        SendSpeed(messages=0)
    with pytest.raises(ValueError, match="positive"):
        SendSpeed(messages=1, per=timedelta(0))


def test_campaign_keeps_its_behaviour() -> None:
    """A campaign with a policy schedules, starts and edits as before."""
    when = datetime(2030, 1, 1, 9, tzinfo=timezone.utc)
    c = Campaign(name="x", policy=SendPolicy(validity=None)).schedule(when)
    assert c.send_at == when
    assert c.policy.validity is None
    assert c.edit(policy=SendPolicy()).policy == SendPolicy()


@given(st.integers(1, 10_000), st.integers(1, 3_600))
def test_speed_duration_round_trip(messages: int, seconds: int) -> None:
    """Sending `messages` at messages-per-`seconds` takes `seconds`."""
    speed = SendSpeed(messages=messages, per=timedelta(seconds=seconds))
    taken = speed.duration(messages)
    assert abs(taken.total_seconds() - seconds) < 1e-3


# --- ContentPolicy ---------------------------------------------------------------------

UNSAFE = (
    "\x00\x01\x08\x0b\x0c\x0e\x1b\x1f\x7f\x80\x85\x9f"
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
SAFE = "ab \t\n\r\u200e\u200f中"
texts = st.text(alphabet=st.sampled_from(SAFE + UNSAFE), max_size=30)


@given(texts)
def test_stripping_removes_exactly_the_unsafe_characters(text: str) -> None:
    """strip/strip leaves the text minus control characters and bidi controls, no reason."""
    policy = ContentPolicy(control="strip", bidi="strip")
    assert policy.screen(text) == ("".join(c for c in text if c not in UNSAFE), None)


@given(texts, st.sampled_from(["strip", "refuse"]), st.sampled_from(["strip", "refuse"]))
def test_a_text_is_refused_exactly_when_a_refused_character_is_in_it(
    text: str, control: str, bidi: str
) -> None:
    """A reason comes back iff the text holds a character of a class the policy refuses."""
    policy = ContentPolicy(control=control, bidi=bidi)  # type: ignore[arg-type]
    refused = (control == "refuse" and bool(CONTROL_CHARACTERS.search(text))) or (
        bidi == "refuse" and bool(BIDI_CONTROLS.search(text))
    )
    screened, reason = policy.screen(text)
    assert (reason is not None) is refused
    if reason is None:
        assert not CONTROL_CHARACTERS.search(screened)
        assert not BIDI_CONTROLS.search(screened)
        assert "\t" in screened or "\t" not in text  # tab and line breaks stay
