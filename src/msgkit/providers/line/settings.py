"""LINE notification messages: the ``msgkit.toml`` settings and `from_config`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from msgkit.providers.config import ProviderSettings, read_secret, validate_settings
from msgkit.providers.line.adapter import DEFAULT_BASE_URL, LineNotifications

__all__ = ["LineSettings", "from_config"]


class LineSettings(ProviderSettings):
    """``[providers.NAME] type = "line"``.

    Attributes:
        channel_access_token_env: Default ``LINE_CHANNEL_ACCESS_TOKEN``.
        channel_secret_env: The webhook signing secret (default ``LINE_CHANNEL_SECRET``);
            read only when webhooks are served.
        notification_disabled: Deliver without a notification sound.
    """

    type: Literal["line"] = "line"
    channel_access_token_env: str = "LINE_CHANNEL_ACCESS_TOKEN"  # noqa: S105 (a variable name)
    channel_secret_env: str = "LINE_CHANNEL_SECRET"  # noqa: S105 (a variable name)
    notification_disabled: bool = False


def from_config(
    name: str, settings: Mapping[str, Any], env: Mapping[str, str]
) -> LineNotifications:
    """Build the adapter from its ``msgkit.toml`` table and the environment.

    Raises:
        ConfigError: A wrong setting, or a missing environment variable (named).
    """
    cfg = validate_settings(LineSettings, name, settings)
    return LineNotifications(
        name,
        channel_access_token=read_secret(
            env, cfg.channel_access_token_env, key=f"providers.{name}.channel_access_token_env"
        ),
        base_url=cfg.base(DEFAULT_BASE_URL),
        notification_disabled=cfg.notification_disabled,
    )
