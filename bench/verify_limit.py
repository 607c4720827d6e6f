"""The hashing limit of a verify: what building each event's canonical text and hashing it costs alone.

A full verify must, for every event, build the canonical JSON its hash covers and hash it with SHA-256; nothing
else it does (reading pages, comparing, the cases' digests) is irreducible. This measures that work alone, on the
events of an existing database (a kept ``bench_audit`` database, ``--keep``), so that the verify's throughput can
be read against it:

- Python: the rows already in memory; building the canonical text (``canonical.row_hash``'s dict and encoder), then
  SHA-256 of those bytes, then both (``row_hash``), per event and per core;
- PostgreSQL: over the same events, reading them alone (``count`` of a column), building the text
  (``row_to_json`` of the hashed fields, as the online verify has the server do), and building and hashing it
  (``sha256``), each in one backend (one core; its CPU time read from /proc when the server runs on this machine,
  so that the other sessions' load does not count); the differences are what the text and the hash cost.

- with ``--verify``: the full verify itself (``verify_part``, in this process, over the first eighth of the chains
  as the worker processes cut them, the heap frozen first as each worker's is), its CPU per event split between
  Python and its server backend, and the Python spent in the garbage collector, to set beside the limit.

    python -m bench.verify_limit DATABASE [--events N] [--verify]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import os
import time

import asyncpg

from bench.databases import dsn
from bench.machine import backend_clock
from service.domain.audit.canonical import EVENT_COLUMNS, SORTED_FIELDS, canonical_json, format_stored_time, row_hash

_TIME = EVENT_COLUMNS.index("occurred_at")


def _best(function, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    """The fastest of a few runs (the machine is shared: the others are the load, not the work)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        function()
        best = min(best, time.process_time() - t0)
    return best


async def python_limit(connection: asyncpg.Connection, events: int) -> dict[str, float]:
    quoted = ", ".join(f'"{name}"' for name in EVENT_COLUMNS)
    rows = await connection.fetch(f"SELECT {quoted} FROM audit_event ORDER BY chain, seq LIMIT {events}")
    texts = []

    def build() -> None:
        texts.clear()
        for row in rows:
            fields = dict(zip(SORTED_FIELDS, row, strict=False))
            fields["occurred_at"] = format_stored_time(row[_TIME])
            texts.append(canonical_json(fields).encode("utf-8"))

    def digest() -> None:
        for data in texts:
            hashlib.sha256(data).hexdigest()

    def both() -> None:
        for row in rows:
            row_hash(row)

    n = len(rows)
    built = _best(build)
    hashed = _best(digest)
    whole = _best(both)
    return {
        "events": n,
        "mean canonical text bytes": sum(len(t) for t in texts) / n,
        "text µs": built / n * 1e6,
        "sha256 µs": hashed / n * 1e6,
        "row_hash µs": whole / n * 1e6,
    }


_HASHED = ", ".join(
    "to_char(e.occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS occurred_at"
    if name == "occurred_at"
    else f'e."{name}"'
    for name in SORTED_FIELDS
)


async def postgres_limit(connection: asyncpg.Connection, events: int) -> dict[str, float]:
    source = f"(SELECT * FROM audit_event ORDER BY chain, seq LIMIT {events}) AS e"
    lateral = f"CROSS JOIN LATERAL (SELECT {_HASHED}) AS h"
    queries = {
        "read": f"SELECT count(e.hash) FROM {source}",
        "read + text": f"SELECT sum(length(row_to_json(h)::text)) FROM {source} {lateral}",
        "read + text + sha256": (
            f"SELECT count(sha256(convert_to(row_to_json(h)::text, 'UTF8'))) FROM {source} {lateral}"
        ),
        "read + text + sha256 + hex": (
            f"SELECT count(encode(sha256(convert_to(row_to_json(h)::text, 'UTF8')), 'hex')) FROM {source} {lateral}"
        ),
    }
    backend = await connection.fetchval("SELECT pg_backend_pid()")
    clock = backend_clock(backend)
    out: dict[str, float] = {}
    for name, sql in queries.items():
        await connection.fetchval(sql)  # warm the cache
        best = float("inf")
        for _ in range(3):
            t0 = clock()
            await connection.fetchval(sql)
            best = min(best, clock() - t0)
        out[name] = best / events * 1e6
    # Differences of best-of-3 CPU times (read in clock ticks): one below the clock's resolution reads as 0.
    out["text µs"] = max(0.0, out["read + text"] - out["read"])
    out["sha256 + hex µs"] = max(0.0, out["read + text + sha256 + hex"] - out["read + text"])
    return out


async def verify_cost(database: str) -> dict[str, float]:
    """CPU per event of the full verify of one range of chains (Python, and its backend when it runs here)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
    from sqlalchemy.pool import NullPool

    from bench.databases import sa_url
    from service.domain.audit.verify import verify_part
    from service.heap import settle_heap
    from service.workers.verify_processes import chain_ranges

    collecting = [0.0, 0.0]  # CPU seconds inside the collector, the start of the running collection

    def collector(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            collecting[1] = time.process_time()
        else:
            collecting[0] += time.process_time() - collecting[1]

    engine = create_async_engine(sa_url(database), poolclass=NullPool)
    try:
        async with AsyncSession(engine) as session:
            chains = (await chain_ranges(session, 8))[0]
        async with AsyncSession(engine) as session:
            await session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            clock = backend_clock((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())
            settle_heap()  # as each worker process does before it walks (verify_processes)
            gc.callbacks.append(collector)
            backend, python, wall = clock(), time.process_time(), time.perf_counter()
            part = await verify_part(session, chains=chains, batch=5000)
            backend, python, wall = clock() - backend, time.process_time() - python, time.perf_counter() - wall
    finally:
        if collector in gc.callbacks:
            gc.callbacks.remove(collector)
        await engine.dispose()
    n = max(part.events_checked, 1)
    sound = part.event_problem is None and part.head_problem is None
    return {
        "events": part.events_checked,
        "chains": part.chains_checked,
        "sound": float(sound),
        "Python µs": python / n * 1e6,
        "of which in the garbage collector µs": collecting[0] / n * 1e6,
        "backend µs": backend / n * 1e6,
        "wall µs": wall / n * 1e6,
    }


async def main_async(database: str, events: int, verify: bool = False) -> None:
    connection = await asyncpg.connect(dsn(database))
    try:
        print(f"load average before: {os.getloadavg()}")
        py = await python_limit(connection, events)
        print("Python (one core, CPU time, best of 3):")
        for key, value in py.items():
            print(f"  {key}: {value:,.2f}")
        pg = await postgres_limit(connection, events)
        print("PostgreSQL (one backend, its CPU time when it runs here, best of 3, µs per event):")
        for key, value in pg.items():
            print(f"  {key}: {value:,.2f}")
        if verify:
            print("The full verify of the first eighth of the chains (in this process, CPU per event):")
            for key, value in (await verify_cost(database)).items():
                print(f"  {key}: {value:,.2f}")
        print(f"load average after: {os.getloadavg()}")
    finally:
        await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database", help="a database holding audit events (e.g. a kept bench_audit database)")
    parser.add_argument("--events", type=int, default=200_000, help="events to measure over (default 200,000)")
    parser.add_argument("--verify", action="store_true", help="also the full verify's own CPU per event")
    args = parser.parse_args()
    asyncio.run(main_async(args.database, args.events, args.verify))


if __name__ == "__main__":
    main()
