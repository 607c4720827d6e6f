"""System tools some tests run (promtool, LibreOffice): .ci/run installs them with apt-get. Missing, such a test
fails in CI and is skipped elsewhere, naming the Debian package to install."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tool(found: str | None, install: str) -> str:
    """``found`` (a tool's path), or a failure in CI / a skip elsewhere saying ``apt-get install <install>``."""
    if found is None:
        message = f"not installed: apt-get install {install}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def promtool() -> str:
    return require_tool(shutil.which("promtool"), "prometheus")
