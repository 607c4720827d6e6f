"""The app under test: its settings, the unit tree every test starts with, and an ``Api`` driving it in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from service.config import Settings
from service.main import create_app
from service.persistence.tables import AdminUnit
from tests.helpers import Api, Clock
from workflows.registry import Registry

# The unit tree the tests use: two provinces; P1 has a district D1 (three-tier, until 2025-06-30) with two
# communes, and a commune C3 directly under it (two-tier); P2 has one commune, outside P1's jurisdiction.
# (code, name, level, parent, disadvantaged)
UNITS = [
    ("P1", "Tỉnh Một", "province", "VN", False),
    ("D1", "Huyện Một", "district", "P1", False),
    ("C1", "Xã Một", "commune", "D1", False),
    ("C2", "Xã Hai", "commune", "D1", True),
    ("C3", "Xã Ba", "commune", "P1", False),
    ("P2", "Tỉnh Hai", "province", "VN", False),
    ("C9", "Xã Chín", "commune", "P2", False),
]
DISTRICTS_END = date(2025, 6, 30)  # the last day of the district tier (the 2025 reform)


def make_settings(url: str, data_dir: Path) -> Settings:
    return Settings(
        env="test",
        data_dir=data_dir,
        database_url=url,
        auth_dev_secret="test-secret-" + "x" * 32,
        now=datetime(2025, 1, 10, 2, 0, tzinfo=timezone.utc),
    )


async def add_units(app: Any) -> None:
    """The tree of ``UNITS`` added to the app's database (under the national root every database starts with)."""
    async with app.state.services.sessions() as session, session.begin():
        for code, name, level, parent, disadvantaged in UNITS:
            session.add(
                AdminUnit(
                    code=code,
                    name=name,
                    level=level,
                    parent_code=parent,
                    disadvantaged=disadvantaged,
                    valid_to=DISTRICTS_END if level == "district" else None,
                )
            )


async def add_communes(api: Api, parent: str, codes: list[str], **fields: object) -> None:
    """Communes ``codes`` (named "Xã CODE") under ``parent``, with any further AdminUnit fields."""
    async with api.app.state.services.sessions() as session, session.begin():
        for code in codes:
            session.add(AdminUnit(code=code, name=f"Xã {code}", level="commune", parent_code=parent, **fields))


async def build_api(url: str, data_dir: Path, registry: Registry | None = None, **overrides: Any) -> AsyncIterator[Api]:
    """An app on ``url`` with the unit tree (``overrides``: settings), and an ``Api`` talking to it in process;
    disposed after."""
    settings = make_settings(url, data_dir).model_copy(update=overrides)
    app = create_app(settings, registry=registry)
    await add_units(app)
    transport = httpx.ASGITransport(app=app)
    # The tests read the English particulars of refusals; tests/api/test_languages.py checks the default (vi).
    english = {"Accept-Language": "en"}
    async with httpx.AsyncClient(transport=transport, base_url="http://cdht.test", headers=english) as client:
        yield Api(app, client, settings, Clock(settings))
    await app.state.services.engine.dispose()
