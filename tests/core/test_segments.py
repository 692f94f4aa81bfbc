"""Tests of msgkit.core.segments: rules, combinations, dicts, segments, splits, control groups."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from msgkit import ConfigError, Contact
from msgkit.core.segments import (
    Ago,
    AllOf,
    AnyOf,
    ControlGroup,
    DynamicSegment,
    Not,
    Op,
    Part,
    Rule,
    Split,
    StaticSegment,
    condition_from_dict,
    condition_to_dict,
    segment_from_dict,
    segment_to_dict,
)

NOW = datetime(2024, 6, 30, 12, 0, tzinfo=timezone.utc)


def _contact(**attributes: object) -> Contact:
    return Contact(phone="+886912345678", key="m1", attributes=attributes)


AMY = _contact(
    city="Taipei",
    points=120,
    level="3",
    joined=date(2024, 6, 10),
    seen=datetime(2024, 6, 29, 8, 0, tzinfo=timezone.utc),
    tags=["vip", "early"],
    email="",
    optin="Yes",
)


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (Rule(field="city", op="eq", value="taipei "), True),
        (Rule(field="city", op="eq", value="Tainan"), False),
        (Rule(field="city", op="ne", value="Tainan"), True),
        (Rule(field="nickname", op="ne", value="x"), True),
        (Rule(field="nickname", op="eq", value="x"), False),
        (Rule(field="city", op="in", value=["Tainan", "TAIPEI"]), True),
        (Rule(field="city", op="contains", value="aip"), True),
        (Rule(field="tags", op="contains", value="VIP"), True),
        (Rule(field="tags", op="contains", value="late"), False),
        (Rule(field="city", op="starts_with", value="tai"), True),
        (Rule(field="points", op="gt", value=100), True),
        (Rule(field="points", op="lt", value=100), False),
        (Rule(field="points", op="ge", value=120), True),
        (Rule(field="points", op="le", value=119.5), False),
        (Rule(field="level", op="ge", value=3), True),  # text that is a number
        (Rule(field="city", op="gt", value=3), False),  # not comparable: false
        (Rule(field="points", op="between", value=(100, 120)), True),
        (Rule(field="points", op="between", value=(121, 200)), False),
        (Rule(field="joined", op="before", value=date(2024, 6, 11)), True),
        (Rule(field="joined", op="after", value=date(2024, 6, 10)), False),
        (Rule(field="joined", op="after", value=Ago(days=30)), True),
        (Rule(field="joined", op="after", value=Ago(days=7)), False),
        (
            Rule(field="seen", op="after", value=datetime(2024, 6, 29, 7, 59, tzinfo=timezone.utc)),
            True,
        ),
        (Rule(field="seen", op="between", value=(Ago(days=2), Ago(days=0))), True),
        (Rule(field="email", op="is_empty"), True),
        (Rule(field="missing", op="is_empty"), True),
        (Rule(field="email", op="exists"), False),
        (Rule(field="city", op="exists"), True),
        (Rule(field="$region", op="eq", value="TW"), True),
        (Rule(field="$key", op="eq", value="m1"), True),
        (Rule(field="$phone", op="starts_with", value="+886"), True),
        (Rule(field="optin", op="eq", value=True), True),  # "Yes" from a CSV cell
        (Rule(field="optin", op="eq", value=False), False),
    ],
)
def test_rules(rule: Rule, expected: bool) -> None:
    """Each operator answers as documented, against text, numbers, dates, lists."""
    assert rule.matches(AMY, now=NOW) is expected


def test_dates_written_as_text_compare_as_dates() -> None:
    """An attribute holding ISO text compares as a date against a date."""
    contact = _contact(joined="2024-06-10")
    assert Rule(field="joined", op="after", value=Ago(days=30)).matches(contact, now=NOW)
    assert not Rule(field="joined", op="before", value=date(2024, 1, 1)).matches(contact, now=NOW)


def test_joined_in_the_last_30_days_moves_with_now() -> None:
    """A relative date is measured from the now given, not from the clock."""
    rule = Rule(field="joined", op="after", value=Ago(days=30))
    assert rule.matches(AMY, now=NOW)
    assert not rule.matches(AMY, now=NOW + timedelta(days=40))


def test_combinations_and_operators() -> None:
    """all-of, any-of and not nest, and & | ~ build them."""
    taipei = Rule(field="city", op="eq", value="Taipei")
    rich = Rule(field="points", op="gt", value=1000)
    assert (taipei & ~rich).matches(AMY, now=NOW)
    assert not (taipei & rich).matches(AMY, now=NOW)
    assert (rich | taipei).matches(AMY, now=NOW)
    assert AllOf(conditions=[]).matches(AMY, now=NOW)
    assert not AnyOf(conditions=[]).matches(AMY, now=NOW)
    nested = AnyOf(conditions=[AllOf(conditions=[taipei, Not(condition=rich)]), rich])
    assert nested.matches(AMY, now=NOW)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"op": "between", "value": 3}, "two values"),
        ({"op": "in", "value": []}, "list"),
        ({"op": "eq", "value": [1, 2]}, "not a list"),
        ({"op": "eq"}, "needs a value"),
        ({"op": "exists", "value": 1}, "takes no value"),
        ({"op": "before", "value": 3}, "date"),
        ({"op": "eq", "value": Ago(days=3)}, "Ago"),
    ],
)
def test_bad_rules_are_refused(kwargs: dict[str, object], message: str) -> None:
    """A rule whose value does not fit its operator is a ConfigError."""
    with pytest.raises(ConfigError, match=message):
        Rule(field="x", **kwargs)  # type: ignore[arg-type]


def test_dict_form_is_plain_json() -> None:
    """A condition's dict is plain JSON and reads back to an equal condition."""
    condition = AllOf(
        conditions=[
            Rule(field="joined", op="after", value=Ago(days=30)),
            AnyOf(
                conditions=[
                    Rule(field="city", op="in", value=["Taipei", "Tainan"]),
                    Not(condition=Rule(field="born", op="before", value=date(1990, 1, 1))),
                    Rule(field="seen", op="gt", value=datetime(2024, 1, 1, tzinfo=timezone.utc)),
                ]
            ),
        ]
    )
    data = json.loads(json.dumps(condition_to_dict(condition)))
    assert data["all"][0] == {"field": "joined", "op": "after", "value": {"days_ago": 30}}
    assert condition_from_dict(data) == condition


