"""The `cdht` command as an operator runs it: real processes, a real server, a real SQLite file."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from service.auth import issue_dev_token
from service.config import ConfigurationError, Settings
from tests.reliability.procs import free_port
from tests.support.cli import REPO, cdht


def test_seed_demo_creates_cases_in_several_states_once(tmp_path: Path) -> None:
    first = cdht("seed-demo", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Demo data created." in first.stdout
    assert "# province-director: province_director at DEMO-LS" in first.stdout
    second = cdht("seed-demo", cwd=tmp_path)
    assert "Demo data already present; nothing created." in second.stdout
    with sqlite3.connect(tmp_path / "var" / "cdht.sqlite3") as db:
        states = dict(db.execute("select state, count(*) from cases group by state").fetchall())
        events = db.execute("select count(*) from audit_event").fetchone()[0]
    assert states == {
        "recognized": 2,
        "refused": 1,
        "not_submitted": 1,
        "lapsed": 1,
        "collecting_evidence": 1,
        "plan_issued": 1,
        "approved": 1,  # the annual results report of cycle 2025, compiled and approved
    }
    assert events > 100
    assert any((tmp_path / "var" / "evidence").rglob("*"))


def test_serve_migrates_then_answers_with_demo_data(tmp_path: Path) -> None:
    assert cdht("seed-demo", cwd=tmp_path).returncode == 0
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("CDHT_")}
    # A clock past the 2026 cut-off and a fast sweep: the in-process sweeper must lapse the two 2026 cases.
    environment.update(PYTHONPATH=str(REPO), CDHT_NOW="2027-03-01T09:00:00+07:00", CDHT_SWEEP_INTERVAL_SECONDS="0.5")
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            time.sleep(0.2)
        assert httpx.get(f"{base}/readyz").json()["status"] == "ready"
        settings = Settings(data_dir=tmp_path / "var")
        token = issue_dev_token(settings, sub="province-director", roles=["province_director"], unit="DEMO-LS")
        headers = {"Authorization": f"Bearer {token}"}
        cases = httpx.get(f"{base}/v1/cases", params={"cycle": 2025, "procedure": "cdht_xa"}, headers=headers).json()
        assert sorted(c["state"] for c in cases["items"]) == ["lapsed", "not_submitted", "recognized", "refused"]
        deadline = time.monotonic() + 30
        while True:
            current = httpx.get(f"{base}/v1/cases", params={"cycle": 2026}, headers=headers).json()
            if [c["state"] for c in current["items"]] == ["lapsed", "lapsed"]:
                break
            assert time.monotonic() < deadline, current
            time.sleep(0.3)
        assert httpx.get(f"{base}/v1/cases").status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_token_is_refused_in_production(tmp_path: Path) -> None:
    result = cdht(
        "token", "--sub", "x", "--role", "admin", "--unit", "VN", cwd=tmp_path, env={"CDHT_ENV": "production"}
    )
    assert result.returncode == 2
    assert "refused in production" in result.stderr


def test_token_with_unknown_role_is_refused(tmp_path: Path) -> None:
    result = cdht("token", "--sub", "x", "--role", "king", "--unit", "VN", cwd=tmp_path)
    assert result.returncode == 2
    assert "king" in result.stderr


def test_serve_in_production_without_auth_settings_refuses_to_start(tmp_path: Path) -> None:
    result = cdht("serve", "--no-migrate", cwd=tmp_path, env={"CDHT_ENV": "production"})
    assert result.returncode == 2
    assert "CDHT_AUTH_ISSUER" in result.stderr and "CDHT_AUTH_JWKS_URL" in result.stderr


@pytest.mark.parametrize(
    ("extra", "message"),
    [({"now": "2026-01-01T00:00:00+07:00"}, "CDHT_NOW"), ({"auth_dev_secret": "s"}, "CDHT_AUTH_DEV_SECRET")],
)
def test_production_refuses_dev_conveniences(extra: dict[str, str], message: str) -> None:
    settings = Settings(
        env="production",
        auth_issuer="https://id.example",
        auth_audience="cdht",
        auth_jwks_url="https://id.example/jwks",
        **extra,
    )
    with pytest.raises(ConfigurationError, match=message):
        settings.check()


def test_frozen_clock_needs_an_offset() -> None:
    with pytest.raises(ValueError, match="timezone offset"):
        Settings(now="2026-01-01T00:00:00")


def test_units_add_builds_the_tree(tmp_path: Path) -> None:
    assert cdht("migrate", cwd=tmp_path).returncode == 0
    assert cdht("units", "add", "P7", "Tỉnh Bảy", "--level", "province", cwd=tmp_path).returncode == 0
    added = cdht(
        "units", "add", "X7", "Xã Bảy", "--level", "commune", "--parent", "P7", "--disadvantaged", cwd=tmp_path
    )
    assert added.returncode == 0, added.stderr
    again = cdht("units", "add", "X7", "Xã Bảy", "--level", "commune", "--parent", "P7", cwd=tmp_path)
    assert again.returncode == 2
    assert "exists" in again.stderr
    with sqlite3.connect(tmp_path / "var" / "cdht.sqlite3") as db:
        rows = db.execute("select code, parent_code, disadvantaged from admin_unit order by code").fetchall()
    assert rows == [("P7", "VN", 0), ("VN", None, 0), ("X7", "P7", 1)]


def test_sweep_walks_the_demo_through_lapse_and_expiry_with_a_moved_clock(tmp_path: Path) -> None:
    assert cdht("seed-demo", cwd=tmp_path).returncode == 0
    lapse = cdht("sweep", "--now", "2027-03-01T00:00:00+07:00", cwd=tmp_path)
    assert lapse.returncode == 0, lapse.stderr
    assert lapse.stdout.count("fired lapse") == 2  # the two cycle-2026 cases that never submitted
    expire = cdht("sweep", "--now", "2030-01-01T00:00:00+07:00", cwd=tmp_path)
    assert expire.stdout.count("fired expire") == 2  # decided 2025 (valid to 2028) and 2026 (valid to 2029)
    again = cdht("sweep", "--now", "2030-01-02T00:00:00+07:00", cwd=tmp_path)
    assert "fired 0, flagged 0, reminded 0, refused 0, skipped 0" in again.stdout
    with sqlite3.connect(tmp_path / "var" / "cdht.sqlite3") as db:
        states = dict(db.execute("select state, count(*) from cases group by state").fetchall())
    assert states == {"expired": 2, "refused": 1, "not_submitted": 1, "lapsed": 3, "approved": 1}
    assert "flagged report overdue" in lapse.stdout  # the report of cycle 2025 was never sent


def test_sweep_refuses_a_time_without_offset(tmp_path: Path) -> None:
    result = cdht("sweep", "--now", "2027-03-01T00:00:00", cwd=tmp_path)
    assert result.returncode == 2
    assert "offset" in result.stderr
