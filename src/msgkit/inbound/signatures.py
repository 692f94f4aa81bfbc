"""Webhook verification: each function returns None or raises `SignatureError`.

Every comparison is constant-time (`hmac.compare_digest`), and no error repeats a secret
or the expected signature.

LINE
    ``x-line-signature`` = base64(HMAC-SHA256(channel secret, raw body)).
Twilio
    ``X-Twilio-Signature`` = base64(HMAC-SHA1(auth token, full URL + each POST parameter
    sorted by name as name + value)). A repeated name contributes each of its distinct
    values, sorted — as Twilio's own libraries do (twilio-python ``RequestValidator``,
    twilio-node ``getExpectedTwilioSignature`` both de-duplicate with a set before
    sorting). JSON callbacks put ``bodySHA256=<hex SHA-256 of the body>`` in the URL and
    sign the URL alone. Twilio signs the URL inconsistently with and without the default
    port, so both forms are tried, as its libraries do.
Chatwoot
    ``X-Chatwoot-Signature`` = ``sha256=`` + hex(HMAC-SHA256(webhook secret,
    ``"{timestamp}.{raw body}"``)), with the Unix time in ``X-Chatwoot-Timestamp``;
    requests older than the tolerance (5 minutes) are refused, so a captured request
    cannot be replayed later. This scheme is the one described by Chatwoot's webhook
    guide as quoted by several integrations; it was not checked against Chatwoot's own
    source here (its older releases sign nothing: serve those behind a path token).
Alibaba
    SMS pushes are not signed: the push URL carries a secret path token, compared with
    `verify_token`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit, urlunsplit

from msgkit.exceptions import SignatureError

__all__ = [
    "twilio_signature",
    "verify_chatwoot_signature",
    "verify_line_signature",
    "verify_token",
    "verify_twilio_signature",
]

TwilioParams = Mapping[str, "str | Sequence[str]"]


def _same(given: str | bytes, expected: str | bytes) -> bool:
    a = given.encode("utf-8") if isinstance(given, str) else given
    b = expected.encode("utf-8") if isinstance(expected, str) else expected
    return hmac.compare_digest(a, b)


def verify_line_signature(body: bytes, signature: str, channel_secret: str) -> None:
    """Check a LINE webhook's ``x-line-signature`` against its raw body.

    Raises:
        SignatureError: When it does not match.
    """
    digest = hmac.new(channel_secret.encode("utf-8"), body, hashlib.sha256).digest()
    if not _same(signature.strip(), base64.b64encode(digest)):
        raise SignatureError(
            "the LINE signature does not match the body",
            hint="check the channel secret; verify the raw body, before any parsing",
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
        if not _same(hashes[0].lower(), hashlib.sha256(raw).hexdigest()):
            raise SignatureError(
                "the Twilio body does not match its bodySHA256",
                hint="verify the raw body, before any parsing",
            )
    elif params is not None:
        form = params
    given = signature.strip()
    if not any(_same(given, twilio_signature(u, form, auth_token)) for u in _port_variants(url)):
        raise SignatureError(
            "the Twilio signature does not match",
            hint="check the auth token, and that the URL is the public one Twilio called "
            "(scheme, host, path and query exactly)",
        )


def verify_chatwoot_signature(
    body: bytes,
    signature: str,
    timestamp: str,
    secret: str,
    *,
    now: datetime | None = None,
    tolerance: float = 300.0,
) -> None:
    """Check a Chatwoot webhook's ``X-Chatwoot-Signature`` and its timestamp.

    Args:
        body: The raw body.
        signature: ``X-Chatwoot-Signature`` (``sha256=<hex>``).
        timestamp: ``X-Chatwoot-Timestamp`` (Unix seconds).
        secret: The webhook's secret.
        now: The current time (aware); the clock when omitted.
        tolerance: How old (or early) a request may be, in seconds.

    Raises:
        SignatureError: A wrong signature, or a timestamp outside the tolerance.
    """
    try:
        sent = float(timestamp.strip())
    except ValueError:
        raise SignatureError(
            "the Chatwoot timestamp is not a number", hint="is this request from Chatwoot?"
        ) from None
    current = (now or datetime.now(timezone.utc)).timestamp()
    if not abs(current - sent) <= tolerance:
        raise SignatureError(
            "the Chatwoot request is too old or from the future",
            hint="a replayed request, or a clock off: synchronise the clocks (NTP)",
        )
    message = timestamp.strip().encode("ascii") + b"." + body
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    if not _same(signature.strip().lower(), expected):
        raise SignatureError(
            "the Chatwoot signature does not match",
            hint="check the webhook secret; verify the raw body, before any parsing",
        )


def verify_token(given: str, expected: str) -> None:
    """Check a secret path token (Alibaba's pushes are matched by their URL).

    Raises:
        SignatureError: When it does not match.
    """
    if not expected or not _same(given, expected):
        raise SignatureError(
            "the webhook path token does not match",
            hint="the push URL configured at the provider must end with the token msgkit has",
        )
