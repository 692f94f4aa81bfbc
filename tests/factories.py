"""Small builders shared by the tests of the store and the engine.

`Planned` and `Skipped` make the planner's `PlannedMessage` and `Skip` with defaults, so
store and engine tests can write messages without planning a campaign.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from msgkit.core.campaigns import Campaign, CampaignKind
from msgkit.core.delivery import Channel, SkipReason
from msgkit.core.planning import PlannedMessage, Skip
from msgkit.core.templates import Template, TemplateKind


def Planned(**fields: Any) -> PlannedMessage:
    """A planned message with test defaults for the fields not given."""
    test = bool(fields.get("test", False))
    defaults: dict[str, Any] = {
        "step": 0,
        "channel": Channel.SMS,
        "provider": "sim",
        "text": "hello",
        "kind": TemplateKind.NOTIFICATION,
        "template_code": None,
        "params": {},
        "sender": None,
        "encoding": "GSM-7",
        "segments": 1,
        "expires_at": None,
        "deferred": False,
        "test": test,
        "counts_toward_caps": not test,
    }
    return PlannedMessage(**{**defaults, **fields})


def Skipped(**fields: Any) -> Skip:
    """A skip with test defaults for the fields not given."""
    defaults: dict[str, Any] = {
        "step": 0,
        "reason": SkipReason.SUPPRESSED,
        "detail": "on the suppression list",
    }
    return Skip(**{**defaults, **fields})


def phone(i: int) -> str:
    """A distinct valid-looking Taiwan mobile number."""
    return f"+8869{i:08d}"


def planned(
    campaign_id: str, count: int, *, now: datetime, start: int = 0, step: int = 0, **fields: Any
) -> list[PlannedMessage]:
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
