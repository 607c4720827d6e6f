"""Fixtures shared by the suite.

Every test that touches a database runs once on SQLite and, when ``CDHT_TEST_POSTGRES_URL`` is set, once more on
PostgreSQL (``.ci/run`` sets it). Each test gets a database of its own state: a copy of a migrated SQLite file, or
the migrated PostgreSQL schema with every table emptied first.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel

from service.config import Settings
from service.main import create_app
from service.persistence import migrate
from service.persistence.tables import AdminUnit
from tests.helpers import Api, Clock
from workflows.registry import ROOT, Registry, load

POSTGRES_URL = os.environ.get("CDHT_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgres"] if POSTGRES_URL else ["sqlite"]
TABLES = [table.name for table in SQLModel.metadata.sorted_tables]  # every table the models define

# The unit tree the tests use: two provinces; P1 has a district D1 (three-tier, until 2025-06-30) with two
# communes, and a commune C3 directly under it (two-tier); P2 has one commune, outside P1's jurisdiction.
UNITS = [
    ("P1", "Tỉnh Một", "province", "VN", False),
    ("D1", "Huyện Một", "district", "P1", False),
    ("C1", "Xã Một", "commune", "D1", False),
    ("C2", "Xã Hai", "commune", "D1", True),
    ("C3", "Xã Ba", "commune", "P1", False),
    ("P2", "Tỉnh Hai", "province", "VN", False),
    ("C9", "Xã Chín", "commune", "P2", False),
]


def run_in_thread(coroutine_factory) -> None:  # type: ignore[no-untyped-def]
    """Run a coroutine to completion on a loop of its own, even when a test's loop is already running."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(lambda: asyncio.run(coroutine_factory())).result()


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
    base = make_url(POSTGRES_URL)
    name = f"{base.database}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = base.set(database=name).render_as_string(hide_password=False)

    async def admin(sql: str) -> None:
        engine = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        async with engine.connect() as connection:
            await connection.execute(text(sql))
        await engine.dispose()

    run_in_thread(lambda: admin(f'CREATE DATABASE "{name}"'))
    run_in_thread(lambda: migrate.upgrade(url))
    yield url
    run_in_thread(lambda: admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def empty_postgres(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        await connection.execute(
            text(
                "INSERT INTO admin_unit (code, name, level, disadvantaged) VALUES ('VN', 'Việt Nam', 'national', false)"
            )
        )
    await engine.dispose()


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


def make_settings(url: str, data_dir: Path) -> Settings:
    return Settings(
        env="test",
        data_dir=data_dir,
        database_url=url,
        auth_dev_secret="test-secret-" + "x" * 32,
        now=datetime(2025, 1, 10, 2, 0, tzinfo=timezone.utc),
    )


async def add_units(app) -> None:  # type: ignore[no-untyped-def]
    async with app.state.services.sessions() as session, session.begin():
        for code, name, level, parent, disadvantaged in UNITS:
            session.add(
                AdminUnit(
                    code=code,
                    name=name,
                    level=level,
                    parent_code=parent,
                    disadvantaged=disadvantaged,
                    valid_to=datetime(2025, 6, 30).date() if level == "district" else None,
                )
            )


async def build_api(url: str, data_dir: Path, registry: Registry | None = None) -> AsyncIterator[Api]:
    settings = make_settings(url, data_dir)
    app = create_app(settings, registry=registry)
    await add_units(app)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cdht.test") as client:
        yield Api(app, client, settings, Clock(settings))
    await app.state.services.engine.dispose()


@pytest.fixture
async def api(database_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    async for value in build_api(database_url, tmp_path / "data"):
        yield value


@pytest.fixture
async def pg_api(postgres_url: str, tmp_path: Path) -> AsyncIterator[Api]:
    await empty_postgres(postgres_url)
    async for value in build_api(postgres_url, tmp_path / "data"):
        yield value


def registry_with_settings(tmp_path: Path, **defaults: object) -> Registry:
    """The shipped definitions with some settings' defaults changed, as a deployment might choose them."""
    import yaml

    root = tmp_path / "workflows"
    shutil.copytree(ROOT / "profiles", root / "profiles")
    shutil.copytree(ROOT / "definitions", root / "definitions")
    path = root / "definitions" / "cdht_xa" / "tt25-2023.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    for name, value in defaults.items():
        data["settings"][name]["default"] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load(root)
