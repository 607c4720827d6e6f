"""The test databases: which backends run, a session database of its own on PostgreSQL, emptying it between tests.

Every test that touches a database runs on SQLite and, when ``CDHT_TEST_POSTGRES_URL`` is set, on PostgreSQL too.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

import service.persistence.tables  # noqa: F401 - defines the tables on SQLModel.metadata

POSTGRES_URL = os.environ.get("CDHT_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]
TABLES = [table.name for table in SQLModel.metadata.sorted_tables]  # every table the models define


def run_in_thread(coroutine_factory: Callable[[], Coroutine[Any, Any, object]]) -> None:
    """Run a coroutine to completion on a loop of its own, even when a test's loop is already running."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(coroutine_factory())).result()


def session_database_url(base_url: str) -> str:
    """The URL of a database beside ``base_url``'s, named for this process, so concurrent runs never share one."""
    base = make_url(base_url)
    name = f"{base.database}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    return base.set(database=name).render_as_string(hide_password=False)


async def _as_admin(base_url: str, sql: str) -> None:
    engine = create_async_engine(base_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as connection:
        await connection.execute(text(sql))
    await engine.dispose()


def create_database(base_url: str, url: str) -> None:
    run_in_thread(lambda: _as_admin(base_url, f'CREATE DATABASE "{make_url(url).database}"'))


def drop_database(base_url: str, url: str) -> None:
    run_in_thread(lambda: _as_admin(base_url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))


async def empty_postgres(url: str) -> None:
    """Every table emptied, the national root unit back: the state a migrated database starts in."""
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        await connection.execute(
            text(
                "INSERT INTO admin_unit (code, name, level, disadvantaged) VALUES ('VN', 'Việt Nam', 'national', false)"
            )
        )
    await engine.dispose()
