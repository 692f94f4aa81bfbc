"""Interrupting ``client.run()`` in a notebook, and the progress bar it draws.

Jupyter runs an event loop in the main thread, and the cell's code calls the
synchronous ``client.run()`` from inside it; the interrupt button raises
KeyboardInterrupt in the main thread. Here the "notebook" is a coroutine run by an
event loop, and a watcher thread sends SIGINT to the main thread as the kernel does.
"""

from __future__ import annotations

import asyncio
import re
import signal
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest

import msgkit
import msgkit.testing
from msgkit.testing import Simulator, SimulatorProvider
from tests.e2e.conftest import MakeClient

NUMBERS = [f"+88691200{i:04d}" for i in range(120)]


def interrupt_when(sent: Callable[[], int], count: int) -> threading.Thread:
    """Press the notebook's interrupt button (SIGINT to the main thread) once ``sent()``
    reaches ``count``."""

    def watch() -> None:
        deadline = time.monotonic() + 10
        while sent() < count and time.monotonic() < deadline:
            time.sleep(0.005)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    return watcher


def in_notebook(client: msgkit.Client, *, progress: bool = False) -> None:
    """Call ``client.run()`` from inside a running event loop, as a notebook cell does."""

    async def cell() -> None:
        client.run(progress=progress)

    # Like ipykernel (and unlike asyncio.run), no SIGINT handler of asyncio's own: the
    # interrupt arrives as KeyboardInterrupt in the main thread.
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(cell())
    finally:
        loop.close()


def test_interrupted_run_stops_sending_and_a_later_run_sends_the_rest(
    make_client: MakeClient, sim: Simulator
) -> None:
    """After an interrupted run() raises, nothing more leaves; the next run sends the rest once."""
    sim.latency = (0.05, 0.05)  # each request takes 50 ms
    client = make_client(providers={"sms": SimulatorProvider("sms", server=sim, max_batch=1)})
    members = client.create_list("members", [msgkit.Contact(phone=n) for n in NUMBERS])
    campaign = client.create_campaign("Spring", "Spring sale", audience=members)
    client.start(campaign)
    watcher = interrupt_when(lambda: len(sim.messages), 16)
    with pytest.raises(KeyboardInterrupt):
        in_notebook(client)
    watcher.join()
    sent = len(sim.messages)
    assert 0 < sent < len(NUMBERS)
    time.sleep(0.2)  # an engine still running would go on sending now
    assert len(sim.messages) == sent
    progress = client.progress(campaign)
    assert progress.count(msgkit.MessageState.QUEUED, msgkit.MessageState.SENDING) == 0
    assert progress.count(msgkit.MessageState.PLANNED) == len(NUMBERS) - sent
    assert client.campaign(campaign).status is msgkit.CampaignStatus.RUNNING

    sim.latency = (0.0, 0.0)
    client.run(progress=False)
    assert set(sim.recipients) == set(NUMBERS)
    assert sim.recipients.most_common(1)[0][1] == 1
    assert client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED


def test_progress_bar_ends_on_the_finished_campaigns_count(
    client: msgkit.Client, sim: Simulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bar's last line shows the finished campaign's n/n, not 0/0."""
    members = client.create_list("members", [msgkit.Contact(phone=n) for n in NUMBERS[:7]])
    campaign = client.create_campaign("Spring", "Spring sale", audience=members)
    client.start(campaign)
    in_notebook(client, progress=True)
    assert client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED
    last = capsys.readouterr().err.rstrip("\n").split("\r")[-1]
    assert re.search(r"100\.0%\s+7/7\s+sent 7\b", last), last


def test_interrupting_a_paced_campaign_stops_at_once(
    make_client: MakeClient, sim: Simulator
) -> None:
    """A campaign paced at one message per 5 s stops within a moment of the interrupt,
    not after the pacing of everything it had claimed."""
    client = make_client(clock=None)  # the real clock: pacing takes real time
    sim.clock = msgkit.testing.FakeClock().now
    members = client.create_list("members", [msgkit.Contact(phone=n) for n in NUMBERS[:6]])
    policy = msgkit.SendPolicy(send_speed=msgkit.SendSpeed(messages=1, per=timedelta(seconds=5)))
    campaign = client.create_campaign("Paced", "Slowly", audience=members, policy=policy)
    client.start(campaign)
    pressed: list[float] = []

    def sent() -> int:
        count = len(sim.messages)
        if count >= 1 and not pressed:
            pressed.append(time.monotonic())
        return count

    watcher = interrupt_when(sent, 1)
    with pytest.raises(KeyboardInterrupt):
        in_notebook(client)
    watcher.join()
    assert time.monotonic() - pressed[0] < 2.5
    assert len(sim.messages) == 1


def test_sigterm_stops_a_worker_run_and_a_later_run_sends_the_rest(
    make_client: MakeClient, sim: Simulator
) -> None:
    """SIGTERM (a service manager stopping `msgkit worker`) makes run(until_idle=False)
    finish what is in flight, give claims back and return; the next run sends the rest once."""
    sim.latency = (0.05, 0.05)
    client = make_client(providers={"sms": SimulatorProvider("sms", server=sim, max_batch=1)})
    members = client.create_list("members", [msgkit.Contact(phone=n) for n in NUMBERS])
    campaign = client.create_campaign("Spring", "Spring sale", audience=members)
    client.start(campaign)

    def unhandled(signum: int, frame: object) -> None:
        raise AssertionError("SIGTERM reached the process: the engine did not handle it")

    def watch() -> None:
        deadline = time.monotonic() + 10
        while len(sim.messages) < 16 and time.monotonic() < deadline:
            time.sleep(0.005)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, unhandled)
    try:
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        client.run(until_idle=False, progress=False)  # returns: no exception
        watcher.join()
    finally:
        signal.signal(signal.SIGTERM, previous)
    sent = len(sim.messages)
    assert 0 < sent < len(NUMBERS)
    progress = client.progress(campaign)
    assert progress.count(msgkit.MessageState.QUEUED, msgkit.MessageState.SENDING) == 0
    sim.latency = (0.0, 0.0)
    client.run(progress=False)
    assert set(sim.recipients) == set(NUMBERS)
    assert sim.recipients.most_common(1)[0][1] == 1
