"""Tests of msgkit.providers.twilio: the Messages request, error codes, reconciliation."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import urlencode

import httpx
import pytest
import respx
from hypothesis import given
from hypothesis import strategies as st

from msgkit import AccountError, AuthError, Balance, ConfigError, RateLimitedError, RejectedError
from msgkit.core.delivery import MessageState
from msgkit.exceptions import ProviderError
from msgkit.providers.base import CLOCK_SKEW, Outcome, StatusResult
from msgkit.providers.twilio import TwilioSms, from_config, with_message_id
from msgkit.providers.twilio.adapter import STATUS_PAGE, form_body
from tests.providers.support import NOW, SECRET, form, send, sms_message, twilio

URL = "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json"


def test_message_request() -> None:
    """To, From, Body, MediaUrl, ValidityPeriod and StatusCallback with our id; basic auth."""
    msg = sms_message(
        1,
        media=("https://img.example/a.png", "https://img.example/b.png"),
        expires_at=NOW + timedelta(minutes=10),
    )
    (sent,) = twilio().build_send([msg])
    request = sent.request
    assert (request.method, str(request.url)) == ("POST", URL)
    fields = form(request)
    assert fields["To"] == ["+14155550001"]
    assert fields["From"] == ["+14155550100"]
    assert fields["Body"] == ["Your order shipped"]
    assert fields["MediaUrl"] == ["https://img.example/a.png", "https://img.example/b.png"]
    assert fields["ValidityPeriod"] == ["600"]
    assert fields["StatusCallback"] == [
        "https://hooks.example.com/hooks/tw/status?msgkit_id=sms-0000000000000001"
    ]
    user, _, token = base64.b64decode(request.headers["Authorization"][6:]).decode().partition(":")
    assert (user, token) == ("AC0123456789abcdef0123456789abcdef", SECRET)


_NAMES = st.sampled_from(["To", "Body", "From", "MessagingServiceSid", "MediaUrl"])


@given(st.lists(st.tuples(_NAMES, st.text()), max_size=6))
def test_the_form_body_is_urlencode(form: list[tuple[str, str]]) -> None:
    """The request body is what urlencode makes of the same form, for any text."""
    assert form_body(form) == urlencode(form).encode("ascii")


@given(st.text(min_size=1, max_size=200))
def test_a_message_request_carries_any_body(text: str) -> None:
    """Any text reaches the form as it was, with the same headers as httpx builds from
    a dict."""
    (sent,) = twilio().build_send([sms_message(1, text=text)])
    assert form(sent.request)["Body"] == [text]
    assert sent.request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent.request.headers["content-length"] == str(len(sent.request.content))
    assert sent.request.headers["authorization"].startswith("Basic ")


def test_messaging_service_and_long_validity() -> None:
    """An MG... sender is a messaging service; validity is capped at 36000 s."""
    msg = sms_message(1, sender="MG123", expires_at=NOW + timedelta(days=2))
    fields = form(twilio().build_send([msg])[0].request)
    assert fields["MessagingServiceSid"] == ["MG123"]
    assert "From" not in fields
    assert fields["ValidityPeriod"] == ["36000"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"expires_at": NOW - timedelta(seconds=1)}, "expired"),
        ({"text": "x" * 1601}, "1601 characters"),
    ],
)
def test_unsendable_messages_are_refused(change: dict[str, object], words: str) -> None:
    """An expired message or a body over 1600 characters raises RejectedError."""
    with pytest.raises(RejectedError, match=words):
        twilio().build_send([sms_message(1, **change)])


def test_a_sender_is_needed() -> None:
    """Without a sender the message is refused."""
    with pytest.raises(RejectedError, match="sender"):
        twilio(sender=None).build_send([sms_message(1)])


def test_callback_url_keeps_its_query() -> None:
    """with_message_id replaces any msgkit_id and keeps the other parameters."""
    assert (
        with_message_id("https://h/x?msgkit_id=old&a=1", "new") == "https://h/x?a=1&msgkit_id=new"
    )


@respx.mock
def test_accepted() -> None:
    """201 with a sid: accepted, the sid is the provider id."""
    respx.post(URL).mock(return_value=httpx.Response(201, json={"sid": "SM1", "status": "queued"}))
    (result,) = send(twilio(), [sms_message(1)])
    assert (result.outcome, result.provider_message_id) == (Outcome.ACCEPTED, "SM1")


def _error(status: int, code: int, headers: dict[str, str] | None = None) -> httpx.Response:
    body = {"code": code, "message": f"error {code}", "more_info": "https://x", "status": status}
    return httpx.Response(status, json=body, headers=headers)


@respx.mock
def test_opted_out_recipients_are_suppressed() -> None:
    """21610: failed, and the recipient goes on the suppression list."""
    respx.post(URL).mock(return_value=_error(400, 21610))
    (result,) = send(twilio(), [sms_message(1)])
    assert (result.outcome, result.suppress) == (Outcome.FAILED, True)
    assert isinstance(result.error, RejectedError)
    assert result.error.provider_code == "21610"


@pytest.mark.parametrize(
    ("response", "outcome", "error_type", "wait"),
    [
        (_error(400, 21211), Outcome.FAILED, RejectedError, None),
        (_error(400, 21614), Outcome.FAILED, RejectedError, None),
        (_error(400, 21606), Outcome.FAILED, RejectedError, None),
        (_error(400, 21612), Outcome.FAILED, RejectedError, None),
        (_error(400, 30036), Outcome.FAILED, RejectedError, None),
        (_error(429, 20429, {"Retry-After": "5"}), Outcome.RETRY, RateLimitedError, 5.0),
        (_error(429, 20429), Outcome.RETRY, RateLimitedError, None),
        (_error(401, 20003), Outcome.ACCOUNT, AuthError, None),
        (_error(403, 20005), Outcome.ACCOUNT, AccountError, None),
        (_error(500, 20500), Outcome.UNKNOWN, ProviderError, None),
        (httpx.Response(201, text="not json"), Outcome.UNKNOWN, ProviderError, None),
        (httpx.Response(502, text="<html>"), Outcome.UNKNOWN, ProviderError, None),
        (httpx.Response(503, text="busy"), Outcome.RETRY, ProviderError, None),
    ],
)
@respx.mock
def test_errors_are_classified(
    response: httpx.Response,
    outcome: Outcome,
    error_type: type[ProviderError],
    wait: float | None,
) -> None:
    """Each error class of Twilio maps to its outcome, error and wait."""
    respx.post(URL).mock(return_value=response)
    (result,) = send(twilio(), [sms_message(1)])
    assert result.outcome is outcome
    assert isinstance(result.error, error_type)
    assert result.retry_after == wait
    assert not result.suppress
    assert SECRET not in str(result.error)


@respx.mock
def test_timeout_is_unknown() -> None:
    """No idempotency key: a timeout after sending is unknown."""
    respx.post(URL).mock(side_effect=httpx.ReadTimeout("slow"))
    (result,) = send(twilio(), [sms_message(1)])
    assert result.outcome is Outcome.UNKNOWN


@respx.mock
def test_a_message_failed_at_once_is_failed() -> None:
    """A 201 whose status is already failed is a failed message."""
    respx.post(URL).mock(
        return_value=httpx.Response(
            201, json={"sid": "SM9", "status": "failed", "error_code": 30008}
        )
    )
    (result,) = send(twilio(), [sms_message(1)])
    assert (result.outcome, result.provider_message_id) == (Outcome.FAILED, "SM9")


def test_status_query_and_match() -> None:
    """The list query asks for the number's newest messages; the newest same body matches."""
    provider = twilio()
    msg = sms_message(1)
    request = provider.build_status(msg, NOW)
    assert request is not None
    assert request.url.params["To"] == "+14155550001"
    assert "DateSent>" not in request.url.params  # a queued message has no date_sent
    listed = {
        "messages": [
            {
                "sid": "SM1",
                "body": msg.text,
                "from": "+14155550100",
                "status": "sent",
                "date_created": "Sun, 01 Mar 2026 04:00:01 +0000",
            },
            {
                "sid": "SM2",
                "body": msg.text,
                "from": "+14155550100",
                "status": "delivered",
                "date_created": "Sun, 01 Mar 2026 04:00:09 +0000",
            },
            {"sid": "SM3", "body": "other", "from": "+14155550100", "status": "failed"},
        ]
    }
    result = provider.parse_status(msg, httpx.Response(200, json=listed))
    assert (result.found, result.state, result.provider_message_id) == (
        True,
        MessageState.DELIVERED,
        "SM2",
    )
    assert result.taken_at == datetime(2026, 3, 1, 4, 0, 9, tzinfo=timezone.utc)
    empty = provider.parse_status(msg, httpx.Response(200, json={"messages": []}))
    assert not empty.found
    with pytest.raises(AuthError):
        provider.parse_status(msg, httpx.Response(401, json={"code": 20003}))
    with pytest.raises(ProviderError):
        provider.parse_status(msg, httpx.Response(200, text="garbage"))


