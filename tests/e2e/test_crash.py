"""Crash safety: a worker process killed with SIGKILL mid-send; a new client finishes the job.

The worker is a real process that uses the public API only (``msgkit.Client(...).run()``)
on the test's database (SQLite file or PostgreSQL), sending to the simulator served over
real HTTP by this test.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import msgkit
from msgkit.testing import Simulator, SimulatorProvider
from tests.e2e.conftest import seed, sized, tw_e164, tw_numbers
from tests.http_server import serve

COUNT = sized(300, 3000)
KILLS = sized(4, 20)

WORKER = textwrap.dedent(
    """
    import sys

    import msgkit
    from msgkit.testing import SimulatorProvider

    db, url = sys.argv[1], sys.argv[2]
    client = msgkit.Client(
        store=db,
        providers={"sim": SimulatorProvider("sim", base_url=url, max_batch=5)},
        config={"engine": {"concurrency": 2, "batch_size": 20}},
    )
    client.run(progress=False)
    """
)

# A worker that comes after a crash: unknown outcomes are asked about at once.
ENGINE = {"reconcile_grace": 1.0, "reconcile_every": 0.2, "housekeeping_every": 0.05}


def test_sigkilled_worker_is_resumed_with_every_recipient_messaged_once(
    db: str, tmp_path: Path
) -> None:
    """After kill -9 mid-send, a new client sends the rest: each recipient exactly one message."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    sim = Simulator(latency=(0.005, 0.01))
    numbers = [tw_e164(n) for n in tw_numbers(COUNT)]
    with serve(sim) as url:
        providers = {"sim": SimulatorProvider("sim", base_url=url)}
        with msgkit.Client(store=db, providers=providers) as client:
            members = client.create_list("members", [msgkit.Contact(phone=n) for n in numbers])
            campaign = client.create_campaign("Crash", "Hello", audience=members)
            client.start(campaign)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        worker = subprocess.Popen(
            [sys.executable, str(script), db, url], env=env, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + sized(15, 60)
        while len(sim.messages) < COUNT // 3:
            assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
            assert time.monotonic() < deadline, "the worker sent too little"
            time.sleep(0.005)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        if worker.stderr:
            worker.stderr.close()
        at_kill = len(sim.messages)
        assert at_kill < COUNT  # killed mid-send

        config = {"engine": ENGINE}
        with msgkit.Client(store=db, providers=providers, config=config) as after:
            after.run(progress=False)
            progress = after.progress(campaign)
            status = after.campaign(campaign).status

    assert Counter(sim.recipients.values()) == Counter({1: COUNT})
    assert set(sim.recipients) == set(numbers)
    assert progress.count(msgkit.MessageState.UNKNOWN) == 0
    assert progress.pending == 0
    assert progress.sent == COUNT
    assert status is msgkit.CampaignStatus.FINISHED


def test_a_worker_killed_again_and_again_never_messages_anybody_twice(
    db: str, tmp_path: Path
) -> None:
    """SIGKILLs at random points (four; twenty in a long run), a new worker each time:
    after each, nobody has two messages; at the end, everybody has exactly one and none is
    left unknown."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    sim = Simulator(latency=(0.002, 0.01))
    numbers = [tw_e164(n) for n in tw_numbers(COUNT)]
    rng = random.Random(seed(6122026))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with serve(sim) as url:
        providers = {"sim": SimulatorProvider("sim", base_url=url)}
        with msgkit.Client(store=db, providers=providers) as client:
            members = client.create_list("members", [msgkit.Contact(phone=n) for n in numbers])
            campaign = client.create_campaign("Crash", "Hello", audience=members)
            client.start(campaign)
        for kill in range(KILLS):
            worker = subprocess.Popen(
                [sys.executable, str(script), db, url],
                env=env,
                stderr=subprocess.DEVNULL,
            )
            target = min(COUNT - 1, len(sim.messages) + rng.randint(10, 50))
            deadline = time.monotonic() + 20
            while len(sim.messages) < target and worker.poll() is None:
                assert time.monotonic() < deadline, f"kill {kill}: the worker sent too little"
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.02))  # anywhere: claiming, marking, sending, recording
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
            twice = [to for to, n in sim.recipients.items() if n > 1]
            assert not twice, f"after kill {kill}: {len(twice)} recipients messaged twice"
        with msgkit.Client(store=db, providers=providers, config={"engine": ENGINE}) as after:
            after.run(progress=False)
            progress = after.progress(campaign)
            status = after.campaign(campaign).status
    assert Counter(sim.recipients.values()) == Counter({1: COUNT})
    assert progress.count(msgkit.MessageState.UNKNOWN) == 0
    assert progress.sent == COUNT
    assert status is msgkit.CampaignStatus.FINISHED
