"""Small builders shared by the tests of the store and the engine: those of
`msgkit.testing.contracts`, under the names these tests use."""

from __future__ import annotations

from msgkit.testing.contracts import (
    phone,
    planned_message,
    planned_messages,
    running_campaign,
    skipped,
)

Planned = planned_message
Skipped = skipped
planned = planned_messages
running = running_campaign

__all__ = ["Planned", "Skipped", "phone", "planned", "running"]
