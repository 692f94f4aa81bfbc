"""Transports perform the HTTP requests adapters build.

`HttpxTransport` is the default (and what respx intercepts in tests). Anything with an
``async send(request) -> httpx.Response`` method can replace it, e.g. a faster client.
"""

from __future__ import annotations

from typing import Protocol

import httpx

__all__ = ["HttpxTransport", "Transport"]


class Transport(Protocol):
    """Performs one HTTP request."""

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and return the response with its body read."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class HttpxTransport:
    """Sends requests with one pooled `httpx.AsyncClient`.

    Args:
        timeout: Seconds for connect, read, write and pool waits.
        max_connections: The pool size.
        client: An existing client to use instead (its settings win).
    """

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        max_connections: int = 64,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = client or httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            transport=transport,
        )

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and read the whole response."""
        response = await self._client.send(request)
        await response.aread()
        return response

    async def aclose(self) -> None:
        """Close the pool."""
        await self._client.aclose()
