"""Small builders shared by the tests of the store and the engine."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from msgkit.core.campaigns import Campaign, CampaignKind
from msgkit.core.delivery import Channel, SkipReason
from msgkit.core.templates import Template, TemplateKind


@attrs.frozen(kw_only=True)
class Planned:
    """A stand-in with the fields of a planned message."""

    id: str
    key: str
    campaign_id: str
    contact_key: str
    step: int = 0
    channel: Channel = Channel.SMS
    provider: str | None = "sim"
    to: str
    text: str = "hello"
    kind: TemplateKind = TemplateKind.NOTIFICATION
    template_code: str | None = None
    params: Mapping[str, str] = attrs.field(factory=dict)
    sender: str | None = None
    encoding: str | None = "GSM-7"
    segments: int = 1
    not_before: datetime
    expires_at: datetime | None = None
    deferred: bool = False
    test: bool = False
    links: Mapping[str, str] = attrs.field(factory=dict)
    link_param: str | None = None


@attrs.frozen(kw_only=True)
class Skipped:
    """A stand-in with the fields of a skip."""

    key: str
    campaign_id: str
    contact_key: str
    step: int = 0
    reason: SkipReason = SkipReason.SUPPRESSED
    detail: str = "on the suppression list"


def phone(i: int) -> str:
    """A distinct valid-looking Taiwan mobile number."""
    return f"+8869{i:08d}"


def planned(
    campaign_id: str, count: int, *, now: datetime, start: int = 0, step: int = 0, **fields: Any
) -> list[Planned]:
    """``count`` planned messages to distinct recipients."""
    out = []
    for i in range(start, start + count):
        key = f"{campaign_id}:{phone(i)}:{step}"
        out.append(
            Planned(
                id=hashlib.sha256(key.encode()).hexdigest()[:32],
                key=key,
                campaign_id=campaign_id,
                contact_key=phone(i),
                step=step,
                to=phone(i),
                not_before=now,
                **fields,
            )
        )
    return out


def running(name: str = "c", *, kind: CampaignKind = CampaignKind.BULK, **fields: Any) -> Campaign:
    """A campaign that is running."""
    return (
        Campaign(name=name, template=Template(body="hello"), kind=kind, **fields)
        .apply("start")
        .apply("initialized")
    )
