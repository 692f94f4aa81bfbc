"""The store fails mid-campaign — its disk fills up, another process holds its lock past
the timeout — and nobody is lost or messaged twice.

The user gets `msgkit.StoreError` saying what happened and what to do; the campaign
is stopped with that reason when the store can still record it; once the cause is
gone, ``client.resume(campaign)`` and ``client.run()`` finish the job: every recipient
exactly one message, counted by the Twilio-shaped server. Also: two processes on one
SQLite file (a worker and a client) keep working.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

import msgkit
from msgkit.providers.twilio import TwilioSms
from msgkit.store import SQLiteStore
from msgkit.testing import FakeClock
from tests.e2e.conftest import MakeClient, deadline, tw_e164, tw_numbers
from tests.e2e.test_faults import run_until_settled, twilio
from tests.fakes.faulty_twilio import FaultyTwilio
from tests.http_server import serve

pytestmark = pytest.mark.sqlite_only(
    "SQLite's full disk (max_size), file locks and file sharing; PostgreSQL's faults are "
    "tested in tests/store/test_postgres.py"
)

S = msgkit.MessageState
COUNT = 120
SMALL = {"engine": {"batch_size": 20, "concurrency": 2}}


def pages(path: Path) -> tuple[int, int]:
    """The database's size in pages (WAL included), and its page size."""
    with sqlite3.connect(path) as conn:
        return conn.execute("PRAGMA page_count").fetchone()[0], conn.execute(
            "PRAGMA page_size"
        ).fetchone()[0]


def planned(make_client: MakeClient, url: str, clock: FakeClock) -> msgkit.Campaign:
    """A started campaign to COUNT numbers, planned by a client that is then closed."""
    numbers = [tw_e164(n) for n in tw_numbers(COUNT)]
    with make_client(providers={"tw": twilio(url, clock)}) as client:
        members = client.create_list("m", [msgkit.Contact(phone=n) for n in numbers])
        campaign = client.create_campaign("Hello", "Hello from us", audience=members)
        client.start(campaign)
    return campaign


def test_a_full_disk_stops_the_campaign_and_resume_sends_the_rest_once(
    make_client: MakeClient, clock: FakeClock, tmp_path: Path
) -> None:
    """The database may not grow past a few pages more than the plan: the run raises a
    StoreError (full: free space, then resume), the campaign is stopped with that
    reason; with space freed, resume + run message everybody exactly once."""
    path = tmp_path / "msgkit.db"
    server = FaultyTwilio(clock=clock.now)
    with serve(server) as url:
        campaign = planned(make_client, url, clock)
        count, size = pages(path)
        full = SQLiteStore(path, max_size=(count + 6) * size)
        client = make_client(providers={"tw": twilio(url, clock)}, store=full, config=SMALL)
        with deadline(60), pytest.raises(msgkit.StoreError) as raised:
            client.run(progress=False)
        error = raised.value
        assert error.kind == "full"
        assert f"the disk holding {path} is full" in error.what
        assert "free space" in str(error)
        assert "resume" in str(error)
        sent_before = sum(server.taken.values())
        assert 0 < sent_before < COUNT  # it failed mid-campaign
        stopped = client.campaign(campaign)
        assert stopped.status is msgkit.CampaignStatus.STOPPED
        assert stopped.stop_reason == str(error)
        client.close()

        freed = make_client(providers={"tw": twilio(url, clock)}, config=SMALL)
        freed.resume(campaign)
        run_until_settled(freed, campaign)
    numbers = [tw_e164(n) for n in tw_numbers(COUNT)]
    assert server.taken == Counter(dict.fromkeys(numbers, 1))
    assert Counter(m.state for m in freed.messages(campaign)) == {S.SUBMITTED: COUNT}


LOCKER = textwrap.dedent(
    """
    import sqlite3, sys

    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    sys.stdin.read()  # until the test lets go
    conn.rollback()
    """
)


