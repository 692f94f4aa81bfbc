"""The lifecycle tables (campaign, message, template review) and their state machines."""

from __future__ import annotations

from datetime import datetime, timezone
from enum import Enum
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from msgkit import Campaign, InvalidTransitionError, Template
from msgkit.core._fsm import TransitionTable
from msgkit.core.campaigns import CAMPAIGN, CampaignEvent, CampaignStatus
from msgkit.core.delivery import MESSAGE, MessageEvent, MessageState
from msgkit.core.message import Context, MessageStatus, Receipt, Report, decide
from msgkit.core.templates import REVIEW, ReviewEvent, ReviewStatus

TABLES: list[tuple[TransitionTable[Any, Any], type[Enum], type[Enum]]] = [
    (CAMPAIGN, CampaignStatus, CampaignEvent),
    (MESSAGE, MessageState, MessageEvent),
    (REVIEW, ReviewStatus, ReviewEvent),
]


def _machine(table: TransitionTable[Any, Any], events: type[Enum]) -> type[RuleBasedStateMachine]:
    class Machine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.state = table.initial

        @rule(event=st.sampled_from(list(events)))
        def apply(self, event: Enum) -> None:
            expected = table.table.get((self.state, event))
            if expected is None:
                with pytest.raises(InvalidTransitionError) as info:
                    table.next(self.state, event)
                assert info.value.state == self.state.value
                assert info.value.event == event.value
                assert set(info.value.allowed) == {e.value for e in table.allowed(self.state)}
            else:
                self.state = table.next(self.state, event)
                assert self.state == expected

        @invariant()
        def state_is_known(self) -> None:
            assert self.state in table.states()

        @invariant()
        def a_final_state_is_reachable(self) -> None:
            seen, frontier = {self.state}, [self.state]
            while frontier:
                current = frontier.pop()
                for (source, _), target in table.table.items():
                    if source == current and target not in seen:
                        seen.add(target)
                        frontier.append(target)
            assert seen & set(table.final_states())

    return Machine


TestCampaignMachine = _machine(CAMPAIGN, CampaignEvent).TestCase
TestMessageMachine = _machine(MESSAGE, MessageEvent).TestCase
TestReviewMachine = _machine(REVIEW, ReviewEvent).TestCase


@pytest.mark.parametrize(("table", "states", "events"), TABLES)
def test_every_state_is_reachable(
    table: TransitionTable[Any, Any], states: type[Enum], events: type[Enum]
) -> None:
    """Every state of the enum appears in its table and is reachable from the initial one."""
    assert set(table.states()) == set(states)
    assert {e for (_, e) in table.table} == set(events)
    seen, frontier = {table.initial}, [table.initial]
    while frontier:
        current = frontier.pop()
        for (source, _), target in table.table.items():
            if source == current and target not in seen:
                seen.add(target)
                frontier.append(target)
    unreachable = set(states) - seen - {MessageState.SKIPPED, MessageState.EXPIRED}
    assert not unreachable


@pytest.mark.parametrize(("table", "states", "events"), TABLES)
def test_mermaid_lists_every_transition(
    table: TransitionTable[Any, Any], states: type[Enum], events: type[Enum]
) -> None:
    """The diagram has one line per transition plus the start and final markers."""
    diagram = table.mermaid()
    assert diagram.startswith("stateDiagram-v2")
    lines = diagram.splitlines()
    assert len(lines) == 2 + len(table.table) + len(table.final_states())


def test_message_final_states() -> None:
    """Delivered, expired, skipped and fallen back take no further event."""
    assert set(MESSAGE.final_states()) == {
        MessageState.DELIVERED,
        MessageState.EXPIRED,
        MessageState.SKIPPED,
        MessageState.FALLEN_BACK,
    }


def test_late_sent_never_overwrites_delivered() -> None:
    """A delivered message refuses accept/undeliver: out-of-order receipts are safe."""
    for event in (MessageEvent.ACCEPT, MessageEvent.UNDELIVER, MessageEvent.DELIVER):
        assert not MESSAGE.can(MessageState.DELIVERED, event)


def test_unknown_is_left_only_by_reconciliation() -> None:
    """An unknown message is never claimed or sent again without an explicit resend."""
    allowed = set(MESSAGE.allowed(MessageState.UNKNOWN))
    assert MessageEvent.SEND not in allowed
    assert MessageEvent.CLAIM not in allowed
    assert MessageEvent.RESEND in allowed


# --- Campaign ----------------------------------------------------------------------


def _campaign() -> Campaign:
    return Campaign(name="Spring sale", template=Template(body="Hi ${name}"))


def test_campaign_happy_path() -> None:
    """draft -> initializing -> running -> finished."""
    c = _campaign()
    assert c.status is CampaignStatus.DRAFT
    c = c.apply("start").apply("initialized")
    assert c.status is CampaignStatus.RUNNING
    assert c.apply("finish").status is CampaignStatus.FINISHED


def test_stop_and_resume_keeps_the_reason() -> None:
    """A stop records why; resuming clears it."""
    c = _campaign().apply("start").apply("initialized").apply("stop", reason="no balance")
    assert c.status is CampaignStatus.STOPPED
    assert c.stop_reason == "no balance"
    resumed = c.apply("resume")
    assert resumed.status is CampaignStatus.INITIALIZING
    assert resumed.stop_reason is None


