"""Tests of msgkit.providers.registry and .config: types, entry points, msgkit.toml tables."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from importlib import metadata
from typing import Any

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from msgkit import ConfigError
from msgkit.providers.alibaba import AlibabaSms
from msgkit.providers.chatwoot import ChatwootWebChat
from msgkit.providers.config import ProviderSettings, validate_settings
from msgkit.providers.http_sms import HttpSms
from msgkit.providers.line import LineNotifications
from msgkit.providers.registry import REGISTRY, Registry, load_prices, load_providers
from msgkit.providers.twilio import TwilioSms
from tests.providers.support import SECRET, line, line_message

TOML = """
[providers.sms]
type = "alibaba"
access_key_id = "LTAI5t"
access_key_secret_env = "ALIBABA_SECRET"
sign_name = "阿里云"

[providers.line-tw]
type = "line"
base_url = "http://127.0.0.1:8080"

[providers.us]
type = "twilio"
account_sid = "AC1"
sender = "+14155550100"

[providers.gw]
type = "http_sms"
base_url = "https://sms.example.com"
path = "/send"
secret_env = "GW_TOKEN"

[providers.chat]
type = "webchat"
base_url = "https://chat.example.com"
account_id = 1
inbox_id = 2
"""

ENV = {
    "ALIBABA_SECRET": SECRET,
    "LINE_CHANNEL_ACCESS_TOKEN": SECRET,
    "TWILIO_AUTH_TOKEN": SECRET,
    "GW_TOKEN": SECRET,
    "CHATWOOT_API_ACCESS_TOKEN": SECRET,
}


def test_msgkit_toml_builds_every_provider() -> None:
    """The [providers] table of msgkit.toml builds one adapter per name."""
    tomllib = pytest.importorskip("tomllib")
    providers = load_providers(tomllib.loads(TOML)["providers"], ENV)
    assert {name: type(p) for name, p in providers.items()} == {
        "sms": AlibabaSms,
        "line-tw": LineNotifications,
        "us": TwilioSms,
        "gw": HttpSms,
        "chat": ChatwootWebChat,
    }
    assert all(SECRET not in repr(p) for p in providers.values())
    assert all(p.name == name for name, p in providers.items())


def test_prices_sit_with_their_provider_but_are_not_its_settings() -> None:
    """price, currency and prices of a provider table are read by load_prices and never
    reach the adapter (which would refuse them as unknown settings)."""
    table = {
        "sms": {"type": "simulator", "price": 0.045, "currency": "USD", "prices": {"TW": 0.04}},
        "free": {"type": "simulator"},
    }
    assert set(load_providers(table)) == {"sms", "free"}
    prices = load_prices(table)
    assert list(prices) == ["sms"]
    assert str(prices["sms"].price("TW")) == "0.04"
    assert str(prices["sms"].price("JP")) == "0.045"
    with pytest.raises(ConfigError) as caught:
        load_prices({"sms": {"type": "simulator", "prices": {"TW": -1}}})
    assert caught.value.key == "providers.sms.prices.TW"


def test_base_url_is_overridable() -> None:
    """base_url points an adapter at another server."""
    provider = load_providers({"l": {"type": "line", "base_url": "http://127.0.0.1:8080/"}}, ENV)[
        "l"
    ]
    (sent,) = provider.build_send([line_message(1)])
    assert str(sent.request.url) == "http://127.0.0.1:8080/bot/pnp/push"


@pytest.mark.parametrize(
    ("settings", "key", "words"),
    [
        ({}, "providers.x.type", "no type"),
        ({"type": "pigeon"}, "providers.x.type", "known types: alibaba"),
        ({"type": "line", "colour": "red"}, "providers.x.colour", "unknown setting"),
        ({"type": "twilio"}, "providers.x.account_sid", "required"),
        (
            {"type": "line", "notification_disabled": "maybe"},
            "providers.x.notification_disabled",
            "boolean",
        ),
        ({"type": "line"}, "providers.x.channel_access_token_env", "LINE_CHANNEL_ACCESS_TOKEN"),
    ],
)
def test_config_errors_name_the_setting(settings: dict[str, Any], key: str, words: str) -> None:
    """Each mistake is a ConfigError naming providers.NAME.setting."""
    with pytest.raises(ConfigError, match=words) as info:
        load_providers({"x": settings}, {})
    assert info.value.key == key
    assert str(info.value).count(key.rsplit(".", 1)[-1] + ":") == 1, "the key is said once"
    assert not info.value.message.startswith(key)


def test_an_empty_variable_counts_as_missing() -> None:
    """A variable set to blanks is as good as missing."""
    with pytest.raises(ConfigError, match="LINE_CHANNEL_ACCESS_TOKEN is not set"):
        load_providers({"x": {"type": "line"}}, {"LINE_CHANNEL_ACCESS_TOKEN": "  "})


def test_types_are_imported_lazily_by_path() -> None:
    """A type registered by import path is imported on first use only."""
    registry = Registry({"late": "tests.providers.late_adapter:from_config"}, entry_points=False)
    sys.modules.pop("tests.providers.late_adapter", None)
    assert "late" in registry.types()
    with pytest.raises(ConfigError, match="cannot be loaded"):
        registry.create("x", {"type": "late"}, {})


def test_the_simulator_is_registered_by_name() -> None:
    """'simulator' is known before its module exists; using it without it says so."""
    assert "simulator" in REGISTRY.types()
    try:
        import msgkit.providers.simulator  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="simulator"):
            REGISTRY.factory("simulator")


def _factory(name: str, settings: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    return line()


def test_register_and_replace() -> None:
    """register adds a type; registering it again needs replace=True."""
    registry = Registry(entry_points=False)
    registry.register("mine", _factory)
    assert registry.create("x", {"type": "mine"}, {}).name == "line"
    with pytest.raises(ConfigError, match="already"):
        registry.register("mine", _factory)
    registry.register("mine", "tests.providers.test_registry:_factory", replace=True)
    assert registry.factory("mine") is _factory


def test_entry_points_add_types(monkeypatch: pytest.MonkeyPatch) -> None:
    """A package adds a type through the msgkit.providers entry-point group."""
    point = metadata.EntryPoint(
        name="pluggy", value="tests.providers.test_registry:_factory", group="msgkit.providers"
    )

    def entry_points(**selection: str) -> list[metadata.EntryPoint]:
        return [point] if selection.get("group") == "msgkit.providers" else []

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    registry = Registry()
    assert "pluggy" in registry.types()
    assert registry.factory("pluggy") is _factory
    assert "pluggy" not in Registry(entry_points=False).types()


@given(st.from_regex(r"[a-z][a-z0-9_]{0,15}", fullmatch=True))
def test_unknown_type_says_its_key_once(type_name: str) -> None:
    """An unknown type reads providers.NAME.type: unknown provider type ..., key once."""
    if type_name in REGISTRY.types():
        return
    with pytest.raises(ConfigError) as info:
        load_providers({"x": {"type": type_name}}, {})
    text = str(info.value)
    assert text.startswith(f"providers.x.type: unknown provider type {type_name!r}")
    assert text.count("type:") == 1


class _Checked(ProviderSettings):
    size: int = 1
    colour: str = "red"

    @pydantic.field_validator("size")
    @classmethod
    def _positive(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be 1 or more")
        return value

    @pydantic.field_validator("colour")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in ("red", "blue"):
            raise ConfigError("unknown colour", key="colour", hint="red or blue")
        return value


def test_validator_errors_are_keyed_once_without_pydantic_prefixes() -> None:
    """A validator's ValueError loses pydantic's prefix; its ConfigError keeps its hint."""
    with pytest.raises(ConfigError) as info:
        validate_settings(_Checked, "x", {"type": "t", "size": 0})
    assert str(info.value) == "providers.x.size: must be 1 or more"
    with pytest.raises(ConfigError) as info:
        validate_settings(_Checked, "x", {"type": "t", "colour": "green"})
    assert str(info.value) == "providers.x.colour: unknown colour — red or blue"
    assert info.value.key == "providers.x.colour"
