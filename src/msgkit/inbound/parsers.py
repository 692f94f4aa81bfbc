"""Webhook bodies into typed events. Pure: the time is passed in.

Each provider parses its own webhooks, in its package (``msgkit.providers.NAME.webhooks``);
they are gathered here. The short-link click is the inbound app's own: `parse_click`.

A body that is not the documented shape at all (not JSON, not an array where an array
is due) raises `ProviderError`; an item of it that cannot be read is skipped and logged
(masked), and the others are kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from msgkit.core.events import Click
from msgkit.providers.alibaba import parse_alibaba_replies, parse_alibaba_reports
from msgkit.providers.chatwoot import parse_chatwoot_event
from msgkit.providers.line import parse_line_events
from msgkit.providers.twilio import parse_twilio_inbound, parse_twilio_status

__all__ = [
    "parse_alibaba_replies",
    "parse_alibaba_reports",
    "parse_chatwoot_event",
    "parse_click",
    "parse_line_events",
    "parse_twilio_inbound",
    "parse_twilio_status",
]


def parse_click(
    code: str, query: Mapping[str, str], *, now: datetime, user_agent: str | None = None
) -> Click:
    """A short-link click: ``GET /l/{code}?p={param}``."""
    return Click(code=code, param=query.get("p") or None, clicked_at=now, user_agent=user_agent)
