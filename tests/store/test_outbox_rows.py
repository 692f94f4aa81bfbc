"""The outbox's row building: the payload JSON of a planned message's details."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from msgkit.core.message import Message
from msgkit.store._outbox import decode_details, encode_details

_TEXT = st.text(max_size=6)
_MAYBE = st.none() | _TEXT


def _reference(message: Message) -> str:
    """The payload as first written: every field in a dict, the defaults filtered out."""
    wait = message.fallback_wait
    details: dict[str, Any] = {
        "template_code": message.template_code,
        "params": dict(message.params),
        "sender": message.sender,
        "encoding": message.encoding,
        "links": dict(message.links),
        "zone": message.time_zone,
        "region": message.region,
        "media": list(message.media),
        "options": dict(message.options),
        "fallback_wait": None if wait is None else wait.total_seconds(),
    }
    return json.dumps(
        {k: v for k, v in details.items() if v not in (None, [], {})}, ensure_ascii=False
    )


messages = st.builds(
    Message,
    id=st.just("m" * 32),
    channel=st.just("sms"),
    to=st.just("+886912345678"),
    text=_TEXT,
    template_code=_MAYBE,
    params=st.dictionaries(_TEXT, _TEXT, max_size=3),
    sender=_MAYBE,
    encoding=st.none() | st.sampled_from(["GSM-7", "UCS-2"]),
    links=st.dictionaries(_TEXT, _TEXT, max_size=2),
    time_zone=_MAYBE,
    region=_MAYBE,
    media=st.lists(_TEXT, max_size=2),
    options=st.dictionaries(_TEXT, st.integers() | _TEXT | st.booleans(), max_size=2),
    fallback_wait=st.none() | st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=9)),
)


@given(messages)
def test_details_are_the_reference_encoding(message: Message) -> None:
    """encode_details writes exactly the first (dict-then-filter) encoding, and reads back."""
    text = encode_details(message)
    assert text == _reference(message)
    back = decode_details(text)
    assert back["params"] == message.params
    assert back["links"] == message.links
    assert back["fallback_wait"] == message.fallback_wait
