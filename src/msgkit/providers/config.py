"""Provider settings from ``msgkit.toml``, checked by pydantic, secrets from the environment.

Each ``[providers.NAME]`` table names its ``type`` and the settings of that adapter.
Secrets are never written in the file: a setting ending in ``_env`` names the
environment variable that holds one, and each has a documented default name::

    [providers.sms]
    type = "alibaba"
    access_key_id = "LTAI..."
    access_key_secret_env = "ALIBABA_SECRET"   # default: ALIBABA_CLOUD_ACCESS_KEY_SECRET
    sign_name = "阿里云"

    [providers.line-tw]
    type = "line"                             # token from LINE_CHANNEL_ACCESS_TOKEN

Every HTTP adapter takes ``base_url``, for tests and self-hosted gateways. A missing or
empty variable is a `ConfigError` naming it; an unknown or wrong setting is a
`ConfigError` naming ``providers.NAME.setting``. Neither ever shows a secret.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pydantic
from pydantic import BaseModel, ConfigDict

from msgkit.core.pricing import PRICE_SETTINGS
from msgkit.exceptions import ConfigError

__all__ = ["ProviderSettings", "adapter_settings", "read_secret", "validate_settings"]

M = TypeVar("M", bound="ProviderSettings")


class ProviderSettings(BaseModel):
    """Settings every provider takes.

    Attributes:
        type: The adapter: ``alibaba``, ``line``, ``twilio``, ``http_sms``, ``webchat``,
            ``simulator``, or a name registered by a plugin.
        base_url: Where its API lives, to point it at a test server or a gateway.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    base_url: str | None = None

    @pydantic.field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        """An ``http://`` or ``https://`` URL with a host: anything else would make
        every send fail at the transport, where the error reads "may have been sent"."""
        if value is None:
            return None
        parsed = urlsplit(value)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError("base_url must be an http:// or https:// URL with a host")
        return value

    def base(self, default: str) -> str:
        """``base_url`` if set, else ``default``; without a trailing slash."""
        return (self.base_url or default).rstrip("/")


def adapter_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A provider's table without what is msgkit's, not the adapter's: its prices
    (``price``, ``prices``, ``currency``; see `msgkit.core.pricing`)."""
    return {k: v for k, v in settings.items() if k not in PRICE_SETTINGS}


def validate_settings(model: type[M], name: str, settings: Mapping[str, Any]) -> M:
    """Check the settings of provider ``name`` against ``model`` (its prices aside).

    Raises:
        ConfigError: Naming the first wrong setting, never echoing its value.
    """
    try:
        return model.model_validate(adapter_settings(settings))
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        key = f"providers.{name}.{field}" if field else f"providers.{name}"
        if first["type"] == "extra_forbidden":
            secretish = any(w in field for w in ("secret", "token", "password", "key"))
            hint = (
                "secrets are read from the environment: set the matching *_env setting "
                "to the variable's name"
                if secretish
                else f"the settings of type {settings.get('type')!r} are: "
                + ", ".join(sorted(model.model_fields))
            )
            raise ConfigError("unknown setting", key=key, hint=hint) from None
        cause = (first.get("ctx") or {}).get("error")
        if isinstance(cause, ConfigError):  # a validator's own words, keyed once
            raise cause.under(key) from None
        raise ConfigError(_pydantic_message(first["msg"]), key=key) from None


def _pydantic_message(message: str) -> str:
    """A pydantic error message without the error class pydantic puts in front."""
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def read_secret(env: Mapping[str, str], variable: str, *, key: str) -> str:
    """The secret in environment variable ``variable``.

    Raises:
        ConfigError: When it is missing or empty; the error names the variable.
    """
    value = env.get(variable, "")
    if not value.strip():
        raise ConfigError(
            f"the environment variable {variable} is not set",
            key=key,
            hint=f"export {variable}=... (or name another variable in {key.rsplit('.', 1)[-1]})",
        )
    return value
