"""The store codec: stable type names, old class-path tags, and nothing unregistered."""

from __future__ import annotations

import enum
import importlib
import json
import pkgutil
import re
import typing
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from types import UnionType
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import msgkit
import msgkit.core
from msgkit.core.campaigns import Campaign
from msgkit.core.segments import Ago
from msgkit.core.windows import Window
from msgkit.exceptions import ConfigError
from msgkit.store import SQLiteStore, codec

NOW = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)
OLD = Path(__file__).parent / "data" / "campaign_class_paths.json"


def _old_campaign() -> Campaign:
    """The campaign stored in ``data/campaign_class_paths.json`` by msgkit before stable
    names (its tags are class paths such as ``msgkit.core.campaigns:Campaign``)."""
    policy = msgkit.SendPolicy(
        validity=timedelta(hours=6),
        ends_at=NOW + timedelta(days=30),
        schedule=msgkit.ContactSchedule(
            windows=(Window(days=frozenset({0, 1, 2, 3, 4}), start=time(9), end=time(20)),),
            blackout=frozenset({date(2026, 2, 17)}),
        ),
        time_zone="Asia/Taipei",
        caps=[
            msgkit.FrequencyCap(limit=2, per="day", channel="sms", tag="promo"),
            msgkit.FrequencyCap(limit=5, per=timedelta(days=7)),
        ],
        when_capped="defer",
        send_speed=msgkit.SendSpeed(messages=100, per=timedelta(minutes=1)),
        optout_scope=list(msgkit.OptOutScope)[-1],
        links=msgkit.ShortLinks(base_url="https://go.example.com", secret=b"0123456789abcdef"),
        link_params=True,
        test_numbers=["+886912345678"],
    )
    segment = (
        msgkit.Rule(field="city", op="in", value=["Taipei", "Tainan"])
        & ~msgkit.Rule(field="joined", op="before", value=Ago(days=30))
    ) | msgkit.Rule(field="vip", op="exists")
    audience = msgkit.Audience(
        lists=["members"],
        segment=segment,
        split=msgkit.Split(
            parts=[msgkit.Part(name="A", percent=50), msgkit.Part(name="B", percent=50)], seed="s"
        ),
        part="A",
        control=msgkit.ControlGroup(percent=10, salt="x"),
    )
    return msgkit.Campaign(
        id="c-old",
        name="Spring (old)",
        template=msgkit.Template(
            body="Hi ${name:-friend} {link:s}", kind="promotional", links={"s": "https://x.y"}
        ),
        channel="line",
        provider="line",
        tags=frozenset({"promo", "spring"}),
        policy=policy,
        audience=audience,
        fallback=msgkit.Fallback(
            template=msgkit.Template(body="SMS ${name:-friend}"),
            provider="sms",
            wait=timedelta(minutes=3),
        ),
    )


def _tags(data: Any) -> set[str]:
    """Every type tag in an encoded value."""
    if isinstance(data, list):
        return set().union(*(_tags(v) for v in data)) if data else set()
    if not isinstance(data, dict):
        return set()
    found = {data[k] for k in ("$attrs", "$enum") if k in data}
    return found.union(*(_tags(v) for v in data.values()))


def test_a_campaign_is_tagged_with_stable_names() -> None:
    """A stored campaign names its types by their registered names, not class paths."""
    tags = _tags(codec.encode(_old_campaign()))
    assert {"Campaign", "SendPolicy", "Window"} <= tags
    assert all(":" not in t and "." not in t for t in tags)
    assert tags <= set(codec.TYPES)


def test_class_path_tags_of_an_older_msgkit_still_decode() -> None:
    """A campaign written with class-path tags (before stable names) reads back equal."""
    text = OLD.read_text(encoding="utf-8")
    assert '"msgkit.core.campaigns:Campaign"' in text
    assert codec.loads(text) == _old_campaign()


def test_a_store_written_by_an_older_msgkit_opens(tmp_path: Path) -> None:
    """A database holding a class-path-tagged campaign lists, finds and re-saves it."""
    store = SQLiteStore(tmp_path / "old.db")
    with store._tx() as cur:  # the row as the previous msgkit wrote it
        store._q(
            cur,
            "INSERT INTO campaigns (id, name, kind, status, enabled, spec, created_at, "
            "updated_at, created_seq) VALUES ('c-old', 'Spring (old)', 'bulk', 'draft', 1, ?, "
            "0, 0, 1)",
            (OLD.read_text(encoding="utf-8"),),
        )
    assert store.get_campaign("c-old") == _old_campaign()
    assert store.list_campaigns() == [_old_campaign()]
    store.save_campaign(store.find_campaign("Spring (old)"), now=NOW)
    spec = store._read("SELECT spec FROM campaigns WHERE id = 'c-old'")[0][0]
    assert "msgkit.core" not in spec
    assert store.get_campaign("c-old") == _old_campaign()
    store.close()


