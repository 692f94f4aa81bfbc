"""Any HTTP SMS gateway, wired by configuration instead of code, sans-IO.

The request is described by settings: the URL, the method, the body as a JSON object,
a form or query parameters, headers — every string in them may hold placeholders —
and how the secret is sent. The answer is read with dotted paths (``data.0.id``) to the
message id, the error code and the error message, and optionally a success flag.
One request per message::

    [providers.gateway]
    type = "http_sms"
    base_url = "https://sms.example.com"
    path = "/v1/messages"
    body_format = "json"                    # or "form", "query"
    body = { to = "{to}", text = "{text}", from = "{sender}", ref = "{id}" }
    secret_env = "GATEWAY_TOKEN"            # sent as "Authorization: Bearer <secret>"
    message_id_path = "data.id"
    error_code_path = "error.code"
    error_message_path = "error.message"
    retry_codes = ["BUSY"]
    account_codes = ["NO_CREDIT"]
    opt_out_codes = ["UNSUBSCRIBED"]

Placeholders: ``{id}`` our message id, ``{to}`` the E.164 number, ``{to_digits}`` it
without ``+``, ``{text}``, ``{sender}``, ``{template_code}``, ``{params.NAME}``,
``{params_json}``, ``{expires_at}`` (ISO 8601, or empty), ``{secret}``; ``{{`` and
``}}`` are literal braces. In a JSON body, a value that is exactly ``{params}`` or
``{media}`` becomes the object or list itself.

Outcomes: a 2xx answer without an error code (and with the success flag, when one is
configured) is accepted; an error code in ``opt_out_codes`` fails the message and
suppresses the recipient, in ``retry_codes`` retries it, in ``account_codes`` stops the
campaign; any other refusal fails it. Without a code the HTTP status decides: 429 and
503 retry (after ``Retry-After``), 401 and 403 are the account's, other 5xx and unreadable
2xx answers are unknown — unless ``idempotency_header`` names a header the gateway
de-duplicates on (our message id is sent in it), which makes them safe to retry.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx

from msgkit.core.delivery import Channel
from msgkit.exceptions import ConfigError
from msgkit.providers import content
from msgkit.providers.base import (
    Capabilities,
    OutboundMessage,
    Outcome,
    SendRequest,
    SendResult,
)
from msgkit.providers.common import (
    NoStatusQuery,
    dig,
    e164_address,
    error_results,
    http_failure,
    json_body,
    results,
    retry_after,
    text_or_none,
)

if TYPE_CHECKING:
    from msgkit.providers.http_sms.settings import HttpSmsSettings

__all__ = ["HttpSms"]

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_]+(?:\.[^{}]+)?)\}")
_NAMES = frozenset(
    {
        "id",
        "to",
        "to_digits",
        "text",
        "sender",
        "template_code",
        "params_json",
        "expires_at",
        "secret",
    }
)
_WHOLE = frozenset({"{params}", "{media}"})


def _check_placeholders(value: Any, where: str) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_placeholders(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_placeholders(item, f"{where}.{index}")
    elif isinstance(value, str) and value not in _WHOLE:
        for match in _PLACEHOLDER.finditer(value):
            name = match.group(1)
            if name and name not in _NAMES and not name.startswith("params."):
                raise ConfigError(
                    f"unknown placeholder {{{name}}}",
                    key=where,
                    hint="placeholders: "
                    + ", ".join(f"{{{n}}}" for n in sorted(_NAMES))
                    + ", {params.NAME}",
                )


def _fill(template: str, values: Mapping[str, str], params: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        name = match.group(1)
        if name.startswith("params."):
            return params.get(name[len("params.") :], "")
        return values.get(name, "")

    return _PLACEHOLDER.sub(one, template)


class HttpSms(NoStatusQuery):
    """A configurable HTTP SMS gateway.

    Args:
        name: The configured provider name.
        settings: What to send and how to read the answer.
        secret: The gateway's secret, when it takes one (never shown).
    """

    def __init__(self, name: str, settings: HttpSmsSettings, secret: str | None = None) -> None:
        if not settings.base_url:
            raise ConfigError(
                "an http_sms provider needs base_url",
                key=f"providers.{name}.base_url",
                hint="e.g. base_url = 'https://sms.example.com'",
            )
        _check_placeholders(settings.body, f"providers.{name}.body")
        _check_placeholders(settings.headers, f"providers.{name}.headers")
        self.name = name
        self._cfg = settings
        self._secret = secret
        self._url = settings.base(settings.base_url) + settings.path
        self.capabilities = Capabilities(
            channel=Channel.SMS,
            max_batch=1,
            scheme=settings.scheme,
            content=content.THIRD_PARTY_SMS,
            rate_per_second=settings.rate_per_second,
            idempotent=settings.idempotency_header is not None,
            status_query=False,
            delivery_receipts=False,
            max_text=settings.max_text,
        )

    def __repr__(self) -> str:
        shown = "***" if self._secret else None
        return f"HttpSms(name={self.name!r}, url={self._url!r}, secret={shown})"

    def build_send(self, batch: Sequence[OutboundMessage]) -> list[SendRequest]:
        """One request per message, filled in from the settings."""
        return [self._request(message) for message in batch]

    def _values(self, message: OutboundMessage) -> dict[str, str]:
        to = e164_address(message, self.name)
        return {
            "id": message.id,
            "to": to,
            "to_digits": to.lstrip("+"),
            "text": message.text,
            "sender": message.sender or "",
            "template_code": message.template_code or "",
            "params_json": json.dumps(dict(message.params), ensure_ascii=False),
            "expires_at": message.expires_at.isoformat() if message.expires_at else "",
            "secret": self._secret or "",
        }

    def _render(self, value: Any, message: OutboundMessage, values: Mapping[str, str]) -> Any:
        if isinstance(value, Mapping):
            return {k: self._render(v, message, values) for k, v in value.items()}
        if isinstance(value, list):
            return [self._render(v, message, values) for v in value]
        if value == "{params}":
            return dict(message.params)
        if value == "{media}":
            return list(message.media)
        if isinstance(value, str):
            return _fill(value, values, message.params)
        return value

    def _request(self, message: OutboundMessage) -> SendRequest:
        cfg = self._cfg
        values = self._values(message)
        body = self._render(cfg.body, message, values)
        headers = {k: _fill(v, values, message.params) for k, v in cfg.headers.items()}
        if self._secret and cfg.auth_header:
            prefix = f"{cfg.auth_scheme} " if cfg.auth_scheme else ""
            headers[cfg.auth_header] = prefix + self._secret
        if cfg.idempotency_header:
            headers[cfg.idempotency_header] = message.id
        if cfg.body_format == "query" or cfg.method == "GET":
            request = httpx.Request(cfg.method, self._url, params=_flat(body), headers=headers)
        elif cfg.body_format == "form":
            request = httpx.Request(cfg.method, self._url, data=_flat(body), headers=headers)
        else:
            request = httpx.Request(
                cfg.method,
                self._url,
                content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                headers={"Content-Type": "application/json", **headers},
            )
        return SendRequest(request=request, message_ids=(message.id,))

    def parse_send(self, sent: SendRequest, response: httpx.Response) -> list[SendResult]:
        """One result; never raises, whatever the answer."""
        cfg = self._cfg
        body = json_body(response)
        code = text_or_none(dig(body, cfg.error_code_path)) if cfg.error_code_path else None
        detail = text_or_none(dig(body, cfg.error_message_path)) if cfg.error_message_path else None
        flag = dig(body, cfg.success_path) if cfg.success_path else None
        says_ok = not cfg.success_path or (
            flag is not None and str(flag).lower() in cfg.success_values
        )
        provider_id = text_or_none(dig(body, cfg.message_id_path)) if cfg.message_id_path else None
        readable = body is not None or not (cfg.message_id_path or cfg.success_path)
        has_id = provider_id is not None or not cfg.message_id_path
        if response.is_success and readable and says_ok and code is None and has_id:
            return results(sent, Outcome.ACCEPTED, provider_ids={sent.message_ids[0]: provider_id})
        # What only the HTTP status explains: no code and no readable refusal, or a 5xx.
        unexplained = functools.partial(
            http_failure,
            sent,
            response,
            provider=self.name,
            idempotent=self.capabilities.idempotent,
            what="gateway send",
            code=code,
        )
        if code is None and (not response.is_success or not readable or says_ok):
            return unexplained()
        detail = detail or f"the gateway refused the message ({code or 'no code'})"
        facts: dict[str, Any] = {
            "provider": self.name,
            "status": response.status_code,
            "code": code,
            "secrets": [self._secret or ""],  # it may travel in the query or the body
        }
        if code in cfg.opt_out_codes:
            return error_results(
                sent,
                Outcome.FAILED,
                detail,
                hint="the recipient opted out: suppressed",
                suppress=True,
                **facts,
            )
        if code in cfg.retry_codes or response.status_code in (429, 503):
            wait = retry_after(response)
            return error_results(sent, Outcome.RETRY, detail, wait=wait, **facts)
        if code in cfg.account_codes or response.status_code in (401, 403):
            return error_results(
                sent, Outcome.ACCOUNT, detail, auth=response.status_code == 401, **facts
            )
        if response.status_code >= 500:
            return unexplained()
        return error_results(sent, Outcome.FAILED, detail, **facts)


def _flat(body: Any) -> dict[str, str]:
    if not isinstance(body, Mapping):
        return {}
    return {
        str(k): v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)
        for k, v in body.items()
    }
