"""Tests of msgkit.providers.line: the PNP push request and the answers."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from msgkit import AccountError, AuthError, ConfigError, RateLimitedError, RejectedError
from msgkit.exceptions import ProviderError
from msgkit.providers.base import Outcome
from msgkit.providers.line import LineNotifications, from_config, line_messages
from tests.providers.support import NOW, SECRET, line, line_message, send

URL = "https://api.line.me/bot/pnp/push"
HASH = "9d5915ca8456e277339a6483d338edd9bcd51f28d6f3192f119cb61345891291"


def test_push_request() -> None:
    """Hashed E.164 to, bearer token, delivery tag = message id, no retry key."""
    (sent,) = line().build_send([line_message(1)])
    request = sent.request
    assert (request.method, str(request.url)) == ("POST", URL)
    assert request.headers["Authorization"] == f"Bearer {SECRET}"
    assert request.headers["X-Line-Delivery-Tag"] == "line-0000000000000001"
    assert "X-Line-Retry-Key" not in request.headers
    body = json.loads(request.content)
    assert body == {
        "to": HASH,
        "messages": [{"type": "text", "text": "ご注文の商品を発送しました"}],
        "notificationDisabled": False,
    }


def test_images_and_flex() -> None:
    """Media URLs become image messages, options['flex'] a flex message."""
    flex = {"type": "bubble", "body": {"type": "box", "layout": "vertical", "contents": []}}
    msg = line_message(
        1,
        media=("https://img.example/a.jpg",),
        options={
            "flex": flex,
            "alt_text": "Your order",
            "preview_url": "https://img.example/s.jpg",
        },
    )
    assert line_messages(msg) == [
        {"type": "text", "text": "ご注文の商品を発送しました"},
        {
            "type": "image",
            "originalContentUrl": "https://img.example/a.jpg",
            "previewImageUrl": "https://img.example/s.jpg",
        },
        {"type": "flex", "altText": "Your order", "contents": flex},
    ]


def test_raw_messages_replace_the_built_ones() -> None:
    """options['line_messages'] is sent as given."""
    raw = [{"type": "sticker", "packageId": "446", "stickerId": "1988"}]
    assert line_messages(line_message(1, options={"line_messages": raw})) == raw


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"to": "080-1234-1234"}, "E.164"),
        ({"id": "short"}, "delivery tag"),
        ({"media": tuple(f"https://i/{i}.png" for i in range(5))}, "6 LINE messages"),
        ({"text": ""}, "0 LINE messages"),
    ],
)
def test_unsendable_pushes_are_refused(change: dict[str, object], words: str) -> None:
    """A national number, a short id, too many or no messages raise RejectedError."""
    with pytest.raises(RejectedError, match=words):
        line().build_send([line_message(1, **change)])


@respx.mock
def test_accepted_with_request_id() -> None:
    """200: accepted; the request id is the provider id."""
    respx.post(URL).mock(
        return_value=httpx.Response(200, json={}, headers={"x-line-request-id": "r-1"})
    )
    (result,) = send(line(), [line_message(1)])
    assert (result.outcome, result.provider_message_id) == (Outcome.ACCEPTED, "r-1")


@respx.mock
def test_unreachable_numbers_fall_back_at_once() -> None:
    """422: failed with fallback_now."""
    respx.post(URL).mock(
        return_value=httpx.Response(422, json={"message": "Failed to send messages"})
    )
    (result,) = send(line(), [line_message(1)])
    assert (result.outcome, result.fallback_now) == (Outcome.FAILED, True)
    assert isinstance(result.error, RejectedError)
    assert "fallback" in str(result.error)


@pytest.mark.parametrize(
    ("response", "outcome", "error_type", "wait"),
    [
        (
            httpx.Response(
                429, json={"message": "Too many requests"}, headers={"Retry-After": "2"}
            ),
            Outcome.RETRY,
            RateLimitedError,
            2.0,
        ),
        (
            httpx.Response(429, json={"message": "You have reached your monthly limit."}),
            Outcome.ACCOUNT,
            AccountError,
            None,
        ),
        (
            httpx.Response(401, json={"message": "Authentication failed"}),
            Outcome.ACCOUNT,
            AuthError,
            None,
        ),
        (httpx.Response(403, json={"message": "Not allowed"}), Outcome.ACCOUNT, AccountError, None),
        (
            httpx.Response(400, json={"message": "The request body has 1 error(s)"}),
            Outcome.FAILED,
            RejectedError,
            None,
        ),
        (httpx.Response(500, text="<html>"), Outcome.UNKNOWN, ProviderError, None),
        (httpx.Response(200, text="garbage"), Outcome.ACCEPTED, type(None), None),
    ],
)
@respx.mock
def test_answers_are_classified(
    response: httpx.Response, outcome: Outcome, error_type: type, wait: float | None
) -> None:
    """Each LINE status maps to its outcome; a 200 is accepted whatever its body."""
    respx.post(URL).mock(return_value=response)
    (result,) = send(line(), [line_message(1)])
    assert result.outcome is outcome
    assert isinstance(result.error, error_type)
    assert result.retry_after == wait
    assert not result.fallback_now


@pytest.mark.parametrize(
    ("error", "outcome"),
    [(httpx.ReadTimeout("slow"), Outcome.UNKNOWN), (httpx.ConnectError("no"), Outcome.RETRY)],
)
@respx.mock
def test_transport_failures(error: Exception, outcome: Outcome) -> None:
    """No retry key: a timeout is unknown, a refused connection is retried."""
    respx.post(URL).mock(side_effect=error)
    (result,) = send(line(), [line_message(1)])
    assert result.outcome is outcome


def test_capabilities_and_config() -> None:
    """LINE: one message per push, 2000/s, no status query; config reads the token."""
    caps = line().capabilities
    assert (caps.max_batch, caps.rate_per_second, caps.status_query, caps.idempotent) == (
        1,
        2000.0,
        False,
        False,
    )
    assert line().build_status(line_message(1), NOW) is None
    provider = from_config("line-tw", {"type": "line"}, {"LINE_CHANNEL_ACCESS_TOKEN": SECRET})
    assert isinstance(provider, LineNotifications)
    assert SECRET not in repr(provider)
    with pytest.raises(ConfigError, match="LINE_CHANNEL_ACCESS_TOKEN"):
        from_config("line-tw", {"type": "line"}, {})
