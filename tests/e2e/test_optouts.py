"""Opt-outs through the front door: a STOP reply suppresses the number, in its scope,
and a later campaign skips it (reason ``suppressed``)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

import msgkit
from msgkit.contacts import PhoneCipher
from msgkit.testing import Simulator, SimulatorProvider
from tests.e2e.conftest import MakeClient, WriteCsv, tw_e164, tw_numbers

DEFAULT_NUMBER = "+14155550100"


def _stopping_sim(clock: msgkit.testing.FakeClock) -> Simulator:
    """A gateway where every delivered message is answered ``STOP``."""
    return Simulator(clock=clock.now, reply_rate=1.0, opt_out_rate=1.0)


def _list(client: msgkit.Client, write_csv: WriteCsv, numbers: Sequence[str], name: str) -> str:
    path = write_csv([(n, "x") for n in numbers], name=f"{name}.csv")
    return client.import_list(path, phone="Mobile", region="TW", name=name).id


def _campaign(client: msgkit.Client, name: str, audience: str, **fields: object) -> str:
    campaign = client.create_campaign(name, f"{name}: news", audience=audience, **fields)  # type: ignore[arg-type]
    client.start(campaign)
    client.run(progress=False)
    return campaign.id


def test_stop_reply_suppresses_the_number_for_the_same_sender(
    make_client: MakeClient, clock: msgkit.testing.FakeClock, write_csv: WriteCsv
) -> None:
    """A number that replied STOP to a sender is skipped by the next campaign from it."""
    stopping = _stopping_sim(clock)
    first_client = make_client({"sms": SimulatorProvider("sms", server=stopping)})
    stoppers = tw_numbers(3)
    _campaign(first_client, "first", _list(first_client, write_csv, stoppers, "a"), sender="ACME")
    assert {m.to for m in stopping.messages.values()} == {tw_e164(n) for n in stoppers}

    quiet = Simulator(clock=clock.now)
    client = make_client({"sms": SimulatorProvider("sms", server=quiet)})
    everyone = _list(client, write_csv, tw_numbers(5), "b")
    second = _campaign(client, "second", everyone, sender="ACME")
    assert {m.to for m in quiet.messages.values()} == {tw_e164(n) for n in tw_numbers(5)[3:]}
    progress = client.progress(second)
    assert progress.by_reason == {"suppressed": 3}
    skipped = client.messages(second, states=[msgkit.MessageState.SKIPPED])
    assert {m.error for m in skipped} == {"opted out of sms/ACME"}


def test_sender_scope_leaves_other_senders_free(
    make_client: MakeClient, clock: msgkit.testing.FakeClock, write_csv: WriteCsv
) -> None:
    """An opt-out scoped to a sender does not stop a campaign from another sender."""
    stopping = _stopping_sim(clock)
    first_client = make_client({"sms": SimulatorProvider("sms", server=stopping)})
    _campaign(
        first_client, "first", _list(first_client, write_csv, tw_numbers(2), "a"), sender="ACME"
    )

    quiet = Simulator(clock=clock.now)
    client = make_client({"sms": SimulatorProvider("sms", server=quiet)})
    other = _campaign(client, "other", _list(client, write_csv, tw_numbers(2), "b"), sender="SHOP")
    assert sorted(quiet.recipients.values()) == [1, 1]
    assert client.progress(other).by_reason == {}


def test_channel_scope_stops_every_sender_of_the_channel(
    make_client: MakeClient, clock: msgkit.testing.FakeClock, write_csv: WriteCsv
) -> None:
    """With optout_scope='channel', STOP to one sender stops SMS from every sender."""
    stopping = _stopping_sim(clock)
    first_client = make_client({"sms": SimulatorProvider("sms", server=stopping)})
    policy = msgkit.SendPolicy(optout_scope=msgkit.OptOutScope.CHANNEL)
    numbers = _list(first_client, write_csv, tw_numbers(2), "a")
    _campaign(first_client, "first", numbers, sender="ACME", policy=policy)

    quiet = Simulator(clock=clock.now)
    client = make_client({"sms": SimulatorProvider("sms", server=quiet)})
    other = _campaign(client, "other", _list(client, write_csv, tw_numbers(2), "b"), sender="SHOP")
    assert not quiet.messages
    assert client.progress(other).by_reason == {"suppressed": 2}


def test_global_scope_stops_other_channels_too(
    make_client: MakeClient, clock: msgkit.testing.FakeClock, write_csv: WriteCsv
) -> None:
    """With optout_scope='global', STOP to an SMS also stops a LINE campaign."""
    stopping = _stopping_sim(clock)
    first_client = make_client({"sms": SimulatorProvider("sms", server=stopping)})
    policy = msgkit.SendPolicy(optout_scope=msgkit.OptOutScope.GLOBAL)
    _campaign(
        first_client, "first", _list(first_client, write_csv, tw_numbers(2), "a"), policy=policy
    )

    quiet = Simulator(clock=clock.now)
    line = SimulatorProvider("line", server=quiet, channel="line")
    client = make_client({"line": line})
    audience = _list(client, write_csv, tw_numbers(3), "b")
    on_line = _campaign(client, "on line", audience, channel="line")
    assert {m.to for m in quiet.messages.values()} == {tw_e164(tw_numbers(3)[2])}
    assert client.progress(on_line).by_reason == {"suppressed": 2}


def test_optout_from_the_default_sender_binds_a_campaign_naming_none(
    make_client: MakeClient, clock: msgkit.testing.FakeClock, write_csv: WriteCsv
) -> None:
    """STOP to the provider's default number stops the next campaign that names no sender."""
    stopping = _stopping_sim(clock)
    provider = SimulatorProvider("sms", server=stopping, sender=DEFAULT_NUMBER)
    first_client = make_client({"sms": provider})
    _campaign(first_client, "first", _list(first_client, write_csv, tw_numbers(3), "a"))
    assert {m.sender for m in stopping.messages.values()} == {DEFAULT_NUMBER}

    quiet = Simulator(clock=clock.now)
    client = make_client({"sms": SimulatorProvider("sms", server=quiet, sender=DEFAULT_NUMBER)})
    second = _campaign(client, "second", _list(client, write_csv, tw_numbers(5), "b"))
    assert {m.to for m in quiet.messages.values()} == {tw_e164(n) for n in tw_numbers(5)[3:]}
    assert client.progress(second).by_reason == {"suppressed": 3}
    # Naming that same number explicitly is the same sender.
    third = _campaign(
        client, "third", _list(client, write_csv, tw_numbers(5), "c"), sender=DEFAULT_NUMBER
    )
    assert client.progress(third).by_reason == {"suppressed": 3}


