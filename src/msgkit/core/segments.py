"""Who a campaign is for: conditions, segments, splits and control groups.

A **condition** is a test over a contact's attributes — a `Rule` such as
``Rule(field="city", op="eq", value="Taipei")`` — or a combination of them: `AllOf`,
`AnyOf`, `Not` (also written ``a & b``, ``a | b``, ``~a``). Every condition, and every
segment, answers ``matches(contact, now=...)``; relative dates ("joined in the last 30
days": ``Rule(field="joined", op="after", value=Ago(days=30))``) are measured from the
``now`` given, never from the clock. Conditions become plain dicts (JSON) and back with
`condition_to_dict` / `condition_from_dict`, so a saved segment reloads identically.

Operators (``op``):

| op | true when the attribute ... |
| --- | --- |
| ``eq``, ``ne`` | equals / does not equal ``value`` (a missing one equals nothing) |
| ``in`` | equals one of ``value`` (a list) |
| ``contains`` | contains ``value`` (text: as a substring; a list: as an element) |
| ``starts_with`` | is text starting with ``value`` |
| ``gt``, ``ge``, ``lt``, ``le`` | is greater / less than ``value`` (numbers, dates) |
| ``between`` | lies within ``value = (low, high)``, both included |
| ``before``, ``after`` | is a date or time before / after ``value`` (a date, time or `Ago`) |
| ``is_empty``, ``exists`` | is missing or blank / has a value |

Text is compared ignoring case and surrounding spaces; text that looks like a number,
an ISO date or a yes/no (``true``, ``yes``, ``1``, ...) is compared as one when the value
is a number, date or boolean (CSV cells are text). A test that
cannot apply (``"abc" gt 5``, a missing attribute) is false. ``$key``, ``$phone``,
``$region``, ``$time_zone`` and ``$locale`` name the contact's own fields.

A **segment** is static (a frozen set of contact keys) or dynamic (a condition).
A `Split` divides an audience into parts by percentages (by hashing each contact key
with the seed, so a contact keeps its part when others are added) or by counts (the
first N in the seed's hash order). A `ControlGroup` holds out a percentage of a
campaign's audience, again by hash of the campaign's salt and the contact key.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import heapq
import itertools
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol, runtime_checkable

import attrs

from msgkit.core.contacts import Contact
from msgkit.exceptions import ConfigError

if TYPE_CHECKING:  # msgkit.core.rfm builds on this module
    from msgkit.core.rfm import RFMSegment

__all__ = [
    "Ago",
    "AllOf",
    "AnyOf",
    "Audience",
    "Condition",
    "ControlGroup",
    "Cut",
    "DynamicSegment",
    "Not",
    "Op",
    "Part",
    "Rule",
    "Segment",
    "Split",
    "StaticSegment",
    "condition_from_dict",
    "condition_to_dict",
    "segment_from_dict",
    "segment_to_dict",
]


class Op(str, Enum):
    """The comparisons a `Rule` can make."""

    EQ = "eq"
    NE = "ne"
    IN = "in"
    CONTAINS = "contains"
    STARTS_WITH = "starts_with"
    GT = "gt"
    GE = "ge"
    LT = "lt"
    LE = "le"
    BETWEEN = "between"
    BEFORE = "before"
    AFTER = "after"
    IS_EMPTY = "is_empty"
    EXISTS = "exists"


@attrs.frozen(kw_only=True)
class Ago:
    """A moment relative to ``now``: ``Ago(days=30)`` is thirty days before it.

    Attributes:
        days: How many days before ``now`` (zero or more).
    """

    days: int = attrs.field(validator=attrs.validators.ge(0))

    def resolve(self, now: datetime) -> datetime:
        """The moment this is, for a given ``now``."""
        return now - timedelta(days=self.days)


Scalar = str | int | float | bool | date | datetime | Ago
Value = Scalar | tuple[Scalar, ...] | None


@runtime_checkable
class Condition(Protocol):
    """Anything that decides whether a contact is in: rules, combinations, segments."""

    def matches(self, contact: Contact, *, now: datetime) -> bool:
        """Whether ``contact`` satisfies the condition at ``now`` (an aware datetime)."""
        ...


class _Combinable:
    """``&``, ``|`` and ``~`` for conditions."""

    def __and__(self, other: Condition) -> AllOf:
        return AllOf(conditions=(self, other))  # type: ignore[arg-type]

    def __or__(self, other: Condition) -> AnyOf:
        return AnyOf(conditions=(self, other))  # type: ignore[arg-type]

    def __invert__(self) -> Not:
        return Not(condition=self)  # type: ignore[arg-type]


# -- reading attributes ---------------------------------------------------------------------

_SPECIAL = ("$key", "$phone", "$region", "$time_zone", "$locale")
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_UTC = timezone.utc


def _lookup(contact: Contact, field: str) -> object:
    if field.startswith("$"):
        if field == "$key":
            return contact.key
        if field == "$phone":
            return contact.phone.e164 if contact.phone else None
        if field == "$region":
            return contact.phone.region if contact.phone else None
        if field == "$time_zone":
            return contact.time_zone
        if field == "$locale":
            return contact.locale
    return contact.attributes.get(field)


def _empty(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        return not value
    return False


def _as_moment(value: object) -> tuple[datetime, bool] | None:
    """A date or time as an aware datetime, and whether it is only a day; else None.

    Text in ISO form counts (``2024-03-01``, ``2024-03-01T10:00+08:00``); a time
    without a zone is taken as UTC.
    """
    if isinstance(value, datetime):
        return (value if value.tzinfo is not None else value.replace(tzinfo=_UTC)), False
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=_UTC), True
    if isinstance(value, str):
        text = value.strip()
        if _ISO_DATE.match(text):
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                return None
            return _as_moment(moment)[0], len(text) == 10  # type: ignore[index]
    return None


def _as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _resolve(value: Scalar, now: datetime) -> Scalar:
    return value.resolve(now) if isinstance(value, Ago) else value


def _is_date(value: object) -> bool:
    return isinstance(value, (date, Ago))


def _compare(actual: object, expected: Scalar, now: datetime) -> int | None:
    """-1, 0 or 1 as ``actual`` is below, equal to or above ``expected``; None if unlike."""
    expected = _resolve(expected, now)
    if isinstance(expected, date):
        left = _as_moment(actual)
        right = _as_moment(expected)
        if left is None or right is None:
            return None
        if left[1] or right[1]:
            # A day against a day or a time compares calendar days (in UTC).
            a_day, b_day = left[0].astimezone(_UTC).date(), right[0].astimezone(_UTC).date()
            return (a_day > b_day) - (a_day < b_day)
        return (left[0] > right[0]) - (left[0] < right[0])
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        number = _as_number(actual)
        if number is None:
            return None
        return (number > expected) - (number < expected)
    if isinstance(expected, bool):
        if isinstance(actual, str):
            actual = _BOOLEANS.get(actual.strip().casefold())
        return 0 if actual is expected else None
    if isinstance(actual, str) and isinstance(expected, str):
        a_text, b_text = actual.strip().casefold(), expected.strip().casefold()
        return (a_text > b_text) - (a_text < b_text)
    return None


def _equal(actual: object, expected: Scalar, now: datetime) -> bool:
    if isinstance(expected, str) and not isinstance(actual, str):
        return actual is not None and str(actual).strip().casefold() == expected.strip().casefold()
    return _compare(actual, expected, now) == 0


# -- rules ---------------------------------------------------------------------------------

_NO_VALUE = (Op.IS_EMPTY, Op.EXISTS)
_ORDERED = (Op.GT, Op.GE, Op.LT, Op.LE)
_TIMED = (Op.BEFORE, Op.AFTER)


def _check_rule(rule: Rule, _: object, value: Value) -> None:
    op = rule.op
    where = f"segment rule on {rule.field!r}"
    if op in _NO_VALUE:
        if value is not None:
            raise ConfigError(f"{op.value} takes no value", key=where, hint="leave value out")
        return
    if value is None:
        raise ConfigError(f"{op.value} needs a value", key=where, hint="give value=...")
    if op is Op.IN:
        if not isinstance(value, tuple) or not value:
            raise ConfigError("in needs a list of values", key=where, hint="value=['a', 'b']")
        return
    if op is Op.BETWEEN:
        if not isinstance(value, tuple) or len(value) != 2:
            raise ConfigError(
                "between needs two values", key=where, hint="value=(low, high), both included"
            )
        return
    if isinstance(value, tuple):
        raise ConfigError(f"{op.value} needs one value, not a list", key=where, hint="use 'in'")
    if op in _TIMED and not _is_date(value):
        raise ConfigError(
            f"{op.value} needs a date, a time or Ago(days=...)",
            key=where,
            hint="e.g. value=date(2024, 3, 1) or value=Ago(days=30)",
        )
    if isinstance(value, Ago) and op not in (*_TIMED, *_ORDERED):
        raise ConfigError(f"{op.value} cannot take Ago", key=where, hint="use before or after")


def _value(value: object) -> Value:
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(value)
    return value  # type: ignore[return-value]


@attrs.frozen(kw_only=True)
class Rule(_Combinable):
    """One test of one attribute.

    Attributes:
        field: The attribute's name, or ``$key``, ``$phone``, ``$region``,
            ``$time_zone``, ``$locale`` for the contact's own fields.
        op: The comparison (see `Op`).
        value: What to compare with: a text, number, boolean, date, datetime or `Ago`;
            a list for ``in``; ``(low, high)`` for ``between``; nothing for
            ``is_empty`` and ``exists``.
    """

    field: str
    op: Op = attrs.field(converter=Op)
    value: Value = attrs.field(default=None, converter=_value, validator=_check_rule)

    def matches(self, contact: Contact, *, now: datetime) -> bool:
        """Whether ``contact``'s attribute passes this test at ``now``."""
        actual = _lookup(contact, self.field)
        op = self.op
        if op is Op.IS_EMPTY:
            return _empty(actual)
        if op is Op.EXISTS:
            return not _empty(actual)
        if op is Op.NE:
            return _empty(actual) or not _equal(actual, self.value, now)  # type: ignore[arg-type]
        if _empty(actual):
            return False
        value = self.value
        if op is Op.EQ:
            return _equal(actual, value, now)  # type: ignore[arg-type]
        if op is Op.IN:
            return any(_equal(actual, v, now) for v in value)  # type: ignore[union-attr]
        if op is Op.CONTAINS:
            if isinstance(actual, (list, tuple, set, frozenset)):
                return any(_equal(item, value, now) for item in actual)  # type: ignore[arg-type]
            return isinstance(actual, str) and str(value).strip().casefold() in actual.casefold()
        if op is Op.STARTS_WITH:
            return isinstance(actual, str) and actual.strip().casefold().startswith(
                str(value).strip().casefold()
            )
        if op is Op.BETWEEN:
            assert isinstance(value, tuple)
            low, high = value
            above = _compare(actual, low, now)
            below = _compare(actual, high, now)
            return above is not None and below is not None and above >= 0 and below <= 0
        order = _compare(actual, value, now)  # type: ignore[arg-type]
        if order is None:
            return False
        if op in (Op.GT, Op.AFTER):
            return order > 0
        if op in (Op.LT, Op.BEFORE):
            return order < 0
        if op is Op.GE:
            return order >= 0
        return order <= 0  # LE


