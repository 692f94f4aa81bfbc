"""An ASGI application for provider webhooks and short links (no web framework needed).

Mount it in any ASGI server or framework (uvicorn, hypercorn, a Starlette ``Mount``)::

    app = InboundApp(sink, endpoints_from_config(config["providers"]))

Routes, for each configured provider ``NAME``:

=========================================  ===========================================
``POST /hooks/NAME/TOKEN/report``          Alibaba SmsReport (receipts)
``POST /hooks/NAME/TOKEN/reply``           Alibaba SmsUp (replies)
``POST /hooks/NAME/status``                Twilio status callback
``POST /hooks/NAME/inbound``               Twilio incoming message
``POST /hooks/NAME``                       LINE webhook, Chatwoot webhook
``GET /l/CODE?p=PARAM``                    short link: 302 to its target, click recorded
=========================================  ===========================================

Each provider gets the answer it requires: Alibaba HTTP 200 ``{"code": 0, "msg": "成功"}``
(else it pushes again after 1, 5 and 10 minutes), Twilio 200 with empty TwiML (no
automatic answer), LINE and Chatwoot 200. A request whose signature or token does not
verify gets 403 and nothing is recorded; a verified body that cannot be read gets 400;
when the sink fails, 500, so that the provider delivers again — which is why sinks must
be idempotent (every event has a ``key``).

The application decides nothing: what a receipt or a reply changes (message states, the
SMS fallback, the suppression list) is the sink's business (`InboundSink`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping, Sequence
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable
from urllib.parse import parse_qs, quote, urlsplit

import attrs

from msgkit.exceptions import ProviderError, SignatureError
from msgkit.inbound.events import Click, DeliveryReceipt, Reply
from msgkit.inbound.parsers import (
    parse_alibaba_replies,
    parse_alibaba_reports,
    parse_chatwoot_event,
    parse_click,
    parse_line_events,
    parse_twilio_inbound,
    parse_twilio_status,
)
from msgkit.inbound.signatures import (
    verify_chatwoot_signature,
    verify_line_signature,
    verify_token,
    verify_twilio_signature,
)
from msgkit.providers._common import utc_now
from msgkit.providers.alibaba import AlibabaSettings
from msgkit.providers.chatwoot import ChatwootSettings
from msgkit.providers.config import ProviderSettings, read_secret, validate_settings
from msgkit.providers.line import LineSettings
from msgkit.providers.twilio import TwilioSettings

__all__ = ["Endpoint", "InboundApp", "InboundSink", "endpoints_from_config"]

log = logging.getLogger("msgkit.inbound")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Kind = Literal["alibaba", "twilio", "line", "webchat"]

ALIBABA_ANSWER = json.dumps({"code": 0, "msg": "成功"}, ensure_ascii=False).encode("utf-8")
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


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
        kind: How it is verified and read: ``alibaba``, ``twilio``, ``line`` or
            ``webchat``.
        secret: The path token (Alibaba), auth token (Twilio), channel secret (LINE) or
            webhook secret (Chatwoot).
        public_url: Twilio only: the scheme and host (and any path prefix a proxy
            strips) Twilio calls this application at, since the signature covers the
            URL exactly; taken from the request when omitted.
    """

    name: str
    kind: Kind
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
    """

    def __init__(
        self,
        sink: InboundSink,
        endpoints: Iterable[Endpoint],
        *,
        hooks_path: str = "/hooks",
        links_path: str = "/l",
        clock: Callable[[], datetime] = utc_now,
        max_body: int = 1 << 20,
    ) -> None:
        self.sink = sink
        self.endpoints = {endpoint.name: endpoint for endpoint in endpoints}
        self._hooks = hooks_path.rstrip("/") + "/"
        self._links = links_path.rstrip("/") + "/"
        self._clock = clock
        self._max_body = max_body

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
        body = await self._body(receive)
        handler = {
            "alibaba": self._alibaba,
            "twilio": self._twilio,
            "line": self._line,
            "webchat": self._webchat,
        }[endpoint.kind]
        await handler(endpoint, parts[1:], scope, body, send)

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

    @staticmethod
    def _verified(check: Callable[[], None], endpoint: Endpoint) -> None:
        try:
            check()
        except SignatureError as error:
            log.warning("%s: refused a webhook: %s", endpoint.name, error.message)
            raise _HttpError(403, "signature does not verify") from None

    async def _deliver(
        self,
        endpoint: Endpoint,
        parse: Callable[[], Sequence[DeliveryReceipt] | Sequence[Reply]],
    ) -> None:
        try:
            events = parse()
        except ProviderError as error:
            log.warning("%s: unreadable webhook body: %s", endpoint.name, error.message)
            raise _HttpError(400, "unreadable body") from None
        if not events:
            return
        try:
            if isinstance(events[0], DeliveryReceipt):
                await self.sink.receipts([e for e in events if isinstance(e, DeliveryReceipt)])
            else:
                await self.sink.replies([e for e in events if isinstance(e, Reply)])
        except Exception:
            log.exception("%s: the sink failed; the provider will deliver again", endpoint.name)
            raise _HttpError(500, "not recorded, deliver again") from None

    async def _alibaba(
        self, endpoint: Endpoint, rest: list[str], scope: Scope, body: bytes, send: Send
    ) -> None:
        if len(rest) != 2 or rest[1] not in ("report", "reply"):
            raise _HttpError(404, "not found")
        self._verified(lambda: verify_token(rest[0], endpoint.secret), endpoint)
        if rest[1] == "report":
            await self._deliver(
                endpoint, lambda: parse_alibaba_reports(body, provider=endpoint.name)
            )
        else:
            await self._deliver(
                endpoint, lambda: parse_alibaba_replies(body, provider=endpoint.name)
            )
        await _respond(send, 200, ALIBABA_ANSWER, "application/json; charset=utf-8")

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

    async def _twilio(
        self, endpoint: Endpoint, rest: list[str], scope: Scope, body: bytes, send: Send
    ) -> None:
        if rest not in (["status"], ["inbound"]):
            raise _HttpError(404, "not found")
        url = self._public_url(endpoint, scope)
        signature = _header(scope, b"x-twilio-signature") or ""
        is_json = "json" in (_header(scope, b"content-type") or "")
        form: dict[str, str]
        if is_json:
            self._verified(
                lambda: verify_twilio_signature(url, body, signature, endpoint.secret), endpoint
            )
            data = _loads(body)
            form = {k: str(v) for k, v in data.items()} if isinstance(data, Mapping) else {}
        else:
            multi = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
            self._verified(
                lambda: verify_twilio_signature(url, multi, signature, endpoint.secret), endpoint
            )
            form = {k: v[0] for k, v in multi.items()}
        now = self._clock()
        if rest == ["status"]:
            query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
            await self._deliver(
                endpoint,
                lambda: parse_twilio_status(form, query, provider=endpoint.name, now=now),
            )
        else:
            await self._deliver(
                endpoint, lambda: parse_twilio_inbound(form, provider=endpoint.name, now=now)
            )
        await _respond(send, 200, EMPTY_TWIML, "text/xml; charset=utf-8")

    async def _line(
        self, endpoint: Endpoint, rest: list[str], scope: Scope, body: bytes, send: Send
    ) -> None:
        if rest:
            raise _HttpError(404, "not found")
        signature = _header(scope, b"x-line-signature") or ""
        self._verified(lambda: verify_line_signature(body, signature, endpoint.secret), endpoint)
        await self._deliver(endpoint, lambda: parse_line_events(body, provider=endpoint.name))
        await _respond(send, 200)

    async def _webchat(
        self, endpoint: Endpoint, rest: list[str], scope: Scope, body: bytes, send: Send
    ) -> None:
        if rest:
            raise _HttpError(404, "not found")
        signature = _header(scope, b"x-chatwoot-signature") or ""
        timestamp = _header(scope, b"x-chatwoot-timestamp") or ""
        now = self._clock()
        self._verified(
            lambda: verify_chatwoot_signature(body, signature, timestamp, endpoint.secret, now=now),
            endpoint,
        )
        await self._deliver(
            endpoint, lambda: parse_chatwoot_event(body, provider=endpoint.name, now=now)
        )
        await _respond(send, 200)

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


def _loads(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _HttpError(400, "unreadable body") from None


#: The provider types that have webhooks, and the setting naming their secret's variable.
_WEBHOOKS: dict[str, tuple[type[ProviderSettings], str]] = {
    "alibaba": (AlibabaSettings, "webhook_token_env"),
    "twilio": (TwilioSettings, "auth_token_env"),
    "line": (LineSettings, "channel_secret_env"),
    "webchat": (ChatwootSettings, "webhook_secret_env"),
}


def endpoints_from_config(
    providers: Mapping[str, Mapping[str, Any]], env: Mapping[str, str] | None = None
) -> list[Endpoint]:
    """The webhook endpoints of every provider that has webhooks, from ``msgkit.toml``.

    The secrets come from the environment variables its settings name (Alibaba's
    ``webhook_token_env``, Twilio's ``auth_token_env``, LINE's ``channel_secret_env``,
    Chatwoot's ``webhook_secret_env``).

    Raises:
        ConfigError: A wrong setting, or a missing environment variable (named).
    """
    source = os.environ if env is None else env
    found: list[Endpoint] = []
    for name, settings in providers.items():
        kind = settings.get("type")
        if kind not in _WEBHOOKS:
            continue
        model, secret_field = _WEBHOOKS[kind]
        cfg = validate_settings(model, name, settings)
        variable = getattr(cfg, secret_field)
        found.append(
            Endpoint(
                name=name,
                kind=kind,
                secret=read_secret(source, variable, key=f"providers.{name}.{secret_field}"),
                public_url=getattr(cfg, "public_url", None),
            )
        )
    return found
