"""Tests of msgkit.providers.webhooks: how a route's path matches a request's."""

from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import given
from hypothesis import strategies as st

from msgkit.providers.webhooks import WebhookRequest, WebhookRoute

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