@pytest.mark.parametrize(
    "data",
    [
        {"field": "x", "op": "nearly", "value": 1},
        {"field": "x", "op": "eq", "value": 1, "extra": True},
        {"all": [{"field": "x"}]},
        {"field": "x", "op": "after", "value": {"days_ago": -1}},
        {"field": "x", "op": "between", "value": [1]},
        {"nothing": []},
    ],
)
def test_bad_dicts_are_config_errors(data: dict[str, object]) -> None:
    """A dict that is not a condition is a ConfigError saying what a condition looks like."""
    with pytest.raises(ConfigError):
        condition_from_dict(data)


def test_static_and_dynamic_segments() -> None:
    """A static segment is its keys; a dynamic one its condition; both round-trip."""
    static = StaticSegment(keys=["m1", "m2"])
    dynamic = DynamicSegment(condition=Rule(field="city", op="eq", value="Taipei"))
    assert static.matches(AMY, now=NOW)
    assert not StaticSegment(keys=["m9"]).matches(AMY, now=NOW)
    assert dynamic.matches(AMY, now=NOW)
    for segment in (static, dynamic):
        assert segment_from_dict(json.loads(json.dumps(segment_to_dict(segment)))) == segment
    assert "m1" not in repr(static)
    with pytest.raises(ConfigError):
        segment_from_dict({"type": "static", "condition": {"field": "a", "op": "exists"}})


