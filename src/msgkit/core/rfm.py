"""RFM scoring: recency, frequency and monetary value, each scored 1–5 by quintile.

An `RFM` model names three columns of a list: the date of the last purchase
(recency), the number of orders (frequency) and the total spent (monetary value). Each
contact gets three scores from 1 to 5 — 5 for the most recent, most frequent, biggest
spenders — by quintile over the list: the cut points come from one pass over the list's
contacts before planning, and are kept with the campaign (`RFMSegment.cuts`), as a
count split keeps its cut.

Scoring rules (pure, deterministic):

- A value's score is ``1 + ⌊5 · below / n⌋``, where ``n`` is the number of contacts
  with a valid value and ``below`` how many of them have a strictly smaller one. Equal
  values always share a score (the lowest their rank allows), so ties never depend on
  the order of the list; with distinct values the five scores hold ``n / 5`` contacts
  each, give or take one.
- This is kept as four cut points per dimension; a value scores one more than the
  number of cut points it is above. A later value is scored against the same cuts.
- Recency is a date or time (a date cell, or ISO text such as ``2024-03-01``); the later,
  the higher. Frequency and monetary value are numbers (``12``, ``"1530.5"``).
- A missing or unreadable value scores **0** in that dimension and takes no part in the
  cut points; a contact with a 0 is in no segment that asks for that dimension (every
  named segment asks for R and F, most for M too).

A segment is a set of allowed scores per dimension: ``rfm.score(r=5, f=5, m=5)``,
``rfm.score(r=(1, 2), f=range(3, 6))``, or a named one (`NAMED_SEGMENTS`):
``rfm.segment("champions")``. It is a condition like any other — combine it with
``&``, ``|``, ``~`` — and goes in ``Audience(segment=...)``.

Examples:
    >>> from msgkit.core.contacts import Contact
    >>> rfm = RFM(recency="last", frequency="orders", monetary="spent")
    >>> people = [
    ...     Contact(key=f"c{i}", attributes={"last": f"2024-01-{i + 1:02d}",
    ...                                      "orders": i, "spent": 10 * i})
    ...     for i in range(10)
    ... ]
    >>> cuts = rfm.cuts(people)
    >>> [rfm.scores(c, cuts) for c in people[::3]]
    [(1, 1, 1), (2, 2, 2), (4, 4, 4), (5, 5, 5)]
    >>> champions = rfm.segment("champions").with_cuts(cuts)
    >>> [c.key for c in people if champions.matches(c)]
    ['c8', 'c9']
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import attrs

from msgkit.core.contacts import Contact
from msgkit.core.segments import (
    AllOf,
    AnyOf,
    DynamicSegment,
    Not,
    _as_moment,
    _as_number,
    _Combinable,
)
from msgkit.exceptions import ConfigError

__all__ = [
    "NAMED_SEGMENTS",
    "RFM",
    "Quintiles",
    "RFMCuts",
    "RFMSegment",
    "needs_scores",
    "with_scores",
]

C = TypeVar("C")

SCORES = range(1, 6)
_BINS = 5

#: The named RFM segments: allowed scores for (R, F, M); None allows any score 1–5.
NAMED_SEGMENTS: Mapping[str, tuple[range | None, range | None, range | None]] = {
    "champions": (range(5, 6), range(5, 6), range(5, 6)),
    "loyal": (range(3, 6), range(4, 6), None),
    "potential_loyalists": (range(4, 6), range(2, 4), None),
    "new": (range(5, 6), range(1, 2), None),
    "at_risk": (range(1, 3), range(3, 6), None),
    "cant_lose": (range(1, 3), range(5, 6), range(5, 6)),
    "hibernating": (range(1, 3), range(1, 3), None),
}


@attrs.frozen(kw_only=True)
class Quintiles:
    """The four cut points of one dimension (empty when no contact had a valid value).

    Attributes:
        cuts: Ascending; a value scores 1 plus the number of cut points it is above.
    """

    cuts: tuple[float, ...] = ()

    @classmethod
    def of(cls, values: Iterable[float]) -> Quintiles:
        """The cut points that score ``values`` by ``1 + ⌊5 · below / n⌋``."""
        ordered = sorted(array("d", values))
        n = len(ordered)
        if n == 0:
            return cls()
        # below(v) >= ceil(s·n/5)  <=>  v > ordered[ceil(s·n/5) - 1]
        return cls(cuts=tuple(ordered[math.ceil(s * n / _BINS) - 1] for s in range(1, _BINS)))

    def score(self, value: float | None) -> int:
        """1 to 5 for a value, 0 for none (or when there were no values to cut)."""
        if value is None or not self.cuts:
            return 0
        return 1 + sum(1 for cut in self.cuts if value > cut)


@attrs.frozen(kw_only=True)
class RFMCuts:
    """The quintiles of a list, one per dimension, and how many contacts it had.

    Attributes:
        recency: Cut points of the last purchase (as POSIX seconds).
        frequency: Cut points of the order count.
        monetary: Cut points of the total spent.
        contacts: Contacts read to compute them.
    """

    recency: Quintiles
    frequency: Quintiles
    monetary: Quintiles
    contacts: int = 0


def _moment(value: object) -> float | None:
    moment = _as_moment(value)
    return None if moment is None else moment[0].timestamp()


def _number(value: object) -> float | None:
    number = _as_number(value)
    return None if number is None or math.isnan(number) else number


def _cuts_of(models: list[RFM], contacts: Iterable[Contact]) -> dict[RFM, RFMCuts]:
    """The cut points of each model over ``contacts``, read once."""
    columns = {model: (array("d"), array("d"), array("d")) for model in models}
    count = 0
    for contact in contacts:
        count += 1
        for model in models:
            for column, value in zip(columns[model], model.values(contact), strict=True):
                if value is not None:
                    column.append(value)
    return {
        model: RFMCuts(
            recency=Quintiles.of(r),
            frequency=Quintiles.of(f),
            monetary=Quintiles.of(m),
            contacts=count,
        )
        for model, (r, f, m) in columns.items()
    }


def _allowed(value: int | Iterable[int] | None) -> frozenset[int]:
    if value is None:
        return frozenset(SCORES)
    scores = frozenset((value,) if isinstance(value, int) else value)
    if not scores or not scores <= frozenset(SCORES):
        raise ConfigError(
            f"RFM scores must be between 1 and 5, not {sorted(scores) or 'none'}",
            key="rfm.score",
            hint="give a score (5), several ((4, 5)) or a range (range(3, 6))",
        )
    return scores


@attrs.frozen(kw_only=True)
class RFM:
    """An RFM model over three columns of a list.

    Attributes:
        recency: The column (attribute) with the date of the last purchase.
        frequency: The column with the number of orders.
        monetary: The column with the total spent.
    """

    recency: str
    frequency: str
    monetary: str

    def values(self, contact: Contact) -> tuple[float | None, float | None, float | None]:
        """The contact's three values as numbers (a date as POSIX seconds), None if unusable."""
        attributes = contact.attributes
        return (
            _moment(attributes.get(self.recency)),
            _number(attributes.get(self.frequency)),
            _number(attributes.get(self.monetary)),
        )

    def cuts(self, contacts: Iterable[Contact]) -> RFMCuts:
        """The quintile cut points over ``contacts`` (one pass; three arrays of floats)."""
        return _cuts_of([self], contacts)[self]

    def scores(self, contact: Contact, cuts: RFMCuts) -> tuple[int, int, int]:
        """The contact's (R, F, M) scores, each 1–5, or 0 where its value is unusable."""
        r, f, m = self.values(contact)
        return cuts.recency.score(r), cuts.frequency.score(f), cuts.monetary.score(m)

    def score(
        self,
        r: int | Iterable[int] | None = None,
        f: int | Iterable[int] | None = None,
        m: int | Iterable[int] | None = None,
    ) -> RFMSegment:
        """The contacts whose scores are among those given (None: any score 1–5).

        Raises:
            ConfigError: For a score outside 1–5.
        """
        return RFMSegment(model=self, r=_allowed(r), f=_allowed(f), m=_allowed(m))

    def segment(self, name: str) -> RFMSegment:
        """A named segment (see `NAMED_SEGMENTS`): ``"champions"``, ``"at_risk"``...

        Raises:
            ConfigError: For an unknown name; the error lists the names.
        """
        if name not in NAMED_SEGMENTS:
            raise ConfigError(
                f"no RFM segment named {name!r}",
                key="rfm.segment",
                hint="the named segments are: " + ", ".join(NAMED_SEGMENTS),
            )
        r, f, m = NAMED_SEGMENTS[name]
        return attrs.evolve(self.score(r, f, m), name=name)


