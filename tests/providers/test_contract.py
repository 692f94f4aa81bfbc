"""The provider contract, run over every adapter.

Whatever the network or the provider does: exactly one result per message, never an
exception, never a secret in an error, a repr or a URL, batches within their limits,
and limits declared as data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from msgkit.core.delivery import Channel
from msgkit.core.templates import ContentRules, TemplateKind
from msgkit.providers.base import (
    Capabilities,
    OutboundMessage,
    Outcome,
    Provider,
    SendResult,
)
from tests.providers.support import (
    SECRET,
    alibaba,
    chatwoot,
    http_sms,
    line,
    line_message,
    message,
    send,
    sms_message,
    twilio,
    web_message,
)


@attrs.frozen
class Case:
    """An adapter and a batch of messages it can take."""

    name: str
    provider: Callable[[], Provider]
    batch: Callable[[], list[OutboundMessage]]


def _alibaba_batch() -> list[OutboundMessage]:
    same = [message(i, params={"x": "1"}) for i in range(4)]
    personal = [message(10 + i) for i in range(3)]
    return [*same, *personal, message(20, to="+85251234567", template_code="SMS_2")]


CASES = [
    Case("alibaba", alibaba, _alibaba_batch),
    Case("twilio", twilio, lambda: [sms_message(1)]),
    Case("line", line, lambda: [line_message(1, media=("https://i.example/a.png",))]),
    Case("http_sms", http_sms, lambda: [sms_message(1)]),
    Case(
        "webchat",
        lambda: chatwoot(assignee_id=5),
        lambda: [web_message(1, media=("https://i.example/a.png",))],
    ),
]
CHANNELS = {
    "alibaba": Channel.SMS,
    "twilio": Channel.SMS,
    "http_sms": Channel.SMS,
    "line": Channel.LINE,
    "webchat": Channel.WEBCHAT,
}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
shaped = st.fixed_dictionaries(
    {},
    optional={
        "Code": st.sampled_from(["OK", "isv.MOBILE_NUMBER_ILLEGAL", "Throttling", ""]) | st.text(),
        "BizId": json_values,
        "Message": json_values,
        "RequestId": json_values,
        "sid": json_values,
        "status": json_values,
        "code": st.integers(0, 99999) | json_values,
        "message": json_values,
        "payload": st.lists(
            st.fixed_dictionaries(
                {}, optional={"id": json_values, "inbox_id": json_values, "status": json_values}
            ),
            max_size=3,
        )
        | json_values,
        "id": json_values,
        "data": json_values,
        "error": json_values,
    },
)
bodies = st.one_of(
    st.binary(max_size=64).map(lambda b: ("bytes", b)),
    json_values.map(lambda v: ("json", v)),
    shaped.map(lambda v: ("json", v)),
)
statuses = st.sampled_from(
    [200, 201, 202, 204, 301, 400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 504]
) | st.integers(100, 599)
answers = st.lists(st.tuples(statuses, bodies, st.booleans()), min_size=1, max_size=8)


def _response(status: int, body: tuple[str, Any], retry_header: bool) -> httpx.Response:
    kind, value = body
    headers = {"Retry-After": "7"} if retry_header else {}
    if kind == "json":
        return httpx.Response(status, json=value, headers=headers)
    return httpx.Response(status, content=value, headers=headers)


def _check(results: list[SendResult], batch: list[OutboundMessage]) -> None:
    assert Counter(r.message_id for r in results) == Counter(m.id for m in batch)
    for result in results:
        assert result.follow_up is None
        assert (result.error is None) == (result.outcome is Outcome.ACCEPTED)
        assert result.retry_after is None or result.retry_after >= 0
        assert SECRET not in repr(result)
        if result.error is not None:
            assert SECRET not in str(result.error)
            assert SECRET not in repr(result.error)
        if result.isolate:
            assert result.outcome is Outcome.RETRY


@pytest.fixture(params=CASES, ids=lambda c: c.name)
def case(request: pytest.FixtureRequest) -> Case:
    """Each adapter of the contract."""
    return request.param  # type: ignore[no-any-return]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(replies=answers)
def test_any_answer_gives_exactly_one_result_per_message(
    case: Case, replies: list[tuple[int, tuple[str, Any], bool]]
) -> None:
    """Garbage, errors and odd statuses: one result per message, no exception, no secret."""
    provider, batch = case.provider(), case.batch()
    queue: Iterator[tuple[int, tuple[str, Any], bool]] = iter(replies * 10)

    def answer(request: httpx.Request) -> httpx.Response:
        return _response(*next(queue))

    with respx.mock:
        respx.route().mock(side_effect=answer)
        results = send(provider, batch)
    _check(results, batch)


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
        httpx.WriteError("broken"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_transport_failures_retry_or_are_unknown(case: Case, error: Exception) -> None:
    """A request that never left is retried; one that may have arrived is retried only
    where the provider de-duplicates (or it was a lookup), else unknown."""
    provider, batch = case.provider(), case.batch()
    with respx.mock:
        respx.route().mock(side_effect=error)
        results = send(provider, batch)
    _check(results, batch)
    never_left = isinstance(error, (httpx.ConnectError, httpx.ConnectTimeout))
    first_is_lookup = case.name == "webchat"
    expected = (
        Outcome.RETRY
        if never_left or provider.capabilities.idempotent or first_is_lookup
        else Outcome.UNKNOWN
    )
    assert {r.outcome for r in results} == {expected}


def test_batches_are_built_within_limits(case: Case) -> None:
    """Each message is in exactly one request; no request exceeds the batch limit."""
    provider, batch = case.provider(), case.batch()
    assert len(batch) <= provider.capabilities.max_batch or provider.capabilities.max_batch == 1
    chunks = [batch] if provider.capabilities.max_batch > 1 else [[m] for m in batch]
    sent = [s for chunk in chunks for s in provider.build_send(chunk)]
    ids = [mid for s in sent for mid in s.message_ids]
    assert Counter(ids) == Counter(m.id for m in batch)
    for s in sent:
        assert len(s.message_ids) <= provider.capabilities.max_batch
        assert SECRET not in str(s.request.url)


def test_capabilities_are_data(case: Case) -> None:
    """Capabilities are a Capabilities value with content rules, for the right channel."""
    provider = case.provider()
    caps = provider.capabilities
    assert isinstance(caps, Capabilities)
    assert isinstance(caps.content, ContentRules)
    assert caps.channel is CHANNELS[case.name]
    assert isinstance(provider, Provider)
    assert SECRET not in repr(provider)
    assert provider.name


@pytest.mark.parametrize(
    ("name", "promotional", "multimedia"),
    [
        ("alibaba", (False, True, False), True),
        ("twilio", (True, True, True), False),
        ("http_sms", (True, True, True), False),
    ],
)
def test_the_platform_table(
    name: str, promotional: tuple[bool, bool, bool], multimedia: bool
) -> None:
    """Promotional variables / short links / short params, and multimedia, per platform."""
    case = next(c for c in CASES if c.name == name)
    kinds = case.provider().capabilities.content.kinds
    promo = kinds[TemplateKind.PROMOTIONAL]
    assert (promo.variables, promo.short_links, promo.short_params) == promotional
    notification = kinds[TemplateKind.NOTIFICATION]
    assert (notification.variables, notification.short_links, notification.short_params) == (
        True,
        True,
        True,
    )
    assert (TemplateKind.MULTIMEDIA in kinds) is multimedia