# -- property tests: conditions --------------------------------------------------------------

FIELDS = ["a", "b", "c"]
_text = st.sampled_from(["x", "X", "y", "xy", " x", ""])
_int = st.integers(min_value=-3, max_value=3)
_day = st.dates(min_value=date(2024, 1, 1), max_value=date(2024, 1, 10))
_attr_value = st.one_of(st.none(), _text, _int, _day)


@st.composite
def rules(draw: st.DrawFn) -> Rule:
    field = draw(st.sampled_from(FIELDS))
    kind = draw(st.sampled_from(["text", "int", "day", "none"]))
    if kind == "none":
        return Rule(field=field, op=draw(st.sampled_from([Op.IS_EMPTY, Op.EXISTS])))
    value = draw({"text": _text.filter(bool), "int": _int, "day": _day}[kind])
    ops = {
        "text": [Op.EQ, Op.NE, Op.IN, Op.CONTAINS, Op.STARTS_WITH],
        "int": [Op.EQ, Op.NE, Op.IN, Op.GT, Op.GE, Op.LT, Op.LE, Op.BETWEEN],
        "day": [Op.EQ, Op.BEFORE, Op.AFTER, Op.BETWEEN, Op.LT, Op.GE],
    }[kind]
    op = draw(st.sampled_from(ops))
    if op is Op.IN:
        return Rule(
            field=field, op=op, value=[value, draw({"text": _text, "int": _int, "day": _day}[kind])]
        )
    if op is Op.BETWEEN:
        other = draw({"int": _int, "day": _day}[kind])
        return Rule(field=field, op=op, value=(min(value, other), max(value, other)))
    return Rule(field=field, op=op, value=value)


conditions = st.recursive(
    rules(),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda cs: AllOf(conditions=cs)),
        st.lists(inner, max_size=3).map(lambda cs: AnyOf(conditions=cs)),
        inner.map(lambda c: Not(condition=c)),
    ),
    max_leaves=8,
)


def _reference(condition: object, attrs: dict[str, object]) -> bool:
    """A plain evaluation, written without msgkit's helpers, for attributes of one kind."""
    if isinstance(condition, AllOf):
        return all(_reference(c, attrs) for c in condition.conditions)
    if isinstance(condition, AnyOf):
        return any(_reference(c, attrs) for c in condition.conditions)
    if isinstance(condition, Not):
        return not _reference(condition.condition, attrs)
    assert isinstance(condition, Rule)
    actual = attrs.get(condition.field)
    empty = actual is None or (isinstance(actual, str) and not actual.strip())
    if condition.op is Op.IS_EMPTY:
        return empty
    if condition.op is Op.EXISTS:
        return not empty
    value = condition.value

    def same_kind(v: object) -> bool:
        return type(actual) is type(v)

    def norm(v: object) -> object:
        return v.strip().casefold() if isinstance(v, str) else v

    def eq(v: object) -> bool:
        if isinstance(v, str):
            return norm(str(actual)) == norm(v)
        return same_kind(v) and actual == v

    if condition.op is Op.NE:
        return empty or not eq(value)
    if empty:
        return False
    if condition.op is Op.EQ:
        return eq(value)
    if condition.op is Op.IN:
        return any(eq(v) for v in value)  # type: ignore[union-attr]
    if condition.op is Op.CONTAINS:
        return isinstance(actual, str) and norm(value) in actual.casefold()  # type: ignore[operator]
    if condition.op is Op.STARTS_WITH:
        return isinstance(actual, str) and norm(actual).startswith(norm(value))  # type: ignore[union-attr, arg-type]
    if condition.op is Op.BETWEEN:
        low, high = value  # type: ignore[misc]
        return same_kind(low) and low <= actual <= high  # type: ignore[operator]
    if not same_kind(value):
        return False
    return {
        Op.GT: lambda: actual > value,
        Op.AFTER: lambda: actual > value,
        Op.GE: lambda: actual >= value,
        Op.LT: lambda: actual < value,
        Op.BEFORE: lambda: actual < value,
        Op.LE: lambda: actual <= value,
    }[condition.op]()  # type: ignore[operator]


