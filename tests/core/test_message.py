"""The observations and `decide`: one table, total, and nothing waits forever."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from msgkit.core.delivery import MESSAGE, MessageEvent, MessageState
from msgkit.core.message import (
    Change,
    Context,
    Elapsed,
    Followup,
    Message,
    MessageStatus,
    Observation,
    Outcome,
    Polled,
    PolledStatus,
    Receipt,
    ReplyReceived,
    Report,
    Sent,
    Timer,
    decide,
    settled,
)
from msgkit.core.optout import ReplyIntent

NOW = datetime(2026, 1, 5, 9, tzinfo=timezone.utc)
S = MessageState
E = MessageEvent

times = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3))
texts = st.none() | st.text(max_size=8)

observations: st.SearchStrategy[Observation] = st.one_of(
    st.builds(
        Sent,
        outcome=st.sampled_from(Outcome),
        attempt=st.integers(1, 10),
        provider_message_id=texts,
        error_code=texts,
        error=texts,
        fallback_now=st.booleans(),
        suppress=st.booleans(),
    ),
    st.builds(Receipt, report=st.sampled_from(Report), provider_message_id=texts, error_code=texts),
    st.builds(
        Polled, status=st.sampled_from(PolledStatus), provider_message_id=texts, error_code=texts
    ),
    st.builds(ReplyReceived, intent=st.none() | st.sampled_from(ReplyIntent)),
    st.builds(Elapsed, timer=st.sampled_from(Timer)),
)
contexts = st.builds(
    Context,
    retry_at=st.none() | times.map(lambda d: NOW + d),
    fallback_wait=st.none() | times,
    on_unknown=st.sampled_from(["mark_unknown", "resend"]),
    reconcile_grace=times,
    reconcile_every=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(hours=1)),
    reconcile_for=times,
    poll_every=st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(hours=1)),
)
messages = st.builds(
    MessageStatus,
    id=st.just("m1"),
    state=st.sampled_from(MessageState),
    sent_at=st.none() | times.map(lambda d: NOW - d),
    provider_message_id=texts,
)

#: Fields that give a message a next time something happens to it.
_TIMES = ("not_before", "lease_until", "fallback_at")


def _next_time(change: Change) -> bool:
    return any(change.fields.get(name) is not None for name in _TIMES)


@given(message=messages, observation=observations, context=contexts)
def test_decide_is_total_and_follows_the_lifecycle(
    message: MessageStatus, observation: Observation, context: Context
) -> None:
    """Every (state, observation) pair has an answer: a lifecycle transition, or none."""
    change = decide(message, observation, context=context, now=NOW)
    assert change.message_id == message.id
    if change.event is not None:
        assert MESSAGE.can(message.state, change.event)


@given(message=messages, observation=observations, context=contexts)
def test_no_message_waits_forever(
    message: MessageStatus, observation: Observation, context: Context
) -> None:
    """A change settles the message, reports it unknown, or gives it a next time."""
    change = decide(message, observation, context=context, now=NOW)
    if change.event is None:
        if message.state is S.UNKNOWN and "not_before" in change.fields:
            # reported (None) or asked again at a time
            assert change.fields["not_before"] is None or _next_time(change)
        return  # the message keeps its state and its times
    new = MESSAGE.next(message.state, change.event)
    if settled(new):
        return
    if new is S.UNKNOWN:
        assert change.fields.get("not_before") is not None  # reconciled, at once
        assert Followup.RECONCILE in change.followups
        return
    # planned and queued messages are the dispatcher's to claim and send
    assert _next_time(change) or change.followups or new in (S.PLANNED, S.QUEUED), (new, change)


@settings(deadline=None)
@given(
    sent_ago=times,
    status=st.sampled_from([PolledStatus.QUERY_FAILED, PolledStatus.PENDING]),
    context=st.builds(
        Context,
        reconcile_every=st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(hours=1)),
        reconcile_for=st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=12)),
    ),
)
def test_reconciliation_ends(sent_ago: timedelta, status: PolledStatus, context: Context) -> None:
    """An unknown message whose status cannot be learned is reported within reconcile_for."""
    sent_at = NOW - sent_ago
    now = NOW
    message = MessageStatus(id="m1", state=S.UNKNOWN, sent_at=sent_at)
    steps = 0
    while True:
        change = decide(message, Polled(status=status), context=context, now=now)
        assert change.event is None
        again = change.fields["not_before"]
        if again is None:
            break
        assert again > now
        assert again <= sent_at + context.reconcile_for
        now = again
        steps += 1
        assert steps <= context.reconcile_for / context.reconcile_every + 1


@pytest.mark.parametrize("wait", [None, timedelta(minutes=30)])
def test_an_unknown_outcome_starts_the_fallback_wait(wait: timedelta | None) -> None:
    """A send whose outcome is unknown is reconciled now and its fallback waits its wait."""
    message = MessageStatus(id="m1", state=S.SENDING, sent_at=NOW)
    change = decide(message, Sent(outcome="unknown"), context=Context(fallback_wait=wait), now=NOW)
    assert change.event is E.LOSE
    assert change.fields["not_before"] == NOW
    assert change.fields.get("fallback_at") == (None if wait is None else NOW + wait)


def test_an_unknown_message_falls_back_when_its_wait_is_over() -> None:
    """Its wait over, an unknown message stays unknown and its fallback goes."""
    message = MessageStatus(id="m1", state=S.UNKNOWN)
    change = decide(message, Elapsed(timer="fallback_wait"), context=Context(), now=NOW)
    assert change.event is None
    assert change.followups == (Followup.FALL_BACK,)


def test_a_provider_that_cannot_be_asked_reports_or_resends() -> None:
    """No status query: the campaign's on_unknown reports the message or resends it."""
    message = MessageStatus(id="m1", state=S.UNKNOWN, sent_at=NOW)
    report = decide(message, Polled(status="no_query"), context=Context(), now=NOW)
    assert report.event is None
    assert report.fields == {"not_before": None}
    resend = Context(on_unknown="resend")
    assert decide(message, Polled(status="no_query"), context=resend, now=NOW).event is E.RESEND


