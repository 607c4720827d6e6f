"""One deadline sweeper in a process of its own, for benchmark 3's sweep by several sweepers at once (as the
server processes of ``cdht serve --workers N`` each run one, ticking together: service/workers/deadlines.py).

    python -m bench.sweeper_proc DATABASE NOW_ISO

It imports the service, loads the registry, opens a connection and settles its heap as a server process does once
started (``service.heap.settle_heap``, the app's lifespan, before its sweeper's first sweep), prints ``ready``, waits
for a line on stdin, runs one ``sweep`` at NOW, and prints what it did as one JSON line: seconds, CPU seconds, the
seconds of those in the cyclic garbage collector, fired, skipped, refused.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime


async def run(database: str, now: datetime) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from bench.databases import sa_url
    from bench.machine import Collections
    from service.heap import settle_heap
    from service.persistence.db import session_factory
    from service.workers.deadlines import sweep
    from workflows.registry import default_registry

    engine = create_async_engine(sa_url(database), pool_size=10, max_overflow=20)
    registry = default_registry()
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        settle_heap()
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        cpu, started = time.process_time(), time.perf_counter()
        with Collections() as collector:
            report = await sweep(session_factory(engine), registry, now=now)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        done = {"seconds": seconds, "cpu": cpu, "gc": collector.seconds, "ended": time.time()}
        done.update({outcome: len(getattr(report, outcome)) for outcome in ("fired", "skipped", "refused")})
        print(json.dumps(done), flush=True)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(run(sys.argv[1], datetime.fromisoformat(sys.argv[2])))
