"""Tests of msgkit.engine.transport against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import string
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from msgkit.core.delivery import Channel
from msgkit.engine.transport import AiohttpTransport, HttpxTransport, Transport, _response
from msgkit.providers.base import Capabilities, Outcome, transport_error_outcome
from tests.fakes.asgi import read_body
from tests.http_server import serve

pytestmark = pytest.mark.anyio


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Echoes the request; ``/slow`` answers after 2 s, ``/gzip`` gzips, ``/cut`` hangs
    up in the middle of its answer, ``/teapot`` answers 418 with a header."""
    if scope["type"] != "http":
        return
    body = await read_body(receive)
    path = scope["path"]
    if path == "/slow":
        await asyncio.sleep(2)
    if path == "/cut":
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]}
        )
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("hung up")
    answer = json.dumps(
        {
            "method": scope["method"],
            "path": path,
            "query": scope["query_string"].decode(),
            "headers": sorted(
                [k.decode(), v.decode()]
                for k, v in scope["headers"]
                if k.lower() in (b"authorization", b"content-type", b"x-line-delivery-tag")
            ),
            "body": body.decode(),
        }
    ).encode()
    headers = [(b"content-type", b"application/json"), (b"x-request-id", b"r-1")]
    if path == "/gzip":
        answer = gzip.compress(answer)
        headers.append((b"content-encoding", b"gzip"))
    status = 418 if path == "/teapot" else 201
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serve(app) as base:
        yield base


def _requests(url: str) -> list[httpx.Request]:
    auth = {"Authorization": "Basic QUM6c2VjcmV0"}
    return [
        httpx.Request(
            "POST", f"{url}/form", data={"To": "+886912345678", "Body": "Hi ü"}, headers=auth
        ),
        httpx.Request("POST", f"{url}/json", json={"to": "abc", "messages": [1]}),
        httpx.Request("GET", f"{url}/query", params={"To": "+1 555", "DateSent>": "2026-01-01"}),
        httpx.Request("GET", f"{url}/gzip"),
        httpx.Request("DELETE", f"{url}/teapot", headers={"X-Line-Delivery-Tag": "m" * 20}),
    ]


async def _answers(transport: Transport, requests: list[httpx.Request]) -> list[tuple[Any, ...]]:
    try:
        found = []
        for request in requests:
            response = await transport.send(request)
            found.append(
                (
                    response.status_code,
                    response.json(),
                    response.headers.get("x-request-id"),
                    response.request is request,
                )
            )
        return found
    finally:
        await transport.aclose()


async def test_answers_as_httpx_does(url: str) -> None:
    """The aiohttp transport sends each request as built and hands back the same
    status, decoded body and headers as the httpx transport, for the same requests."""
    mine = await _answers(AiohttpTransport(), _requests(url))
    theirs = await _answers(HttpxTransport(), _requests(url))
    assert mine == theirs
    assert mine[0][1]["body"] == "To=%2B886912345678&Body=Hi+%C3%BC"
    assert ["authorization", "Basic QUM6c2VjcmV0"] in mine[0][1]["headers"]
    assert mine[3][1]["path"] == "/gzip"  # decoded from gzip by httpx, as it arrived
    assert mine[4][0] == 418


