"""Every campaign the public constructors can build is saved and read back equal.

Campaigns are built from the names a user imports (`msgkit.SendPolicy`,
`msgkit.ContactSchedule`, `msgkit.Audience`...), created with `Client.create_campaign`
and read back by another client on the same store, through every store: a SQLite file
and memory.
"""

from __future__ import annotations

import tempfile
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import msgkit
from msgkit.core.segments import Ago
from msgkit.core.templates import ReviewStatus
from msgkit.core.windows import Window
from msgkit.testing import FakeClock, SimulatorProvider
from tests.postgres import Databases

ZONES = ["UTC", "Asia/Taipei", "Asia/Shanghai", "America/New_York", "Europe/Berlin"]

instants = st.datetimes(
    min_value=datetime(2020, 1, 1),  # noqa: DTZ001 - naive bounds, zones drawn
    max_value=datetime(2035, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=8))]),
)
spans = st.integers(min_value=1, max_value=90 * 86_400).map(lambda s: timedelta(seconds=s))
words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8).filter(
    lambda w: w[0] != "_"
)
clock_times = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))

windows = st.builds(
    Window,
    days=st.frozensets(st.integers(0, 6), min_size=1),
    start=clock_times,
    end=clock_times,
)
schedules = st.builds(
    msgkit.ContactSchedule,
    windows=st.lists(windows, min_size=1, max_size=3).map(tuple),
    blackout=st.frozensets(st.dates(date(2025, 1, 1), date(2030, 1, 1)), max_size=3),
)
caps = st.builds(
    msgkit.FrequencyCap,
    limit=st.integers(1, 10),
    per=st.one_of(st.just("day"), spans),
    channel=st.sampled_from([None, "sms", "line"]),
    tag=st.one_of(st.none(), words),
)
short_links = st.builds(
    msgkit.ShortLinks,
    base_url=st.sampled_from(["https://go.example.com", "https://ex.io/l"]),
    secret=st.binary(min_size=16, max_size=32),
    code_length=st.integers(6, 12),
    param_length=st.integers(6, 8),
)
policies = st.builds(
    msgkit.SendPolicy,
    validity=st.one_of(st.none(), spans),
    ends_at=st.one_of(st.none(), instants),
    schedule=st.one_of(st.none(), schedules),
    time_zone=st.sampled_from(ZONES),
    caps=st.lists(caps, max_size=3),
    apply_caps=st.sampled_from([None, True, False]),
    when_capped=st.sampled_from(["skip", "defer"]),
    send_speed=st.one_of(
        st.none(), st.builds(msgkit.SendSpeed, messages=st.integers(1, 1000), per=spans)
    ),
    optout_scope=st.sampled_from(list(msgkit.OptOutScope)),
    links=st.one_of(st.none(), short_links),
    link_params=st.booleans(),
    test_numbers=st.lists(st.sampled_from(["+886912345678", "+8613800138000"]), max_size=2),
)
scalars = st.one_of(
    words,
    st.integers(-1000, 1000),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.dates(date(2020, 1, 1), date(2030, 1, 1)),
)
rules = st.one_of(
    st.builds(
        msgkit.Rule, field=words, op=st.sampled_from(["eq", "ne", "gt", "le"]), value=scalars
    ),
    st.builds(msgkit.Rule, field=words, op=st.just("in"), value=st.lists(words, min_size=1)),
    st.builds(msgkit.Rule, field=words, op=st.just("exists")),
    st.builds(
        msgkit.Rule,
        field=words,
        op=st.sampled_from(["before", "after"]),
        value=st.builds(Ago, days=st.integers(0, 400)),
    ),
)
conditions = st.recursive(
    rules,
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda p: p[0] & p[1]),
        st.tuples(inner, inner).map(lambda p: p[0] | p[1]),
        inner.map(lambda c: ~c),
    ),
    max_leaves=4,
)
LISTS = ("members", "vip", "newsletter")  # stored in each example's store
list_ids = st.lists(st.sampled_from(LISTS), min_size=1, max_size=3, unique=True)


@st.composite
def audiences(draw: st.DrawFn) -> msgkit.Audience:
    segment = draw(
        st.one_of(
            st.none(),
            conditions,
            st.builds(msgkit.StaticSegment, keys=st.frozensets(words, min_size=1, max_size=4)),
        )
    )
    split = part = None
    if draw(st.booleans()):
        share = draw(st.integers(1, 99))
        split = msgkit.Split(
            parts=[
                msgkit.Part(name="A", percent=share),
                msgkit.Part(name="B", percent=100 - share),
            ],
            seed=draw(words.map(lambda w: w + "-seed")),
        )
        part = draw(st.sampled_from(["A", "B"]))
    control = draw(
        st.one_of(
            st.none(),
            st.builds(
                msgkit.ControlGroup,
                percent=st.integers(1, 50),
                salt=words.map(lambda w: w + "-salt"),
            ),
        )
    )
    return msgkit.Audience(
        lists=draw(list_ids), segment=segment, split=split, part=part, control=control
    )


