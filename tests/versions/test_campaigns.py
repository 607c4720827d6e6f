"""Campaigns: a cycle's cases opened for every commune under a province or district, through the engine, as the
caller; idempotent, audited, and refused with reasons where the caller or the unit cannot."""

from __future__ import annotations

import asyncio
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from service import walkthrough as w
from service.domain.actor import Actor
from service.domain.bulk import campaign_checks, campaigns
from service.persistence.tables import AuditEvent, Campaign, Case
from tests.helpers import DEFINITION, Api
from tests.support.apps import add_communes, build_api
from workflows.registry import ROOT, load

PLAN = w.issue_plan(2025)["plan"]
ASSIGNMENTS = w.assign_indicators(DEFINITION)["assignments"]


def body(unit: str = "P1", cycle: int = 2025, **over: Any) -> dict[str, Any]:
    return {"procedure": "cdht_xa", "unit": unit, "cycle": cycle, **over}


async def extra_units(api: Api) -> str:
    """C4 ceased at the end of 2024, C5 exists from 2026 (neither is in cycle 2025); C6 already has its case."""
    await add_communes(api, "P1", ["C4"], valid_to=date(2024, 12, 31))
    await add_communes(api, "P1", ["C5"], valid_from=date(2026, 1, 1))
    await add_communes(api, "P1", ["C6"])
    case_id, _ = await api.new_case("C6", 2025)
    return case_id


async def cases(api: Api, **where: Any) -> list[Case]:
    async with api.app.state.services.sessions() as session:
        query = select(Case).where(*(getattr(Case, k) == v for k, v in where.items())).order_by(Case.unit_code)
        return list((await session.execute(query)).scalars())


async def admin_events(api: Api, kind: str) -> list[AuditEvent]:
    async with api.app.state.services.sessions() as session:
        query = select(AuditEvent).where(AuditEvent.chain == "admin", AuditEvent.kind == kind).order_by(AuditEvent.seq)
        return list((await session.execute(query)).scalars())


async def test_dry_run_counts_what_would_open_and_changes_nothing(api: Api) -> None:
    await extra_units(api)
    director = api.who("province_director", "P1")
    before = len(await cases(api))
    plan = await api.ok(await api.client.post("/v1/campaigns", headers=director.headers, json=body()))
    assert plan["dry_run"] is True
    assert plan["counts"] == {"units": 4, "would_open": 3, "existing": 1, "cannot": 0, "not_in_cycle": 2}
    assert plan["cannot"] == []
    assert len(await cases(api)) == before
    assert await admin_events(api, "campaign_run") == []
    async with api.app.state.services.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Campaign))).scalar_one() == 0


async def test_dry_run_gives_each_refused_unit_the_engines_reasons(api: Api) -> None:
    recognised, leader = await api.new_case("C1", 2024)
    await api.walk(recognised, leader, cycle=2024, until="recognized")  # decided 20/03/2025, valid to 31/12/2028
    director = api.who("province_director", "P1")
    api.clock.set("2025-03-25T02:00:00")
    first = await api.ok(await api.client.post("/v1/campaigns", headers=director.headers, json=body()))
    assert first["counts"] == {"units": 3, "would_open": 2, "existing": 0, "cannot": 1, "not_in_cycle": 0}
    [(unit, reasons)] = [(row["unit"], row["reasons"]) for row in first["cannot"]]
    assert unit == "C1" and [r["code"] for r in reasons] == ["already_recognised"]
    renewal = await api.ok(
        await api.client.post("/v1/campaigns", headers=director.headers, json=body(kind="re_recognition"))
    )
    codes = {row["unit"]: [r["code"] for r in row["reasons"]] for row in renewal["cannot"]}
    assert codes == {
        "C1": ["recognition_still_valid"],
        "C2": ["no_recognition_to_renew"],
        "C3": ["no_recognition_to_renew"],
    }
    assert [c.unit_code for c in await cases(api)] == ["C1"]


async def test_a_caller_who_may_open_none_of_the_cases_is_refused_once(api: Api) -> None:
    await add_communes(api, "P1", ["C4"], valid_to=date(2024, 12, 31))
    director = api.who("province_director", "P1")
    # Cycle 2024 runs three-tier: the district reviews C1 and C2, not the province's director, and C3 and C4,
    # directly under the province, have no district to review them at all.
    refused = await api.client.post("/v1/campaigns", headers=director.headers, json=body(cycle=2024))
    assert refused.status_code == 403, refused.text
    messages = {r["message"].split(":")[0]: r["message"] for r in refused.json()["reasons"]}
    assert sorted(messages) == ["C1", "C2", "C3", "C4"]
    assert "district_head at unit D1" in messages["C1"] and "has no district" in messages["C3"]
    auditor = await api.client.post("/v1/campaigns", headers=api.who("auditor", "VN").headers, json=body())
    assert auditor.status_code == 403, auditor.text
    assert await cases(api) == []