@given(condition=conditions, values=st.fixed_dictionaries(dict.fromkeys(FIELDS, _attr_value)))
def test_matches_agrees_with_a_reference_evaluation(
    condition: object, values: dict[str, object]
) -> None:
    """matches() gives what a plain evaluation of the same condition gives."""
    contact = _contact(**{k: v for k, v in values.items() if v is not None})
    assert condition.matches(contact, now=NOW) is _reference(condition, values)  # type: ignore[attr-defined]


@given(conditions)
def test_condition_dicts_round_trip(condition: object) -> None:
    """Every condition survives to_dict → JSON → from_dict unchanged."""
    data = json.loads(json.dumps(condition_to_dict(condition)))  # type: ignore[arg-type]
    assert condition_from_dict(data) == condition


# -- splits and control groups ---------------------------------------------------------------

_keys = st.lists(st.text(min_size=1, max_size=8), max_size=200, unique=True)
_seed = st.text(min_size=1, max_size=10)


def _halves(seed: str) -> Split:
    return Split(parts=[Part(name="A", percent=50), Part(name="B", percent=50)], seed=seed)


@given(keys=_keys, seed=_seed)
def test_percent_split_partitions_exactly(keys: list[str], seed: str) -> None:
    """Every contact is in exactly one part of a percentage split."""
    split = Split(
        parts=[Part(name="A", percent=33.3), Part(name="B", percent=33.3), Part(name="rest")],
        seed=seed,
    )
    parts = split.partition(keys)
    assert sorted(k for p in parts.values() for k in p) == sorted(keys)


@given(keys=_keys, more=_keys, seed=_seed)
def test_percent_split_is_stable_when_contacts_are_added(
    keys: list[str], more: list[str], seed: str
) -> None:
    """Adding contacts never moves a contact to another part."""
    split = _halves(seed)
    before = split.partition(keys)
    after = split.partition(keys + more)
    for name, members in before.items():
        assert set(members) <= set(after[name])


@given(keys=_keys, seed=_seed, first=st.integers(min_value=0, max_value=250))
def test_count_split_partitions_exactly(keys: list[str], seed: str, first: int) -> None:
    """'The first N' takes exactly N (or all), the rest takes the others; none lost."""
    split = Split(parts=[Part(name="first", count=first), Part(name="later")], seed=seed)
    parts = split.partition(keys)
    assert len(parts["first"]) == min(first, len(keys))
    assert sorted(parts["first"] + parts["later"]) == sorted(keys)
    assert split.partition(list(reversed(keys))) == {
        name: list(reversed(members)) for name, members in parts.items()
    }


@given(keys=_keys, more=_keys, seed=_seed)
def test_count_split_moves_a_contact_only_when_displaced(
    keys: list[str], more: list[str], seed: str
) -> None:
    """Adding contacts only pushes some out of 'first N', never pulls one in."""
    split = Split(parts=[Part(name="first", count=10), Part(name="later")], seed=seed)
    before = set(split.partition(keys)["first"])
    after = set(split.partition(keys + more)["first"])
    assert after & set(keys) <= before


def test_split_is_deterministic_and_near_its_shares() -> None:
    """The same seed gives the same parts; 50/50 over 10,000 keys lands near half."""
    keys = [f"member-{i}" for i in range(10_000)]
    a = _halves("seed").partition(keys)
    assert a == _halves("seed").partition(keys)
    assert a != _halves("other").partition(keys)
    assert 4800 < len(a["A"]) < 5200


