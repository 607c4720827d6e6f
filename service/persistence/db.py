"""Database engines and sessions for both backends, one code path.

SQLite (aiosqlite) is the embedded default: WAL, foreign keys, a busy timeout, and ``BEGIN IMMEDIATE`` so that a
write transaction holds the write lock from its first statement; SQLite then serialises writers the way
``SELECT … FOR UPDATE`` does on PostgreSQL (asyncpg), the production database.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

WRITE = "cdht_write"  # execution option marking a unit of work that will write


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            # Take transaction control from the driver so BEGIN IMMEDIATE below is what starts a transaction.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn) -> None:  # type: ignore[no-untyped-def]
            # Writers take the write lock at once; readers stay deferred so WAL lets them run beside a writer.
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(WRITE) else "BEGIN")

        return engine
    engine = create_async_engine(url, echo=echo, pool_size=10, max_overflow=20)
    ping_when_idle(engine)
    return engine


PING_AFTER_IDLE_SECONDS = 5.0


def ping_when_idle(engine: AsyncEngine, after: float = PING_AFTER_IDLE_SECONDS) -> None:
    """SQLAlchemy's pre-ping, for a connection that sat in the pool ``after`` seconds or more: a dead one (the
    server restarted, a firewall dropped it while idle) is found before a request uses it and the pool is renewed,
    as ``pool_pre_ping`` does, without the round trip ``pool_pre_ping`` spends on every checkout of a busy pool (a
    connection handed back a moment ago is alive; if it died since, that request fails and the pool is renewed)."""
    dialect = engine.sync_engine.dialect

    @event.listens_for(engine.sync_engine, "connect")
    def _connected(_dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        record.info.pop(_IDLE_SINCE, None)

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_connection, record) -> None:  # type: ignore[no-untyped-def]
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection, record, _proxy) -> None:  # type: ignore[no-untyped-def]
        idle_since = record.info.get(_IDLE_SINCE)
        if idle_since is None or time.monotonic() - idle_since < after:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise exc.InvalidatePoolError() from error
            raise
        if not alive:
            raise exc.InvalidatePoolError()


_IDLE_SINCE = "cdht_idle_since"


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def standalone_reads(session: AsyncSession) -> None:
    """Begin ``session`` for reads that each stand alone (none relies on another's snapshot): on PostgreSQL its
    connection runs in autocommit, so no BEGIN and no ROLLBACK travel to the server (each statement is its own
    snapshot, as it is under READ COMMITTED inside a transaction); on SQLite it stays in the deferred transaction
    every read takes (the ``begin`` listener's BEGIN; autocommit there would hand transactions back to the driver).
    Nothing may be written in such a session."""
    if session.bind is not None and session.bind.dialect.name != "sqlite":
        await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


@asynccontextmanager
async def unit_of_work(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: commits when the block succeeds, rolls back when it raises. Domain code never commits."""
    async with factory() as session:
        await session.connection(execution_options={WRITE: True})
        yield session
        await session.commit()