def test_from_config() -> None:
    """from_config reads the token from TWILIO_AUTH_TOKEN by default."""
    provider = from_config(
        "tw",
        {"type": "twilio", "account_sid": "AC1", "sender": "+1415"},
        {"TWILIO_AUTH_TOKEN": SECRET},
    )
    assert isinstance(provider, TwilioSms)
    assert SECRET not in repr(provider)
    with pytest.raises(ConfigError, match="TWILIO_AUTH_TOKEN"):
        from_config("tw", {"type": "twilio", "account_sid": "AC1"}, {})


BALANCE_URL = (
    "https://api.twilio.com/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Balance.json"
)


def _balance(provider: TwilioSms) -> Balance:
    """Build and perform the balance query with an httpx client (mock it with respx)."""
    with httpx.Client() as client:
        return provider.parse_balance(client.send(provider.build_balance()))


@respx.mock
def test_balance() -> None:
    """Balance.json with basic auth: the balance and its currency."""
    route = respx.get(BALANCE_URL).mock(
        return_value=httpx.Response(
            200, json={"account_sid": "AC0", "balance": "12.34", "currency": "usd"}
        )
    )
    assert _balance(twilio()) == Balance(amount=Decimal("12.34"), currency="USD")
    user, _, token = (
        base64.b64decode(route.calls.last.request.headers["Authorization"][6:]).decode()
    ).partition(":")
    assert (user, token) == ("AC0123456789abcdef0123456789abcdef", SECRET)


