"""A lifecycle as one transition table.

Each lifecycle of msgkit (a campaign, a message, a template review) is a mapping
``{(state, event): next_state}``. Anything not in the table raises
`InvalidTransitionError`, and the documentation draws its diagram from the same table.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from typing import Generic, TypeVar

import attrs

from msgkit.exceptions import InvalidTransitionError

__all__ = ["TransitionTable"]

S = TypeVar("S", bound=Enum)
E = TypeVar("E", bound=Enum)


@attrs.frozen
class TransitionTable(Generic[S, E]):
    """The transitions of one lifecycle.

    Attributes:
        lifecycle: The name used in errors, e.g. ``"campaign"``.
        initial: The state every instance starts in.
        table: ``{(state, event): next_state}``.
    """

    lifecycle: str
    initial: S
    table: Mapping[tuple[S, E], S]

    def next(self, state: S, event: E) -> S:
        """Return the state after ``event``, or raise `InvalidTransitionError`."""
        try:
            return self.table[(state, event)]
        except KeyError:
            raise InvalidTransitionError(
                self.lifecycle,
                str(state.value),
                str(event.value),
                tuple(str(e.value) for e in self.allowed(state)),
            ) from None

    def can(self, state: S, event: E) -> bool:
        """Whether ``event`` is allowed in ``state``."""
        return (state, event) in self.table

    def allowed(self, state: S) -> tuple[E, ...]:
        """The events allowed in ``state``, in table order."""
        return tuple(event for (s, event) in self.table if s == state)

    def states(self) -> tuple[S, ...]:
        """Every state named in the table, the initial one first."""
        seen: dict[S, None] = {self.initial: None}
        for (state, _), target in self.table.items():
            seen.setdefault(state, None)
            seen.setdefault(target, None)
        return tuple(seen)

    def final_states(self) -> tuple[S, ...]:
        """The states no event leaves."""
        return tuple(s for s in self.states() if not any(t[0] == s for t in self.table))

    def mermaid(self) -> str:
        """The table as a Mermaid ``stateDiagram-v2``, for the documentation."""
        lines = ["stateDiagram-v2", f"    [*] --> {self.initial.value}"]
        for (state, event), target in self.table.items():
            lines.append(f"    {state.value} --> {target.value}: {event.value}")
        lines.extend(f"    {state.value} --> [*]" for state in self.final_states())
        return "\n".join(lines)
