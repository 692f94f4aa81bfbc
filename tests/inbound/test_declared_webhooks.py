"""The inbound app routes the webhooks each provider type declares, an entry point's too."""

from __future__ import annotations

import asyncio
from importlib import metadata

import httpx
import pytest

from msgkit import ConfigError
from msgkit.inbound import Endpoint, InboundApp, endpoints_from_config
from msgkit.providers.registry import Registry
from tests.fakes.sink import MemorySink

BASE = "https://hooks.example.com"


@pytest.fixture
def toy_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    """Install tests.providers.toy_gateway:PROVIDER as the entry point ``toy``."""
    point = metadata.EntryPoint(
        name="toy", value="tests.providers.toy_gateway:PROVIDER", group="msgkit.providers"
    )

    def entry_points(**selection: str) -> list[metadata.EntryPoint]:
        return [point] if selection.get("group") == "msgkit.providers" else []

    monkeypatch.setattr(metadata, "entry_points", entry_points)


def _post(app: InboundApp, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            return await client.post(path, content=body, headers=headers)

    return asyncio.run(go())


@pytest.mark.usefixtures("toy_entry_point")
def test_an_entry_point_provider_has_its_webhooks_served() -> None:
    """A type installed through the entry point declares a webhook; the app routes it,
    verifies it, hands its receipts to the sink and answers as the type declares."""
    registry = Registry()
    [endpoint] = endpoints_from_config(
        {"mine": {"type": "toy"}},
        {"TOY_KEY": "k3y"},
        registry=registry,
    )
    assert (endpoint.name, endpoint.kind) == ("mine", "toy")
    sink = MemorySink()
    app = InboundApp(sink, [endpoint], registry=registry)

    answer = _post(app, "/hooks/mine/receipt", b'{"id": "m1"}', {"x-toy-key": "k3y"})
    assert (answer.status_code, answer.content) == (200, b"thanks")
    assert [r.message_id for r in sink.receipts_by_key.values()] == ["m1"]

    assert (
        _post(app, "/hooks/mine/receipt", b'{"id": "m2"}', {"x-toy-key": "no"}).status_code == 403
    )
    assert _post(app, "/hooks/mine/other", b"{}", {"x-toy-key": "k3y"}).status_code == 404
    assert _post(app, "/hooks/mine/receipt", b"nope", {"x-toy-key": "k3y"}).status_code == 400
    assert [r.message_id for r in sink.receipts_by_key.values()] == ["m1"]


def test_the_default_registry_knows_the_built_in_webhooks() -> None:
    """The built-in types declare their webhooks; those without any declare none."""
    from msgkit.providers.registry import REGISTRY

    declared = {t: REGISTRY.webhooks(t) for t in REGISTRY.types()}
    assert {t for t, w in declared.items() if w is not None} >= {
        "alibaba",
        "line",
        "twilio",
        "webchat",
    }
    assert declared["http_sms"] is None


def test_an_endpoint_without_webhooks_is_refused() -> None:
    """An endpoint whose type declares no webhooks, or is unknown, is a ConfigError."""
    with pytest.raises(ConfigError, match="declares no webhooks") as caught:
        InboundApp(MemorySink(), [Endpoint(name="gw", kind="http_sms", secret="s")])
    assert "twilio" in str(caught.value)
    with pytest.raises(ConfigError, match="unknown provider type 'pigeon'"):
        InboundApp(MemorySink(), [Endpoint(name="p", kind="pigeon", secret="s")])


def test_a_configured_type_that_cannot_be_loaded_is_an_error() -> None:
    """endpoints_from_config names a provider whose type cannot be loaded, instead of
    serving no webhook for it (every callback would then be a 404)."""
    with pytest.raises(ConfigError, match="pigeon") as caught:
        endpoints_from_config({"gw": {"type": "pigeon"}}, {})
    assert caught.value.key == "providers.gw.type"
    assert endpoints_from_config({"gw": {"type": "http_sms", "base_url": "https://gw"}}, {}) == []