@respx.mock
def test_balance_refused_credentials() -> None:
    """A 401 on the balance query is an AuthError naming the fix, never a balance."""
    respx.get(BALANCE_URL).mock(return_value=_error(401, 20003))
    with pytest.raises(AuthError, match="Account SID"):
        _balance(twilio())


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500, json={"code": 20500}),
        httpx.Response(200, json={"currency": "USD"}),
        httpx.Response(200, text="<html>"),
    ],
)
@respx.mock
def test_balance_failures_raise(response: httpx.Response) -> None:
    """A server error or an answer without a balance raises a retryable ProviderError."""
    respx.get(BALANCE_URL).mock(return_value=response)
    with pytest.raises(ProviderError) as failed:
        _balance(twilio())
    assert failed.value.retryable
    assert SECRET not in str(failed.value)


def test_status_finds_a_message_still_queued_at_twilio() -> None:
    """A message Twilio has queued (no date_sent yet) is found, not sent again."""
    msg = sms_message(1)
    queued = {
        "sid": "SMq",
        "body": msg.text,
        "from": "+14155550100",
        "status": "queued",
        "date_sent": None,
        "date_created": "Sun, 01 Mar 2026 04:00:01 +0000",
    }
    result = twilio().parse_status(msg, httpx.Response(200, json={"messages": [queued]}))
    assert (result.found, result.state, result.provider_message_id) == (
        True,
        MessageState.SUBMITTED,
        "SMq",
    )


def test_a_full_page_without_the_message_is_no_proof_of_absence() -> None:
    """When the newest page is full of other messages, the query is asked again later."""
    others = [
        {"sid": f"SM{i}", "body": "other", "from": "+14155550100", "status": "sent"}
        for i in range(STATUS_PAGE)
    ]
    with pytest.raises(ProviderError, match="asked again later"):
        twilio().parse_status(sms_message(1), httpx.Response(200, json={"messages": others}))


@given(st.integers(min_value=-3 * 3600, max_value=3 * 3600))
def test_a_record_older_than_the_message_proves_nothing(offset: int) -> None:
    """A found record taken before the message was marked (less the skew) is no proof."""
    sent_at = datetime(2026, 3, 1, 4, 0, tzinfo=timezone.utc)
    found = StatusResult(
        message_id="m1",
        found=True,
        state=MessageState.DELIVERED,
        taken_at=sent_at + timedelta(seconds=offset),
    )
    answer = found.for_message_sent(sent_at)
    assert answer.found is (offset >= -CLOCK_SKEW.total_seconds())
    assert found.for_message_sent(None) == found
