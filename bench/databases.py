"""A PostgreSQL database of its own for each benchmark: the server named by ``BENCH_PG_HOST``, ``BENCH_PG_PORT`` and
``BENCH_PG_USER`` (default 127.0.0.1:5432, postgres, trust auth), its connection strings, and the databases
``cdht_bench_<pid>_<tag>``: created, migrated with the service's own migrations, and dropped when done (``--keep``
keeps one, to look at afterwards).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Iterator

import asyncpg

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")


def dsn(database: str = "postgres") -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


def sa_url(database: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(dsn())
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextlib.asynccontextmanager
async def bench_database(tag: str, *, keep: bool = False) -> AsyncIterator[str]:
    """A new, migrated database for one benchmark, dropped afterwards (unless ``keep``)."""
    from service.persistence import migrate

    name = f"cdht_bench_{os.getpid()}_{tag}"
    await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        await migrate.upgrade(sa_url(name))
        yield name
    finally:
        if keep:
            print(f"[bench] kept database {name}", flush=True)
        else:
            await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def database(tag: str, *, keep: bool = False) -> Iterator[str]:
    """``bench_database`` for synchronous code (benchmarks that drive servers in subprocesses)."""
    from service.persistence import migrate

    name = f"cdht_bench_{os.getpid()}_{tag}"
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        asyncio.run(migrate.upgrade(sa_url(name)))
        yield name
    finally:
        if keep:
            print(f"[bench] kept database {name}", flush=True)
        else:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def pg_version() -> str:
    connection = await asyncpg.connect(dsn())
    try:
        return (await connection.fetchval("show server_version")).split()[0]
    finally:
        await connection.close()
