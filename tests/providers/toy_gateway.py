"""A toy provider package, as another project would ship it: a factory, its settings
and one declared webhook (``POST /hooks/NAME/receipt`` with a ``x-toy-key`` header)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from msgkit.core.events import DeliveryReceipt, ReceiptState
from msgkit.exceptions import SignatureError
from msgkit.providers.base import Provider
from msgkit.providers.config import ProviderSettings, validate_settings
from msgkit.providers.registry import ProviderType
from msgkit.providers.webhooks import (
    Answer,
    WebhookRequest,
    WebhookRoute,
    Webhooks,
    read_json,
    same_secret,
)
from tests.providers.support import line


class ToySettings(ProviderSettings):
    """``type = "toy"``."""

    type: Literal["toy"] = "toy"
    key_env: str = "TOY_KEY"


def from_config(name: str, settings: Mapping[str, Any], env: Mapping[str, str]) -> Provider:
    """Any adapter will do: the webhooks are what is under test."""
    validate_settings(ToySettings, name, settings)
    return line()


def _verify(request: WebhookRequest) -> None:
    if not same_secret(request.header("x-toy-key"), request.secret):
        raise SignatureError("the toy key does not match")


def _parse(request: WebhookRequest) -> list[DeliveryReceipt]:
    data = read_json(request.body, request.provider, "toy receipt")
    return [
        DeliveryReceipt(
            provider=request.provider, state=ReceiptState.DELIVERED, message_id=str(data["id"])
        )
    ]


PROVIDER = ProviderType(
    factory=from_config,
    webhooks=Webhooks(
        settings=ToySettings,
        secret_setting="key_env",
        routes=(
            WebhookRoute(
                path="receipt", verify=_verify, parse=_parse, answer=Answer(body=b"thanks")
            ),
        ),
    ),
)