async def test_connection_refused_is_a_connect_error() -> None:
    """Nobody listening: httpx.ConnectError, which the engine reads as not sent."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    transport = AiohttpTransport(timeout=2)
    try:
        with pytest.raises(httpx.ConnectError) as raised:
            await transport.send(httpx.Request("POST", f"http://127.0.0.1:{port}/x"))
    finally:
        await transport.aclose()
    caps = Capabilities(channel=Channel.SMS, idempotent=False)
    assert transport_error_outcome(raised.value, caps) is Outcome.RETRY


async def test_a_slow_answer_is_a_read_timeout(url: str) -> None:
    """No answer within the timeout: httpx.ReadTimeout, which may have been received
    (unknown for a provider that does not de-duplicate)."""
    transport = AiohttpTransport(timeout=0.3)
    try:
        with pytest.raises(httpx.ReadTimeout) as raised:
            await transport.send(httpx.Request("POST", f"{url}/slow"))
    finally:
        await transport.aclose()
    caps = Capabilities(channel=Channel.SMS, idempotent=False)
    assert transport_error_outcome(raised.value, caps) is Outcome.UNKNOWN


async def test_a_connection_closed_mid_answer_may_have_been_received(url: str) -> None:
    """The server hangs up in the middle of its answer: a transport error that is not a
    connect error (unknown for a provider that does not de-duplicate)."""
    transport = AiohttpTransport(timeout=2)
    try:
        with pytest.raises(httpx.TransportError) as raised:
            await transport.send(httpx.Request("POST", f"{url}/cut"))
    finally:
        await transport.aclose()
    assert not isinstance(raised.value, (httpx.ConnectError, httpx.ConnectTimeout))
    caps = Capabilities(channel=Channel.SMS, idempotent=False)
    assert transport_error_outcome(raised.value, caps) is Outcome.UNKNOWN


async def test_reopens_after_close(url: str) -> None:
    """A closed transport opens a new pool when used again."""
    transport = AiohttpTransport()
    await transport.send(httpx.Request("GET", f"{url}/a"))
    await transport.aclose()
    response = await transport.send(httpx.Request("GET", f"{url}/b"))
    await transport.aclose()
    assert response.json()["path"] == "/b"


async def test_sends_a_streamed_body(url: str) -> None:
    """A request whose body is streamed (not yet read) goes whole."""

    async def parts() -> Any:
        yield b"To=%2B1"
        yield b"&Body=Hi"

    transport = AiohttpTransport()
    try:
        request = httpx.Request("POST", f"{url}/stream", content=parts())
        response = await transport.send(request)
    finally:
        await transport.aclose()
    assert response.json()["body"] == "To=%2B1&Body=Hi"


_NAMES = st.text(alphabet=string.ascii_letters + string.digits + "-", min_size=1, max_size=12)
_VALUES = st.binary(max_size=20).map(lambda b: bytes(c for c in b if c >= 0x20 and c != 0x7F))


@settings(max_examples=200)
@given(
    status=st.integers(min_value=100, max_value=599),
    headers=st.lists(st.tuples(_NAMES.map(str.encode), _VALUES), max_size=6),
    content=st.binary(max_size=200) | st.text(max_size=50).map(str.encode),
)
def test_an_answer_read_whole_is_the_response_httpx_builds(
    status: int, headers: list[tuple[bytes, bytes]], content: bytes
) -> None:
    """The transport's response of an answer read whole equals httpx's own
    ``httpx.Response(content=...)`` of the same status, headers and body."""
    headers = [(n, v) for n, v in headers if n.lower() != b"content-encoding"]
    request = httpx.Request("POST", "http://example.test/x")
    mine = _response(status, tuple(headers), content, request)
    theirs = httpx.Response(status, headers=headers, content=content, request=request)
    assert mine.status_code == theirs.status_code
    assert mine.headers.raw == theirs.headers.raw
    assert mine.content == theirs.content == mine.read()
    assert mine.text == theirs.text
    assert mine.encoding == theirs.encoding
    assert mine.is_closed == theirs.is_closed
    assert mine.is_stream_consumed == theirs.is_stream_consumed
    assert mine.request is request


def test_an_encoded_answer_is_decoded_by_httpx() -> None:
    """A gzip answer is decoded as httpx decodes it."""
    request = httpx.Request("GET", "http://example.test/x")
    raw = gzip.compress(b'{"a": 1}')
    mine = _response(200, ((b"Content-Encoding", b"gzip"),), raw, request)
    assert mine.json() == {"a": 1}


async def test_an_unreadable_answer_names_no_url() -> None:
    """A malformed answer's error keeps the request's URL (number, signature) out."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nBad Header\x00: x\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = AiohttpTransport(timeout=2)
    url = f"http://127.0.0.1:{port}/Messages.json?To=%2B886912345678&AccessKey=s3cr3t"
    try:
        with pytest.raises(httpx.TransportError) as raised:
            await transport.send(httpx.Request("GET", url))
    finally:
        await transport.aclose()
        server.close()
        await server.wait_closed()
    text = f"{raised.value} {raised.value.__cause__ or ''}"
    assert "886912345678" not in text
    assert "s3cr3t" not in text
