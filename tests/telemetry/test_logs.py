"""``cdht`` commands log JSON lines, and the ``transitions`` library stays quiet (it printed 342 INFO lines during
``seed-demo``, one per state change)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_seed_demo_logs_json_without_the_transitions_library(tmp_path: Path) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CDHT_")}
    environment.update(PYTHONPATH=str(REPO), CDHT_DATA_DIR=str(tmp_path / "var"))
    result = subprocess.run(
        [sys.executable, "-m", "service.cli", "seed-demo"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    records = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]
    assert records, "seed-demo logged nothing (it migrates: alembic logs its steps)"
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    assert not [r for r in records if r["logger"].startswith("transitions")]
    assert "# province-director" in result.stdout  # the tokens still go to stdout
