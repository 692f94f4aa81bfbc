"""MkDocs hooks: draw what the code decides, from the code.

- ``<!-- lifecycle: campaign -->`` becomes the Mermaid diagram of a transition table
  (`msgkit.core.campaigns.CAMPAIGN`, the message and the review lifecycles).
- ``<!-- decisions -->`` becomes the table of `msgkit.core.message.decide`: for each
  state and each observation, what it changes.
- ``<!-- provider: TYPE -->`` becomes the settings table of a provider type (from its
  pydantic settings model and its docstring) and the webhook routes it declares.
- ``<!-- changelog -->`` becomes the top-level ``CHANGELOG.md``.

So the documentation can never disagree with the code.
"""

from __future__ import annotations

import inspect
import re
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel

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
from msgkit.providers.config import ProviderSettings
from msgkit.providers.registry import REGISTRY

TABLES = {"campaign": CAMPAIGN, "message": MESSAGE, "review": REVIEW}
LIFECYCLE = re.compile(r"<!-- lifecycle: (\w+) -->")
DECISIONS = "<!-- decisions -->"
PROVIDER = re.compile(r"<!-- provider: (\w+) -->")
CHANGELOG = "<!-- changelog -->"
ROOT = Path(__file__).resolve().parent.parent

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


def _attribute_docs(model: type[BaseModel]) -> dict[str, str]:
    """``{name: description}`` from the ``Attributes:`` sections of a model and its bases."""
    found: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        doc = inspect.getdoc(cls) or ""
        if "Attributes:" not in doc:
            continue
        name = None
        for line in doc.split("Attributes:", 1)[1].splitlines():
            if not line.strip():
                continue
            if not line.startswith(" "):
                break
            match = re.match(r"\s{4}(\w+): (.*)", line)
            if match:
                name = match.group(1)
                found[name] = match.group(2)
            elif name is not None:
                found[name] += " " + line.strip()
    return found


def settings_model(type_name: str) -> type[ProviderSettings]:
    """The settings model of a provider type: its webhooks', or the one its factory's
    module defines."""
    provider = REGISTRY.provider_type(type_name)
    if provider.webhooks is not None:
        return provider.webhooks.settings
    module = sys.modules[provider.factory.__module__]
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, ProviderSettings)
            and value is not ProviderSettings
        ):
            return value
    raise LookupError(f"no settings model for provider type {type_name!r}")


def provider_tables(type_name: str) -> str:
    """The settings table and the webhook routes of a provider type, as Markdown."""
    model = settings_model(type_name)
    docs = _attribute_docs(model)
    lines = ["| setting | default | what |", "|---|---|---|"]
    for name, field in model.model_fields.items():
        if field.is_required():
            default = "required"
        else:
            default = f"`{field.get_default(call_default_factory=True)!r}`"
        what = docs.get(name, "").replace("|", "\\|")
        lines.append(f"| `{name}` | {default} | {what} |")
    webhooks = REGISTRY.provider_type(type_name).webhooks
    if webhooks is None:
        lines += ["", "It declares no webhooks."]
        return "\n".join(lines)
    lines += [
        "",
        f"Webhooks (the secret's environment variable: setting `{webhooks.secret_setting}`):",
        "",
        "| route | answer |",
        "|---|---|",
    ]
    for route in webhooks.routes:
        path = "/hooks/NAME" + (f"/{route.path}" if route.path else "")
        lines.append(f"| `POST {path}` | {route.answer.status} |")
    return "\n".join(lines)


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace every lifecycle marker with its diagram, the decisions marker with the
    table of `decide`, provider markers with their settings and webhooks, and the
    changelog marker with ``CHANGELOG.md``."""
    markdown = LIFECYCLE.sub(_diagram, markdown)
    markdown = PROVIDER.sub(lambda m: provider_tables(m.group(1)), markdown)
    if CHANGELOG in markdown:
        changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
        body = changelog.split("\n", 1)[1].replace("](docs/", "](")
        markdown = markdown.replace(CHANGELOG, body)
    if DECISIONS in markdown:
        markdown = markdown.replace(DECISIONS, _decisions())
    return markdown
