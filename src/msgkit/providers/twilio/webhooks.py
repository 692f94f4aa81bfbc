"""Twilio webhooks: the signature, status callbacks and incoming messages. Pure: no I/O.

``X-Twilio-Signature`` = base64(HMAC-SHA1(auth token, full URL + each POST parameter
sorted by name as name + value)). A repeated name contributes each of its distinct
values, sorted — as Twilio's own libraries do (twilio-python ``RequestValidator``,
twilio-node ``getExpectedTwilioSignature`` both de-duplicate with a set before sorting).
JSON callbacks put ``bodySHA256=<hex SHA-256 of the body>`` in the URL and sign the URL
alone. Twilio signs the URL inconsistently with and without the default port, so both
forms are tried, as its libraries do.

Routes: ``POST /hooks/NAME/status`` (status callbacks: ``MessageSid``,
``MessageStatus``, ``ErrorCode``, ``To``; our id in the ``msgkit_id`` query parameter)
and ``POST /hooks/NAME/inbound`` (``From``, ``To``, ``Body``, ``MessageSid``,
``MessagingServiceSid``; one without ``MessageSid`` is known by a digest of its form,
so a replay is not stored twice), both answered with empty TwiML (no automatic answer).
``queued``, ``sending``, ``accepted`` and ``scheduled`` say nothing new and give no
receipt; ``sent`` is a receipt ``sent``, ``read`` counts as delivered, ``canceled`` as
failed.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import MappingProxyType
from urllib.parse import parse_qs, urlsplit, urlunsplit

from msgkit.core.delivery import Channel
from msgkit.core.events import DeliveryReceipt, ReceiptState, Reply
from msgkit.exceptions import ProviderError, SignatureError
from msgkit.providers.twilio.adapter import MESSAGE_ID_PARAM
from msgkit.providers.twilio.settings import TwilioSettings
from msgkit.providers.webhooks import (
    Answer,
    WebhookRequest,
    WebhookRoute,
    Webhooks,
    e164_or_none,
    our_id,
    same_secret,
)

__all__ = [
    "WEBHOOKS",
    "parse_twilio_inbound",
    "parse_twilio_status",
    "twilio_signature",
    "verify_twilio_signature",
]

log = logging.getLogger("msgkit.inbound")

TwilioParams = Mapping[str, "str | Sequence[str]"]

EMPTY_TWIML = Answer(
    body=b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>',
    content_type="text/xml; charset=utf-8",
)


def _values(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def twilio_signature(url: str, params: TwilioParams, auth_token: str) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for ``url`` and its POST parameters.

    Example:
        >>> twilio_signature("https://mycompany.com/myapp.php?foo=1&bar=2",
        ...     {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675310",
        ...      "Digits": "1234", "From": "+14158675310", "To": "+18005551212"}, "12345")
        'GvWf1cFY/Q7PnoempGyD5oXAezc='
    """
    data = url
    for name in sorted(params):
        for value in sorted(set(_values(params[name]))):
            data += name + value
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _port_variants(url: str) -> list[str]:
    """The URL without its port and with it (the default one when absent)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # not a URL Twilio could have called: it will not verify
        return [url]
    userinfo, at, host = parts.netloc.rpartition("@")
    if port is not None:  # the host as written (case kept), without ":port"
        host = host[: host.rfind(":")]
    prefix = userinfo + at
    default = 443 if parts.scheme == "https" else 80
    with_port = f"{prefix}{host}:{port or default}"
    without = f"{prefix}{host}"
    return [urlunsplit(parts._replace(netloc=n)) for n in (without, with_port)]


def verify_twilio_signature(
    url: str,
    params: TwilioParams | str | bytes | None,
    signature: str,
    auth_token: str,
) -> None:
    """Check a Twilio webhook's ``X-Twilio-Signature``.

    Args:
        url: The full URL Twilio requested, query string included, as Twilio saw it
            (the public URL, not the one behind a proxy).
        params: The POST form as a mapping (a repeated name maps to a list of its
            values); or, for a JSON callback, the raw body (its URL carries
            ``bodySHA256``).
        signature: The header's value.
        auth_token: The account's auth token.

    Raises:
        SignatureError: When it does not match, or a JSON body does not match its hash.
    """
    form: TwilioParams = {}
    if isinstance(params, (str, bytes)):
        raw = params.encode("utf-8") if isinstance(params, str) else params
        hashes = parse_qs(urlsplit(url).query).get("bodySHA256")
        if not hashes:
            raise SignatureError(
                "a raw Twilio body comes with bodySHA256 in the URL",
                hint="pass the POST form as a mapping for form-encoded webhooks",
            )
        if not same_secret(hashes[0].lower(), hashlib.sha256(raw).hexdigest()):
            raise SignatureError(
                "the Twilio body does not match its bodySHA256",
                hint="verify the raw body, before any parsing",
            )
    elif params is not None:
        form = params
    given = signature.strip()
    if not any(
        same_secret(given, twilio_signature(u, form, auth_token)) for u in _port_variants(url)
    ):
        raise SignatureError(
            "the Twilio signature does not match",
            hint="check the auth token, and that the URL is the public one Twilio called "
            "(scheme, host, path and query exactly)",
        )


_TWILIO_STATES = {
    "sent": ReceiptState.SENT,
    "delivered": ReceiptState.DELIVERED,
    "read": ReceiptState.DELIVERED,
    "undelivered": ReceiptState.UNDELIVERED,
    "failed": ReceiptState.FAILED,
    "canceled": ReceiptState.FAILED,
}


def parse_twilio_status(
    form: Mapping[str, str], query: Mapping[str, str], *, provider: str, now: datetime
) -> list[DeliveryReceipt]:
    """A Twilio status callback: one receipt, or none for a status that says nothing new.

    Args:
        form: The POST parameters (first value of each).
        query: The callback URL's query parameters (``msgkit_id``).
        provider: The configured provider name.
        now: When it arrived (Twilio's callbacks carry no time).
    """
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    state = _TWILIO_STATES.get(status)
    if state is None:
        return []
    failed = state in (ReceiptState.UNDELIVERED, ReceiptState.FAILED)
    return [
        DeliveryReceipt(
            provider=provider,
            state=state,
            message_id=our_id(query.get(MESSAGE_ID_PARAM)),
            provider_message_id=form.get("MessageSid") or form.get("SmsSid") or None,
            error_code=(form.get("ErrorCode") or None) if failed else None,
            error_message=(form.get("ErrorMessage") or None) if failed else None,
            phone=e164_or_none(form.get("To"), validate=False),  # a number we sent to
            occurred_at=now,
        )
    ]


def parse_twilio_inbound(form: Mapping[str, str], *, provider: str, now: datetime) -> list[Reply]:
    """A message someone sent to our Twilio number."""
    phone = e164_or_none(form.get("From"))
    if phone is None:
        log.warning("%s: skipped a Twilio message from an unreadable number", provider)
        return []
    return [
        Reply(
            provider=provider,
            channel=Channel.SMS,
            from_address=phone,
            text=form.get("Body", ""),
            scope=form.get("MessagingServiceSid") or form.get("To") or None,
            received_at=now,
            provider_message_id=form.get("MessageSid")
            or form.get("SmsMessageSid")
            or _form_digest(form),
            phone=phone,
        )
    ]


def _form_digest(form: Mapping[str, str]) -> str:
    """The identity of a signed incoming message that carries no ``MessageSid``: a
    digest of its whole form (what the signature covers), so that a replay of it is
    recognised as the same message, not stored again; no number in it."""
    canonical = "\x1f".join(f"{k}={v}" for k, v in sorted(form.items()))
    return "form:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


def _is_json(request: WebhookRequest) -> bool:
    return "json" in request.header("content-type")


def _multi(request: WebhookRequest) -> Mapping[str, list[str]]:
    return _form_of(request.body)


@functools.lru_cache(maxsize=256)
def _form_of(body: bytes) -> Mapping[str, list[str]]:
    """The POST form of a body (read once for the signature and once for the events:
    cached; read-only)."""
    return MappingProxyType(parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True))


def _verify(request: WebhookRequest) -> None:
    signature = request.header("x-twilio-signature")
    params: TwilioParams | bytes = request.body if _is_json(request) else _multi(request)
    verify_twilio_signature(request.url, params, signature, request.secret)


def _form(request: WebhookRequest) -> dict[str, str]:
    """The parameters of a form-encoded or JSON callback (first value of each).

    Raises:
        ProviderError: A JSON callback whose body is not JSON.
    """
    if not _is_json(request):
        return {k: v[0] for k, v in _multi(request).items()}
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise ProviderError(
            "the Twilio callback body is not JSON", provider=request.provider
        ) from None
    return {k: str(v) for k, v in data.items()} if isinstance(data, Mapping) else {}


def _status(request: WebhookRequest) -> list[DeliveryReceipt]:
    query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
    return parse_twilio_status(_form(request), query, provider=request.provider, now=request.now)


#: The webhooks of ``type = "twilio"``: signed with the auth token (``auth_token_env``).
WEBHOOKS = Webhooks(
    settings=TwilioSettings,
    secret_setting="auth_token_env",  # noqa: S106 (a setting name)
    routes=(
        WebhookRoute(path="status", verify=_verify, parse=_status, answer=EMPTY_TWIML),
        WebhookRoute(
            path="inbound",
            verify=_verify,
            parse=lambda r: parse_twilio_inbound(_form(r), provider=r.provider, now=r.now),
            answer=EMPTY_TWIML,
        ),
    ),
)
