"""A pooled connection that died while idle (the server restarted, a firewall dropped it) is found before a request
uses it: ``db.ping_when_idle`` pings a connection that sat in the pool, and renews the pool when the ping fails,
without a ping on every checkout of a busy pool (PostgreSQL only: SQLite has no server to lose)."""

from __future__ import annotations

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from service.persistence.db import ping_when_idle


async def _kill_backends(url: str, pids: list[int]) -> None:
    u = make_url(url)
    connection = await asyncpg.connect(user=u.username, host=u.host, port=u.port, database=u.database)
    try:
        for pid in pids:
            await connection.execute("SELECT pg_terminate_backend($1)", pid)
    finally:
        await connection.close()


async def _backend_pid(engine) -> int:  # type: ignore[no-untyped-def]
    async with engine.connect() as connection:
        return (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()


async def test_a_connection_killed_while_idle_is_replaced_before_use(postgres_url: str) -> None:
    engine = create_async_engine(postgres_url, pool_size=1, max_overflow=0)
    ping_when_idle(engine, after=0.0)
    try:
        first = await _backend_pid(engine)
        await _kill_backends(postgres_url, [first])
        second = await _backend_pid(engine)  # pinged, found dead, the pool renewed: no error reaches the caller
        assert second != first
    finally:
        await engine.dispose()


async def test_without_the_ping_the_dead_connection_reaches_the_caller(postgres_url: str) -> None:
    """What the ping is for: the same sequence with a connection used a moment ago (not pinged) fails once."""
    engine = create_async_engine(postgres_url, pool_size=1, max_overflow=0)
    ping_when_idle(engine, after=3600.0)
    try:
        first = await _backend_pid(engine)
        await _kill_backends(postgres_url, [first])
        try:
            await _backend_pid(engine)
            failed = False
        except Exception:  # noqa: BLE001 - the driver's error for a closed connection
            failed = True
        assert failed
        assert await _backend_pid(engine) != first  # and the pool recovers on the next checkout
    finally:
        await engine.dispose()
