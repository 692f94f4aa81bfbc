"""Many workers, one store: `msgkit worker` processes sharing the outbox.

Each test starts real ``msgkit worker`` processes (the command users run, one per
machine) against one store (``shared_store_url``: a SQLite file; PostgreSQL plugs in
there) and a local provider server in its own process (``benchmarks/_server.py``:
Alibaba and Twilio shapes, recording every recipient and its arrival time), and
asserts what the provider saw and what the store reports through the public API.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import msgkit

ROOT = Path(__file__).resolve().parents[2]
SERVER = ROOT / "benchmarks" / "_server.py"
SID = "AC" + "0" * 32


@contextmanager
def provider_server() -> Iterator[str]:
    """The local provider server in its own process; yields its base URL."""
    process = subprocess.Popen([sys.executable, str(SERVER)], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        yield f"http://127.0.0.1:{int(process.stdout.readline())}"
    finally:
        process.terminate()
        process.communicate(timeout=10)


def seen(url: str, shape: str, *, times: bool = False) -> dict[str, Any]:
    """What the provider server saw of one shape (requests, recipients, times)."""
    with urllib.request.urlopen(f"{url}/_stats{'?times=1' if times else ''}") as answer:
        found: dict[str, Any] = json.loads(answer.read()).get(shape, {})
    return found or {"requests": 0, "recipients": 0, "distinct": 0, "times": []}


def write_config(folder: Path, url: str, engine: dict[str, Any]) -> Path:
    """msgkit.toml: an Alibaba provider ``ali`` and a Twilio one ``tw`` at ``url``."""
    lines = [
        "[providers.ali]",
        'type = "alibaba"',
        'access_key_id = "key"',
        'sign_name = "msgkit"',
        f'base_url = "{url}"',
        "[providers.tw]",
        'type = "twilio"',
        f'account_sid = "{SID}"',
        'sender = "+15005550006"',
        f'base_url = "{url}"',
        "[engine]",
        *(f"{k} = {json.dumps(v)}" for k, v in engine.items()),
    ]
    path = folder / "msgkit.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join(sys.path),
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "secret",
    "TWILIO_AUTH_TOKEN": "token",
}


class Workers:
    """``msgkit worker`` processes on one store and config."""

    def __init__(self, store: str, config: Path) -> None:
        self.store = store
        self.config = config
        self.processes: list[subprocess.Popen[str]] = []

    def start(self, n: int) -> None:
        for _ in range(n):
            self.processes.append(
                subprocess.Popen(
                    [
                        *(sys.executable, "-m", "msgkit"),
                        *("--config", str(self.config), "worker", "--store", self.store),
                    ],
                    env=ENV,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )

    def stop(self, process: subprocess.Popen[str], timeout: float = 30) -> str:
        """SIGTERM one worker; its stderr once it has exited."""
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=timeout)
        return err

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()


@pytest.fixture
def workers(shared_store_url: str, tmp_path: Path) -> Iterator[Callable[..., Workers]]:
    """Make `Workers` on the shared store (all stopped at the end)."""
    made: list[Workers] = []

    def make(config: Path) -> Workers:
        found = Workers(shared_store_url, config)
        made.append(found)
        return found

    yield make
    for found in made:
        found.close()


def wait_for(what: str, done: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def cn(i: int) -> str:
    return f"+86138{i:08d}"


def tw(i: int) -> str:
    return f"+88691{i // 1_000_000}{i % 1_000_000:06d}"


def make_campaign(
    client: msgkit.Client,
    numbers: list[str],
    *,
    provider: str,
    policy: msgkit.SendPolicy | None = None,
) -> msgkit.Campaign:
    contacts = [msgkit.Contact(phone=n, attributes={"name": f"m{n[-4:]}"}) for n in numbers]
    members = client.create_list("members", contacts)
    template = msgkit.Template(body="Hi ${name}, your code", code="SMS_1", review="approved")
    return client.create_campaign(
        "Big", template, audience=members, provider=provider, policy=policy
    )


COUNT = 20_000


def test_four_workers_one_sigkilled_send_each_recipient_once(
    shared_store_url: str, tmp_path: Path, workers: Callable[..., Workers]
) -> None:
    """Four `msgkit worker` processes send a 20,000-contact campaign through batched
    requests; one is killed with SIGKILL midway. The provider saw nobody twice; everybody
    not seen is reported ``unknown`` (in flight at the kill, its status query finding
    nothing); nothing is left unsent, and the others did the dead one's share."""
    numbers = [cn(i) for i in range(COUNT)]
    engine = {"batch_size": 500, "concurrency": 4, "housekeeping_every": 0.2}
    with provider_server() as url:
        config = write_config(tmp_path, url, engine)
        with msgkit.Client(store=shared_store_url, config=config, env=ENV) as client:
            campaign = make_campaign(client, numbers, provider="ali")
            client.start(campaign)
            team = workers(config)
            team.start(4)
            wait_for("a third sent", lambda: seen(url, "alibaba")["recipients"] >= COUNT // 3, 120)
            victim = team.processes[0]
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
            at_kill = seen(url, "alibaba")["recipients"]

            wait_for("the rest", lambda: client.progress(campaign).pending == 0, 180)
            progress = client.progress(campaign)
            for process in team.processes[1:]:
                assert "stopped after" in team.stop(process)
                assert process.returncode == 0
        got = seen(url, "alibaba")
    assert at_kill < COUNT, "killed after the end: not midway"
    assert got["recipients"] == got["distinct"], "somebody was messaged twice"
    unknown = progress.count(msgkit.MessageState.UNKNOWN)
    assert progress.sent + unknown == COUNT
    assert got["distinct"] >= progress.sent
    assert COUNT - got["distinct"] <= unknown <= engine["batch_size"]


RATE = 200


def test_four_workers_hold_a_shared_send_speed(
    shared_store_url: str, tmp_path: Path, workers: Callable[..., Workers]
) -> None:
    """A campaign's send speed of 200/s with four workers: the provider sees 200/s
    (within 10 %) over 10 s, not 200/s per worker."""
    count = RATE * 13
    numbers = [tw(i) for i in range(count)]
    policy = msgkit.SendPolicy(send_speed=msgkit.SendSpeed(messages=RATE))
    with provider_server() as url:
        config = write_config(tmp_path, url, {"batch_size": 200})
        with msgkit.Client(store=shared_store_url, config=config, env=ENV) as client:
            campaign = make_campaign(client, numbers, provider="tw", policy=policy)
            team = workers(config)
            team.start(4)
            time.sleep(2)  # all four up and waiting
            client.start(campaign)
            wait_for("the campaign", lambda: client.progress(campaign).pending == 0, 60)
        got = seen(url, "twilio", times=True)
    assert got["recipients"] == got["distinct"] == count
    times = sorted(got["times"])
    window = [t for t in times if times[0] <= t < times[0] + 10]
    assert abs(len(window) / 10 - RATE) <= 0.1 * RATE, f"{len(window) / 10:.0f}/s over 10 s"


def test_sigterm_finishes_in_flight_and_gives_the_rest_to_the_others(
    shared_store_url: str, tmp_path: Path, workers: Callable[..., Workers]
) -> None:
    """SIGTERM to one of four workers mid-campaign: it exits 0 soon, saying what it sent;
    the others send what it had claimed; nobody is messaged twice and nothing is left
    unknown (its requests in flight were finished and recorded)."""
    count = 3000
    numbers = [tw(i) for i in range(count)]
    policy = msgkit.SendPolicy(send_speed=msgkit.SendSpeed(messages=300))
    with provider_server() as url:
        config = write_config(tmp_path, url, {"batch_size": 200, "lease": "10m"})
        with msgkit.Client(store=shared_store_url, config=config, env=ENV) as client:
            campaign = make_campaign(client, numbers, provider="tw", policy=policy)
            client.start(campaign)
            team = workers(config)
            team.start(4)
            wait_for("a third sent", lambda: seen(url, "twilio")["recipients"] >= count // 3, 60)
            stopped = time.monotonic()
            err = team.stop(team.processes[0], timeout=20)
            took = time.monotonic() - stopped
            assert team.processes[0].returncode == 0, err
            wait_for("the rest", lambda: client.progress(campaign).pending == 0, 60)
            progress = client.progress(campaign)
        got = seen(url, "twilio")
    assert "stopped after" in err
    assert took < 10
    assert got["recipients"] == got["distinct"] == count
    assert progress.sent == count
    assert progress.count(msgkit.MessageState.UNKNOWN) == 0


def test_a_stop_reaches_every_worker_within_a_second(
    shared_store_url: str, tmp_path: Path, workers: Callable[..., Workers]
) -> None:
    """A campaign stopped while four workers send it: a second later nothing more
    reaches the provider; resumed, it finishes with everybody messaged once."""
    count = 3000
    numbers = [tw(i) for i in range(count)]
    policy = msgkit.SendPolicy(send_speed=msgkit.SendSpeed(messages=200))
    with provider_server() as url:
        config = write_config(tmp_path, url, {"batch_size": 200})
        with msgkit.Client(store=shared_store_url, config=config, env=ENV) as client:
            campaign = make_campaign(client, numbers, provider="tw", policy=policy)
            client.start(campaign)
            team = workers(config)
            team.start(4)
            wait_for("some sent", lambda: seen(url, "twilio")["recipients"] >= 400, 60)
            client.stop(campaign)
            time.sleep(1)
            after_a_second = seen(url, "twilio")["recipients"]
            time.sleep(2)
            later = seen(url, "twilio")["recipients"]
            client.resume(campaign)
            wait_for("the rest", lambda: client.progress(campaign).pending == 0, 60)
            progress = client.progress(campaign)
        got = seen(url, "twilio")
    assert after_a_second < count
    assert later == after_a_second, f"{later - after_a_second} sent more than 1 s after the stop"
    assert got["recipients"] == got["distinct"] == count
    assert progress.sent == count
