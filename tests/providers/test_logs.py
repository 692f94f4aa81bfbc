"""httpx's request log lines carry no query value and no phone number."""

from __future__ import annotations

import logging

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

import msgkit.providers  # noqa: F401 - installs the filter
from msgkit.providers.logs import redact_url


def test_httpx_request_lines_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    """A GET with a key and a number in its query logs neither."""
    caplog.set_level(logging.DEBUG)
    transport = httpx.MockTransport(lambda request: httpx.Response(200))
    with httpx.Client(transport=transport) as client:
        client.get("https://gw.example.com/send/886912345678?key=s3cr3t&to=%2B886912345678")
    lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert lines == [
        'HTTP Request: GET https://gw.example.com/send/***?key=***&to=*** "HTTP/1.1 200 OK"'
    ]


@given(
    st.text(alphabet="abc/-", max_size=10),
    st.lists(st.tuples(st.text("kq", min_size=1, max_size=3), st.text(min_size=1)), max_size=4),
    st.integers(min_value=1_000_000, max_value=10**15),
)
def test_no_query_value_and_no_long_digit_run_survives(
    path: str, query: list[tuple[str, str]], number: int
) -> None:
    """Whatever the path and query, the redacted URL keeps no query value nor the number."""
    url = httpx.URL(f"https://h.example.com/{path}{number}", params=query)
    redacted = redact_url(str(url))
    assert str(number) not in redacted
    assert all(v == "***" for _, v in httpx.URL(redacted).params.multi_items())