def _conditions(value: Iterable[Condition]) -> tuple[Condition, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class AllOf(_Combinable):
    """True when every condition is (and for none at all).

    Attributes:
        conditions: The conditions, in order.
    """

    conditions: tuple[Condition, ...] = attrs.field(converter=_conditions)

    def matches(self, contact: Contact, *, now: datetime) -> bool:
        """Whether ``contact`` satisfies every condition."""
        return all(c.matches(contact, now=now) for c in self.conditions)


@attrs.frozen(kw_only=True)
class AnyOf(_Combinable):
    """True when at least one condition is (false for none at all).

    Attributes:
        conditions: The conditions, in order.
    """

    conditions: tuple[Condition, ...] = attrs.field(converter=_conditions)

    def matches(self, contact: Contact, *, now: datetime) -> bool:
        """Whether ``contact`` satisfies at least one condition."""
        return any(c.matches(contact, now=now) for c in self.conditions)


@attrs.frozen(kw_only=True)
class Not(_Combinable):
    """True when the condition is not.

    Attributes:
        condition: The condition negated.
    """

    condition: Condition

    def matches(self, contact: Contact, *, now: datetime) -> bool:
        """Whether ``contact`` fails the condition."""
        return not self.condition.matches(contact, now=now)


# -- segments ------------------------------------------------------------------------------


def _keys(value: Iterable[str]) -> frozenset[str]:
    return frozenset(value)


@attrs.frozen(kw_only=True, repr=False)
class StaticSegment:
    """A fixed list of contacts, by key.

    Attributes:
        keys: The keys of the contacts in the segment.
    """

    keys: frozenset[str] = attrs.field(converter=_keys)

    def matches(self, contact: Contact, *, now: datetime) -> bool:
        """Whether ``contact``'s key is in the list (``now`` is not used)."""
        return contact.key in self.keys

    def __repr__(self) -> str:
        return f"StaticSegment({len(self.keys):,} keys)"


@attrs.frozen(kw_only=True)
class DynamicSegment:
    """The contacts that satisfy a condition when it is asked.

    Attributes:
        condition: The condition.
    """

    condition: Condition

    def matches(self, contact: Contact, *, now: datetime) -> bool:
        """Whether ``contact`` satisfies the segment's condition at ``now``."""
        return self.condition.matches(contact, now=now)


Segment = StaticSegment | DynamicSegment


# -- plain dicts (pydantic at the edge) -----------------------------------------------------


@functools.cache
def _schemas() -> tuple[Any, Any]:
    """The pydantic schemas of condition and segment dicts: (condition adapter, segment).

    Built on first use: pydantic (which loads ``urllib`` and ``socket``) stays out of
    ``import msgkit.core``.
    """
    import pydantic  # noqa: PLC0415

    strict = pydantic.ConfigDict(extra="forbid", strict=True)

    class DateModel(pydantic.BaseModel):
        model_config = strict
        date: Annotated[date, pydantic.Field(strict=False)]

    class DateTimeModel(pydantic.BaseModel):
        model_config = strict
        datetime: Annotated[pydantic.AwareDatetime, pydantic.Field(strict=False)]

    class AgoModel(pydantic.BaseModel):
        model_config = strict
        days_ago: Annotated[int, pydantic.Field(ge=0)]

    scalar = bool | int | float | str | DateModel | DateTimeModel | AgoModel

    class RuleModel(pydantic.BaseModel):
        model_config = strict
        field: str
        op: Annotated[Op, pydantic.Field(strict=False)]
        value: scalar | list[scalar] | None = None

    class AllModel(pydantic.BaseModel):
        model_config = strict
        all: list[ConditionModel]

    class AnyModel(pydantic.BaseModel):
        model_config = strict
        any: list[ConditionModel]

    class NotModel(pydantic.BaseModel):
        model_config = strict
        not_: ConditionModel = pydantic.Field(alias="not")

    ConditionModel = RuleModel | AllModel | AnyModel | NotModel  # noqa: N806
    names = {"ConditionModel": ConditionModel, "date": date, "Op": Op}
    for model in (AllModel, AnyModel, NotModel):
        model.model_rebuild(_types_namespace=names)

    class SegmentModel(pydantic.BaseModel):
        model_config = strict
        type: Literal["static", "dynamic"]
        keys: list[str] | None = None
        condition: ConditionModel | None = None

    SegmentModel.model_rebuild(_types_namespace=names)
    return pydantic.TypeAdapter(ConditionModel), SegmentModel


def _scalar_from(data: object) -> Scalar:
    if isinstance(data, dict):
        if "date" in data:
            return data["date"]  # type: ignore[no-any-return]
        if "datetime" in data:
            return data["datetime"]  # type: ignore[no-any-return]
        return Ago(days=data["days_ago"])
    return data  # type: ignore[return-value]


def _condition_from(data: dict[str, Any]) -> Condition:
    """A condition from the validated, dumped form of the schema."""
    if "all" in data:
        return AllOf(conditions=[_condition_from(d) for d in data["all"]])
    if "any" in data:
        return AnyOf(conditions=[_condition_from(d) for d in data["any"]])
    if "not_" in data:
        return Not(condition=_condition_from(data["not_"]))
    raw = data["value"]
    value: Value
    if isinstance(raw, list):
        value = tuple(_scalar_from(v) for v in raw)
    else:
        value = None if raw is None else _scalar_from(raw)
    return Rule(field=data["field"], op=data["op"], value=value)


def _scalar_to(value: Scalar) -> object:
    if isinstance(value, Ago):
        return {"days_ago": value.days}
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    return value


def condition_to_dict(condition: Condition) -> dict[str, Any]:
    """A condition as plain data (JSON-ready) that `condition_from_dict` reads back.

    Example:
        >>> condition_to_dict(Rule(field="joined", op="after", value=Ago(days=30)))
        {'field': 'joined', 'op': 'after', 'value': {'days_ago': 30}}
    """
    if isinstance(condition, AllOf):
        return {"all": [condition_to_dict(c) for c in condition.conditions]}
    if isinstance(condition, AnyOf):
        return {"any": [condition_to_dict(c) for c in condition.conditions]}
    if isinstance(condition, Not):
        return {"not": condition_to_dict(condition.condition)}
    if isinstance(condition, Rule):
        out: dict[str, Any] = {"field": condition.field, "op": condition.op.value}
        if isinstance(condition.value, tuple):
            out["value"] = [_scalar_to(v) for v in condition.value]
        elif condition.value is not None:
            out["value"] = _scalar_to(condition.value)
        return out
    raise TypeError(f"{type(condition).__name__} cannot be saved as a dict")


def _config_error(exc: Any, what: str) -> ConfigError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return ConfigError(
        f"not a valid {what}: {first['msg']} (at {where or 'the top'})",
        key=what,
        hint='a rule is {"field": ..., "op": ..., "value": ...}; combine rules with '
        '{"all": [...]}, {"any": [...]}, {"not": {...}}',
    )


def condition_from_dict(data: Mapping[str, Any]) -> Condition:
    """Read a condition written by `condition_to_dict` (or by hand, or from JSON).

    Raises:
        ConfigError: When the data is not a valid condition; the message says where.

    Example:
        >>> condition_from_dict({"any": [{"field": "city", "op": "eq", "value": "Taipei"},
        ...                             {"field": "vip", "op": "exists"}]})
        AnyOf(conditions=(Rule(field='city', op=<Op.EQ: 'eq'>, value='Taipei'), \
Rule(field='vip', op=<Op.EXISTS: 'exists'>, value=None)))
    """
    adapter, _ = _schemas()
    try:
        model = adapter.validate_python(dict(data))
    except ValueError as exc:  # pydantic.ValidationError
        raise _config_error(exc, "segment condition") from None
    return _condition_from(model.model_dump())


def segment_to_dict(segment: Segment) -> dict[str, Any]:
    """A segment as plain data: ``{"type": "static", "keys": [...]}`` or dynamic."""
    if isinstance(segment, StaticSegment):
        return {"type": "static", "keys": sorted(segment.keys)}
    return {"type": "dynamic", "condition": condition_to_dict(segment.condition)}


def segment_from_dict(data: Mapping[str, Any]) -> Segment:
    """Read a segment written by `segment_to_dict`.

    Raises:
        ConfigError: When the data is not a valid segment.
    """
    _, segment_model = _schemas()
    try:
        model = segment_model.model_validate(dict(data))
    except ValueError as exc:  # pydantic.ValidationError
        raise _config_error(exc, "segment") from None
    if model.type == "static":
        if model.keys is None or model.condition is not None:
            raise ConfigError("a static segment has keys only", key="segment", hint='"keys": [...]')
        return StaticSegment(keys=model.keys)
    if model.condition is None or model.keys is not None:
        raise ConfigError(
            "a dynamic segment has a condition only", key="segment", hint='"condition": {...}'
        )
    return DynamicSegment(condition=_condition_from(model.condition.model_dump()))


# -- splits and control groups ---------------------------------------------------------------

_SCALE = 1_000_000  # shares are counted in millionths


def _share(salt: str, key: str, purpose: bytes) -> int:
    """Where a key falls for a salt, uniformly in [0, 1,000,000): the same everywhere."""
    digest = hashlib.blake2b(
        key.encode("utf-8"), digest_size=8, key=salt.encode("utf-8"), person=purpose
    ).digest()
    return int.from_bytes(digest, "big") % _SCALE


def _millionths(percent: float, where: str) -> int:
    if not 0 <= percent <= 100:
        raise ConfigError(f"{percent} is not a percentage", key=where, hint="use 0 to 100")
    return round(percent * _SCALE / 100)


def _check_salt(_: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value or len(value.encode("utf-8")) > 64:
        raise ConfigError(
            f"the {attribute.name} must be 1 to 64 bytes",
            key=attribute.name,
            hint="use the campaign id, or any short stable text",
        )


@attrs.frozen(kw_only=True)
class ControlGroup:
    """A share of a campaign's audience held out, the same contacts every time.

    Whether a contact is held out depends only on the salt (the campaign's) and the
    contact's key: not on the order contacts come in, nor on who else is in the audience.

    Attributes:
        percent: The share held out, 0 to 100.
        salt: Text unique to the campaign (its id), 1 to 64 bytes.
    """

    percent: float
    salt: str = attrs.field(validator=_check_salt)
    _threshold: int = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_threshold", _millionths(self.percent, "control.percent"))

    def holds_out(self, contact_key: str) -> bool:
        """Whether the contact is in the control group (gets no message).

        Example:
            >>> group = ControlGroup(percent=10, salt="spring-sale")
            >>> group.holds_out("member-42") == group.holds_out("member-42")
            True
        """
        return _share(self.salt, contact_key, b"msgkit-control") < self._threshold


@attrs.frozen(kw_only=True)
class Part:
    """One part of a `Split`: a percentage, a count, or (neither) the rest.

    Attributes:
        name: What the part is called, e.g. ``"A"``.
        percent: Its share of the audience, 0 to 100.
        count: How many contacts it takes.
    """

    name: str
    percent: float | None = None
    count: int | None = attrs.field(default=None)

    @count.validator
    def _one_size(self, _: object, count: int | None) -> None:
        if self.percent is not None and count is not None:
            raise ConfigError(
                f"part {self.name!r} has both a percent and a count",
                key="split.parts",
                hint="give one, or neither for the part that takes the rest",
            )
        if count is not None and count < 0:
            raise ConfigError(f"part {self.name!r} has a negative count", key="split.parts")


def _parts(value: Iterable[Part]) -> tuple[Part, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Split:
    """An audience divided into named parts, deterministically for a seed.

    With percentages each contact's part depends only on the seed and its key (a hash),
    so adding contacts never moves anyone; parts come out close to, not exactly at,
    their share. With counts the audience is ranked in the seed's hash order and each
    part takes the next ``count`` contacts, so the parts are exact; an added contact
    moves others only if it ranks before them. One part without a size takes the rest.

    Attributes:
        parts: The parts, in order. All percentages or all counts (plus at most one
            part that takes the rest); percentages add up to 100 at most, and to
            exactly 100 when no part takes the rest.
        seed: Text unique to this split (the campaign or experiment id), 1 to 64 bytes.

    Example:
        >>> split = Split(parts=[Part(name="A", percent=50), Part(name="B", percent=50)],
        ...               seed="spring-test")
        >>> parts = split.partition([f"member-{i}" for i in range(1000)])
        >>> sum(len(keys) for keys in parts.values())
        1000
    """

    parts: tuple[Part, ...] = attrs.field(converter=_parts)
    seed: str = attrs.field(validator=_check_salt)
    # Part i takes the shares (percent) or rank positions (count) below _bounds[i].
    _order: tuple[str, ...] = attrs.field(init=False, repr=False, eq=False)
    _bounds: tuple[int, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        names = [p.name for p in self.parts]
        if not self.parts or len(set(names)) != len(names):
            raise ConfigError("a split needs parts with distinct names", key="split.parts")
        sized = [p for p in self.parts if p.percent is not None or p.count is not None]
        rest = [p for p in self.parts if p not in sized]
        if len(rest) > 1:
            raise ConfigError("only one part can take the rest", key="split.parts")
        if len({p.percent is not None for p in sized}) > 1:
            raise ConfigError(
                "a split is by percentages or by counts, not both",
                key="split.parts",
                hint="use two splits one after the other",
            )
        if self.by_percent:
            sizes = [_millionths(p.percent or 0, f"split.parts.{p.name}") for p in sized]
            if sum(sizes) > _SCALE or (not rest and sum(sizes) != _SCALE):
                raise ConfigError(
                    f"the percentages add up to {sum(sizes) * 100 / _SCALE:g}",
                    key="split.parts",
                    hint="make them add up to 100, or add a part without a size for the rest",
                )
        else:
            if not rest:
                raise ConfigError(
                    "a split by counts needs a part without a size for everyone else",
                    key="split.parts",
                    hint='e.g. [Part(name="first", count=10_000), Part(name="later")]',
                )
            sizes = [p.count or 0 for p in sized]
        # The sized parts first, in their order, then the rest (up to the top).
        bounds = list(itertools.accumulate(sizes))
        if rest:
            bounds.append(_SCALE if self.by_percent else sys.maxsize)
        object.__setattr__(self, "_order", tuple(p.name for p in sized + rest))
        object.__setattr__(self, "_bounds", tuple(bounds))

    @property
    def by_percent(self) -> bool:
        """Whether the parts are percentages (else counts)."""
        return not any(p.count is not None for p in self.parts)

    def assign(self, contact_key: str) -> str:
        """The part a contact is in (percentage splits only: counts need the audience).

        Raises:
            ConfigError: For a split by counts; use `partition`.
        """
        if not self.by_percent:
            raise ConfigError(
                "a split by counts needs the whole audience",
                key="split",
                hint="use partition(keys)",
            )
        share = _share(self.seed, contact_key, b"msgkit-split")
        return self._order[bisect.bisect_right(self._bounds, share)]

    def partition(self, keys: Iterable[str]) -> dict[str, list[str]]:
        """Every key in exactly one part: part name → keys (each in the order given).

        Repeated keys are taken once.
        """
        unique = list(dict.fromkeys(keys))
        out: dict[str, list[str]] = {p.name: [] for p in self.parts}
        if self.by_percent:
            for key in unique:
                out[self.assign(key)].append(key)
            return out
        ranked = sorted(unique, key=lambda k: (_rank(self.seed, k), k))
        position = {k: i for i, k in enumerate(ranked)}
        for key in unique:
            out[self._order[bisect.bisect_right(self._bounds, position[key])]].append(key)
        return out

    def cut(self, part: str, keys: Iterable[str]) -> Cut:
        """Where part ``part`` of a split by counts starts and ends, for this audience.

        Streams the keys once and keeps only as many ranks as the part's end position
        (``first 10,000`` keeps 10,000), so the audience itself is never held.

        Raises:
            ConfigError: For an unknown part, or a split by percentages (use `assign`).
        """
        if self.by_percent:
            raise ConfigError("a split by percentages needs no cut", key="split", hint="use assign")
        if part not in self._order:
            raise ConfigError(
                f"the split has no part {part!r}",
                key="audience.part",
                hint="its parts are: " + ", ".join(self._order),
            )
        index = self._order.index(part)
        start = self._bounds[index - 1] if index else 0
        end = self._bounds[index]
        keep = end if end != sys.maxsize else start
        # A max-heap (by negated rank) of the `keep` smallest distinct ranks.
        heap: list[tuple[bytes, str]] = []
        members: set[str] = set()
        for key in keys:
            if key in members or keep == 0:
                continue
            rank = _rank(self.seed, key)
            inverted = (bytes(255 - b for b in rank), key)
            if len(heap) < keep:
                heapq.heappush(heap, inverted)
                members.add(key)
            elif (rank, key) < _uninvert(heap[0]):
                members.discard(heap[0][1])
                heapq.heapreplace(heap, inverted)
                members.add(key)
        smallest = sorted(_uninvert(item) for item in heap)
        low = smallest[start - 1] if 0 < start <= len(smallest) else None
        if start > len(smallest):
            return Cut(low=None, high=None, empty=True)
        high = smallest[end - 1] if end != sys.maxsize and end <= len(smallest) else None
        return Cut(low=low, high=high)


def _uninvert(item: tuple[bytes, str]) -> tuple[bytes, str]:
    return bytes(255 - b for b in item[0]), item[1]


@attrs.frozen(kw_only=True)
class Cut:
    """The rank range of one part of a split by counts (see `Split.cut`).

    Attributes:
        low: The last rank before the part (exclusive), or None from the start.
        high: The last rank in the part (inclusive), or None to the end.
        empty: The audience is too small to reach the part at all.
    """

    low: tuple[bytes, str] | None = None
    high: tuple[bytes, str] | None = None
    empty: bool = False

    def contains(self, split: Split, key: str) -> bool:
        """Whether ``key`` falls in the part."""
        if self.empty:
            return False
        rank = (_rank(split.seed, key), key)
        return (self.low is None or rank > self.low) and (self.high is None or rank <= self.high)


def _list_ids(value: Iterable[str] | str) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


@attrs.frozen(kw_only=True)
class Audience:
    """Who a campaign is for: stored lists, narrowed by a segment and a split part, with
    a control group held out.

    Attributes:
        lists: Ids of imported (stored) recipient lists; their contacts, in order.
        segment: Keep only the contacts this segment or condition matches; an
            `msgkit.core.rfm.RFMSegment` is scored over the lists when the campaign
            starts.
        split: Divide the audience, and keep `part` only.
        part: The name of the split's part this campaign sends to.
        control: Hold out a share of the audience (they are recorded, not messaged).
        cut: For a split by counts, the part's rank range (see `Split.cut`), computed
            when the campaign starts.
    """

    lists: tuple[str, ...] = attrs.field(default=(), converter=_list_ids)
    segment: StaticSegment | DynamicSegment | Rule | AllOf | AnyOf | Not | RFMSegment | None = None
    split: Split | None = None
    part: str | None = None
    control: ControlGroup | None = None
    cut: Cut | None = None

    def __attrs_post_init__(self) -> None:
        if (self.split is None) != (self.part is None):
            raise ConfigError(
                "a split needs the part to send to, and a part needs its split",
                key="audience.part",
            )
        if self.split is not None and self.part not in self.split._order:
            raise ConfigError(
                f"the split has no part {self.part!r}",
                key="audience.part",
                hint="its parts are: " + ", ".join(self.split._order),
            )

    @property
    def needs_cut(self) -> bool:
        """Whether a split by counts still needs its cut computed from the audience."""
        return self.split is not None and not self.split.by_percent and self.cut is None

    def in_segment(self, contact: Contact, *, now: datetime) -> bool:
        """Whether the segment (if any) matches ``contact``."""
        return self.segment is None or self.segment.matches(contact, now=now)

    def matches(self, contact: Contact, *, now: datetime) -> bool:
        """Whether ``contact`` is in the segment and in the split's part."""
        if not self.in_segment(contact, now=now):
            return False
        if self.split is None or self.part is None:
            return True
        if self.split.by_percent:
            return self.split.assign(contact.key) == self.part
        if self.cut is None:
            raise ConfigError(
                "a split by counts needs its cut before matching",
                key="audience.cut",
                hint="Split.cut(part, keys) over the audience, then attrs.evolve",
            )
        return self.cut.contains(self.split, contact.key)


def _rank(salt: str, key: str) -> bytes:
    return hashlib.blake2b(
        key.encode("utf-8"), digest_size=16, key=salt.encode("utf-8"), person=b"msgkit-rank"
    ).digest()
