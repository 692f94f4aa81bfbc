"""Tests of msgkit.providers.common: bodies that may be garbage, Retry-After, HTTP classes."""

from __future__ import annotations

import base64
import string

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from msgkit.exceptions import RejectedError
from msgkit.providers.base import Outcome, Provider, SendRequest
from msgkit.providers.common import (
    dig,
    e164_address,
    error_for,
    error_results,
    hide,
    json_body,
    prepared_request,
    request_secrets,
    retry_after,
    status_outcome,
    text_or_none,
)
from tests.providers import support


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "5"}, 5.0),
        ({"Retry-After": " 2.5 "}, 2.5),
        ({"Retry-After": "-3"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "inf"}, None),
        ({}, None),
        (
            {
                "Retry-After": "Sun, 01 Mar 2026 04:00:30 GMT",
                "Date": "Sun, 01 Mar 2026 04:00:00 GMT",
            },
            30.0,
        ),
    ],
)
def test_retry_after(headers: dict[str, str], seconds: float | None) -> None:
    """Retry-After as seconds or an HTTP date (against the server's Date)."""
    assert retry_after(httpx.Response(429, headers=headers)) == seconds


@given(st.integers(100, 599), st.booleans())
def test_status_classes(status: int, idempotent: bool) -> None:
    """2xx accepted; 408/429/503 retry; 401/403 account; other 5xx retry only if idempotent."""
    outcome = status_outcome(status, idempotent=idempotent)
    if 200 <= status < 300:
        assert outcome is Outcome.ACCEPTED
    elif status in (408, 429, 503):
        assert outcome is Outcome.RETRY
    elif status in (401, 403):
        assert outcome is Outcome.ACCOUNT
    elif status >= 500:
        assert outcome is (Outcome.RETRY if idempotent else Outcome.UNKNOWN)
    else:
        assert outcome is Outcome.FAILED


@given(st.binary(max_size=50))
def test_json_body_never_raises(content: bytes) -> None:
    """Any bytes: the decoded JSON or None."""
    json_body(httpx.Response(200, content=content))


def test_dig_and_text() -> None:
    """Dotted paths through objects and lists; ids as text."""
    data = {"data": [{"id": 12}, {"id": "x"}], "n": None}
    assert dig(data, "data.0.id") == 12
    assert dig(data, "data.-1.id") == "x"
    assert dig(data, "data.5.id") is None
    assert dig(data, "n.x") is None
    assert dig("text", "a") is None
    assert [text_or_none(v) for v in (12, 3.0, 3.5, "", True, None, "a")] == [
        "12",
        "3",
        None,
        None,
        None,
        None,
        "a",
    ]


PHONE_ADAPTERS = [
    (support.twilio, support.sms_message),
    (support.http_sms, support.sms_message),
    (support.alibaba, support.message),
    (support.line, support.line_message),
]


@pytest.mark.parametrize("to", ["0912345678", "", "  ", "+886 912 345 678", "886912345678"])
@pytest.mark.parametrize(("adapter", "make"), PHONE_ADAPTERS)
def test_phone_adapters_refuse_addresses_not_in_e164(
    adapter: type[Provider], make: type[object], to: str
) -> None:
    """Every SMS and LINE adapter refuses a national, empty or spaced number alike."""
    provider = adapter()
    with pytest.raises(RejectedError, match=r"not an E\.164 number") as caught:
        provider.build_send([make(to=to)])  # type: ignore[operator]
    assert "parse_phone" in str(caught.value)
    if to.strip():
        assert to not in str(caught.value)  # the number is masked


def test_e164_address_passes_e164_through() -> None:
    """An E.164 address is returned as it is."""
    assert e164_address(support.sms_message(to="+886912345678"), "tw") == "+886912345678"


