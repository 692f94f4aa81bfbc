"""Messages per second through the whole engine over real HTTP, against a baseline.

The baseline posts the same batches straight to the same simulator with httpx (no
store, no engine): the ratio says what durability costs. Run:

    python benchmarks/e2e_http.py [MESSAGES]
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import httpx

from msgkit.engine.dispatcher import Dispatcher, DispatcherSettings
from msgkit.store import SQLiteStore
from msgkit.testing.simulator import SimulatorProvider, SimulatorServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.factories import planned, running
from tests.http_server import serve

BATCH = 50


async def baseline(url: str, count: int) -> float:
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=8)) as client:
        started = time.perf_counter()
        semaphore = asyncio.Semaphore(8)

        async def post(start: int) -> None:
            body = {
                "messages": [
                    {"id": f"b{i}", "to": f"+8869{i:08d}", "text": "hello"}
                    for i in range(start, min(start + BATCH, count))
                ]
            }
            async with semaphore:
                await client.post(f"{url}/v1/messages", content=json.dumps(body))

        await asyncio.gather(*(post(s) for s in range(0, count, BATCH)))
        return time.perf_counter() - started


async def engine(url: str, count: int, folder: Path) -> float:
    store = SQLiteStore(folder / "bench.db")
    now = datetime.now(timezone.utc)
    campaign = store.save_campaign(running(), now=now)
    store.insert_messages(planned(campaign.id, count, now=now, start=10**7), now=now)
    dispatcher = Dispatcher(
        store,
        {"sim": SimulatorProvider("sim", base_url=url, max_batch=BATCH)},
        settings=DispatcherSettings(batch_size=1000, concurrency=8),
    )
    started = time.perf_counter()
    stats = await dispatcher.run()
    elapsed = time.perf_counter() - started
    await dispatcher.aclose()
    store.close()
    assert stats.sent == count, stats
    return elapsed


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with tempfile.TemporaryDirectory() as folder, serve(SimulatorServer()) as url:
        base = asyncio.run(baseline(url, count))
        full = asyncio.run(engine(url, count, Path(folder)))
    print(f"{count} messages, batches of {BATCH}, 8 requests in flight")
    print(f"baseline (httpx only):      {count / base:8.0f} messages/s")
    print(f"engine (SQLite FULL, HTTP): {count / full:8.0f} messages/s")
    print(f"engine takes                {full / base:8.2f}x the baseline's time")


if __name__ == "__main__":
    main()
