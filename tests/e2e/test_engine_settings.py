"""The ``[engine]`` settings of ``msgkit.toml``: durations as people write them, and a
wrong one refused at once, naming its key."""

from __future__ import annotations

import pytest

import msgkit
from tests.e2e.conftest import MakeClient, tw_e164, tw_numbers


def test_engine_durations_written_as_text_are_used(make_client: MakeClient) -> None:
    """[engine] durations given as "2m", "50ms" or seconds configure a client that sends."""
    client = make_client(
        config={"engine": {"lease": "2m", "idle_poll": "50ms", "horizon": 60, "poll_every": "1m"}}
    )
    assert client.settings.lease.total_seconds() == 120
    assert client.settings.idle_poll == 0.05
    numbers = tw_numbers(3)
    members = client.create_list("tw", [msgkit.Contact(phone=tw_e164(n)) for n in numbers])
    campaign = client.create_campaign("Spring", "Spring sale", audience=members)
    client.start(campaign)
    client.run(progress=False)
    assert client.progress(campaign).sent == 3


@pytest.mark.parametrize(
    ("engine", "said"),
    [
        ({"lease": "two minutes"}, "engine.lease: 'two minutes' is not a duration"),
        ({"horizon": -5}, "engine.horizon: -5 is not a duration"),
        ({"lease": 0}, "engine.lease: 0 is not a duration of more than 0"),
        ({"idle_poll": "0s"}, "engine.idle_poll: '0s' is not a duration of more than 0"),
        ({"request_timeout": 0}, "engine.request_timeout: 0 is not a duration of more than 0"),
        ({"batch_size": "many"}, "engine.batch_size: 'many' is not a whole number"),
        ({"leese": "2m"}, "engine.leese: unknown [engine] setting"),
    ],
)
def test_a_wrong_engine_setting_is_refused_naming_its_key(
    make_client: MakeClient, engine: dict[str, object], said: str
) -> None:
    """A wrong [engine] value is a ConfigError naming engine.KEY, raised by Client()."""
    with pytest.raises(msgkit.ConfigError) as caught:
        make_client(config={"engine": engine})
    assert said in str(caught.value)
    assert caught.value.key == f"engine.{next(iter(engine))}"
