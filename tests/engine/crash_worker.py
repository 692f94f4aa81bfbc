"""A worker process for the crash test: sends a campaign's outbox until idle.

Run as ``python -m tests.engine.crash_worker DB_PATH SIMULATOR_URL``.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

from msgkit.engine.dispatcher import Dispatcher, DispatcherSettings
from msgkit.providers.simulator import SimulatorProvider
from msgkit.store import SQLiteStore


async def main(db: str, url: str) -> None:
    store = SQLiteStore(db)
    dispatcher = Dispatcher(
        store,
        {"sim": SimulatorProvider("sim", base_url=url, max_batch=20)},
        settings=DispatcherSettings(
            batch_size=100,
            concurrency=8,
            reconcile_grace=timedelta(seconds=1),
            reconcile_every=timedelta(seconds=0.5),
            horizon=timedelta(seconds=5),
        ),
    )
    try:
        await dispatcher.run()
    finally:
        await dispatcher.aclose()
        store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