templates = st.builds(
    msgkit.Template,
    body=st.tuples(st.text(max_size=40).filter(lambda t: "$" not in t), words).map(
        lambda p: p[0] + " ${" + p[1] + ":-friend}"
    ),
    kind=st.sampled_from(list(msgkit.TemplateKind)),
    name=st.one_of(st.none(), words),
    code=st.one_of(st.none(), words.map(str.upper)),
    review=st.sampled_from(list(ReviewStatus)),
    version=st.integers(1, 9),
)


@st.composite
def campaign_args(draw: st.DrawFn) -> dict[str, Any]:
    channel = draw(st.sampled_from(["sms", "line"]))
    args: dict[str, Any] = {
        "template": draw(templates),
        "channel": channel,
        "provider": channel,
        "sender": draw(st.one_of(st.none(), words)),
        "kind": draw(st.sampled_from(list(msgkit.CampaignKind))),
        "tags": draw(st.frozensets(words, max_size=3)),
        "send_at": draw(st.one_of(st.none(), instants)),
        "policy": draw(policies),
        "audience": draw(st.one_of(st.none(), audiences())),
        "on_unknown": draw(st.sampled_from(["mark_unknown", "resend"])),
    }
    if channel == "line" and draw(st.booleans()):
        args["fallback"] = msgkit.Fallback(
            template=draw(templates), provider="sms", wait=draw(spans), sender=draw(words)
        )
    return args


def _client(store: str) -> msgkit.Client:
    return msgkit.Client(
        store=store,
        providers={
            "sms": SimulatorProvider("sms"),
            "line": SimulatorProvider("line", channel="line"),
        },
        clock=FakeClock(),
    )


def _roundtrip(store: str, args: dict[str, Any]) -> None:
    writer = _client(store)
    reader = writer if store == "memory://" else _client(store)
    try:
        for name in LISTS:
            writer.create_list(name, [msgkit.Contact(phone="+886912345678")])
        created = writer.create_campaign("Round trip", **args)
        read = reader.campaign(created.id)
        assert read == created
        assert attrs.asdict(read, recurse=False) == attrs.asdict(created, recurse=False)
    finally:
        writer.close()
        if reader is not writer:
            reader.close()


@pytest.mark.sqlite_only("a campaign in a SQLite file (the next test: in PostgreSQL)")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(args=campaign_args())
def test_campaign_reads_back_equal_from_a_sqlite_file(args: dict[str, Any]) -> None:
    """A campaign saved by one client is read back equal by another on the same file."""
    with tempfile.TemporaryDirectory() as folder:
        _roundtrip(f"sqlite:///{Path(folder) / 'msgkit.db'}", args)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(args=campaign_args())
def test_campaign_reads_back_equal_from_postgresql(
    postgres_databases: Databases, args: dict[str, Any]
) -> None:
    """A campaign saved by one client is read back equal by another on the same PostgreSQL
    database (with MSGKIT_TEST_POSTGRES set)."""
    url = postgres_databases.new()
    try:
        _roundtrip(url, args)
    finally:
        postgres_databases.release(url)


@settings(max_examples=60, deadline=None)
@given(args=campaign_args())
def test_campaign_reads_back_equal_from_memory(args: dict[str, Any]) -> None:
    """A campaign saved in the in-memory store is read back equal."""
    _roundtrip("memory://", args)


def test_campaign_with_a_contact_schedule_is_saved(client: msgkit.Client) -> None:
    """A campaign with quiet hours and a contact schedule is created and read back (item 1)."""
    policy = msgkit.SendPolicy(
        schedule=msgkit.ContactSchedule.parse("daily 09:00-20:00", blackout=["2026-02-17"]),
        time_zone="Asia/Taipei",
    )
    created = client.create_campaign("Quiet", "Hello", policy=policy)
    assert client.campaign(created.id).policy == policy
    quiet = msgkit.SendPolicy(schedule=msgkit.ContactSchedule.quiet_hours("21:00", "09:00"))
    again = client.create_campaign("Quiet hours", "Hello", policy=quiet)
    assert client.campaign(again.id).policy.schedule == quiet.schedule
    assert [e["action"] for e in client.audit_log() if e["detail"] is None] == [
        "campaign.create",
        "campaign.create",
    ]
