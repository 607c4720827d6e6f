"""A real browser loads /docs and /redoc of a real ``cdht serve`` with the network to the outside closed (every host
name but 127.0.0.1 fails to resolve) and shows the operations: headless Chromium runs the pages' scripts and the
rendered DOM is read (``--dump-dom``). Chromium is a Debian package that ``.ci/run`` installs when it is missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.procs import ProcessGroup, fernet_key, service_environment, write_signing_key

CHROMIUM = os.environ.get("CDHT_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed here; CI installs it and runs this test")
    root = tmp_path_factory.mktemp("docs-browser")
    environment = service_environment(
        database_url=f"sqlite+aiosqlite:///{root / 'cdht.sqlite3'}",
        data_dir=root / "data",
        dev_secret="docs-browser-" + "x" * 32,
        webhook_key=fernet_key(),
        signing_key_file=write_signing_key(root / "signing.pem"),
    )
    with ProcessGroup(root / "logs") as group:
        yield group.serve(environment, "api", migrate=True).url


def rendered(url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran, in a Chromium that can reach 127.0.0.1 and nothing else."""
    result = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
            "--virtual-time-budget=30000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_swagger_ui_shows_the_operations_and_the_authorize_button(server: str, tmp_path: Path) -> None:
    dom = rendered(f"{server}/docs", tmp_path)
    assert "opblock" in dom and "transition_submit_dossier" in dom and "open_case" in dom, dom[:2000]
    assert "authorize" in dom.lower()


def test_redoc_shows_the_operations(server: str, tmp_path: Path) -> None:
    dom = rendered(f"{server}/redoc", tmp_path)
    assert "Open a case" in dom and "submit_dossier" in dom, dom[:2000]