def test_running_campaign_cannot_be_deleted() -> None:
    """Deleting a running campaign says what is allowed instead."""
    c = _campaign().apply("start").apply("initialized")
    with pytest.raises(InvalidTransitionError) as info:
        c.apply("delete")
    assert "stop" in info.value.allowed
    assert "running" in str(info.value)


def test_finished_campaign_cannot_be_edited() -> None:
    """edit() on a finished campaign raises InvalidTransitionError."""
    c = _campaign().apply("start").apply("initialized").apply("finish")
    with pytest.raises(InvalidTransitionError):
        c.edit(name="again")
    assert _campaign().edit(name="renamed").name == "renamed"


def test_started_web_chat_campaign_cannot_be_edited() -> None:
    """A web chat campaign that started sending refuses edits, saying why and what to do."""
    draft = Campaign(name="Chat", template=Template(body="Hi"), channel="webchat")
    assert draft.edit(name="renamed").name == "renamed"
    started = draft.apply("start").apply("initialized").apply("stop")
    started = attrs.evolve(started, started_at=datetime(2026, 1, 5, tzinfo=timezone.utc))
    with pytest.raises(InvalidTransitionError) as info:
        started.edit(template=Template(body="Hello"))
    text = str(info.value)
    assert text.startswith("cannot edit a web chat campaign that is stopped: it has started")
    assert "create a new campaign" in text
    assert "from " not in text
    assert "allows: nothing" not in text
    assert info.value.reason is not None


def test_transition_hint_reads_as_a_sentence() -> None:
    """The default hint says what the state allows, or that it is final."""
    error = InvalidTransitionError("message", "delivered", "send", ())
    assert str(error) == (
        "cannot send a message that is delivered — a message that is delivered is final"
    )


def test_disabled_campaign_does_not_start() -> None:
    """A disabled campaign refuses start until enabled again."""
    c = _campaign().apply("disable")
    assert not c.enabled
    with pytest.raises(InvalidTransitionError, match="disabled"):
        c.apply("start")
    assert c.apply("enable").apply("start").status is CampaignStatus.INITIALIZING


def test_schedule_needs_an_aware_time() -> None:
    """Scheduling with a naive datetime is refused with the fix."""
    c = _campaign()
    with pytest.raises(ValueError, match="aware"):
        c.schedule(datetime(2026, 12, 1, 9, 0))  # noqa: DTZ001
    scheduled = c.schedule(datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc))
    assert scheduled.status is CampaignStatus.SCHEDULED
    assert scheduled.apply("unschedule").status is CampaignStatus.DRAFT


def test_lifecycle_fields_are_not_edited_directly() -> None:
    """edit(status=...) is refused: lifecycle changes go through apply()."""
    with pytest.raises(ValueError, match="apply"):
        _campaign().edit(status="running")


@given(st.lists(st.sampled_from(list(CampaignEvent)), max_size=30))
def test_campaign_apply_follows_the_table(events: list[CampaignEvent]) -> None:
    """Campaign.apply agrees with the table, plus the disabled guard."""
    c = _campaign()
    for event in events:
        expected = CAMPAIGN.table.get((c.status, event))
        guarded = not c.enabled and event in (
            CampaignEvent.START,
            CampaignEvent.RESUME,
            CampaignEvent.SCHEDULE,
        )
        if expected is None or guarded:
            with pytest.raises(InvalidTransitionError):
                c.apply(event)
            continue
        enabled = c.enabled
        c = c.apply(event)
        assert c.status is expected
        if event is CampaignEvent.ENABLE:
            assert c.enabled
        elif event is CampaignEvent.DISABLE:
            assert not c.enabled
        else:
            assert c.enabled == enabled


def test_tags_normalise() -> None:
    """Tags are a set of trimmed, non-empty strings; a single string is one tag."""
    assert Campaign(name="x", tags=[" vip ", "", "vip", "spring"]).tags == {"vip", "spring"}
    assert Campaign(name="x", tags="vip").tags == {"vip"}


@given(st.sampled_from(list(Report)))
def test_reported_status_is_a_transition_of_a_submitted_message(report: Report) -> None:
    """Every status a provider reports is an event a submitted message takes (or refuses
    as a late "sent"); a failure reported of a taken message ends it undelivered."""
    submitted = MessageStatus(id="m1", state=MessageState.SUBMITTED)
    now = datetime(2026, 1, 5, tzinfo=timezone.utc)
    change = decide(submitted, Receipt(report=report), context=Context(), now=now)
    if report is Report.SENT:
        assert change.event is None  # already submitted
        return
    assert change.event is not None
    after = MESSAGE.next(MessageState.SUBMITTED, change.event)
    assert after is (
        MessageState.DELIVERED if report is Report.DELIVERED else MessageState.UNDELIVERED
    )
    assert MESSAGE.can(MessageState.UNKNOWN, change.event)
    assert MESSAGE.can(after, MessageEvent.FALL_BACK) or after is MessageState.DELIVERED
