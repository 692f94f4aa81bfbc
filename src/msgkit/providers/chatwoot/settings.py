"""Chatwoot web chat: the ``msgkit.toml`` settings and `from_config`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from msgkit.exceptions import ConfigError
from msgkit.providers.chatwoot.adapter import DEFAULT_BASE_URL, ChatwootWebChat
from msgkit.providers.config import ProviderSettings, read_secret, validate_settings

__all__ = ["ChatwootSettings", "from_config"]


class ChatwootSettings(ProviderSettings):
    """``[providers.NAME] type = "webchat"`` (Chatwoot).

    Attributes:
        account_id: The Chatwoot account id.
        inbox_id: The website inbox.
        api_access_token_env: The default agent's token (default
            ``CHATWOOT_API_ACCESS_TOKEN``).
        agent_token_envs: Other agents' tokens: ``{agent name = "VARIABLE"}``.
        assignee_id: The agent who receives replies.
        team_id: The team that receives replies.
        webhook_secret_env: The webhook secret (default ``CHATWOOT_WEBHOOK_SECRET``),
            read only when webhooks are served.
    """

    type: Literal["webchat"] = "webchat"
    account_id: int
    inbox_id: int
    api_access_token_env: str = "CHATWOOT_API_ACCESS_TOKEN"  # noqa: S105 (a variable name)
    agent_token_envs: dict[str, str] = Field(default_factory=dict)
    assignee_id: int | None = None
    team_id: int | None = None
    webhook_secret_env: str = "CHATWOOT_WEBHOOK_SECRET"  # noqa: S105 (a variable name)


def from_config(name: str, settings: Mapping[str, Any], env: Mapping[str, str]) -> ChatwootWebChat:
    """Build the adapter from its ``msgkit.toml`` table and the environment.

    Raises:
        ConfigError: A wrong setting, or a missing environment variable (named).
    """
    cfg = validate_settings(ChatwootSettings, name, settings)
    key = f"providers.{name}"
    agents = {
        agent: read_secret(env, variable, key=f"{key}.agent_token_envs.{agent}")
        for agent, variable in cfg.agent_token_envs.items()
    }
    if "" in agents:
        raise ConfigError("an agent needs a name", key=f"{key}.agent_token_envs")
    return ChatwootWebChat(
        name,
        account_id=cfg.account_id,
        inbox_id=cfg.inbox_id,
        api_access_token=read_secret(
            env, cfg.api_access_token_env, key=f"{key}.api_access_token_env"
        ),
        agent_tokens=agents,
        assignee_id=cfg.assignee_id,
        team_id=cfg.team_id,
        base_url=cfg.base(DEFAULT_BASE_URL),
    )
