"""Provider settings checked when the client is built: a wrong shape or a base_url that
is not a web address is refused at once, naming the setting, never a secret."""

from __future__ import annotations

from typing import Any

import pytest

import msgkit

TOKEN = "do-not-show-this-token"


@pytest.mark.parametrize("base_url", ["ftp://sms.example.com", "sms.example.com:8080", "http://"])
def test_a_base_url_that_is_not_http_is_refused_when_the_client_is_built(
    db: str, base_url: str
) -> None:
    """A base_url that is not an http(s) URL is a ConfigError naming it, not later unknowns."""
    config = {
        "providers": {
            "tw": {
                "type": "twilio",
                "account_sid": "AC" + "0" * 32,
                "sender": "+15005550006",
                "base_url": base_url,
            }
        }
    }
    with pytest.raises(msgkit.ConfigError) as caught:
        msgkit.Client(store=db, config=config, env={"TWILIO_AUTH_TOKEN": TOKEN})
    assert caught.value.key == "providers.tw.base_url"
    assert "http:// or https://" in str(caught.value)
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("providers", ["twilio", ["twilio"], {"sms": "twilio"}])
def test_providers_of_the_wrong_shape_are_refused_naming_the_setting(
    db: str, providers: Any
) -> None:
    """providers given as a string or list (file or Client) is a ConfigError, not AttributeError."""
    with pytest.raises(msgkit.ConfigError) as caught:
        msgkit.Client(store=db, config={"providers": providers})
    assert caught.value.key in ("providers", "providers.sms")
    assert "table" in str(caught.value)


@pytest.mark.parametrize("providers", ["twilio", ["twilio"]])
def test_providers_passed_to_the_client_must_be_a_mapping(db: str, providers: Any) -> None:
    """Client(providers="twilio") is a ConfigError showing the shape to use."""
    with pytest.raises(msgkit.ConfigError, match="providers must map names"):
        msgkit.Client(store=db, providers=providers)
