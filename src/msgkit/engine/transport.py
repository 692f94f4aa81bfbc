"""Transports perform the HTTP requests adapters build.

Adapters build `httpx.Request` objects and parse `httpx.Response` objects (so they are
tested with respx); a transport performs them. Two come with msgkit:

- `AiohttpTransport`, the engine's default: it performs the request with one pooled
  `aiohttp.ClientSession` and hands back an `httpx.Response`. Measured on loopback
  against the same server (``benchmarks/dispatch.py``), aiohttp serves an order of
  magnitude more requests a second than httpx's async pool at the dispatcher's
  concurrency; the engine's throughput is bounded by it.
- `HttpxTransport`: one pooled `httpx.AsyncClient`, or any `httpx.AsyncBaseTransport`
  (an ASGI app in this process, a respx mock).

Anything with ``async send(request) -> httpx.Response`` and ``async aclose()`` can replace
them. A transport's connections belong to one event loop, and each ``Client.run()`` is
one: the engine closes every transport when a run ends, and a transport opens its
connections again, lazily, in the loop of its next request (both built-in ones do).

A transport reports failures as `httpx.TransportError` subclasses, which the engine
reads as "not sent" (`httpx.ConnectError`, `httpx.ConnectTimeout`, `httpx.PoolTimeout`)
or "may have been sent" (any other: a read timeout, a connection closed mid-answer).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import aiohttp
import httpx
import yarl

__all__ = ["AiohttpTransport", "HttpxTransport", "Transport"]


class Transport(Protocol):
    """Performs one HTTP request."""

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and return the response with its body read."""
        ...

    async def aclose(self) -> None:
        """Release connections; a later `send` (in this or another event loop) opens
        them again."""
        ...


class HttpxTransport:
    """Sends requests with one pooled `httpx.AsyncClient`.

    Its client is made in the event loop of the first request, and made again in the
    next loop after `aclose` (or when the loop changed).

    Args:
        timeout: Seconds for connect, read, write and pool waits.
        max_connections: The pool size.
        client: An existing client to use instead (its settings win). It is yours: it
            is used as it is, in its own event loop, and `aclose` leaves it open.
        transport: The httpx transport under the client (an ASGI app, a mock).
    """

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        max_connections: int = 64,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._given = client
        self._timeout = timeout
        self._max_connections = max_connections
        self._inner = transport
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _open(self) -> httpx.AsyncClient:
        if self._given is not None:
            return self._given
        loop = asyncio.get_running_loop()
        if self._client is None or self._client.is_closed or self._loop is not loop:
            # A client of an earlier loop cannot be used (nor closed) in this one.
            self._client = httpx.AsyncClient(
                timeout=self._timeout,
                limits=httpx.Limits(
                    max_connections=self._max_connections,
                    max_keepalive_connections=self._max_connections,
                ),
                transport=self._inner,
            )
            self._loop = loop
        return self._client

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read the whole response."""
        response = await self._open().send(request)
        await response.aread()
        return response

    async def aclose(self) -> None:
        """Close the pool this transport made (a given client stays open)."""
        if self._client is not None:
            client, self._client = self._client, None
            if self._loop is asyncio.get_running_loop():
                await client.aclose()


#: Headers httpx computes for a request that aiohttp computes again from the same URL
#: and body.
_RECOMPUTED = frozenset({b"host", b"content-length", b"transfer-encoding"})


class AiohttpTransport:
    """Sends `httpx.Request` objects with one pooled `aiohttp.ClientSession`.

    The request goes as built (method, URL, headers, body; no redirects followed, no
    cookies kept), and the answer comes back as an `httpx.Response` whose body httpx
    decodes from the raw bytes, as it would have received them. Unlike httpx, it reads
    no proxy settings from the environment (``HTTPS_PROXY``...). Failures are raised as
    the `httpx.TransportError` an httpx client would raise: a refused or timed-out
    connection (or a wait for a pooled one) as `httpx.ConnectError` /
    `httpx.ConnectTimeout` (the request did not leave), a read timeout as
    `httpx.ReadTimeout`, a connection closed mid-answer as `httpx.RemoteProtocolError`,
    anything else on the wire as `httpx.ReadError` (it may have been received).

    Args:
        timeout: Seconds to connect (waiting for a pooled connection included), and
            seconds without any data while reading the answer.
        max_connections: The pool size.
    """

    def __init__(self, *, timeout: float = 30.0, max_connections: int = 64) -> None:
        self._timeout = aiohttp.ClientTimeout(total=None, connect=timeout, sock_read=timeout)
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._url: httpx.URL | None = None
        self._yarl = yarl.URL()

    def _open(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            # A session of an earlier loop cannot be used (nor closed) in this one.
            self._loop = loop
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections),
                timeout=self._timeout,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,  # httpx decodes, from the headers it gets
                # No proxy settings read from the environment: aiohttp would read them
                # in a thread for every request (two thread hops a request, measured).
                trust_env=False,
            )
        return self._session

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read the whole response."""
        session = self._open()
        try:
            body = request.content  # built with its content: already encoded
        except httpx.RequestNotRead:
            body = await request.aread()  # a streamed body
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.headers.raw
            if name.lower() not in _RECOMPUTED
        ]
        if request.url is not self._url:  # adapters build many requests on one URL
            self._url = request.url
            self._yarl = yarl.URL(str(request.url), encoded=True)  # as httpx encoded it
        try:
            async with session.request(
                request.method,
                self._yarl,
                headers=headers,
                data=body or None,
                allow_redirects=False,
            ) as answer:
                return _response(answer.status, answer.raw_headers, await answer.read(), request)
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "connect timeout", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except (aiohttp.SocketTimeoutError, asyncio.TimeoutError) as exc:
            raise httpx.ReadTimeout(str(exc) or "read timeout", request=request) from exc
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        except aiohttp.ClientResponseError as exc:  # its text holds the URL: left out
            raise httpx.ReadError(
                f"ClientResponseError: {exc.status}, {exc.message}", request=request
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from exc

    async def aclose(self) -> None:
        """Close the pool (the next request opens another)."""
        if self._session is not None:
            session, self._session = self._session, None
            if self._loop is asyncio.get_running_loop():
                await session.close()


def _response(
    status: int, headers: tuple[tuple[bytes, bytes], ...], content: bytes, request: httpx.Request
) -> httpx.Response:
    """The `httpx.Response` of an answer read whole.

    An answer sent as it is (no ``Content-Encoding``) is handed over with its body as
    its content; httpx's own path (``httpx.Response(content=...)``, which runs the body
    through its decoders and chunker) costs several times as much a message, measured
    (``benchmarks/dispatch.py``). An encoded answer takes httpx's path and is decoded
    by httpx, as httpx would have received it.
    """
    names = {name.lower() for name, _ in headers}
    if b"content-encoding" in names:
        return httpx.Response(status, headers=headers, content=content, request=request)
    if content and not names & _LENGTH:  # as httpx.Response(content=...) adds it
        headers = (*headers, (b"Content-Length", str(len(content)).encode("ascii")))
    response = httpx.Response(status, headers=headers, stream=_READ, request=request)
    response._content = content  # what Response.read() sets
    response.is_stream_consumed = response.is_closed = True  # as after Response.read()
    return response


_LENGTH = frozenset({b"content-length", b"transfer-encoding"})

#: The stream of every answer already read (nothing more to read).
_READ = httpx.ByteStream(b"")
