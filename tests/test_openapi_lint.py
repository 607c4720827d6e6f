"""Spectral (``spectral:oas`` and the OWASP API Security ruleset, ``tools/.spectral.yaml``) finds no error and no
warning in the committed document nor in the commune procedure's own; each rule turned off says why in the ruleset.

Spectral is an npm package installed into ``tools/node_modules`` by ``make tools`` (``npm ci``), which ``make test``
runs when node is present; ``.ci/run`` installs node when it is missing, so in CI this test always runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from service.api import openapi_doc
from workflows.registry import default_registry

ROOT = Path(__file__).resolve().parent.parent
SPECTRAL = ROOT / "tools" / "node_modules" / ".bin" / "spectral"
RULESET = ROOT / "tools" / ".spectral.yaml"


def test_spectral_finds_nothing(tmp_path: Path) -> None:
    if not SPECTRAL.exists():
        if os.environ.get("CI") or shutil.which("node"):
            pytest.fail("Spectral is not installed: run `make tools` (npm ci in tools/)")
        pytest.skip("node is not installed here; CI installs it (.ci/run) and runs this test")
    whole = ROOT / "openapi" / "openapi.json"
    narrowed = tmp_path / "cdht_xa.json"
    document = json.loads(whole.read_text(encoding="utf-8"))
    narrowed.write_text(json.dumps(openapi_doc.for_procedure(document, default_registry(), "cdht_xa", "tt25-2023")))
    result = subprocess.run(
        [
            str(SPECTRAL),
            "lint",
            str(whole),
            str(narrowed),
            "--ruleset",
            str(RULESET),
            "--fail-severity",
            "warn",
            "--format",
            "text",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "SCARF_ANALYTICS": "false"},
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
