"""How a provider declares its webhooks, so that `msgkit.inbound.InboundApp` can serve
them without knowing the provider.

A provider type declares a `Webhooks`: the settings model its ``msgkit.toml`` table is
checked with, the setting naming the environment variable of the webhook secret, and its
routes. Each `WebhookRoute` is a path under ``/hooks/NAME`` (``""``, ``"status"``,
``"{token}/report"``: a ``{name}`` segment matches any one segment and is handed on in
`WebhookRequest.params`), a ``verify`` that raises `msgkit.SignatureError` (the app
answers 403), a ``parse`` that turns the body into events (`msgkit.core.events`
`DeliveryReceipt` or `Reply`; it raises `msgkit.ProviderError` for an unreadable body,
answered 400), and the `Answer` the provider expects on success.

Everything here is sans-IO: a route sees the request as values (`WebhookRequest`) and
returns values. The declaration is registered with the provider's factory
(`msgkit.providers.registry.ProviderType`).

Also here, the helpers the built-in parsers share: `verify_token` (a secret path token),
`read_json`, `read_items`, `lenient_text`, `our_id`, `e164_or_none`.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Annotated, Any, TypeVar

import attrs
from pydantic import BaseModel, BeforeValidator, ValidationError

from msgkit.core.contacts import is_e164, parse_phone
from msgkit.core.events import DeliveryReceipt, Reply
from msgkit.exceptions import InvalidPhoneError, ProviderError, SignatureError
from msgkit.providers.config import ProviderSettings

__all__ = [
    "Answer",
    "LenientText",
    "WebhookEvents",
    "WebhookRequest",
    "WebhookRoute",
    "Webhooks",
    "e164_or_none",
    "epoch",
    "lenient_text",
    "our_id",
    "read_items",
    "read_json",
    "same_secret",
    "verify_token",
]

log = logging.getLogger("msgkit.inbound")

T = TypeVar("T", bound=BaseModel)

#: What a route's parser returns: receipts, or replies (a list of one kind).
WebhookEvents = Sequence[DeliveryReceipt] | Sequence[Reply]


@attrs.frozen(kw_only=True, repr=False)
class WebhookRequest:
    """One webhook request, as values.

    Attributes:
        provider: The configured provider name (the segment after ``/hooks/``).
        secret: The endpoint's secret (never shown).
        params: The ``{name}`` segments of the route's path.
        url: The full URL the provider called, query included: the endpoint's public
            URL when configured, else rebuilt from the request.
        headers: The request headers, names in lower case.
        body: The raw body.
        now: When it arrived.
        digest_key: The store's `digest_key` (None for a plain store): what keys the
            number digests a provider builds its ids from (Alibaba's `message_key`).
    """

    provider: str
    secret: str
    params: Mapping[str, str] = attrs.field(factory=dict)
    url: str
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    now: datetime
    digest_key: bytes | None = None

    def header(self, name: str) -> str:
        """A header's value (``""`` when absent); the name in any case."""
        return self.headers.get(name.lower(), "")

    def __repr__(self) -> str:
        url = self.url
        for value in (*self.params.values(), self.secret):  # a path token is a secret
            if value:
                url = url.replace(value, "***")
        return f"WebhookRequest(provider={self.provider!r}, url={url!r}, secret=***)"


@attrs.frozen(kw_only=True)
class Answer:
    """The HTTP answer a provider expects when its webhook was taken."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


def _segments(path: str) -> tuple[str, ...]:
    return tuple(part for part in path.strip("/").split("/") if part) if path.strip("/") else ()


@attrs.frozen(kw_only=True)
class WebhookRoute:
    """One webhook endpoint of a provider.

    Attributes:
        path: Under ``/hooks/NAME``: ``""`` for the bare path, ``"status"``, or with
            ``{name}`` segments (``"{token}/report"``).
        verify: Checks the request; raises `msgkit.SignatureError` when it does not
            verify.
        parse: The body as events; raises `msgkit.ProviderError` when it cannot be read.
        answer: What the provider is answered once the events are recorded.
    """

    path: str
    verify: Callable[[WebhookRequest], None]
    parse: Callable[[WebhookRequest], WebhookEvents]
    answer: Answer = Answer()

    def match(self, segments: Sequence[str]) -> dict[str, str] | None:
        """The ``{name}`` segments when ``segments`` (after ``/hooks/NAME``) match, else None."""
        pattern = _segments(self.path)
        if len(pattern) != len(segments):
            return None
        params: dict[str, str] = {}
        for expected, given in zip(pattern, segments, strict=True):
            if expected.startswith("{") and expected.endswith("}"):
                if not given:
                    return None
                params[expected[1:-1]] = given
            elif expected != given:
                return None
        return params


@attrs.frozen(kw_only=True)
class Webhooks:
    """A provider type's webhooks.

    Attributes:
        settings: The settings model its ``msgkit.toml`` table is checked with.
        secret_setting: The setting naming the environment variable of the webhook
            secret (``channel_secret_env``).
        routes: Its endpoints, tried in order.
    """

    settings: type[ProviderSettings]
    secret_setting: str
    routes: tuple[WebhookRoute, ...]

    def route(self, segments: Sequence[str]) -> tuple[WebhookRoute, dict[str, str]] | None:
        """The first route matching ``segments``, with its ``{name}`` segments."""
        for route in self.routes:
            params = route.match(segments)
            if params is not None:
                return route, params
        return None


def same_secret(given: str | bytes, expected: str | bytes) -> bool:
    """Whether two secrets or signatures are equal, in constant time."""
    a = given.encode("utf-8") if isinstance(given, str) else given
    b = expected.encode("utf-8") if isinstance(expected, str) else expected
    return hmac.compare_digest(a, b)


def verify_token(given: str, expected: str) -> None:
    """Check a secret path token (Alibaba's pushes are matched by their URL).

    Raises:
        SignatureError: When it does not match.
    """
    if not expected or not same_secret(given, expected):
        raise SignatureError(
            "the webhook path token does not match",
            hint="the push URL configured at the provider must end with the token msgkit has",
        )


def lenient_text(value: Any) -> Any:
    """A value that comes as a number in some versions and as text in others, as text."""
    if isinstance(value, str) or value is None:  # the usual case first
        return value
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else str(value)
    return value


#: A pydantic field type for `lenient_text` values.
LenientText = Annotated[str | None, BeforeValidator(lenient_text)]


def read_json(body: bytes, provider: str, what: str) -> Any:
    """A JSON body.

    Raises:
        ProviderError: When it is not JSON.
    """
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ProviderError(
            f"the {what} body is not JSON", provider=provider, hint="is this request from it?"
        ) from None


def read_items(body: bytes, model: type[T], provider: str, what: str) -> list[T]:
    """A JSON array (or one object) of items; an item that cannot be read is skipped
    and logged (its fields named, never its values).

    Raises:
        ProviderError: When the body is not JSON, or not an array or object.
    """
    data = read_json(body, provider, what)
    if isinstance(data, Mapping):
        data = [data]
    if not isinstance(data, list):
        raise ProviderError(f"the {what} body is not a JSON array", provider=provider)
    found: list[T] = []
    for index, item in enumerate(data):
        try:
            found.append(model.model_validate(item))
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
            log.warning("%s: skipped item %d of a %s push (%s)", provider, index, what, fields)
    return found


def our_id(value: str | None) -> str | None:
    """An echoed id is ours unless empty or a batch mark (ids have no ``.``)."""
    return value if value and "." not in value else None


def e164_or_none(raw: str | None, *, validate: bool = True) -> str | None:
    """A phone number in E.164, or None when absent or unreadable.

    Args:
        raw: The number as the provider wrote it.
        validate: Check it with `parse_phone` (tens of µs); without, a number already
            written in E.164 is trusted — right for receipts, which name numbers we sent
            to (another form is still parsed).
    """
    if not raw:
        return None
    if not validate and is_e164(raw):
        return raw
    try:
        return parse_phone(raw).e164
    except InvalidPhoneError:
        return None


def epoch(value: Any, scale: float = 1.0) -> datetime | None:
    """A Unix time (in units of ``1/scale`` seconds) as an aware datetime, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return datetime.fromtimestamp(value / scale, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
