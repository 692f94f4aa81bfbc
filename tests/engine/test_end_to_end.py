"""End to end over real HTTP: SQLite on disk, the simulator behind uvicorn, real processes."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from msgkit.core.delivery import MessageState
from msgkit.engine.dispatcher import Dispatcher, DispatcherSettings
from msgkit.providers.simulator import SimulatorProvider, SimulatorServer
from msgkit.store import SQLiteStore
from tests.factories import planned, running
from tests.http_server import serve

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.anyio
async def test_campaign_over_real_http(tmp_path: Path) -> None:
    """Several thousand messages over HTTP reach the server exactly once each."""
    server = SimulatorServer(seed=7)
    store = SQLiteStore(tmp_path / "e2e.db", synchronous="normal")
    now = datetime.now(timezone.utc)
    campaign = store.save_campaign(running(), now=now)
    store.insert_messages(planned(campaign.id, 3000, now=now), now=now)
    with serve(server) as url:
        dispatcher = Dispatcher(
            store,
            {"sim": SimulatorProvider("sim", base_url=url, max_batch=50)},
            settings=DispatcherSettings(batch_size=500, concurrency=8),
        )
        stats = await dispatcher.run()
        await dispatcher.aclose()
    assert stats.sent == 3000
    assert server.stats()["recipients"] == 3000
    assert server.stats()["duplicate_recipients"] == 0
    assert store.progress(campaign.id).by_state == {MessageState.SUBMITTED: 3000}


def test_crash_at_random_points_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    """SIGKILL a worker at random points, restart it: every recipient exactly once."""
    count = 1500
    db = tmp_path / "crash.db"
    server = SimulatorServer(seed=3, latency=(0.002, 0.02))
    store = SQLiteStore(db)
    now = datetime.now(timezone.utc)
    campaign = store.save_campaign(running(), now=now)
    store.insert_messages(planned(campaign.id, count, now=now), now=now)
    store.close()
    rng = random.Random(11)
    kills = 0
    # This checkout's src first: the worker must run the code under test, not an
    # installed msgkit (a git worktree shares the virtualenv of another checkout).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    with serve(server) as url:
        command = [sys.executable, "-m", "tests.engine.crash_worker", str(db), url]
        target = 0
        for _ in range(6):
            # Kill when the server has seen a random number more messages, a random
            # moment later: mid-batch, mid-request, mid-transaction.
            target += rng.randint(60, 220)
            worker = subprocess.Popen(command, cwd=ROOT, env=env)
            while worker.poll() is None and server.stats()["messages"] < target:
                time.sleep(0.001)
            time.sleep(rng.uniform(0, 0.03))
            if worker.poll() is None:
                worker.send_signal(signal.SIGKILL)
                kills += 1
            worker.wait(timeout=30)
        final = subprocess.run(command, cwd=ROOT, env=env, timeout=300, check=False)
        assert final.returncode == 0
    assert kills == 6
    store = SQLiteStore(db)
    progress = store.progress(campaign.id)
    accounted = progress.count(
        MessageState.SUBMITTED, MessageState.DELIVERED, MessageState.UNKNOWN, MessageState.SKIPPED
    )
    assert accounted == count, progress.by_state
    assert progress.count(MessageState.UNKNOWN) == 0  # the simulator can always be asked
    assert server.stats()["recipients"] == count
    assert server.stats()["duplicate_recipients"] == 0, server.stats()
    store.close()
