"""An ASGI application for provider webhooks and short links (no web framework needed).

Mount it in any ASGI server or framework (uvicorn, hypercorn, a Starlette ``Mount``)::

    app = InboundApp(sink, endpoints_from_config(config["providers"]))

The webhook routes are the providers' own: each provider type declares its endpoints
(`msgkit.providers.webhooks.Webhooks`: path, verification, parser, answer) with its
factory in the registry (`msgkit.providers.registry`), and the application serves, for
each configured provider ``NAME``, the routes its type declares under ``/hooks/NAME`` —
a type installed through the entry point included. The built-in ones:

=========================================  ===========================================
``POST /hooks/NAME/TOKEN/report``          Alibaba SmsReport (receipts)
``POST /hooks/NAME/TOKEN/reply``           Alibaba SmsUp (replies)
``POST /hooks/NAME/status``                Twilio status callback
``POST /hooks/NAME/inbound``               Twilio incoming message
``POST /hooks/NAME``                       LINE webhook, Chatwoot webhook
``GET /l/CODE?p=PARAM``                    short link: 302 to its target, click recorded
=========================================  ===========================================

Each provider gets the answer it declares: Alibaba HTTP 200 ``{"code": 0, "msg":
"成功"}`` (else it pushes again after 1, 5 and 10 minutes), Twilio 200 with empty TwiML
(no automatic answer), LINE and Chatwoot 200. A request whose signature or token does not
verify gets 403 and nothing is recorded; a verified body that cannot be read gets 400;
when the sink fails, 500, so that the provider delivers again — which is why sinks must
be idempotent (every event has a ``key``).

The application decides nothing: what a receipt or a reply changes (message states, the
SMS fallback, the suppression list) is the sink's business (`InboundSink`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable
from urllib.parse import parse_qs, quote, urlsplit

import attrs

from msgkit.core.events import Click, DeliveryReceipt, Reply
from msgkit.engine.clock import SystemClock
from msgkit.exceptions import ConfigError, ProviderError, SignatureError
from msgkit.inbound.parsers import parse_click
from msgkit.providers.config import read_secret, validate_settings
from msgkit.providers.registry import REGISTRY, Registry
from msgkit.providers.webhooks import WebhookRequest, WebhookRoute, Webhooks

__all__ = ["Endpoint", "InboundApp", "InboundSink", "endpoints_from_config"]

log = logging.getLogger("msgkit.inbound")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_SYSTEM_CLOCK = SystemClock()


@runtime_checkable
class InboundSink(Protocol):
    """Where verified events go; the store and engine implement it.

    Every method may be called again with the same events (providers re-push until
    answered): use the events' ``key`` to apply each once.
    """

    async def receipts(self, events: Sequence[DeliveryReceipt]) -> None:
        """Apply delivery receipts (states, the LINE fallback's cancellation)."""
        ...

    async def replies(self, events: Sequence[Reply]) -> None:
        """Store replies (and act on opt-outs)."""
        ...

    async def resolve_link(self, code: str, param: str | None) -> str | None:
        """The target URL of a short link, or None when the code is unknown."""
        ...

    async def click(self, event: Click) -> None:
        """Record a click."""
        ...


@attrs.frozen(kw_only=True, repr=False)
class Endpoint:
    """One provider's webhook.

    Attributes:
        name: The configured provider name: the path segment after ``/hooks/``.
        kind: The provider type (``alibaba``, ``twilio``, ``line``, ``webchat``, or
            one from an entry point): its declared webhooks are served.
        secret: The path token (Alibaba), auth token (Twilio), channel secret (LINE),
            webhook secret (Chatwoot): what its verification checks.
        public_url: The scheme and host (and any path prefix a proxy strips) the
            provider calls this application at, for signatures that cover the URL
            (Twilio's); taken from the request when omitted.
    """

    name: str
    kind: str
    secret: str
    public_url: str | None = None

    def __repr__(self) -> str:
        return f"Endpoint(name={self.name!r}, kind={self.kind!r}, secret=***)"


class _HttpError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _respond(
    send: Send,
    status: int,
    body: bytes = b"",
    content_type: str = "text/plain; charset=utf-8",
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode("latin-1")),
                (b"content-length", str(len(body)).encode("ascii")),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _Redacting(logging.Filter):
    """Masks secrets in each record's message and string arguments."""

    def __init__(self, redact: Callable[[str], str]) -> None:
        super().__init__()
        self._redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = self._redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(self._redact(a) if isinstance(a, str) else a for a in record.args)
        return True


class InboundApp:
    """The ASGI application.

    Args:
        sink: Where verified events go.
        endpoints: The provider webhooks served.
        hooks_path: Where the webhooks live.
        links_path: Where the short links live.
        clock: The time of clicks and of Twilio callbacks, and for Chatwoot's replay
            window.
        max_body: The largest body accepted, in bytes (larger: 413).
        registry: Where each endpoint's type finds its declared webhooks.
        digest_key: What keys the number digests of provider ids (`WebhookRequest`):
            by default the ``digest_key`` of the sink's store (a `StoreSink`'s), None
            for a plain store.

    Raises:
        ConfigError: An endpoint whose type is unknown or declares no webhooks.
    """

    def __init__(
        self,
        sink: InboundSink,
        endpoints: Iterable[Endpoint],
        *,
        hooks_path: str = "/hooks",
        links_path: str = "/l",
        clock: Callable[[], datetime] = _SYSTEM_CLOCK.now,
        max_body: int = 1 << 20,
        registry: Registry = REGISTRY,
        digest_key: bytes | None = None,
    ) -> None:
        self.sink = sink
        if digest_key is None:
            digest_key = getattr(getattr(sink, "store", None), "digest_key", None)
        self._digest_key = digest_key
        self.endpoints = {endpoint.name: endpoint for endpoint in endpoints}
        self._webhooks = {
            endpoint.name: _declared(registry, endpoint) for endpoint in self.endpoints.values()
        }
        self._hooks = hooks_path.rstrip("/") + "/"
        self._links = links_path.rstrip("/") + "/"
        self._clock = clock
        self._max_body = max_body

    def redact(self, text: str) -> str:
        """``text`` with every endpoint's secret masked (``***``): an Alibaba push URL
        carries its token in the path, which servers write to their access logs."""
        for endpoint in self.endpoints.values():
            if endpoint.secret:
                text = text.replace(endpoint.secret, "***")
                text = text.replace(quote(endpoint.secret, safe=""), "***")
        return text

    def access_log_filter(self) -> logging.Filter:
        """A logging filter that masks the endpoints' secrets in the records it sees
        (their arguments and message): add it to your server's access logger, e.g.
        ``logging.getLogger("uvicorn.access").addFilter(app.access_log_filter())``;
        ``msgkit serve`` does."""
        return _Redacting(self.redact)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection."""
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            await self._route(scope, receive, send)
        except _HttpError as error:
            await _respond(send, error.status, error.reason.encode("utf-8"))

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        method = scope["method"]
        if path.startswith(self._links):
            code = path[len(self._links) :]
            if not code or "/" in code:
                raise _HttpError(404, "not found")
            if method not in ("GET", "HEAD"):
                raise _HttpError(405, "method not allowed")
            await self._click(scope, send, code, record=method == "GET")
            return
        if not path.startswith(self._hooks):
            raise _HttpError(404, "not found")
        parts = path[len(self._hooks) :].split("/")
        endpoint = self.endpoints.get(parts[0])
        if endpoint is None:
            raise _HttpError(404, "not found")
        if method != "POST":
            raise _HttpError(405, "method not allowed")
        found = self._webhooks[endpoint.name].route(parts[1:])
        if found is None:
            raise _HttpError(404, "not found")
        route, params = found
        body = await self._body(receive)
        request = WebhookRequest(
            provider=endpoint.name,
            secret=endpoint.secret,
            params=params,
            url=self._public_url(endpoint, scope),
            headers={
                bytes(k).decode("latin-1").lower(): bytes(v).decode("latin-1")
                for k, v in scope.get("headers", ())
            },
            body=body,
            now=self._clock(),
            digest_key=self._digest_key,
        )
        await self._serve(endpoint, route, request, send)

    async def _body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _HttpError(400, "client disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max_body:
                raise _HttpError(413, "body too large")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _serve(
        self, endpoint: Endpoint, route: WebhookRoute, request: WebhookRequest, send: Send
    ) -> None:
        try:
            route.verify(request)
        except SignatureError as error:
            log.warning("%s: refused a webhook: %s", endpoint.name, error.message)
            raise _HttpError(403, "signature does not verify") from None
        try:
            events = route.parse(request)
        except ProviderError as error:
            log.warning("%s: unreadable webhook body: %s", endpoint.name, error.message)
            raise _HttpError(400, "unreadable body") from None
        if events:
            try:
                if isinstance(events[0], DeliveryReceipt):
                    await self.sink.receipts([e for e in events if isinstance(e, DeliveryReceipt)])
                else:
                    await self.sink.replies([e for e in events if isinstance(e, Reply)])
            except Exception:
                log.exception("%s: the sink failed; the provider will deliver again", endpoint.name)
                raise _HttpError(500, "not recorded, deliver again") from None
        answer = route.answer
        await _respond(send, answer.status, answer.body, answer.content_type)

    def _public_url(self, endpoint: Endpoint, scope: Scope) -> str:
        raw_path = scope.get("raw_path")
        path = bytes(raw_path).decode("latin-1") if raw_path else quote(scope["path"])
        if endpoint.public_url:
            base = endpoint.public_url.rstrip("/")
        else:
            host = _header(scope, b"host") or "localhost"
            base = f"{scope.get('scheme', 'http')}://{host}"
        query = bytes(scope.get("query_string", b"")).decode("latin-1")
        return f"{base}{path}?{query}" if query else f"{base}{path}"

    async def _click(self, scope: Scope, send: Send, code: str, *, record: bool) -> None:
        query_string = bytes(scope.get("query_string", b"")).decode("latin-1")
        query = {k: v[0] for k, v in parse_qs(query_string).items()}
        click = parse_click(
            code, query, now=self._clock(), user_agent=_header(scope, b"user-agent")
        )
        target = await self.sink.resolve_link(click.code, click.param)
        if target is None or urlsplit(target).scheme not in ("http", "https"):
            raise _HttpError(404, "unknown link")
        if record:
            try:
                await self.sink.click(click)
            except Exception:
                log.exception("short link %s: the click was not recorded", code)
        await _respond(
            send,
            302,
            headers=[(b"location", target.encode("utf-8")), (b"cache-control", b"no-store")],
        )


def _declared(registry: Registry, endpoint: Endpoint) -> Webhooks:
    try:
        webhooks = registry.webhooks(endpoint.kind)
    except ConfigError as exc:
        raise exc.under(f"endpoint {endpoint.name}.kind") from None
    if webhooks is None:
        raise ConfigError(
            f"provider type {endpoint.kind!r} declares no webhooks",
            key=f"endpoint {endpoint.name}.kind",
            hint="types with webhooks: "
            + ", ".join(t for t in registry.types() if _has_webhooks(registry, t)),
        )
    return webhooks


def _has_webhooks(registry: Registry, type_name: str) -> bool:
    try:
        return registry.webhooks(type_name) is not None
    except ConfigError:
        return False


def endpoints_from_config(
    providers: Mapping[str, Mapping[str, Any]],
    env: Mapping[str, str] | None = None,
    *,
    registry: Registry = REGISTRY,
) -> list[Endpoint]:
    """The webhook endpoints of every provider whose type declares webhooks, from
    ``msgkit.toml``.

    The secrets come from the environment variables its settings name (Alibaba's
    ``webhook_token_env``, Twilio's ``auth_token_env``, LINE's ``channel_secret_env``,
    Chatwoot's ``webhook_secret_env``: the type's `Webhooks.secret_setting`).

    Raises:
        ConfigError: A wrong setting, or a missing environment variable (named).
    """
    source = os.environ if env is None else env
    found: list[Endpoint] = []
    for name, settings in providers.items():
        kind = settings.get("type")
        if not isinstance(kind, str):
            continue
        try:
            webhooks = registry.webhooks(kind)
        except ConfigError as exc:  # a type that cannot be loaded is an error, not "none"
            raise exc.under(f"providers.{name}.type") from None
        if webhooks is None:
            continue
        cfg = validate_settings(webhooks.settings, name, settings)
        variable = getattr(cfg, webhooks.secret_setting)
        found.append(
            Endpoint(
                name=name,
                kind=kind,
                secret=read_secret(
                    source, variable, key=f"providers.{name}.{webhooks.secret_setting}"
                ),
                public_url=getattr(cfg, "public_url", None),
            )
        )
    return found
