"""A second version of the commune definition, and units added for campaigns."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from service.persistence.tables import AdminUnit
from tests.helpers import Api
from workflows.registry import ROOT, Registry, load

NEW_VERSION = "tt25-2025test"
ADDED_SETTING = """  days_to_acknowledge_test:
    default: 7
    doc: A setting only the new version has (a test of the settings a migration pins).
"""


def registry_with_new_version(tmp_path: Path) -> Registry:
    """The shipped definitions plus ``cdht_xa/tt25-2025test``: the same procedure, in force from 01/01/2025, whose
    state ``plan_issued`` is renamed ``plan_adopted`` (so which version a case runs under shows in its states) and
    which has one setting more."""
    root = tmp_path / "workflows-next"
    shutil.copytree(ROOT / "profiles", root / "profiles")
    shutil.copytree(ROOT / "definitions", root / "definitions")
    text = (root / "definitions" / "cdht_xa" / "tt25-2023.yaml").read_text(encoding="utf-8")
    for old, new in (
        ("version: tt25-2023", f"version: {NEW_VERSION}"),
        ('effective_from: "2024-02-12"', 'effective_from: "2025-01-01"'),
    ):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    assert text.count("plan_issued") >= 3
    assert text.count("\nsettings:\n") == 1
    text = text.replace("\nsettings:\n", f"\nsettings:\n{ADDED_SETTING}", 1)
    text = text.replace("plan_issued", "plan_adopted")
    (root / "definitions" / "cdht_xa" / f"{NEW_VERSION}.yaml").write_text(text, encoding="utf-8")
    return load(root)


@pytest.fixture
def next_registry(tmp_path: Path) -> Registry:
    return registry_with_new_version(tmp_path)


def ship(api: Api, registry: Registry) -> None:
    """Deploy another set of definitions to the running service, as a release would."""
    api.app.state.services.registry = registry


async def add_communes(api: Api, parent: str, codes: list[str], **fields: object) -> None:
    async with api.app.state.services.sessions() as session, session.begin():
        for code in codes:
            session.add(AdminUnit(code=code, name=f"Xã {code}", level="commune", parent_code=parent, **fields))