class LockingTwilio(FaultyTwilio):
    """Takes messages; after ``after`` of them, another process locks the database."""

    def __init__(self, *, path: Path, after: int, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.path = path
        self.after = after
        self.locker: subprocess.Popen[str] | None = None

    def _take(self, form: dict[str, str]) -> dict[str, object]:
        record = super()._take(form)
        if len(self.records) == self.after:
            self.locker = subprocess.Popen(
                [sys.executable, "-c", LOCKER, str(self.path)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            assert self.locker.stdout is not None
            assert self.locker.stdout.readline().strip() == "locked"
        return record

    def let_go(self) -> None:
        if self.locker is not None:
            assert self.locker.stdin is not None
            self.locker.stdin.close()
            assert self.locker.wait(timeout=10) == 0
            if self.locker.stdout is not None:
                self.locker.stdout.close()


def test_a_lock_held_by_another_process_is_a_store_error_and_the_next_run_finishes_once(
    make_client: MakeClient, clock: FakeClock, tmp_path: Path
) -> None:
    """Another process holds the write lock past the busy timeout: the run raises a
    StoreError naming the lock and what to do. While the lock is held nothing can be
    recorded (the campaign stays running); once it is let go, the next run finishes
    with everybody messaged exactly once."""
    path = tmp_path / "msgkit.db"
    server = LockingTwilio(clock=clock.now, path=path, after=COUNT // 3)
    try:
        with serve(server) as url:
            campaign = planned(make_client, url, clock)
            store = SQLiteStore(path, busy_timeout=0.3)
            client = make_client(providers={"tw": twilio(url, clock)}, store=store, config=SMALL)
            with deadline(60), pytest.raises(msgkit.StoreError) as raised:
                client.run(progress=False)
            error = raised.value
            assert error.kind == "locked"
            assert f"another process holds a write lock on {path} longer than 0.3 s" in error.what
            assert "let it finish, or stop it" in str(error)
            assert COUNT // 3 <= sum(server.taken.values()) < COUNT
            assert client.campaign(campaign).status is msgkit.CampaignStatus.RUNNING
            server.let_go()
            run_until_settled(client, campaign)
    finally:
        server.let_go()
    numbers = [tw_e164(n) for n in tw_numbers(COUNT)]
    assert server.taken == Counter(dict.fromkeys(numbers, 1))
    assert Counter(m.state for m in client.messages(campaign)) == {S.SUBMITTED: COUNT}


WORKER = textwrap.dedent(
    """
    import sys

    import msgkit
    from msgkit.providers.twilio import TwilioSms

    db, url = sys.argv[1], sys.argv[2]
    twilio = TwilioSms(
        "tw", account_sid="AC" + "0" * 32, auth_token="secret-token",
        sender="+15005550006", base_url=url,
    )
    client = msgkit.Client(
        store=db, providers={"tw": twilio},
        config={"engine": {"concurrency": 2, "batch_size": 10, "horizon": "2s"}},
    )
    stats = client.run(progress=False)
    print(stats.sent, flush=True)
    """
)


def test_a_worker_process_and_a_client_share_one_sqlite_file(
    make_client: MakeClient, tmp_path: Path
) -> None:
    """A worker process and this process send the same campaign from one SQLite file
    (WAL, busy timeout): no store error in either, everybody exactly one message."""
    path = tmp_path / "msgkit.db"
    script = tmp_path / "worker.py"
    script.write_text(WORKER, encoding="utf-8")
    server = FaultyTwilio(clock=lambda: datetime.now(timezone.utc))
    numbers = [tw_e164(n) for n in tw_numbers(COUNT * 2)]
    with serve(server) as url:
        provider = TwilioSms(
            "tw",
            account_sid="AC" + "0" * 32,
            auth_token="secret-token",
            sender="+15005550006",
            base_url=url,
        )
        engine = {**SMALL["engine"], "horizon": "2s"}
        client = make_client(providers={"tw": provider}, clock=None, config={"engine": engine})
        members = client.create_list("m", [msgkit.Contact(phone=n) for n in numbers])
        campaign = client.create_campaign("Shared", "Hello from us", audience=members)
        client.start(campaign)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        worker = subprocess.Popen(
            [sys.executable, str(script), f"sqlite:///{path}", url],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        with deadline(120):
            here = client.run(progress=False).sent
            out, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
        there = int(out.strip())
    assert here + there == len(numbers)
    assert server.taken == Counter(dict.fromkeys(numbers, 1))
    assert client.campaign(campaign).status is msgkit.CampaignStatus.FINISHED