@pytest.mark.parametrize(
    ("state", "report", "event"),
    [
        (S.SUBMITTED, "delivered", E.DELIVER),
        (S.SUBMITTED, "failed", E.UNDELIVER),
        (S.SENDING, "sent", E.ACCEPT),
        (S.DELIVERED, "sent", None),  # a late "sent" never overwrites "delivered"
        (S.DELIVERED, "delivered", None),  # pushed twice
    ],
)
def test_receipts(state: MessageState, report: str, event: MessageEvent | None) -> None:
    """A receipt is the event its report names, when the lifecycle allows it."""
    message = MessageStatus(id="m1", state=state)
    assert decide(message, Receipt(report=report), context=Context(), now=NOW).event is event


def test_a_polled_failure_on_an_unknown_message_fails_it() -> None:
    """Reconciling, a failed status means the send itself failed."""
    message = MessageStatus(id="m1", state=S.UNKNOWN, sent_at=NOW)
    change = decide(message, Polled(status="failed"), context=Context(), now=NOW)
    assert change.event is E.FAIL


def test_a_failed_status_query_on_a_submitted_message_polls_again() -> None:
    """A polled message whose query failed is asked again after poll_every."""
    message = MessageStatus(id="m1", state=S.SUBMITTED, sent_at=NOW)
    change = decide(message, Polled(status="query_failed"), context=Context(), now=NOW)
    assert change.event is None
    assert change.fields == {"lease_until": NOW + timedelta(minutes=1)}


def test_retry_gives_up_without_a_retry_time() -> None:
    """A retryable failure with no retry time left fails the message, saying why."""
    message = MessageStatus(id="m1", state=S.SENDING)
    sent = Sent(outcome="retry", attempt=5, error="busy")
    change = decide(message, sent, context=Context(), now=NOW)
    assert change.event is E.FAIL
    assert change.fields["error"] == "gave up after 5 attempts: busy"


def test_an_opt_out_reply_suppresses_the_number() -> None:
    """A reply that opts out asks for the number's suppression; others change nothing."""
    message = MessageStatus(id="m1", state=S.DELIVERED)
    stop = ReplyReceived(intent=ReplyIntent.OPT_OUT)
    assert decide(message, stop, context=Context(), now=NOW).followups == (Followup.SUPPRESS,)
    assert decide(message, ReplyReceived(), context=Context(), now=NOW).noop


@given(
    mid=st.from_regex(r"[A-Za-z0-9_-]{16,64}", fullmatch=True),
    to=st.from_regex(r"\+8869[0-9]{8}", fullmatch=True),
    text=st.text(max_size=20),
)
def test_a_message_needs_only_id_channel_to_and_text(mid: str, to: str, text: str) -> None:
    """A bare record defaults its key to the id and its contact to the address."""
    message = Message(id=mid, channel="sms", to=to, text=text)
    assert (message.key, message.contact_key, message.recipient) == (mid, to, to)
    assert (message.step, message.parent_id, message.fallback_wait) == (0, None, None)
    assert (message.media, dict(message.options)) == ((), {})
    assert to not in repr(message)


@given(status=st.sampled_from([PolledStatus.NOT_FOUND, PolledStatus.NO_QUERY]))
def test_an_unknown_message_whose_fallback_went_is_never_resent(status: PolledStatus) -> None:
    """Once its fallback went, an unknown message is reported, never sent again (the
    person would get both); before, it is resent as the rules say."""
    message = MessageStatus(id="m1", state=S.UNKNOWN, sent_at=NOW - timedelta(hours=1))
    for on_unknown in ("mark_unknown", "resend"):
        went = Context(on_unknown=on_unknown, fallback_released=True)  # type: ignore[arg-type]
        change = decide(message, Polled(status=status), context=went, now=NOW)
        assert change.event is None
        assert change.fields == {"not_before": None}
    before = Context(on_unknown="resend")
    assert decide(message, Polled(status=status), context=before, now=NOW).event is E.RESEND


def test_a_sent_receipt_before_the_send_result_starts_the_fallback_wait() -> None:
    """A "sent" receipt that beats the send result accepts the message and starts its
    fallback's wait, so the fallback is released if nothing more comes."""
    message = MessageStatus(id="m1", state=S.SENDING, sent_at=NOW)
    context = Context(fallback_wait=timedelta(minutes=10))
    change = decide(message, Receipt(report="sent"), context=context, now=NOW)
    assert change.event is E.ACCEPT
    assert change.fields["fallback_at"] == NOW + timedelta(minutes=10)
    late = decide(
        MessageStatus(id="m1", state=S.SUBMITTED), Receipt(report="sent"), context=context, now=NOW
    )
    assert late.event is None


@given(state=st.sampled_from(list(MessageState)))
def test_a_change_remembers_the_state_it_was_decided_in(state: MessageState) -> None:
    """decide records the state it saw, so the store applies a change that moves no state
    only to a message still in it."""
    message = MessageStatus(id="m1", state=state, sent_at=NOW)
    change = decide(message, Polled(status="query_failed"), context=Context(), now=NOW)
    assert change.decided_in is state
