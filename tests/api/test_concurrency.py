"""On PostgreSQL, concurrent requests on one case are serialised by the row lock: one wins, none is lost."""

from __future__ import annotations

import asyncio

import pytest

from service import walkthrough as w
from tests.helpers import Api

pytestmark = pytest.mark.postgres


async def test_fifty_identical_transitions_apply_once(pg_api: Api) -> None:
    api = pg_api
    case_id, leader = await api.new_case("C3", 2025)
    responses = await asyncio.gather(*(api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)) for _ in range(50)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 409, 412}
    history = await api.ok(await api.get(leader, f"/v1/cases/{case_id}/history"))
    assert [e["trigger"] for e in history] == ["open", "issue_plan"]
    report = await api.ok(await api.get(leader, "/v1/audit/verify", case=case_id))
    assert report["ok"] is True and report["events_checked"] == 2


async def test_fifty_transitions_with_the_same_if_match_apply_once(pg_api: Api) -> None:
    api = pg_api
    case_id, leader = await api.new_case("C3", 2025)
    etag = (await api.get(leader, f"/v1/cases/{case_id}")).headers["ETag"]
    responses = await asyncio.gather(
        *(api.fire(leader, case_id, "issue_plan", w.issue_plan(2025), headers={"If-Match": etag}) for _ in range(50))
    )
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 1
    assert statuses.count(412) == 49


async def test_concurrent_evidence_uploads_keep_one_chain(pg_api: Api) -> None:
    api = pg_api
    case_id, leader = await api.new_case("C3", 2025)
    await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)))
    from tests.helpers import DEFINITION

    await api.ok(await api.fire(leader, case_id, "assign_indicators", w.assign_indicators(DEFINITION)))
    officer = api.who("commune_officer", "C3")
    responses = await asyncio.gather(
        *(
            api.upload(officer, case_id, indicator.code, content=w.MINIMAL_PDF + str(i).encode())
            for i, indicator in enumerate(DEFINITION.indicators)
        )
    )
    assert [r.status_code for r in responses] == [201] * 15
    report = await api.ok(await api.get(leader, "/v1/audit/verify", case=case_id))
    assert report == {"ok": True, "mode": "full", "events_checked": 18, "chains_checked": 1, "first_bad_event": None}


@pytest.mark.postgres
async def test_concurrent_retries_of_one_open_with_one_key_answer_the_same_case(pg_api: Api) -> None:
    api = pg_api
    leader = api.who("commune_leader", "C3")
    api.clock.set("2025-01-20T02:00:00")
    headers = {**leader.headers, "Idempotency-Key": "open-c3-2025"}
    body = {"procedure": "cdht_xa", "unit": "C3", "cycle": 2025}
    responses = await asyncio.gather(*(api.client.post("/v1/cases", headers=headers, json=body) for _ in range(10)))
    assert [r.status_code for r in responses] == [201] * 10, [r.text[:200] for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 9
