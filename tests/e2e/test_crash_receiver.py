"""Crash safety of the webhook receiver: `msgkit serve` killed with SIGKILL at random
points while Twilio posts status callbacks, restarted, again and again.

Twilio (played by this test) posts one signed callback per message and posts it again
until it is answered 200, as a provider that redelivers does. After each kill and after
the last restart: no receipt is lost (every message ends delivered, each counted once).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

import msgkit
from msgkit.inbound import twilio_signature
from msgkit.providers.twilio import TwilioSms
from tests.e2e.conftest import seed, sized, tw_e164, tw_numbers
from tests.fakes.twilio_server import FakeTwilio
from tests.http_server import serve

SID = "AC" + "0" * 32
TOKEN = "twilio-auth-token"
PUBLIC = "https://hooks.example.com"
COUNT = sized(120, 1200)
KILLS = sized(4, 20)

CONFIG = f"""
[providers.tw]
type = "twilio"
account_sid = "{SID}"
sender = "+15005550006"
public_url = "{PUBLIC}"
"""


def free_port() -> int:
    """A port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_receiver(folder: Path, db: str, port: int) -> subprocess.Popen[bytes]:
    """`msgkit serve` on the test's database, as a real process."""
    env = {
        **os.environ,
        "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src"),
        "TWILIO_AUTH_TOKEN": TOKEN,
    }
    command = [sys.executable, "-m", "msgkit", "--config", "msgkit.toml", "--store"]
    command += [db, "serve", "--port", str(port)]
    return subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def post(http: httpx.Client, port: int, sent: dict[str, str]) -> bool:
    """Post one message's 'delivered' callback as Twilio would; whether it was taken."""
    url = sent["StatusCallback"]
    form = {"MessageSid": sent["sid"], "MessageStatus": "delivered", "To": sent["To"]}
    headers = {"X-Twilio-Signature": twilio_signature(url, form, TOKEN)}
    local = url.replace(PUBLIC, f"http://127.0.0.1:{port}")
    try:
        return http.post(local, data=form, headers=headers, timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def test_a_receiver_killed_again_and_again_loses_no_receipt_and_applies_none_twice(
    db: str, tmp_path: Path
) -> None:
    """SIGKILLed at random points while callbacks arrive: every message ends delivered once."""
    (tmp_path / "msgkit.toml").write_text(CONFIG, encoding="utf-8")
    fake = FakeTwilio()
    numbers = [tw_e164(n) for n in tw_numbers(COUNT)]
    with serve(fake) as url:
        provider = TwilioSms(
            "tw",
            account_sid=SID,
            auth_token=TOKEN,
            sender="+15005550006",
            status_callback=f"{PUBLIC}/hooks/tw/status",
            base_url=url,
        )
        with msgkit.Client(store=db, providers={"tw": provider}) as client:
            members = client.create_list("m", [msgkit.Contact(phone=n) for n in numbers])
            campaign = client.create_campaign("Parcel", "Your parcel is ready", audience=members)
            client.start(campaign)
            client.run(progress=False)
            assert client.progress(campaign).sent == COUNT
    assert len(fake.sent) == COUNT

    rng = random.Random(seed(20261206))
    pending = list(fake.sent)
    port = free_port()
    kills = 0
    with httpx.Client() as http:
        while pending:
            receiver = start_receiver(tmp_path, db, port)
            try:
                deadline = time.monotonic() + 20
                while not post(http, port, pending[0]):  # wait until it answers
                    assert time.monotonic() < deadline, "msgkit serve did not come up"
                    time.sleep(0.05)
                pending.pop(0)
                kill_after = rng.randint(5, 30) if kills < KILLS else len(pending)
                for _ in range(kill_after):
                    if not pending:
                        break
                    if post(http, port, pending[0]):
                        pending.pop(0)
                if kills < KILLS and pending:
                    # The kill lands while a callback is in flight: before, during or
                    # after its commit. Unanswered, Twilio posts it again below.
                    answered: list[bool] = []
                    inflight = threading.Thread(
                        target=lambda out, sent: out.append(post(http, port, sent)),
                        args=(answered, pending[0]),
                    )
                    inflight.start()
                    time.sleep(rng.uniform(0, 0.02))
                    receiver.send_signal(signal.SIGKILL)
                    receiver.wait(timeout=10)
                    inflight.join(timeout=10)
                    if answered == [True]:
                        pending.pop(0)
                    kills += 1
            finally:
                if receiver.poll() is None:
                    receiver.send_signal(signal.SIGTERM)
                    receiver.wait(timeout=10)
            with msgkit.Client(store=db, providers={"tw": provider}) as client:
                states = {m.recipient: m.state for m in client.messages(campaign, limit=COUNT)}
                taken = {s["To"] for s in fake.sent} - {p["To"] for p in pending}
                # Nothing taken is lost: what was answered 200 is delivered.
                assert all(states[to] is msgkit.MessageState.DELIVERED for to in taken)
    assert kills == KILLS
    with msgkit.Client(store=db, providers={"tw": provider}) as client:
        assert client.progress(campaign).by_state == {msgkit.MessageState.DELIVERED: COUNT}
