"""The district tier of TT24/2023 after 1/7/2025, when there is no district: who acts is the profile's setting
(two_tier: the provincial Department, its director and the provincial chairman, on the province), not a refusal
of every case; a province's own profile may name others."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import Api
from tests.procedures import other_payloads as p
from tests.procedures.other_payloads import ORG
from tests.support.apps import build_api
from tests.support.walks import LEARNING_UNIT, LearningUnitActors, collect_learning_unit, walk_learning_unit
from workflows.registry import ROOT, load


async def test_cycle_2025_opens_on_the_province_not_on_a_district(api: Api) -> None:
    await api.add_units(("D2", "Huyện Hai", "district", "P1"))  # a district on record through 2025
    api.clock.set("2025-10-01T02:00:00")
    head = api.who("learning_unit_head", "D2", org=ORG)
    on_district = await p.open_case(api, head, LEARNING_UNIT, "D2", 2025, subject=ORG, subject_kind="ubnd_xa")
    assert on_district.status_code == 422, on_district.text
    assert p.codes(on_district) == ["unit_level"]
    assert "don_vi_hoc_tap is for a province" in on_district.json()["reasons"][0]["message"]


async def test_district_tier_unit_recognised_after_the_reform_by_the_provincial_chairman(api: Api) -> None:
    case_id, actors = await walk_learning_unit(api, until="recognize", cycle=2025, kind="pho_thong_cong_lap")
    case = await api.ok(await api.get(actors.chairman, f"/v1/cases/{case_id}"))
    assert (case["state"], case["unit"], case["profile"], case["level"]) == ("recognized", "P1", "two_tier", 1)
    history = await api.ok(await api.get(actors.chairman, f"/v1/cases/{case_id}/history"))
    roles = [(e["trigger"], e["actor"]["role"]) for e in history if e["kind"] == "transition"][3:]
    assert roles == [
        ("receive_dossier", "province_officer"),
        ("form_council", "province_director"),
        ("record_appraisal", "council_member"),
        ("propose_recognition", "province_director"),
        ("recognize", "province_leader"),
    ]
    # The criteria are still the district tier's (Điều 6): a general school's digital-transformation indicator.
    body = await api.ok(await api.get(actors.head, f"/v1/cases/{case_id}/indicators"))
    assert [i["code"] for i in body["indicators"] if i["state"]][-2:] == ["TC3.3", "TC3.4"]


async def test_district_tier_unit_refused_after_the_reform_by_the_departments_director(api: Api) -> None:
    case_id, actors = await walk_learning_unit(api, until="refuse", cycle=2025, failed=("TC1.3",))
    case = await api.ok(await api.get(actors.head, f"/v1/cases/{case_id}"))
    assert case["state"] == "refused"
    history = await api.ok(await api.get(actors.head, f"/v1/cases/{case_id}/history"))
    assert history[-1]["actor"]["role"] == "province_director" and history[-1]["trigger"] == "refuse"
    # A district office of the old tree has no say over a case after the reform.
    assert (await api.get(api.who("district_head", "D1"), f"/v1/cases/{case_id}")).status_code == 403


async def test_a_provinces_own_profile_names_who_recognises(database_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "profiles"
    directory.mkdir()
    (directory / "p1.yaml").write_text(
        "name: two_tier.p1\nvi: Tỉnh Một\nen: Province One\nextends: two_tier\nprovinces: [P1]\n"
        "applies_from_cycle: 2025\nsource: Quyết định số 1/QĐ-UBND (test)\n"
        "bodies:\n  tt24_district.leader: {role: province_director, at: province}\n",
        encoding="utf-8",
    )
    async for api in build_api(database_url, tmp_path / "data", registry=load(ROOT, (directory,))):
        case_id, actors = await walk_learning_unit(api, until="propose_recognition", cycle=2025)
        api.clock.set("2026-02-14T02:00:00")
        by_chairman = await api.fire(actors.chairman, case_id, "recognize", p.dv_recognize("2026-02-14"))
        assert by_chairman.status_code == 403, by_chairman.text
        body = await api.ok(await api.fire(actors.office_head, case_id, "recognize", p.dv_recognize("2026-02-14")))
        assert (body["case"]["state"], body["case"]["profile"]) == ("recognized", "two_tier.p1")


async def test_an_organisations_recognition_follows_it_across_the_reform(api: Api) -> None:
    # Level 1 for cycle 2024, decided by the district chairman on 14/02/2025, on the district D1.
    await walk_learning_unit(api, until="recognize")
    api.clock.set("2025-10-01T02:00:00")
    head = api.who("learning_unit_head", "P1", org=ORG)
    first = await p.open_case(api, head, LEARNING_UNIT, "P1", 2025, subject=ORG, subject_kind="co_quan_nha_nuoc")
    assert first.status_code == 409 and p.codes(first) == ["already_recognised"]
    opened = await p.open_case(
        api, head, LEARNING_UNIT, "P1", 2025, subject=ORG, subject_kind="co_quan_nha_nuoc", kind="upgrade"
    )
    case = await api.ok(opened, 201)
    assert (case["unit"], case["kind"], case["target_level"], case["profile"]) == ("P1", "upgrade", 2, "two_tier")
    listed = await api.ok(await api.get(head, "/v1/cases", procedure=LEARNING_UNIT, cycle=2025))
    assert [c["allowed_transitions"] for c in listed["items"]] == [case["allowed_transitions"]]
    # Điều 5 k3: 12 months after the level-1 decision of 14/02/2025, so not with the dossier of 10/01/2026.
    actors = LearningUnitActors(api, procedure=LEARNING_UNIT, cycle=2025)
    await api.ok(await api.fire(actors.head, case["id"], "form_assessment_team", p.dv_team(2025)))
    await collect_learning_unit(api, actors, case["id"], "co_quan_nha_nuoc", level=2)
    api.clock.set("2026-01-05T02:00:00")
    await api.ok(await api.fire(actors.head, case["id"], "complete_self_assessment", p.dv_self_assessment(2025)))
    api.clock.set("2026-01-10T02:00:00")
    early = await api.fire(actors.head, case["id"], "submit_dossier", p.dv_submit(2, "2026-01-10"))
    assert p.codes(early) == ["upgrade_too_early"]
    assert (
        "the level-1 decision of 14/02/2025 allows an upgrade from 14/02/2026" in early.json()["reasons"][0]["message"]
    )


async def test_re_recognition_once_the_three_years_after_the_year_recognised_end(api: Api) -> None:
    # Decided 14/02/2025: held through 31/12/2028 (Điều 5 k4); re-recognition is the next assessment (Điều 2 k10).
    await walk_learning_unit(api, until="recognize")
    api.clock.set("2028-10-01T02:00:00")
    head = api.who("learning_unit_head", "P1", org=ORG)
    early = await p.open_case(
        api, head, LEARNING_UNIT, "P1", 2027, subject=ORG, subject_kind="co_quan_nha_nuoc", kind="re_recognition"
    )
    assert p.codes(early) == ["recognition_still_valid"]
    assert "valid until 31/12/2028" in early.json()["reasons"][0]["message"]
    opened = await p.open_case(
        api, head, LEARNING_UNIT, "P1", 2028, subject=ORG, subject_kind="co_quan_nha_nuoc", kind="re_recognition"
    )
    assert (await api.ok(opened, 201))["kind"] == "re_recognition"
