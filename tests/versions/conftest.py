"""The fixture of the version tests: the shipped definitions plus a second version of the commune definition
(tests/support/definitions.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.definitions import registry_with_new_version
from workflows.registry import Registry


@pytest.fixture
def next_registry(tmp_path: Path) -> Registry:
    return registry_with_new_version(tmp_path)
