"""What every HTTP adapter shares: reading bodies that may be garbage, HTTP status
classes, retry hints, the address rule of phone channels, and building results and
errors that say what to do.

Nothing here raises on a response: a body that is not JSON is None, a header that is
not a number is None.
"""

from __future__ import annotations

import base64
import contextlib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from msgkit.core.contacts import is_e164, mask, mask_numbers
from msgkit.exceptions import (
    AccountError,
    AuthError,
    ProviderError,
    RateLimitedError,
    RejectedError,
    UnavailableError,
)
from msgkit.providers.base import OutboundMessage, Outcome, SendRequest, SendResult, StatusResult

__all__ = [
    "Clock",
    "NoStatusQuery",
    "dig",
    "e164_address",
    "error_for",
    "error_results",
    "hide",
    "http_failure",
    "json_body",
    "prepared_request",
    "request_secrets",
    "response_date",
    "results",
    "retry_after",
    "status_outcome",
    "text_or_none",
    "utc_now",
]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, aware, in UTC (the default clock of the adapters)."""
    return datetime.now(timezone.utc)


def json_body(response: httpx.Response) -> Any:
    """The decoded JSON body, or None when there is none or it is not JSON."""
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def prepared_request(
    method: str, url: httpx.URL, headers: Sequence[tuple[bytes, bytes]], body: bytes
) -> httpx.Request:
    """``httpx.Request(method, url, headers=headers, content=body)``, as httpx builds it
    (``Host`` first, the headers given, ``Content-Length`` last; the body read), at a
    third of its cost a request, measured (``benchmarks/dispatch.py``): the headers are
    normalised once, not three times.

    Args:
        method: The method, upper case.
        url: The URL, parsed once by the adapter.
        headers: Names and values, without ``Host``, ``Content-Length`` or
            ``Transfer-Encoding`` (httpx computes those).
        body: The encoded body.
    """
    if not body or not url.host:  # what httpx does then is its own business
        return httpx.Request(method, url, headers=list(headers), content=body)
    request = httpx.Request(
        method,
        url,
        headers=[
            (b"Host", url.netloc),
            *headers,
            (b"Content-Length", str(len(body)).encode("ascii")),
        ],
        stream=httpx.ByteStream(body),
    )
    request.read()
    return request


def e164_address(message: OutboundMessage, provider: str) -> str:
    """The address of a message for a phone channel (SMS, LINE), which must be E.164.

    Every adapter that sends to a phone number checks its address here, so that all
    refuse the same addresses with the same words, before anything is sent.

    Raises:
        RejectedError: The address is empty or not in E.164 (a national number such as
            ``0912345678``, separators): the message cannot be expressed at all.
    """
    if is_e164(message.to):
        return message.to
    shown = "an empty address" if not message.to.strip() else repr(mask(message.to))
    raise RejectedError(
        f"message {message.id} is addressed to {shown}, which is not an E.164 number",
        provider=provider,
        hint="parse numbers with msgkit.contacts.parse_phone(number, region) and send "
        "to its .e164 (e.g. +14155552671)",
    )


def dig(data: Any, path: str | Iterable[str]) -> Any:
    """The value at a dotted path (``"data.0.id"``) in decoded JSON, or None."""
    parts = path.split(".") if isinstance(path, str) else path
    for part in parts:
        if isinstance(data, Mapping):
            data = data.get(part)
        elif isinstance(data, list) and part.lstrip("-").isdigit():
            index = int(part)
            data = data[index] if -len(data) <= index < len(data) else None
        else:
            return None
        if data is None:
            return None
    return data


def text_or_none(value: Any) -> str | None:
    """A JSON scalar as text (ids come as numbers or strings), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int)):
        return str(value) if str(value) != "" else None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return None


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from the ``Retry-After`` header (a number or an HTTP date), or None."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        sent = response_date(response) or utc_now()
        seconds = (when - sent).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def response_date(response: httpx.Response) -> datetime | None:
    """The server's ``Date`` header, aware, or None."""
    value = response.headers.get("date")
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else None


def status_outcome(status: int, *, idempotent: bool) -> Outcome:
    """What an HTTP status alone says about a send.

    429, 503 and 408 mean the request was not processed: retry. 401 and 403 are the
    account's. Other 5xx (500, 502, 504) may have been processed: retry only where the
    provider de-duplicates, else the outcome is unknown. Other 4xx are permanent.
    """
    if 200 <= status < 300:
        return Outcome.ACCEPTED
    if status in (408, 429, 503):
        return Outcome.RETRY
    if status in (401, 403):
        return Outcome.ACCOUNT
    if status >= 500:
        return Outcome.RETRY if idempotent else Outcome.UNKNOWN
    return Outcome.FAILED


_HINTS = {
    Outcome.RETRY: "msgkit retries it later",
    Outcome.FAILED: "this message will not be sent; check the number and the content",
    Outcome.ACCOUNT: "fix the account (balance, credentials, permissions), then resume",
    Outcome.UNKNOWN: "the provider may have sent it: reconcile before sending it again",
}


