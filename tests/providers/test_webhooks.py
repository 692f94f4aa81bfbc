"""Tests of msgkit.providers.webhooks: how a route's path matches a request's."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from msgkit.core.contacts import is_e164
from msgkit.providers.alibaba.adapter import number_key
from msgkit.providers.webhooks import WebhookRequest, WebhookRoute, e164_or_none

segment = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=8)


def _route(path: str) -> WebhookRoute:
    def verify(request: WebhookRequest) -> None:
        return None

    return WebhookRoute(path=path, verify=verify, parse=lambda r: [])


def test_paths_match_their_segments() -> None:
    """A bare path matches nothing more; a {name} segment matches any one and is kept."""
    assert _route("").match([]) == {}
    assert _route("").match(["status"]) is None
    assert _route("status").match(["status"]) == {}
    assert _route("{token}/report").match(["t0k", "report"]) == {"token": "t0k"}
    assert _route("{token}/report").match(["t0k", "reply"]) is None
    assert _route("{token}/report").match(["", "report"]) is None


@given(st.lists(segment, max_size=4), st.lists(segment, max_size=4))
def test_a_literal_path_matches_itself_only(path: list[str], given_segments: list[str]) -> None:
    """A path without {name} segments matches exactly its own segments, capturing nothing."""
    route = _route("/".join(path))
    assert route.match(path) == {}
    assert (route.match(given_segments) is not None) == (given_segments == path)


@given(st.lists(st.tuples(st.booleans(), segment), max_size=4))
def test_placeholders_capture_what_they_stand_for(parts: list[tuple[bool, str]]) -> None:
    """Every {name} segment captures the segment in its place; literal ones must be equal."""
    pattern = [f"{{p{i}}}" if is_param else text for i, (is_param, text) in enumerate(parts)]
    request = [text for _, text in parts]
    expected = {f"p{i}": text for i, (is_param, text) in enumerate(parts) if is_param}
    assert _route("/".join(pattern)).match(request) == expected
    assert _route("/".join(pattern)).match([*request, "extra"]) is None


def test_a_webhook_request_shows_no_path_token() -> None:
    """A request's repr masks its path segments and secret, which may be the only key."""
    request = WebhookRequest(
        provider="ali",
        secret="TOK123",
        params={"token": "TOK123"},
        url="https://x.example/hooks/ali/TOK123/report",
        now=datetime(2026, 1, 5, tzinfo=timezone.utc),
    )
    assert "TOK123" not in repr(request)
    assert "/hooks/ali/***/report" in repr(request)


_numbers = st.one_of(
    st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True),
    st.text(st.sampled_from("+0123456789 -()٣"), max_size=16),
    st.sampled_from(["+14155550100", "+886912345678", "+1 415 555 0100", "0912345678", ""]),
)


@given(_numbers)
def test_unvalidated_numbers_trust_e164_only(raw: str) -> None:
    """Without validation, a number written in E.164 is taken as written; any other
    form reads as it does with validation."""
    fast = e164_or_none(raw, validate=False)
    if is_e164(raw):
        assert fast == raw
    else:
        assert fast == e164_or_none(raw)


@given(st.text(st.sampled_from("+0123456789 -٣x"), max_size=20))
def test_number_key_keeps_the_digits(raw: str) -> None:
    """Alibaba's number key is the number's digits (a leading 0086 or 86 of a Chinese
    mobile dropped), whether or not it had separators."""
    digits = "".join(ch for ch in raw if ch.isdigit())
    if digits.startswith("0086"):
        digits = digits[2:]
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    assert number_key(raw) == digits
