"""Workflow definitions other than the shipped ones, as a deployment or a release would have them: the shipped
set with some settings' defaults changed, or with a second version of the commune definition; and ``ship`` to
deploy a set to a running app."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from tests.helpers import Api
from workflows.registry import ROOT, Registry, load

COMMUNE_DEFINITION = Path("definitions") / "cdht_xa" / "tt25-2023.yaml"
NEW_VERSION = "tt25-2025test"
ADDED_SETTING = """  days_to_acknowledge_test:
    default: 7
    doc: A setting only the new version has (a test of the settings a migration pins).
"""


def copy_of_shipped_definitions(root: Path) -> Path:
    """The shipped profiles and definitions copied under ``root`` (to change them there); returns ``root``."""
    shutil.copytree(ROOT / "profiles", root / "profiles")
    shutil.copytree(ROOT / "definitions", root / "definitions")
    return root


def registry_with_settings(tmp_path: Path, **defaults: object) -> Registry:
    """The shipped definitions with some settings' defaults changed, as a deployment might choose them: a setting of
    the commune definition there, any other in both base profiles."""
    root = copy_of_shipped_definitions(tmp_path / "workflows")
    path = root / COMMUNE_DEFINITION
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    profiles = {name: root / "profiles" / f"{name}.yaml" for name in ("three_tier", "two_tier")}
    profile_data = {name: yaml.safe_load(p.read_text(encoding="utf-8")) for name, p in profiles.items()}
    for name, value in defaults.items():
        if name in data["settings"]:
            data["settings"][name]["default"] = value
        else:
            for profile in profile_data.values():
                profile["settings"][name]["default"] = value
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    for name, profile_path in profiles.items():
        profile_path.write_text(yaml.safe_dump(profile_data[name], allow_unicode=True), encoding="utf-8")
    return load(root)


def registry_with_new_version(tmp_path: Path) -> Registry:
    """The shipped definitions plus ``cdht_xa/tt25-2025test``: the same procedure, in force from 01/01/2025, whose
    state ``plan_issued`` is renamed ``plan_adopted`` (so which version a case runs under shows in its states) and
    which has one setting more."""
    root = copy_of_shipped_definitions(tmp_path / "workflows-next")
    text = (root / COMMUNE_DEFINITION).read_text(encoding="utf-8")
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
    (root / COMMUNE_DEFINITION.parent / f"{NEW_VERSION}.yaml").write_text(text, encoding="utf-8")
    return load(root)


def ship(api: Api, registry: Registry) -> None:
    """Deploy another set of definitions to the running service, as a release would."""
    api.app.state.services.registry = registry
