"""A pooled connection that died while idle (the server restarted, a firewall dropped it) is found before a request
uses it: ``db.ping_when_idle`` pings a connection that sat in the pool, and renews the pool when the ping fails,
without a ping on every checkout of a busy pool (PostgreSQL only: SQLite has no server to lose)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

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


@contextlib.asynccontextmanager
async def _killed_after_use(url: str, after: float) -> AsyncIterator[tuple[AsyncEngine, int]]:
    """An engine of one connection pinged when idle ``after`` seconds, whose connection has been used (its backend
    pid given) and then killed on the server while back in the pool."""
    engine = create_async_engine(url, pool_size=1, max_overflow=0)
    ping_when_idle(engine, after=after)
    try:
        first = await _backend_pid(engine)
        await _kill_backends(url, [first])
        yield engine, first
    finally:
        await engine.dispose()


async def test_a_connection_killed_while_idle_is_replaced_before_use(postgres_url: str) -> None:
    async with _killed_after_use(postgres_url, 0.0) as (engine, first):
        # pinged, found dead, the pool renewed: no error reaches the caller
        assert await _backend_pid(engine) != first


async def test_without_the_ping_the_dead_connection_reaches_the_caller(postgres_url: str) -> None:
    """What the ping is for: the same sequence with a connection used a moment ago (not pinged) fails once."""
    async with _killed_after_use(postgres_url, 3600.0) as (engine, first):
        with pytest.raises(Exception):  # noqa: B017, PT011 - the driver's error for a closed connection
            await _backend_pid(engine)
        assert await _backend_pid(engine) != first  # and the pool recovers on the next checkout