@pytest.mark.parametrize(
    "tag",
    ["Nope", "os:system", "builtins:dict", "msgkit.core.campaigns:Nope", "msgkit.store:SQLStore"],
)
def test_an_unknown_type_name_is_refused(tag: str) -> None:
    """A tag naming no registered type is refused with a store error saying what to do."""
    with pytest.raises(ConfigError, match="does not know") as raised:
        codec.loads(json.dumps({"$attrs": tag, "f": {}}))
    assert raised.value.key == "store"
    assert "upgrade msgkit" in str(raised.value)
    with pytest.raises(ConfigError, match=re.escape(repr(tag))):
        codec.loads(json.dumps({"$enum": tag, "v": "x"}))


def test_an_unregistered_class_is_not_stored() -> None:
    """Storing an attrs value or enum without a stable name fails, naming the registry."""

    @attrs.frozen
    class Stray:
        x: int = 1

    class Colour(enum.Enum):
        RED = "red"

    for value in (Stray(), Colour.RED):
        with pytest.raises(TypeError, match=r"msgkit\.store\.codec\.TYPES"):
            codec.encode(value)


def test_every_name_is_one_class() -> None:
    """No two stable names point to the same class."""
    assert len(set(codec.TYPES.values())) == len(codec.TYPES)
    for name, cls in codec.TYPES.items():
        assert codec.type_name(cls) == name


def _namespace() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for info in pkgutil.iter_modules(msgkit.core.__path__):
        found.update(vars(importlib.import_module(f"msgkit.core.{info.name}")))
    return found


def _reachable(root: type) -> set[type]:
    """Every attrs class and enum a value of ``root`` may hold (by its fields' types)."""
    namespace = _namespace()
    seen: set[type] = set()

    def walk(tp: Any) -> None:
        if isinstance(tp, typing.ForwardRef):
            tp = eval(tp.__forward_arg__, namespace)  # our own annotations
        if typing.get_origin(tp) is not None or isinstance(tp, UnionType):
            for arg in typing.get_args(tp):
                walk(arg)
            return
        if not isinstance(tp, type) or tp in seen:
            return
        if attrs.has(tp):
            seen.add(tp)
            hints = typing.get_type_hints(tp, localns=namespace)
            for field in attrs.fields(tp):
                if field.init:
                    walk(hints.get(field.name, field.type))
        elif issubclass(tp, enum.Enum):
            seen.add(tp)
        if tp.__module__.startswith("msgkit."):  # a protocol or base: what implements it
            for sub in tp.__subclasses__():
                if sub.__module__.startswith("msgkit."):  # not a test's own subclass
                    walk(sub)

    walk(root)
    return seen


def test_every_type_a_campaign_holds_has_a_stable_name() -> None:
    """Every attrs class and enum reachable from Campaign's fields is registered."""
    reachable = _reachable(Campaign)
    assert {"Campaign", "Audience", "RFMSegment", "Window", "Rule"} <= {
        c.__name__ for c in reachable
    }
    missing = sorted(
        f"{c.__module__}.{c.__qualname__}" for c in reachable - set(codec.TYPES.values())
    )
    assert missing == [], "add these to msgkit.store.codec.TYPES"


values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.text(max_size=5),
        st.sampled_from(list(msgkit.OptOutScope) + list(msgkit.TemplateKind)),
        st.builds(Ago, days=st.integers(0, 400)),
        st.dates(),
        st.binary(max_size=4),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=3), inner, max_size=3),
    ),
    max_leaves=8,
)


@given(values)
def test_values_read_back_equal_and_tagged_by_name(value: Any) -> None:
    """Any storable value decodes equal, and its tags are registered stable names."""
    encoded = codec.encode(value)
    assert codec.decode(json.loads(json.dumps(encoded))) == value
    assert _tags(encoded) <= set(codec.TYPES)


def test_a_class_that_moved_still_decodes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Old class-path tags decode even when the classes are no longer at those paths."""
    import msgkit.core.campaigns
    import msgkit.core.segments
    import msgkit.core.windows

    for module, name in (
        (msgkit.core.campaigns, "Campaign"),
        (msgkit.core.segments, "Rule"),
        (msgkit.core.windows, "Window"),
    ):
        monkeypatch.delattr(module, name)  # as if moved to another module
    assert codec.loads(OLD.read_text(encoding="utf-8")) == _old_campaign()


_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.dates()
    | st.sampled_from([msgkit.Channel.SMS, msgkit.Channel.LINE])
)


@given(st.dictionaries(st.text(max_size=4) | st.sampled_from(["$td", "$date", "$x"]), _scalars))
def test_dumps_of_a_flat_dict_is_the_walked_encoding(value: dict[str, Any]) -> None:
    """dumps writes a flat dict exactly as encoding it value by value would."""
    walked = json.dumps(codec.encode(value), ensure_ascii=False, separators=(",", ":"))
    assert codec.dumps(value) == walked


@given(
    st.dictionaries(st.text(max_size=4) | st.sampled_from(["$td", "$date", "$x"]), _scalars)
    | values
)
def test_loads_is_decode_of_the_json(value: Any) -> None:
    """loads (which returns JSON without tags as it is) reads what decoding the JSON
    would, from dumps's text and from escaped JSON (a tag written ``\\u0024td``)."""
    for text in (
        codec.dumps(value),
        json.dumps(codec.encode(value)),
        json.dumps(codec.encode(value)).replace("$", "\\u0024"),
    ):
        assert codec.loads(text) == codec.decode(json.loads(text))