def test_default_sender_opt_out_does_not_bind_another_sender(
    make_client: MakeClient, clock: msgkit.testing.FakeClock, write_csv: WriteCsv
) -> None:
    """STOP to the default number leaves a campaign from another named sender free."""
    stopping = _stopping_sim(clock)
    first_client = make_client(
        {"sms": SimulatorProvider("sms", server=stopping, sender=DEFAULT_NUMBER)}
    )
    _campaign(first_client, "first", _list(first_client, write_csv, tw_numbers(2), "a"))

    quiet = Simulator(clock=clock.now)
    client = make_client({"sms": SimulatorProvider("sms", server=quiet, sender=DEFAULT_NUMBER)})
    other = _campaign(
        client, "other", _list(client, write_csv, tw_numbers(2), "b"), sender="+14155550199"
    )
    assert len(quiet.messages) == 2
    assert client.progress(other).by_reason == {}


@pytest.mark.parametrize("phone_key", [None, PhoneCipher.new_key()], ids=["plain", "encrypted"])
def test_a_trigger_to_a_number_that_replied_stop_is_skipped(
    make_client: MakeClient,
    clock: msgkit.testing.FakeClock,
    write_csv: WriteCsv,
    phone_key: str | None,
) -> None:
    """A triggered message checks the suppression list for its one number: the number
    that replied STOP is skipped (``suppressed``), another still gets it -- with phone
    numbers encrypted at rest too."""
    env = {} if phone_key is None else {"MSGKIT_PHONE_KEY": phone_key}
    stopping = _stopping_sim(clock)
    first_client = make_client({"sms": SimulatorProvider("sms", server=stopping)}, env=env)
    stoppers = tw_numbers(2)
    _campaign(first_client, "first", _list(first_client, write_csv, stoppers, "a"))

    quiet = Simulator(clock=clock.now)
    client = make_client({"sms": SimulatorProvider("sms", server=quiet)}, env=env)
    client.define_scenario("code", "Your code is ${code}")
    stopped = client.trigger("code", msgkit.Contact(phone=tw_e164(stoppers[0])), {"code": "1"})
    free = client.trigger("code", msgkit.Contact(phone=tw_e164(tw_numbers(3)[2])), {"code": "2"})
    client.run(progress=False)
    assert isinstance(stopped, msgkit.Skip)
    assert stopped.reason is msgkit.SkipReason.SUPPRESSED
    assert not isinstance(free, msgkit.Skip)
    assert [m.to for m in quiet.messages.values()] == [tw_e164(tw_numbers(3)[2])]