async def test_execution_opens_every_commune_once_audited_and_a_second_run_opens_nothing(api: Api) -> None:
    existing_id = await extra_units(api)
    director = api.who("province_director", "P1")
    api.clock.set("2025-01-25T02:00:00")
    first = await api.ok(
        await api.client.post(
            "/v1/campaigns", headers={**director.headers, "X-Request-ID": "campaign-1"}, json=body(dry_run=False)
        ),
        201,
    )
    assert first["status"] == "completed" and first["dry_run"] is False
    assert first["counts"] == {"units": 4, "opened": 3, "existing": 1, "cannot": 0, "not_in_cycle": 2}
    opened = [c for c in await cases(api, cycle=2025) if c.id != existing_id]
    assert [c.unit_code for c in opened] == ["C1", "C2", "C3"]
    assert {(c.state, c.kind, c.opened_by, c.profile) for c in opened} == {
        ("planning", "first", director.sub, "two_tier")
    }
    for case in opened:
        history = await api.ok(await api.get(director, f"/v1/cases/{case.id}/history"))
        assert [(e["kind"], e["actor"]["sub"], e["actor"]["role"], e["request_id"]) for e in history] == [
            ("case_opened", director.sub, "province_director", "campaign-1")
        ]
        assert len([d for d in (await api.ok(await api.get(director, f"/v1/cases/{case.id}")))["deadlines"]]) == 1
    [event] = await admin_events(api, "campaign_run")
    assert (event.actor_sub, event.unit_code, event.request_id) == (director.sub, "P1", "campaign-1")
    assert '"opened":3' in event.payload and first["id"] in event.payload
    read = await api.ok(await api.get(director, f"/v1/campaigns/{first['id']}"))
    assert read == first
    second = await api.ok(
        await api.client.post("/v1/campaigns", headers=director.headers, json=body(dry_run=False)), 201
    )
    assert second["id"] != first["id"]
    assert second["counts"] == {"units": 4, "opened": 0, "existing": 4, "cannot": 0, "not_in_cycle": 2}
    assert len(await cases(api, cycle=2025)) == 4
    assert len(await admin_events(api, "campaign_run")) == 2
    verified = await api.ok(await api.get(api.who("admin", "VN"), "/v1/audit/verify"))
    assert verified["ok"] is True, verified
    outsider = await api.get(api.who("province_director", "P2"), f"/v1/campaigns/{first['id']}")
    assert outsider.status_code == 403, outsider.text


async def test_three_tier_cycle_opens_the_communes_of_a_district_as_its_head(api: Api) -> None:
    head = api.who("district_head", "D1")
    api.clock.set("2025-01-25T02:00:00")
    run = await api.ok(
        await api.client.post("/v1/campaigns", headers=head.headers, json=body("D1", 2024, dry_run=False)), 201
    )
    assert run["counts"] == {"units": 2, "opened": 2, "existing": 0, "cannot": 0, "not_in_cycle": 0}
    assert [(c.unit_code, c.profile) for c in await cases(api, cycle=2024)] == [
        ("C1", "three_tier"),
        ("C2", "three_tier"),
    ]
    # The district's head has no say over the province: the campaign is refused before anything is looked at.
    wider = await api.client.post("/v1/campaigns", headers=head.headers, json=body("P1", 2024))
    assert wider.status_code == 403 and wider.json()["reasons"][0]["code"] == "outside_jurisdiction"


async def test_batches_of_a_few_units_open_them_all(api: Api) -> None:
    codes = [f"X{i:02d}" for i in range(12)]
    await add_communes(api, "P1", codes)
    director = api.who("province_director", "P1")
    services = api.app.state.services
    actor = Actor(sub=director.sub, name="Giám đốc", roles=("province_director",), unit="P1")
    now = api.clock.set("2025-01-25T02:00:00")
    request = campaign_checks.CampaignRequest("cdht_xa", "P1", 2025)
    campaign_id = await campaigns.run(services.sessions, services.registry, request, actor=actor, now=now, batch_size=5)
    read = await api.ok(await api.get(director, f"/v1/campaigns/{campaign_id}"))
    assert read["counts"]["opened"] == 15 and read["status"] == "completed"
    assert sorted(c.unit_code for c in await cases(api, cycle=2025)) == sorted(["C1", "C2", "C3", *codes])


async def test_a_plan_the_caller_may_not_issue_refuses_the_campaign_and_opens_nothing(api: Api) -> None:
    director = api.who("province_director", "P1")
    for dry_run in (True, False):
        refused = await api.client.post(
            "/v1/campaigns", headers=director.headers, json=body(plan=PLAN, assignments=ASSIGNMENTS, dry_run=dry_run)
        )
        assert refused.status_code == 403, refused.text
        problem = refused.json()
        assert "Điều 24" in problem["detail"]
        assert {r["code"] for r in problem["reasons"]} == {"not_authorised"}
        assert any(
            "C3: issue_plan: commune.leader: needs role commune_leader at unit C3" in r["message"]
            for r in problem["reasons"]
        )
    assert await cases(api) == []
    async with api.app.state.services.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Campaign))).scalar_one() == 0
    lone = await api.client.post("/v1/campaigns", headers=director.headers, json=body(assignments=ASSIGNMENTS))
    assert lone.status_code == 422 and lone.json()["reasons"][0]["code"] == "plan_required"


