"""JSON encoding of msgkit's domain values (attrs classes, enums, datetimes) for storage.

Values are tagged with their class so they decode to the same class, and only classes
defined in msgkit's own modules decode: a database cannot make msgkit import anything
else. Secrets inside values (a link-hashing key, say) are stored as they are: the
database is trusted storage, reprs and logs are not.
"""

from __future__ import annotations

import base64
import importlib
import json
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from enum import Enum
from typing import Any

import attrs

__all__ = ["decode", "dumps", "encode", "loads"]


def _qualname(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def encode(value: Any) -> Any:
    """A JSON-able form of ``value`` that `decode` turns back into an equal value."""
    if value is None or (
        isinstance(value, (bool, int, float, str)) and not isinstance(value, Enum)
    ):
        return value
    if isinstance(value, Enum):
        return {"$enum": _qualname(type(value)), "v": value.value}
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
        return {"$attrs": _qualname(type(value)), "f": fields}
    if isinstance(value, Mapping):
        if all(isinstance(k, str) and not isinstance(k, Enum) for k in value):
            return {k: encode(v) for k, v in value.items()}
        return {"$map": [[encode(k), encode(v)] for k, v in value.items()]}
    if isinstance(value, tuple):
        return {"$tuple": [encode(v) for v in value]}
    if isinstance(value, (set, frozenset)):
        return {"$set": sorted((encode(v) for v in value), key=json.dumps)}
    if isinstance(value, list):
        return [encode(v) for v in value]
    raise TypeError(f"cannot store a {type(value).__name__}: give msgkit an attrs value")


def _resolve(name: str) -> Any:
    module, _, qual = name.partition(":")
    if module != "msgkit" and not module.startswith("msgkit."):
        raise ValueError(f"refusing to decode {name!r}: not a msgkit class")
    obj: Any = importlib.import_module(module)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


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


def dumps(value: Any) -> str:
    """`encode` as a compact JSON string."""
    return json.dumps(encode(value), ensure_ascii=False, separators=(",", ":"))


def loads(text: str) -> Any:
    """`decode` of a JSON string."""
    return decode(json.loads(text))
