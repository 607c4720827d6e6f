"""The databases the migration tests run on: a SQLite file in ``tmp_path`` always, and, when
``CDHT_TEST_POSTGRES_URL`` is set, a PostgreSQL database of the test's own beside the one named (created empty and
dropped after), so that concurrent runs and the other tests never share a schema with a migration under test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.databases import POSTGRES_URL, create_database, drop_database, session_database_url

PG_SKIP = "CDHT_TEST_POSTGRES_URL is not set (e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/postgres)"


async def _own_postgres() -> AsyncIterator[str]:
    if not POSTGRES_URL:
        pytest.skip(PG_SKIP)
    own = session_database_url(POSTGRES_URL)
    create_database(POSTGRES_URL, own)
    try:
        yield own
    finally:
        drop_database(POSTGRES_URL, own)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def url(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[str]:
    """An empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'cdht.sqlite3'}"
        return
    async for own in _own_postgres():
        yield own


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    """An empty PostgreSQL database."""
    async for own in _own_postgres():
        yield own