@pytest.fixture
async def delegating_api(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A province whose own profile lets its Department act as the communes' leadership (a test deployment)."""
    directory = tmp_path / "profiles"
    directory.mkdir()
    (directory / "p1.yaml").write_text(
        "name: two_tier.p1_delegates\nvi: Thử nghiệm\nen: Test\nextends: two_tier\nprovinces: [P1]\n"
        "applies_from_cycle: 2025\nsource: test deployment\n"
        "bodies:\n  commune.leader: {role: province_officer, at: province}\n",
        encoding="utf-8",
    )
    async for api in build_api(database_url, tmp_path / "data", registry=load(ROOT, (directory,))):
        yield api


async def test_with_plan_and_assignments_each_new_case_is_planned_by_an_actor_who_may(delegating_api: Api) -> None:
    api = delegating_api
    officer = api.who("province_officer", "P1")
    api.clock.set("2025-01-25T02:00:00")
    payload = body(plan=PLAN, assignments=ASSIGNMENTS)
    plan = await api.ok(await api.client.post("/v1/campaigns", headers=officer.headers, json=payload))
    assert plan["counts"]["would_open"] == 3 and plan["cannot"] == []
    assert await cases(api) == []
    future = {**PLAN, "date": "2025-03-01"}
    refused = await api.ok(
        await api.client.post("/v1/campaigns", headers=officer.headers, json={**payload, "plan": future})
    )
    assert refused["counts"]["would_open"] == 0
    assert {r["code"] for row in refused["cannot"] for r in row["reasons"]} == {"future_date"}
    run = await api.ok(
        await api.client.post("/v1/campaigns", headers=officer.headers, json={**payload, "dry_run": False}), 201
    )
    assert run["counts"]["opened"] == 3 and run["options"]["plan"] == PLAN
    for case in await cases(api, cycle=2025):
        assert case.state == "collecting_evidence"
        history = await api.ok(await api.get(officer, f"/v1/cases/{case.id}/history"))
        assert [e["trigger"] for e in history] == ["open", "issue_plan", "assign_indicators"]
        assert {e["actor"]["sub"] for e in history} == {officer.sub}


async def test_an_executed_campaign_records_each_refused_unit_and_opens_the_rest(api: Api) -> None:
    recognised, leader = await api.new_case("C1", 2024)
    await api.walk(recognised, leader, cycle=2024, until="recognized")
    director = api.who("province_director", "P1")
    api.clock.set("2025-03-25T02:00:00")
    run = await api.ok(await api.client.post("/v1/campaigns", headers=director.headers, json=body(dry_run=False)), 201)
    assert run["counts"] == {"units": 3, "opened": 2, "existing": 0, "cannot": 1, "not_in_cycle": 0}
    assert [(row["unit"], row["reasons"][0]["code"]) for row in run["cannot"]] == [("C1", "already_recognised")]
    assert [c.unit_code for c in await cases(api, cycle=2025)] == ["C2", "C3"]
    [event] = await admin_events(api, "campaign_run")
    assert '"cannot":["C1"]' in event.payload


async def test_campaigns_finishing_together_each_get_their_admin_event(
    pg_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two campaigns append the admin chain's first event at the same moment: one loses the race for the chain's
    head row, and its totals are written again instead of being lost with its cases already open."""
    api = pg_api
    services = api.app.state.services
    now = api.clock.set("2025-01-25T02:00:00")
    together, real_append = asyncio.Barrier(2), campaigns.append_chain_event
    calls: list[str] = []

    async def append_together(session, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(kwargs["unit_code"])
        if len(calls) <= 2:  # the two first attempts meet before either looks for the head
            await asyncio.wait_for(together.wait(), timeout=10)
        return await real_append(session, **kwargs)

    monkeypatch.setattr(campaigns, "append_chain_event", append_together)

    async def campaign(province: str) -> str:
        actor = Actor(sub=f"director-{province}", name="Giám đốc", roles=("province_director",), unit=province)
        request = campaign_checks.CampaignRequest("cdht_xa", province, 2025)
        return await campaigns.run(services.sessions, services.registry, request, actor=actor, now=now)

    ids = await asyncio.gather(campaign("P1"), campaign("P2"))
    assert len(calls) == 3  # one of them tried twice
    events = await admin_events(api, "campaign_run")
    assert sorted(e.unit_code for e in events) == ["P1", "P2"]
    admin = api.who("admin", "VN")
    for campaign_id in ids:
        assert (await api.ok(await api.get(admin, f"/v1/campaigns/{campaign_id}")))["status"] == "completed"
    assert (await api.ok(await api.get(admin, "/v1/audit/verify")))["ok"] is True