def _scores(value: Iterable[int]) -> frozenset[int]:
    return frozenset(value)


@attrs.frozen(kw_only=True)
class RFMSegment(_Combinable):
    """The contacts of a list whose RFM scores are among the allowed ones.

    Build it with `RFM.score` or `RFM.segment`. Its cut points are computed from the
    audience's lists when the campaign is estimated or started, and kept with it.

    Attributes:
        model: The RFM model (which columns).
        r: Allowed recency scores.
        f: Allowed frequency scores.
        m: Allowed monetary scores.
        name: The named segment it was built from, if any.
        cuts: The list's quintiles, once computed.
    """

    model: RFM
    r: frozenset[int] = attrs.field(converter=_scores)
    f: frozenset[int] = attrs.field(converter=_scores)
    m: frozenset[int] = attrs.field(converter=_scores)
    name: str | None = None
    cuts: RFMCuts | None = None

    def with_cuts(self, cuts: RFMCuts) -> RFMSegment:
        """This segment, scored against ``cuts``."""
        return attrs.evolve(self, cuts=cuts)

    def matches(self, contact: Contact, *, now: datetime | None = None) -> bool:
        """Whether the contact's scores are allowed (``now`` is not used).

        Raises:
            ConfigError: When the cut points were not computed yet.
        """
        if self.cuts is None:
            raise ConfigError(
                "an RFM segment needs the quintiles of its list before matching",
                key="audience.segment",
                hint="estimate or start the campaign (msgkit computes them), or "
                "segment.with_cuts(model.cuts(contacts))",
            )
        r, f, m = self.model.scores(contact, self.cuts)
        return r in self.r and f in self.f and m in self.m


