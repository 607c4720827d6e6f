"""The Alembic environment: async, configured in code by :mod:`service.persistence.migrate` (no ini file).

Online, it connects with the URL from the config (``sqlalchemy.url``, set by the caller from the settings) and
runs the migrations in one transaction, on SQLite too (``BEGIN IMMEDIATE``), after taking a lock that
serialises concurrent migrators. A caller may instead pass a synchronous ``Connection`` in
``config.attributes["connection"]``; then the migrations run on it and the caller commits.

The ``migrate`` helpers run Alembic commands in a worker thread, so ``asyncio.run`` below starts that thread's
own event loop. If a command is called synchronously from inside a running loop, the migrations run in a fresh
thread.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from service.persistence.db import is_sqlite
from service.persistence.migrate import (
    MIGRATION_CONTEXT_OPTS,
    PG_ADVISORY_LOCK_KEY,
    migration_engine,
    render_item,
)

config = context.config
# SQLModel.metadata, with every table of service.persistence.tables registered (migrate imports it).
target_metadata = MIGRATION_CONTEXT_OPTS["target_metadata"]


def _options(sqlite: bool) -> dict[str, object]:
    return {
        **MIGRATION_CONTEXT_OPTS,
        "render_item": render_item,
        # SQLite alters tables by copying them ("batch" mode); its DDL is transactional, so use that.
        "render_as_batch": sqlite,
        "transactional_ddl": True,
    }


def run_migrations_offline() -> None:
    """Emit the SQL instead of running it: ``command.upgrade(alembic_config(url), rev, sql=True)``."""
    url = config.get_main_option("sqlalchemy.url") or ""
    context.configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"}, **_options(is_sqlite(url)))
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, **_options(connection.dialect.name == "sqlite"))
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # Held to the end of the transaction; taken before Alembic reads the current revision.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_ADVISORY_LOCK_KEY})
        context.run_migrations()
        if connection.dialect.name == "sqlite":
            # Migrations run without enforced foreign keys (batch mode rebuilds tables); check them before commit.
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"the migration leaves rows breaking foreign keys: {broken[:10]}")


async def run_async_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("sqlalchemy.url is not set; use service.persistence.migrate.alembic_config(url)")
    engine = migration_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(run_async_migrations())
    else:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(lambda: asyncio.run(run_async_migrations())).result()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
