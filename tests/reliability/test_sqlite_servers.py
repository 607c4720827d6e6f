"""Two ``cdht serve`` processes on one SQLite file, on the real clock: members of a commune submitting evidence on
several indicators of one case at the same moment, through both servers, all succeed (issue 13 point 3). SQLite's
write lock serialises the writes; each reads its clock once it holds the lock, so none is dated before a change a
request that started later made first."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import httpx

from service import walkthrough as w
from service.auth import issue_dev_token
from service.config import Settings
from tests.helpers import DEFINITION
from tests.reliability.procs import ProcessGroup, fernet_key, run_cli, service_environment, write_signing_key

SECRET = "sqlite-servers-" + "x" * 32
UNITS = [("P1", "Tỉnh Một", "province", "VN"), ("C3", "Xã Ba", "commune", "P1")]


def token(settings: Settings, sub: str, role: str, org: str | None = None) -> dict[str, str]:
    jwt = issue_dev_token(settings, sub=sub, roles=[role], unit="C3", org=org, name=sub)
    return {"Authorization": f"Bearer {jwt}"}


async def ok(response: httpx.Response, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


async def test_two_servers_on_one_sqlite_file_take_concurrent_evidence(tmp_path: Path) -> None:
    database = tmp_path / "cdht.sqlite3"
    env = service_environment(
        database_url=f"sqlite+aiosqlite:///{database}",
        data_dir=tmp_path / "data",
        dev_secret=SECRET,
        webhook_key=fernet_key(),
        signing_key_file=write_signing_key(tmp_path / "keys" / "signing.pem"),
    )
    run_cli(env, "migrate")
    with sqlite3.connect(database) as db:
        db.executemany(
            "INSERT INTO admin_unit (code, name, level, parent_code, disadvantaged) VALUES (?, ?, ?, ?, 0)", UNITS
        )
    settings = Settings(env="test", auth_dev_secret=SECRET, data_dir=tmp_path / "data")
    cycle = datetime.now(timezone.utc).year
    leader = token(settings, "chu-tich-c3", "commune_leader")
    indicators = [indicator.code for indicator in DEFINITION.indicators[:8]]
    members = {code: token(settings, f"member-{code}", "commune_member", w.org_for(code)) for code in indicators}
    with ProcessGroup(tmp_path / "logs") as group:
        servers = [group.serve(env, "api-1"), group.serve(env, "api-2")]
        async with (
            httpx.AsyncClient(timeout=60, trust_env=False) as one,
            httpx.AsyncClient(timeout=60, trust_env=False) as two,
        ):
            clients = [(servers[0].url, one), (servers[1].url, two)]
            base, http = clients[0]
            body = {"procedure": "cdht_xa", "unit": "C3", "cycle": cycle}
            case_id = (await ok(await http.post(f"{base}/v1/cases", json=body, headers=leader), 201))["id"]
            cases = f"{base}/v1/cases/{case_id}"
            plan = {"data": w.issue_plan(cycle)}
            await ok(await http.post(f"{cases}/transitions/issue_plan", json=plan, headers=leader))
            assign = {"data": w.assign_indicators(DEFINITION)}
            await ok(await http.post(f"{cases}/transitions/assign_indicators", json=assign, headers=leader))

            def upload(i: int, code: str):  # type: ignore[no-untyped-def]
                url, client = clients[i % 2]
                files = {"file": ("minh-chung.pdf", w.MINIMAL_PDF + str(i).encode(), "application/pdf")}
                return client.post(
                    f"{url}/v1/cases/{case_id}/indicators/{code}/evidence", files=files, headers=members[code]
                )

            def submit(i: int, code: str):  # type: ignore[no-untyped-def]
                url, client = clients[i % 2]
                data = {"data": w.submit_evidence(DEFINITION, code)}
                return client.post(
                    f"{url}/v1/cases/{case_id}/indicators/{code}/transitions/submit_evidence",
                    json=data,
                    headers=members[code],
                )

            uploads = await asyncio.gather(*(upload(i, code) for i, code in enumerate(indicators * 3)))
            assert [r.status_code for r in uploads] == [201] * len(uploads), [
                r.text[:300] for r in uploads if r.status_code != 201
            ]
            submitted = await asyncio.gather(*(submit(i, code) for i, code in enumerate(indicators)))
            assert [r.status_code for r in submitted] == [200] * len(indicators), [
                r.text[:300] for r in submitted if r.status_code != 200
            ]
            history = await ok(await http.get(f"{cases}/history", headers=leader))
            assert len(history) == 3 + len(uploads) + len(indicators)
            times = [datetime.fromisoformat(event["occurred_at"]) for event in history]
            assert times == sorted(times)
            report = await ok(await http.get(f"{base}/v1/audit/verify", params={"case": case_id}, headers=leader))
            assert report["ok"] is True, report
        group.check_alive()
