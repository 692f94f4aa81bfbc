"""Alibaba Cloud SMS: the ``msgkit.toml`` settings and `from_config`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from msgkit.providers.alibaba.adapter import DEFAULT_BASE_URL, AlibabaSms
from msgkit.providers.config import ProviderSettings, read_secret, validate_settings

__all__ = ["AlibabaSettings", "from_config"]


class AlibabaSettings(ProviderSettings):
    """``[providers.NAME] type = "alibaba"``.

    Attributes:
        access_key_id: The AccessKey id (not secret); else read from
            ``access_key_id_env``.
        access_key_id_env: Default ``ALIBABA_CLOUD_ACCESS_KEY_ID``.
        access_key_secret_env: Default ``ALIBABA_CLOUD_ACCESS_KEY_SECRET``.
        sign_name: The signature used when a campaign names none.
        region_id: Default ``cn-hangzhou``.
        standard_account: Default true: promotional templates without variables or
            per-recipient link parameters.
        http_method: ``POST`` (default) or ``GET``.
        webhook_token_env: The variable holding the path token of the receipt and
            reply pushes (default ``MSGKIT_ALIBABA_WEBHOOK_TOKEN``).
    """

    type: Literal["alibaba"] = "alibaba"
    access_key_id: str | None = None
    access_key_id_env: str = "ALIBABA_CLOUD_ACCESS_KEY_ID"
    access_key_secret_env: str = "ALIBABA_CLOUD_ACCESS_KEY_SECRET"  # noqa: S105 (a variable name)
    sign_name: str | None = None
    region_id: str = "cn-hangzhou"
    standard_account: bool = True
    http_method: Literal["GET", "POST"] = "POST"
    webhook_token_env: str = "MSGKIT_ALIBABA_WEBHOOK_TOKEN"  # noqa: S105 (a variable name)


def from_config(name: str, settings: Mapping[str, Any], env: Mapping[str, str]) -> AlibabaSms:
    """Build the adapter from its ``msgkit.toml`` table and the environment.

    Raises:
        ConfigError: A wrong setting, or a missing environment variable (named).
    """
    cfg = validate_settings(AlibabaSettings, name, settings)
    key = f"providers.{name}"
    key_id = cfg.access_key_id or read_secret(
        env, cfg.access_key_id_env, key=f"{key}.access_key_id_env"
    )
    return AlibabaSms(
        name,
        access_key_id=key_id,
        access_key_secret=read_secret(
            env, cfg.access_key_secret_env, key=f"{key}.access_key_secret_env"
        ),
        sign_name=cfg.sign_name,
        base_url=cfg.base(DEFAULT_BASE_URL),
        region_id=cfg.region_id,
        standard_account=cfg.standard_account,
        http_method=cfg.http_method,
    )