@pytest.mark.parametrize(
    "parts",
    [
        [Part(name="A", percent=60), Part(name="B", percent=60)],
        [Part(name="A", percent=40), Part(name="B", percent=40)],
        [Part(name="A", percent=50), Part(name="B", count=10)],
        [Part(name="A", count=10)],
        [Part(name="A"), Part(name="B")],
        [Part(name="A", percent=50), Part(name="A", percent=50)],
    ],
)
def test_bad_splits_are_refused(parts: list[Part]) -> None:
    """Shares not adding up, mixed kinds, no rest for counts, repeated names: ConfigError."""
    with pytest.raises(ConfigError):
        Split(parts=parts, seed="s")


def test_count_split_cannot_assign_one_contact() -> None:
    """assign() needs a percentage split: counts depend on the whole audience."""
    split = Split(parts=[Part(name="first", count=1), Part(name="later")], seed="s")
    with pytest.raises(ConfigError, match="partition"):
        split.assign("k")


@given(keys=_keys, more=_keys, salt=_seed, percent=st.floats(min_value=0, max_value=100))
def test_control_group_is_stable(
    keys: list[str], more: list[str], salt: str, percent: float
) -> None:
    """Held-out contacts stay held out when the list is reordered or grows."""
    group = ControlGroup(percent=percent, salt=salt)
    held = {k for k in keys if group.holds_out(k)}
    shuffled = list(reversed(keys + more))
    assert {k for k in shuffled if group.holds_out(k)} & set(keys) == held


def test_control_group_share_and_edges() -> None:
    """About the given share is held out; 0% holds out none and 100% all."""
    keys = [f"member-{i}" for i in range(10_000)]
    held = sum(ControlGroup(percent=10, salt="camp-1").holds_out(k) for k in keys)
    assert 900 < held < 1100
    assert not any(ControlGroup(percent=0, salt="c").holds_out(k) for k in keys[:100])
    assert all(ControlGroup(percent=100, salt="c").holds_out(k) for k in keys[:100])


def test_control_group_is_independent_of_splits() -> None:
    """The same text as salt and seed does not make control and split agree."""
    keys = [f"member-{i}" for i in range(2000)]
    held = {k for k in keys if ControlGroup(percent=50, salt="x").holds_out(k)}
    a = set(_halves("x").partition(keys)["A"])
    assert 300 < len(held & a) < 700


def test_bad_control_groups() -> None:
    """A percentage outside 0–100 or an empty salt is refused."""
    with pytest.raises(ConfigError):
        ControlGroup(percent=101, salt="s")
    with pytest.raises(ConfigError):
        ControlGroup(percent=10, salt="")


def test_the_planner_takes_segments_and_control_groups() -> None:
    """plan() filters by a DynamicSegment and holds out by a ControlGroup, as it promises."""
    from msgkit import Campaign, Template
    from msgkit.core.planning import plan, summarize

    audience = [
        Contact(phone=f"+8869123{i:05d}", attributes={"city": "Taipei" if i % 2 else "Tainan"})
        for i in range(200)
    ]
    segment = DynamicSegment(condition=Rule(field="city", op="eq", value="taipei"))
    control = ControlGroup(percent=20, salt="spring")
    campaign = Campaign(name="Spring", id="spring", template=Template(body="Hi", code="SMS_1"))
    summary = summarize(plan(campaign, audience, now=NOW, segment=segment, control=control))
    inside = [c for c in audience if segment.matches(c, now=NOW)]
    held = sum(control.holds_out(c.key) for c in inside)
    assert (summary.planned + summary.held_out, summary.held_out) == (len(inside), held)


def test_contains_ignores_spaces_around_the_value() -> None:
    """A `contains` value with stray spaces matches as the docs say (found by hypothesis)."""
    from datetime import datetime, timezone

    from msgkit.core.contacts import Contact
    from msgkit.core.segments import Rule

    contact = Contact(key="m1", attributes={"a": "x"})
    now = datetime(2024, 6, 30, tzinfo=timezone.utc)
    assert Rule(field="a", op="contains", value=" x").matches(contact, now=now)
