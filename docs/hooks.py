"""MkDocs hooks: draw what the code decides, from the code.

- ``<!-- lifecycle: campaign -->`` becomes the Mermaid diagram of a transition table
  (`msgkit.core.campaigns.CAMPAIGN`, the message and the review lifecycles).
- ``<!-- decisions -->`` becomes the table of `msgkit.core.message.decide`: for each
  state and each observation, what it changes.

So the documentation can never disagree with the code.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from msgkit.core.campaigns import CAMPAIGN
from msgkit.core.delivery import MESSAGE, MessageState
from msgkit.core.message import (
    Context,
    Elapsed,
    MessageStatus,
    Observation,
    Polled,
    Receipt,
    Sent,
    decide,
)
from msgkit.core.templates import REVIEW

TABLES = {"campaign": CAMPAIGN, "message": MESSAGE, "review": REVIEW}
LIFECYCLE = re.compile(r"<!-- lifecycle: (\w+) -->")
DECISIONS = "<!-- decisions -->"

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)

#: One observation of each kind, as the engine or a webhook reports it.
OBSERVATIONS: list[tuple[str, Observation]] = [
    ("send: accepted", Sent(outcome="accepted", provider_message_id="P1")),
    ("send: retryable error", Sent(outcome="retry", error_code="429")),
    ("send: failed", Sent(outcome="failed", error_code="INVALID_NUMBER")),
    ("send: failed, fall back now", Sent(outcome="failed", fallback_now=True)),
    ("send: account error", Sent(outcome="account", error_code="NO_BALANCE")),
    ("send: outcome unknown", Sent(outcome="unknown")),
    ("receipt: delivered", Receipt(report="delivered")),
    ("receipt: undelivered", Receipt(report="undelivered")),
    ("receipt: failed", Receipt(report="failed")),
    ("polled: delivered", Polled(status="delivered")),
    ("polled: failed", Polled(status="failed")),
    ("polled: pending", Polled(status="pending")),
    ("polled: not found", Polled(status="not_found")),
    ("polled: query failed", Polled(status="query_failed")),
    ("polled: cannot be asked", Polled(status="no_query")),
    ("time: lease over", Elapsed(timer="lease")),
    ("time: fallback wait over", Elapsed(timer="fallback_wait")),
    ("time: validity over", Elapsed(timer="validity")),
]


def _diagram(match: re.Match[str]) -> str:
    table = TABLES[match.group(1)]
    return f"```mermaid\n{table.mermaid()}\n```"


def decision_rows() -> list[tuple[str, str, str, str]]:
    """(state, observation, next state, follow-ups) for every pair that changes
    something, with a message sent a minute ago, retries left and a fallback waiting."""
    context = Context(retry_at=NOW + timedelta(seconds=30), fallback_wait=timedelta(minutes=10))
    rows = []
    for state in MessageState:
        message = MessageStatus(
            id="m", state=state, sent_at=NOW - timedelta(minutes=1), provider_message_id="P1"
        )
        for label, observation in OBSERVATIONS:
            change = decide(message, observation, context=context, now=NOW)
            if change.noop:
                continue
            after = MESSAGE.next(state, change.event).value if change.event else "(same)"
            followups = ", ".join(f.value.replace("_", " ") for f in change.followups) or "—"
            rows.append((state.value, label, after, followups))
    return rows


def _decisions() -> str:
    lines = ["| state | observation | becomes | then |", "|---|---|---|---|"]
    lines += [f"| {s} | {o} | {n} | {f} |" for s, o, n, f in decision_rows()]
    return "\n".join(lines)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace every lifecycle marker with its diagram, and the decisions marker with
    the table of `decide`."""
    markdown = LIFECYCLE.sub(_diagram, markdown)
    if DECISIONS in markdown:
        markdown = markdown.replace(DECISIONS, _decisions())
    return markdown
