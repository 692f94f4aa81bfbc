"""A configurable HTTP SMS gateway: the ``msgkit.toml`` settings and `from_config`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from msgkit.providers.config import ProviderSettings, read_secret, validate_settings
from msgkit.providers.http_sms.adapter import HttpSms

__all__ = ["HttpSmsSettings", "from_config"]


class HttpSmsSettings(ProviderSettings):
    """``[providers.NAME] type = "http_sms"`` (see the module docstring).

    Attributes:
        path: Appended to ``base_url`` (required for this type).
        method: ``POST`` (default), ``PUT`` or ``GET``.
        body_format: ``json`` (default), ``form`` or ``query`` (what ``GET`` always
            sends).
        body: The body (or query parameters), with placeholders.
        headers: Extra headers, with placeholders.
        secret_env: The variable holding the gateway's secret, if it takes one.
        auth_header: The header the secret goes in (default ``Authorization``); empty
            to send it only where a ``{secret}`` placeholder says.
        auth_scheme: Written before the secret (default ``Bearer``); empty for none.
        message_id_path: Where the message id is in the answer.
        error_code_path: Where an error code is.
        error_message_path: Where an error message is.
        success_path: Where a success flag is, if the gateway answers 200 to errors.
        success_values: What the success flag says on success (compared as
            lower-case text).
        retry_codes: Error codes that mean "try again later".
        account_codes: Error codes that mean "the account cannot send".
        opt_out_codes: Error codes that mean "the recipient opted out".
        idempotency_header: A header the gateway de-duplicates on.
        scheme: How length is counted, ``gsm`` or ``cn``.
        rate_per_second: The gateway's rate limit.
        max_text: The longest text it takes.
    """

    type: Literal["http_sms"] = "http_sms"
    path: str = ""
    method: Literal["POST", "PUT", "GET"] = "POST"
    body_format: Literal["json", "form", "query"] = "json"
    body: dict[str, Any] = Field(default_factory=lambda: {"to": "{to}", "text": "{text}"})
    headers: dict[str, str] = Field(default_factory=dict)
    secret_env: str | None = None
    auth_header: str = "Authorization"
    auth_scheme: str = "Bearer"
    message_id_path: str | None = "id"
    error_code_path: str | None = None
    error_message_path: str | None = None
    success_path: str | None = None
    success_values: list[str] = Field(default_factory=lambda: ["true", "ok", "success", "0"])
    retry_codes: list[str] = Field(default_factory=list)
    account_codes: list[str] = Field(default_factory=list)
    opt_out_codes: list[str] = Field(default_factory=list)
    idempotency_header: str | None = None
    scheme: Literal["gsm", "cn"] = "gsm"
    rate_per_second: float | None = None
    max_text: int | None = None


def from_config(name: str, settings: Mapping[str, Any], env: Mapping[str, str]) -> HttpSms:
    """Build the adapter from its ``msgkit.toml`` table and the environment.

    Raises:
        ConfigError: A wrong setting, an unknown placeholder, or a missing environment
            variable (named).
    """
    cfg = validate_settings(HttpSmsSettings, name, settings)
    secret = (
        read_secret(env, cfg.secret_env, key=f"providers.{name}.secret_env")
        if cfg.secret_env
        else None
    )
    return HttpSms(name, cfg, secret)
