"""JSON encoding of msgkit's domain values (attrs classes, enums, datetimes) for storage.

Values are tagged with a stable type name from one registry (`TYPES`: ``"Campaign"``,
``"SendPolicy"``, ``"Window"``...), not with their Python class path, so moving or
renaming a class never breaks a stored campaign: the name stays, the registry points
it to the class wherever it lives. Only registered classes are written and read: a
class missing from the registry is refused when stored (register it), and a database
cannot make msgkit import anything. Values written by earlier versions, tagged with a
class path (``"msgkit.core.campaigns:Campaign"``), still decode: the path's class name
is looked up in the registry.

Secrets inside values (a link-hashing key, say) are stored as they are: the database is
trusted storage, reprs and logs are not.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from enum import Enum
from types import MappingProxyType
from typing import Any

import attrs

from msgkit.core.campaigns import Campaign, CampaignKind, CampaignStatus, Fallback
from msgkit.core.contacts import Phone
from msgkit.core.delivery import Channel
from msgkit.core.fatigue import FrequencyCap
from msgkit.core.links import ShortLinks
from msgkit.core.optout import OptOutScope
from msgkit.core.policy import ContentPolicy, SendPolicy, SendSpeed
from msgkit.core.rfm import RFM, Quintiles, RFMCuts, RFMSegment
from msgkit.core.segments import (
    Ago,
    AllOf,
    AnyOf,
    Audience,
    ControlGroup,
    Cut,
    DynamicSegment,
    Not,
    Op,
    Part,
    Rule,
    Split,
    StaticSegment,
)
from msgkit.core.templates import ReviewStatus, Template, TemplateKind
from msgkit.core.windows import ContactSchedule, Window
from msgkit.exceptions import ConfigError

__all__ = ["TYPES", "decode", "dumps", "encode", "loads", "type_name"]

#: Every class a stored value may hold, by its stable name. The names are written to
#: the database: never change one; a class that moves keeps its name here.
TYPES: Mapping[str, type] = MappingProxyType(
    {
        # campaigns
        "Campaign": Campaign,
        "CampaignKind": CampaignKind,
        "CampaignStatus": CampaignStatus,
        "Fallback": Fallback,
        "Channel": Channel,
        # templates and links
        "Template": Template,
        "TemplateKind": TemplateKind,
        "ReviewStatus": ReviewStatus,
        "ShortLinks": ShortLinks,
        # policy: windows, caps, speed, opt-outs
        "SendPolicy": SendPolicy,
        "ContentPolicy": ContentPolicy,
        "SendSpeed": SendSpeed,
        "ContactSchedule": ContactSchedule,
        "Window": Window,
        "FrequencyCap": FrequencyCap,
        "OptOutScope": OptOutScope,
        "Phone": Phone,
        # audiences: segments, conditions, splits, control groups, RFM
        "Audience": Audience,
        "StaticSegment": StaticSegment,
        "DynamicSegment": DynamicSegment,
        "Rule": Rule,
        "Op": Op,
        "Ago": Ago,
        "AllOf": AllOf,
        "AnyOf": AnyOf,
        "Not": Not,
        "ControlGroup": ControlGroup,
        "Split": Split,
        "Part": Part,
        "Cut": Cut,
        "RFM": RFM,
        "RFMSegment": RFMSegment,
        "RFMCuts": RFMCuts,
        "Quintiles": Quintiles,
    }
)
_NAMES: Mapping[type, str] = MappingProxyType({cls: name for name, cls in TYPES.items()})


def type_name(cls: type) -> str:
    """The stable name ``cls`` is stored under.

    Raises:
        TypeError: When ``cls`` has none (it is not in `TYPES`).
    """
    try:
        return _NAMES[cls]
    except KeyError:
        raise TypeError(
            f"cannot store a {cls.__module__}.{cls.__qualname__}: it has no stable type name"
            " — add it to msgkit.store.codec.TYPES (a name that never changes)"
        ) from None


def _resolve(name: str) -> type:
    """The class of a stored tag: a stable name, or the class path an earlier msgkit wrote."""
    stable = name
    if ":" in name:  # "msgkit.core.campaigns:Campaign", as msgkit wrote before stable names
        module, _, qualname = name.partition(":")
        if module == "msgkit" or module.startswith("msgkit."):
            stable = qualname
    cls = TYPES.get(stable)
    if cls is None:
        raise ConfigError(
            f"the store holds a value of type {name!r}, which this msgkit does not know",
            key="store",
            hint="open it with the msgkit version that wrote it, or upgrade msgkit "
            "(pip install -U msgkit)",
        )
    return cls


def encode(value: Any) -> Any:
    """A JSON-able form of ``value`` that `decode` turns back into an equal value."""
    if value is None or (
        isinstance(value, (bool, int, float, str)) and not isinstance(value, Enum)
    ):
        return value
    if isinstance(value, Enum):
        return {"$enum": type_name(type(value)), "v": value.value}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time):
        return {"$time": value.isoformat()}
    if isinstance(value, timedelta):
        return {"$td": value.total_seconds()}
    if isinstance(value, bytes):
        return {"$b64": base64.b64encode(value).decode("ascii")}
    if attrs.has(type(value)):
        fields = {
            f.alias or f.name: encode(getattr(value, f.name))
            for f in attrs.fields(type(value))
            if f.init
        }
        return {"$attrs": type_name(type(value)), "f": fields}
    if isinstance(value, Mapping):
        # Plain keys stay a plain object; a key like "$td" would read back as a tag.
        if all(isinstance(k, str) and not isinstance(k, Enum) and k[:1] != "$" for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {"$map": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"$tuple": [encode(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {"$set": sorted((encode(v) for v in value), key=json.dumps)}
    if isinstance(value, list):
        return [encode(v) for v in value]
    raise TypeError(f"cannot store a {type(value).__name__}: give msgkit an attrs value")


def decode(data: Any) -> Any:
    """The value `encode` produced ``data`` from."""
    if isinstance(data, list):
        return [decode(v) for v in data]
    if not isinstance(data, dict):
        return data
    if "$attrs" in data:
        cls = _resolve(data["$attrs"])
        return cls(**{k: decode(v) for k, v in data["f"].items()})
    if "$enum" in data:
        return _resolve(data["$enum"])(data["v"])
    if "$dt" in data:
        return datetime.fromisoformat(data["$dt"])
    if "$date" in data:
        return date.fromisoformat(data["$date"])
    if "$time" in data:
        return time.fromisoformat(data["$time"])
    if "$td" in data:
        return timedelta(seconds=data["$td"])
    if "$b64" in data:
        return base64.b64decode(data["$b64"])
    if "$tuple" in data:
        return tuple(decode(v) for v in data["$tuple"])
    if "$set" in data:
        return frozenset(decode(v) for v in data["$set"])
    if "$map" in data:
        return {decode(k): decode(v) for k, v in data["$map"]}
    return {k: decode(v) for k, v in data.items()}


#: The exact types `encode` keeps as they are (an Enum subclass of one is not among them).
_PLAIN = frozenset({str, int, float, bool, type(None)})


def dumps(value: Any) -> str:
    """`encode` as a compact JSON string.

    A flat dict of plain keys and plain values (a contact's attributes, mostly) is its
    own encoding: it is written as it is, without walking it (measured: the walk was
    ~9 µs of a 1,000,000-row import's per-row cost).
    """
    if type(value) is dict and all(
        type(k) is str and k[:1] != "$" and type(v) in _PLAIN for k, v in value.items()
    ):
        data: Any = value
    else:
        data = encode(value)
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def loads(text: str) -> Any:
    """`decode` of a JSON string.

    JSON with no tag in it (a contact's attributes, mostly) is its own decoding: it is
    returned without walking it. A tag is a key starting with ``$``, so a text with no
    ``"$`` (and no ``\\u`` escape, which could write one) has none.
    """
    data = json.loads(text)
    if '"$' not in text and "\\u" not in text:
        return data
    return decode(data)
