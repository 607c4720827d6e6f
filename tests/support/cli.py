"""The ``cdht`` command run as an operator runs it: a real process, in a directory of the test's, with only the
``CDHT_*`` settings the test gives (none inherited from the environment running the tests); and ``in_process``,
``cdht`` run in the test's process on the test's own database (``verify_db``: ``cdht audit verify-db``)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from service.cli import main as cdht_main

if TYPE_CHECKING:
    from tests.helpers import Api

REPO = Path(__file__).resolve().parents[2]


def cdht(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CDHT_")}
    environment.update({"PYTHONPATH": str(REPO), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


async def verify_db(monkeypatch: pytest.MonkeyPatch, api: Api, *args: str) -> int:
    """``cdht audit verify-db ARGS`` on the test's database, in this process; its exit code."""
    return await in_process(monkeypatch, api, "audit", "verify-db", *args)


async def in_process(monkeypatch: pytest.MonkeyPatch, api: Api, *args: str) -> int:
    """``cdht ARGS`` on the test's database, in this process (what the test patched applies); its exit code."""
    for name, value in {
        "CDHT_ENV": "test",
        "CDHT_DATABASE_URL": api.settings.resolved_database_url,
        "CDHT_DATA_DIR": str(api.settings.data_dir),
        "CDHT_AUTH_DEV_SECRET": api.settings.auth_dev_secret,
    }.items():
        monkeypatch.setenv(name, value)
    return await asyncio.to_thread(cdht_main, list(args))