def _unscored(condition: object, found: dict[RFM, None]) -> None:
    if isinstance(condition, RFMSegment):
        if condition.cuts is None:
            found[condition.model] = None
    elif isinstance(condition, (AllOf, AnyOf)):
        for child in condition.conditions:
            _unscored(child, found)
    elif isinstance(condition, (Not, DynamicSegment)):
        _unscored(condition.condition, found)


def needs_scores(condition: object) -> bool:
    """Whether ``condition`` holds an RFM segment whose cut points are not computed."""
    found: dict[RFM, None] = {}
    _unscored(condition, found)
    return bool(found)


def _scored(condition: Any, cuts: Mapping[RFM, RFMCuts]) -> Any:
    if isinstance(condition, RFMSegment):
        return (
            condition if condition.cuts is not None else condition.with_cuts(cuts[condition.model])
        )
    if isinstance(condition, (AllOf, AnyOf)):
        return attrs.evolve(condition, conditions=[_scored(c, cuts) for c in condition.conditions])
    if isinstance(condition, (Not, DynamicSegment)):
        return attrs.evolve(condition, condition=_scored(condition.condition, cuts))
    return condition


def with_scores(condition: C, contacts: Iterable[Contact]) -> C:
    """``condition`` with every RFM segment in it scored over ``contacts`` (one pass).

    The pre-pass before planning: ``contacts`` is the whole of the audience's lists,
    before any segment, so that quintiles are those of the list.
    """
    found: dict[RFM, None] = {}
    _unscored(condition, found)
    if not found:
        return condition
    return _scored(condition, _cuts_of(list(found), contacts))  # type: ignore[no-any-return]
