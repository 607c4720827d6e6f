"""Fixtures shared by the suite (the helpers behind them live in tests/support/).

Every test that touches a database runs once on SQLite and, when ``CDHT_TEST_POSTGRES_URL`` is set, once more on
PostgreSQL (``.ci/run`` sets it). Each test gets a database of its own state: a copy of a migrated SQLite file, or
the migrated PostgreSQL schema with every table emptied first.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from service.persistence import migrate
from tests.helpers import Api
from tests.support.apps import build_api
from tests.support.databases import (
    BACKENDS,
    POSTGRES_URL,
    create_database,
    drop_database,
    empty_postgres,
    run_in_thread,
    session_database_url,
)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "cdht.sqlite3"
    run_in_thread(lambda: migrate.upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_migrated() -> Iterator[str]:
    """A database of this test session's own, created beside CDHT_TEST_POSTGRES_URL's and dropped after, so
    that concurrent test runs on one server never share tables."""
    if not POSTGRES_URL:
        pytest.skip("CDHT_TEST_POSTGRES_URL is not set")
    url = session_database_url(POSTGRES_URL)
    create_database(POSTGRES_URL, url)
    run_in_thread(lambda: migrate.upgrade(url))
    yield url
    drop_database(POSTGRES_URL, url)


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "cdht.sqlite3"
        shutil.copy(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    url = request.getfixturevalue("postgres_migrated")
    await empty_postgres(url)
    return url


@pytest.fixture
def postgres_url(postgres_migrated: str) -> str:
    return postgres_migrated


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async for value in build_api(database_url, tmp_path / "data"):
        yield value


@pytest.fixture
async def pg_api(postgres_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    await empty_postgres(postgres_url)
    async for value in build_api(postgres_url, tmp_path / "data"):
        yield value
