"""Tests of msgkit.providers.http_sms: a gateway wired by settings alone."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
import respx

from msgkit import (
    AccountError,
    AuthError,
    ConfigError,
    RateLimitedError,
    RejectedError,
    UnavailableError,
)
from msgkit.exceptions import ProviderError
from msgkit.providers.base import Outcome
from msgkit.providers.http_sms import from_config
from tests.providers.support import NOW, SECRET, form, http_sms, send, sms_message

URL = "https://gw.example.com/v1/send"


def test_json_body_with_placeholders_and_bearer_secret() -> None:
    """Placeholders are filled; the secret goes in Authorization; {params} stays an object."""
    provider = http_sms(
        body={
            "to": "{to}",
            "digits": "{to_digits}",
            "text": "{text}",
            "from": "{sender}",
            "ref": "{id}",
            "vars": "{params}",
            "images": "{media}",
            "name": "{params.name}",
            "literal": "{{not a placeholder}}",
            "until": "{expires_at}",
            "nested": {"list": ["{id}", 3]},
        },
        headers={"X-Tenant": "shop-{sender}"},
    )
    msg = sms_message(
        1,
        sender="ACME",
        params={"name": "Amy"},
        media=("https://i/a.png",),
        expires_at=NOW + timedelta(hours=1),
        text="Hi 😀",
    )
    (sent,) = provider.build_send([msg])
    request = sent.request
    assert (request.method, str(request.url)) == ("POST", URL)
    assert request.headers["Authorization"] == f"Bearer {SECRET}"
    assert request.headers["X-Tenant"] == "shop-ACME"
    assert json.loads(request.content) == {
        "to": "+14155550001",
        "digits": "14155550001",
        "text": "Hi 😀",
        "from": "ACME",
        "ref": "sms-0000000000000001",
        "vars": {"name": "Amy"},
        "images": ["https://i/a.png"],
        "name": "Amy",
        "literal": "{not a placeholder}",
        "until": "2026-03-01T05:00:00+00:00",
        "nested": {"list": ["sms-0000000000000001", 3]},
    }


def test_form_and_query_bodies_and_secret_placeholder() -> None:
    """Form and query bodies; a gateway wanting the key in the body gets {secret}."""
    as_form = http_sms(
        body_format="form", body={"apikey": "{secret}", "mobile": "{to}"}, auth_header=""
    )
    (sent,) = as_form.build_send([sms_message(1)])
    assert form(sent.request) == {"apikey": [SECRET], "mobile": ["+14155550001"]}
    assert "Authorization" not in sent.request.headers
    as_query = http_sms(method="GET", body={"to": "{to}"}, auth_scheme="")
    (sent,) = as_query.build_send([sms_message(1)])
    assert sent.request.method == "GET"
    assert sent.request.url.params["to"] == "+14155550001"
    assert sent.request.headers["Authorization"] == SECRET


def test_idempotency_header_makes_it_idempotent() -> None:
    """With idempotency_header the message id is sent in it and unknowns become retries."""
    provider = http_sms(idempotency_header="Idempotency-Key")
    assert provider.capabilities.idempotent
    (sent,) = provider.build_send([sms_message(1)])
    assert sent.request.headers["Idempotency-Key"] == "sms-0000000000000001"


def test_unknown_placeholders_and_missing_url_are_config_errors() -> None:
    """An unknown placeholder or no base_url is refused when configured."""
    with pytest.raises(ConfigError, match=r"\{recipient\}") as info:
        http_sms(body={"to": "{recipient}"})
    assert info.value.key == "providers.gw.body.to"
    with pytest.raises(ConfigError, match="base_url"):
        from_config("gw", {"type": "http_sms"}, {})


@respx.mock
def test_accepted_reads_the_message_id() -> None:
    """A 2xx without error code: accepted with the id at message_id_path."""
    respx.post(URL).mock(return_value=httpx.Response(200, json={"data": {"id": 12345}}))
    (result,) = send(http_sms(), [sms_message(1)])
    assert (result.outcome, result.provider_message_id) == (Outcome.ACCEPTED, "12345")


@pytest.mark.parametrize(
    ("response", "outcome", "error_type", "suppress"),
    [
        (
            httpx.Response(200, json={"error": {"code": "UNSUBSCRIBED", "message": "opted out"}}),
            Outcome.FAILED,
            RejectedError,
            True,
        ),
        (
            httpx.Response(200, json={"error": {"code": "BUSY"}}),
            Outcome.RETRY,
            UnavailableError,
            False,
        ),
        (
            httpx.Response(402, json={"error": {"code": "NO_CREDIT"}}),
            Outcome.ACCOUNT,
            AccountError,
            False,
        ),
        (
            httpx.Response(400, json={"error": {"code": "BAD_NUMBER"}}),
            Outcome.FAILED,
            RejectedError,
            False,
        ),
        (
            httpx.Response(500, json={"error": {"code": "INTERNAL"}}),
            Outcome.UNKNOWN,
            ProviderError,
            False,
        ),
        (httpx.Response(429, headers={"Retry-After": "1"}), Outcome.RETRY, RateLimitedError, False),
        (httpx.Response(401, text="no"), Outcome.ACCOUNT, AuthError, False),
        (httpx.Response(200, text="OK but not json"), Outcome.UNKNOWN, ProviderError, False),
        (httpx.Response(200, json={"data": {}}), Outcome.UNKNOWN, ProviderError, False),
    ],
)
@respx.mock
def test_answers_are_classified(
    response: httpx.Response, outcome: Outcome, error_type: type[ProviderError], suppress: bool
) -> None:
    """Error codes by list, else the HTTP status; unreadable 2xx answers are unknown."""
    respx.post(URL).mock(return_value=response)
    (result,) = send(http_sms(), [sms_message(1)])
    assert result.outcome is outcome
    assert isinstance(result.error, error_type)
    assert result.suppress is suppress


@respx.mock
def test_success_flag() -> None:
    """With success_path, a 200 saying false is refused, one saying true accepted."""
    provider = http_sms(success_path="ok", message_id_path="msgid", error_code_path="err")
    respx.post(URL).mock(return_value=httpx.Response(200, json={"ok": False, "err": None}))
    (refused,) = send(provider, [sms_message(1)])
    assert refused.outcome is Outcome.FAILED
    respx.post(URL).mock(return_value=httpx.Response(200, json={"ok": True, "msgid": "m9"}))
    (accepted,) = send(provider, [sms_message(1)])
    assert (accepted.outcome, accepted.provider_message_id) == (Outcome.ACCEPTED, "m9")


@respx.mock
def test_idempotent_gateways_retry_unknowns() -> None:
    """Where the gateway de-duplicates, a 500 or a timeout is retried."""
    provider = http_sms(idempotency_header="Idempotency-Key")
    respx.post(URL).mock(return_value=httpx.Response(500))
    assert send(provider, [sms_message(1)])[0].outcome is Outcome.RETRY
    respx.post(URL).mock(side_effect=httpx.ReadTimeout("slow"))
    assert send(provider, [sms_message(1)])[0].outcome is Outcome.RETRY
    assert send(http_sms(), [sms_message(1)])[0].outcome is Outcome.UNKNOWN


def test_from_config_reads_the_secret() -> None:
    """from_config reads secret_env; a missing variable is named."""
    settings = {"type": "http_sms", "base_url": "https://gw.example.com", "secret_env": "GW_KEY"}
    provider = from_config("gw", settings, {"GW_KEY": SECRET})
    assert SECRET not in repr(provider)
    with pytest.raises(ConfigError, match="GW_KEY"):
        from_config("gw", settings, {})