@given(
    outcome=st.sampled_from([o for o in Outcome if o is not Outcome.ACCEPTED]),
    message_ids=st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=3, unique=True),
    wait=st.none() | st.floats(0, 60),
    flags=st.fixed_dictionaries(
        {
            "fallback_now": st.booleans(),
            "suppress": st.booleans(),
            "isolate": st.booleans(),
        }
    ),
    facts=st.fixed_dictionaries(
        {"provider": st.just("p")},
        optional={
            "status": st.integers(400, 599),
            "code": st.text(max_size=5),
            "hint": st.text(max_size=10),
            "auth": st.booleans(),
            "rate_limited": st.booleans(),
        },
    ),
)
def test_error_results_carry_the_error_of_their_outcome(
    outcome: Outcome,
    message_ids: list[str],
    wait: float | None,
    flags: dict[str, bool],
    facts: dict[str, object],
) -> None:
    """error_results gives every message the outcome, its error_for error, the wait and flags."""
    got = error_results(message_ids, outcome, "why", wait=wait, **flags, **facts)
    expected = error_for(outcome, "why", wait=wait, **facts)  # type: ignore[arg-type]
    assert [r.message_id for r in got] == message_ids
    for result in got:
        assert result.outcome is outcome
        assert result.retry_after == wait
        assert type(result.error) is type(expected)
        assert str(result.error) == str(expected)
        assert result.error is not None
        assert result.error.hint == expected.hint
        assert result.error.retryable == expected.retryable
        assert (result.fallback_now, result.suppress, result.isolate) == (
            flags["fallback_now"],
            flags["suppress"],
            flags["isolate"],
        )


_HEADER_NAMES = st.text(alphabet=string.ascii_letters + "-", min_size=1, max_size=16).filter(
    lambda n: n.lower() not in ("host", "content-length", "transfer-encoding")
)
_HEADER_VALUES = st.text(alphabet=string.printable.strip() + " ", max_size=30).map(str.strip)
_URLS = st.sampled_from(
    [
        "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json",
        "http://127.0.0.1:8765/bot/pnp/push",
        "https://user@h.example:8443/a%20b?x=1&y=%C3%BC",
    ]
)


@given(
    method=st.sampled_from(["POST", "PUT", "PATCH", "DELETE", "GET"]),
    url=_URLS,
    headers=st.lists(st.tuples(_HEADER_NAMES, _HEADER_VALUES), max_size=5),
    body=st.binary(max_size=100),
)
def test_a_prepared_request_is_the_one_httpx_builds(
    method: str, url: str, headers: list[tuple[str, str]], body: bytes
) -> None:
    """A prepared request has the method, URL, headers (in order) and body of
    ``httpx.Request(method, url, headers=..., content=body)``."""
    raw = [(n.encode(), v.encode()) for n, v in headers]
    mine = prepared_request(method, httpx.URL(url), raw, body)
    theirs = httpx.Request(method, url, headers=headers, content=body)
    assert (mine.method, mine.url) == (theirs.method, theirs.url)
    assert mine.headers.raw == theirs.headers.raw
    assert mine.content == theirs.content == mine.read()


@given(
    st.text(alphabet=string.ascii_letters + string.digits + "-_.", min_size=6, max_size=40),
    st.text(max_size=30),
    st.text(max_size=30),
)
def test_hide_leaves_no_secret(secret: str, before: str, after: str) -> None:
    """Every copy of a secret in a provider's words is hidden."""
    text = hide(f"{before}{secret}{after}{secret}", [secret])
    assert secret not in text


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer tok-12345678"},
        {"api_access_token": "tok-12345678"},
        {"Authorization": "Basic " + base64.b64encode(b"AC1:tok-12345678").decode()},
    ],
)
def test_an_echoed_credential_is_hidden_from_the_error(headers: dict[str, str]) -> None:
    """A provider that quotes the refused request's credential does not put it in the error."""
    request = httpx.Request("POST", "https://sms.example.com/send", headers=headers)
    sent = SendRequest(request=request, message_ids=("m1",))
    quoted = f"bad credential tok-12345678 in {dict(request.headers)} for +886912345678"
    [result] = error_results(sent, Outcome.ACCOUNT, quoted, provider="p", status=401, auth=True)
    assert result.error is not None
    assert "tok-12345678" not in str(result.error)
    assert "886912345678" not in str(result.error)
    assert request_secrets(request)
