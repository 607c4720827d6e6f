"""Across the 2025 reform and between cases: who acts for a unit that ceased, whose recognitions a unit carries,
kinds re-checked at submission, what a learning unit's head may read, what the audit verify catches, and which
unit successions an import accepts (each found by a second reading and fixed)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import update

from service import walkthrough as w
from service.domain.errors import Conflict
from service.persistence.tables import Case, UnitSuccession
from service.persistence.unit_lists import SuccessionRow
from tests.helpers import Api
from tests.procedures import tiers_payloads as t
from tests.support.apps import build_api
from tests.support.definitions import registry_with_settings
from tests.support.walks import (
    LearningUnitActors,
    district_case,
    open_learning_unit_case,
    recognise_lung_cu_for_2024,
    walk_learning_unit,
)
from tests.units.support import counts, run_import

T = t.PROVINCE_2025


def codes(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [r["code"] for r in response.json()["reasons"]]


async def succession(api: Api, before: str, after: str) -> None:
    async with api.app.state.services.sessions() as session, session.begin():
        session.add(
            UnitSuccession(
                predecessor_code=before,
                successor_code=after,
                effective_on=date(2025, 7, 1),
                basis="resolution",
                source="test",
            )
        )


# R1 — TC4.1 of a province counts the recognitions a commune carries from the commune it continues (where the
# province's profile opts in to counting communes once it has no districts: tc41_commune_fallback).
async def test_r1_tc41_counts_recognitions_carried_across_the_reform(database_url: str, tmp_path: Path) -> None:
    registry = registry_with_settings(tmp_path, tc41_commune_fallback=True)
    async for api in build_api(database_url, tmp_path / "data", registry=registry):
        await _r1_carried_recognitions(api)


async def _r1_carried_recognitions(api: Api) -> None:
    await api.add_units(("X1", "Xã Mới", "commune", "P1"), valid_from=date(2025, 7, 1))
    await succession(api, "C1", "X1")
    await t.add_recognitions(api, "cdht_xa", ["C1"], cycle=2024, level=1, decided_on=date(2025, 3, 20))
    await t.add_recognitions(api, "cdht_xa", ["C3"], cycle=2025, level=1, decided_on=date(2026, 3, 20))
    api.clock.set("2026-01-20T02:00:00")
    x1 = api.who("commune_leader", "X1")
    assert codes(await api.open(x1, "X1", 2025)) == ["already_recognised"]
    assert codes(await api.open(x1, "X1", 2025, kind="re_recognition")) == ["recognition_still_valid"]
    offices = t.province_offices(api)
    case_id = await t.open_case(api, T, "P1", offices.leader)
    await t.prepare(api, T, case_id, offices)
    counted = await t.count_subordinates(api, T, case_id, offices)
    figures = counted["event"]["payload"]["data"]["figures"]
    assert figures["units"] == 2
    assert figures["recognised"]["1"] == 2, figures  # X1 holds C1's level-1 recognition (valid to 2028)


# R2 — the kind is checked again at submission: a second "first" case cannot be recognised beside the first.
async def test_r2_a_second_first_case_is_refused_at_submission_once_the_first_is_recognised(api: Api) -> None:
    old, leader = await api.new_case("C1", 2024)  # 20/01/2024
    api.clock.set("2024-12-01T02:00:00")
    new = await api.ok(await api.open(leader, "C1", 2025), 201)  # while 2024 is under way: allowed
    await api.walk(old, leader, cycle=2024, until="recognized")  # recognised 20/03/2025, valid to 2028
    await api.walk(new["id"], leader, cycle=2025, until="review_meeting_held")
    api.clock.set("2026-02-10T02:00:00")
    submitted = await api.fire(leader, new["id"], "submit_dossier", w.submit_dossier(2025, 1))
    assert submitted.status_code == 409 and "already_recognised" in codes(submitted), submitted.text
    body = await api.ok(await api.get(api.who("auditor", "VN"), "/v1/admin-units/C1/recognitions"))
    assert [(r["cycle"], r["kind"]) for r in body["recognitions"]] == [(2024, "first")]


# R3 — changing a case's subject outside the engine is caught by the audit verify.
async def test_r3_subject_tampering_is_caught_by_audit_verify(api: Api) -> None:
    case_id, actors = await walk_learning_unit(api, until="recognize", level=2)
    async with api.app.state.services.sessions() as session, session.begin():
        await session.execute(update(Case).where(Case.id == case_id).values(subject="ORG-OTHER"))
    verify = await api.ok(await api.get(api.who("auditor", "VN"), "/v1/audit/verify", case=case_id))
    assert verify["ok"] is False, verify


# R4 — a learning unit's head reads only its own organisation's cases.
async def test_r4_learning_unit_head_cannot_read_another_organisations_case(api: Api) -> None:
    actors = LearningUnitActors(api)
    case_id = await open_learning_unit_case(api, actors)
    other = api.who("learning_unit_head", "D1", org="ORG-OTHER")
    response = await api.get(other, f"/v1/cases/{case_id}")
    assert response.status_code == 403, response.text[:300]


# R5 — after 1/7/2025 the province that continues a ceased one acts for it; the ceased one's offices do not.
async def test_r5_ceased_unit_token_acts_after_the_reform(api: Api) -> None:
    await api.add_units(("HP", "Tỉnh cũ", "province", "VN"), valid_to=date(2025, 6, 30))
    await api.add_units(("NP", "Tỉnh mới", "province", "VN"), valid_from=date(2025, 7, 1))
    await succession(api, "HP", "NP")
    api.clock.set("2025-07-15T02:00:00")
    body = {"procedure": "cdht_tinh", "unit": "HP", "cycle": 2024}
    new_office = await api.client.post("/v1/cases", headers=api.who("province_leader", "NP").headers, json=body)
    ceased = await api.client.post("/v1/cases", headers=api.who("province_leader", "HP").headers, json=body)
    assert (new_office.status_code, ceased.status_code) == (201, 403), (new_office.text[:200], ceased.text[:200])


# R6 — a mapping row must go from a unit that ceased to one that exists now; a refused mapping records nothing.
@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("00070", "00073"),  # current → current
        ("00070", "H00073"),  # current → historical
        ("00070", "H00076"),  # current → historical (reversed: new to old)
    ],
)
async def test_r6_mapping_must_go_from_a_historical_to_a_current_unit(api: Api, before: str, after: str) -> None:
    await run_import(api)
    rows_before = await counts(api)
    row = SuccessionRow(before, after, date(2025, 7, 1), "resolution", "test mapping")
    with pytest.raises(Conflict) as refused:
        await run_import(api, mapped=[row])
    assert refused.value.status == 409
    assert [reason.code for reason in refused.value.reasons] == ["succession_direction"], refused.value.reasons
    assert f"{before} → {after}" in refused.value.reasons[0].message
    assert await counts(api) == rows_before


# R7 — a unit formed from several predecessors does not carry one predecessor's recognition (recognition_inheritance).
async def test_r7_merged_province_can_be_assessed(api: Api) -> None:
    await api.add_units(("PA", "Tỉnh A", "province", "VN"), valid_to=date(2025, 6, 30))
    await api.add_units(("PB", "Tỉnh B", "province", "VN"), valid_to=date(2025, 6, 30))
    await api.add_units(("PN", "Tỉnh mới", "province", "VN"), valid_from=date(2025, 7, 1))
    await succession(api, "PA", "PN")
    await succession(api, "PB", "PN")
    await t.add_recognitions(api, "cdht_tinh", ["PA"], cycle=2024, level=1, decided_on=date(2025, 8, 20))
    api.clock.set("2025-09-01T02:00:00")
    leader = api.who("province_leader", "PN")
    results = {}
    for kind in ("first", "re_recognition"):
        r = await api.client.post(
            "/v1/cases",
            headers=leader.headers,
            json={"procedure": "cdht_tinh", "unit": "PN", "cycle": 2025, "kind": kind},
        )
        results[kind] = (r.status_code, codes(r) if r.status_code >= 400 else None)
    assert results["first"] == (201, None), results  # PN continues two provinces: it carries neither's recognition
    assert results["re_recognition"][0] == 409, results


# Replay of the new procedures: as_of the last event equals the live case.
async def test_replay_matches_live_for_district_and_learning_unit(api: Api) -> None:
    case_id, offices = await district_case(api, until="recognized")
    dv_id, actors = await walk_learning_unit(api, until="recognize", level=2)
    auditor = api.who("auditor", "VN")
    for cid in (case_id, dv_id):
        live = await api.ok(await api.get(auditor, f"/v1/cases/{cid}"))
        past = await api.ok(await api.get(auditor, f"/v1/cases/{cid}", as_of="2026-01-01T00:00:00Z"))
        for key in (
            "state",
            "level",
            "assessed_level",
            "requested_level",
            "decided_on",
            "subject",
            "subject_kind",
            "deadlines",
        ):
            strip = (
                (lambda v: [{k: x for k, x in d.items() if k != "overdue"} for d in v])
                if key == "deadlines"
                else (lambda v: v)
            )
            assert strip(live[key]) == strip(past[key]), (cid, key, live[key], past[key])


# R3b — pinned settings feed other cases' kinds and TC4.1 counts: changing them outside the engine is caught.
async def test_r3b_pinned_validity_tampering_is_caught(api: Api) -> None:
    case_id, leader = await api.new_case("C1", 2024)
    await api.walk(case_id, leader, cycle=2024, until="recognized")
    async with api.app.state.services.sessions() as session, session.begin():
        case = await session.get(Case, case_id)
        pinned = dict(case.pinned)
        pinned["settings"] = {**pinned["settings"], "validity_years_after_decision_year": 30}
        await session.execute(update(Case).where(Case.id == case_id).values(pinned=pinned))
    body = await api.ok(await api.get(api.who("auditor", "VN"), "/v1/admin-units/C1/recognitions"))
    assert body["recognitions"][0]["valid_until"] == "2055-12-31"  # the tampered value is used
    verify = await api.ok(await api.get(api.who("auditor", "VN"), "/v1/audit/verify", case=case_id))
    assert verify["ok"] is False, verify


async def test_r5b_successor_province_reads_inherited_case(api: Api) -> None:
    await run_import(api)
    case_id = await recognise_lung_cu_for_2024(api)
    api.clock.set("2025-08-01T02:00:00")
    auditor = api.who("auditor", "08")
    listed = await api.get(auditor, "/v1/admin-units/00715/recognitions")
    assert listed.status_code == 200 and listed.json()["recognitions"][0]["case_id"] == case_id
    case = await api.get(auditor, f"/v1/cases/{case_id}")
    assert case.status_code == 200, case.text[:200]