def error_for(
    outcome: Outcome,
    message: str,
    *,
    provider: str,
    status: int | None = None,
    code: str | None = None,
    request_id: str | None = None,
    wait: float | None = None,
    auth: bool = False,
    rate_limited: bool = False,
    hint: str | None = None,
    secrets: Iterable[str] = (),
) -> ProviderError:
    """The error that matches an outcome, with the facts and a hint.

    ``message`` is often the provider's own words, which may quote the request it
    refused: the ``secrets`` in it are hidden and its phone numbers masked (`hide`).
    """
    message = hide(message, secrets)
    facts: dict[str, Any] = {
        "provider": provider,
        "status": status,
        "provider_code": code,
        "request_id": request_id,
    }
    if outcome is Outcome.RETRY and (rate_limited or wait is not None):
        return RateLimitedError(message, retry_after=wait, hint=hint, **facts)
    if outcome is Outcome.RETRY:
        return UnavailableError(message, hint=hint or _HINTS[outcome], **facts)
    if outcome is Outcome.ACCOUNT:
        cls = AuthError if auth else AccountError
        return cls(message, hint=hint or _HINTS[outcome], **facts)
    if outcome is Outcome.UNKNOWN:
        return UnavailableError(message, retryable=False, hint=hint or _HINTS[outcome], **facts)
    return RejectedError(message, hint=hint or _HINTS[Outcome.FAILED], **facts)


def results(
    sent: SendRequest | Iterable[str],
    outcome: Outcome,
    *,
    error: ProviderError | None = None,
    provider_ids: Mapping[str, str | None] | None = None,
    wait: float | None = None,
    fallback_now: bool = False,
    suppress: bool = False,
    isolate: bool = False,
) -> list[SendResult]:
    """One result per message of a request, all with the same outcome."""
    ids = sent.message_ids if isinstance(sent, SendRequest) else tuple(sent)
    return [
        SendResult(
            message_id=message_id,
            outcome=outcome,
            provider_message_id=(provider_ids or {}).get(message_id),
            error=error,
            retry_after=wait,
            fallback_now=fallback_now,
            suppress=suppress,
            isolate=isolate,
        )
        for message_id in ids
    ]


#: Headers that carry no credential (any other may: ``Authorization``,
#: ``api_access_token``, a gateway's ``X-Api-Key``...).
_PLAIN_HEADERS = frozenset(
    {"host", "content-type", "content-length", "accept", "accept-encoding", "user-agent"}
)


def request_secrets(request: httpx.Request) -> list[str]:
    """What in ``request`` may be a credential: the values of its headers but the plain
    ones, and of an ``Authorization``-style value the part after its scheme (a Basic
    one decoded, both halves), each of six characters or more."""
    found: list[str] = []
    for name, value in request.headers.items():
        if name.lower() in _PLAIN_HEADERS:
            continue
        found.append(value)
        scheme, _, rest = value.partition(" ")
        if rest:
            found.append(rest)
        if scheme.lower() == "basic":
            with contextlib.suppress(ValueError):  # binascii.Error, UnicodeDecodeError
                found.extend(base64.b64decode(rest, validate=True).decode().split(":", 1))
    return [value for value in found if len(value) >= 6]


def hide(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` (a provider's words) with each of ``secrets`` shown as ``***`` and its
    phone numbers masked (`msgkit.core.contacts.mask_numbers`).

    Example:
        >>> hide("bad token abc123xyz for +886912345678", ["abc123xyz"])
        'bad token *** for +8869****5678'
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return mask_numbers(text)


def error_results(
    sent: SendRequest | Iterable[str],
    outcome: Outcome,
    message: str,
    *,
    wait: float | None = None,
    provider_ids: Mapping[str, str | None] | None = None,
    fallback_now: bool = False,
    suppress: bool = False,
    isolate: bool = False,
    **facts: Any,
) -> list[SendResult]:
    """Results for a request that did not go through as it should, one per message.

    Each carries the outcome, the error that matches it (`error_for` of ``outcome``,
    ``message``, ``wait`` and the ``facts``: ``provider``, ``status``, ``code``, ``hint``...)
    and ``wait`` as its ``retry_after``; the flags are those of `results`. What the
    request carried that may be a credential (`request_secrets`) is hidden from
    ``message``, as are the ``secrets`` among the facts.
    """
    if isinstance(sent, SendRequest):
        facts["secrets"] = [*facts.get("secrets", ()), *request_secrets(sent.request)]
    error = error_for(outcome, message, wait=wait, **facts)
    return results(
        sent,
        outcome,
        error=error,
        provider_ids=provider_ids,
        wait=wait,
        fallback_now=fallback_now,
        suppress=suppress,
        isolate=isolate,
    )


def http_failure(
    sent: SendRequest,
    response: httpx.Response,
    *,
    provider: str,
    idempotent: bool,
    what: str,
    code: str | None = None,
    request_id: str | None = None,
) -> list[SendResult]:
    """Results for a response that only its HTTP status explains."""
    outcome = status_outcome(response.status_code, idempotent=idempotent)
    if outcome is Outcome.ACCEPTED:  # a 2xx whose body makes no sense
        outcome = Outcome.RETRY if idempotent else Outcome.UNKNOWN
        what = f"unreadable answer to {what}"
    wait = retry_after(response) if outcome is Outcome.RETRY else None
    return error_results(
        sent,
        outcome,
        what,
        provider=provider,
        status=response.status_code,
        code=code,
        request_id=request_id,
        wait=wait,
        auth=response.status_code == 401,
        rate_limited=response.status_code == 429,
    )


class NoStatusQuery:
    """For adapters whose provider cannot be asked about a message we sent."""

    def build_status(self, message: OutboundMessage, sent_at: datetime) -> httpx.Request | None:
        """None: there is no status query."""
        return None

    def parse_status(self, message: OutboundMessage, response: httpx.Response) -> StatusResult:
        """Never called (`build_status` gives no request)."""
        return StatusResult(message_id=message.id, found=False)
