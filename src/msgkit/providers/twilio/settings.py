"""Twilio SMS: the ``msgkit.toml`` settings and `from_config`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from msgkit.providers.config import ProviderSettings, read_secret, validate_settings
from msgkit.providers.twilio.adapter import DEFAULT_BASE_URL, TwilioSms

__all__ = ["TwilioSettings", "from_config"]


class TwilioSettings(ProviderSettings):
    """``[providers.NAME] type = "twilio"``.

    Attributes:
        account_sid: The Account SID (not secret).
        auth_token_env: Default ``TWILIO_AUTH_TOKEN``; also verifies the webhooks.
        sender: The default ``From`` number or ``MG...`` messaging service.
        status_callback: The public URL of the inbound app's ``/hooks/NAME/status``.
        public_url: The public base URL Twilio calls the inbound app at (for the
            webhook signature), e.g. ``https://hooks.example.com``.
    """

    type: Literal["twilio"] = "twilio"
    account_sid: str
    auth_token_env: str = "TWILIO_AUTH_TOKEN"  # noqa: S105 (a variable name)
    sender: str | None = None
    status_callback: str | None = None
    public_url: str | None = None


def from_config(name: str, settings: Mapping[str, Any], env: Mapping[str, str]) -> TwilioSms:
    """Build the adapter from its ``msgkit.toml`` table and the environment.

    Raises:
        ConfigError: A wrong setting, or a missing environment variable (named).
    """
    cfg = validate_settings(TwilioSettings, name, settings)
    return TwilioSms(
        name,
        account_sid=cfg.account_sid,
        auth_token=read_secret(env, cfg.auth_token_env, key=f"providers.{name}.auth_token_env"),
        sender=cfg.sender,
        status_callback=cfg.status_callback,
        base_url=cfg.base(DEFAULT_BASE_URL),
    )
