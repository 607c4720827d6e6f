"""A unit's recognitions across cases and across the two-tier reform: GET /v1/admin-units/{code}/recognitions.

Xã Lũng Cú (huyện Đồng Văn, Hà Giang; GSO 00715) is recognised at level 1 for cycle 2024 under its historical code
H00715 (three-tier: the district's office reviews). From 01/07/2025 the commune 00715 of Tuyên Quang continues it
(same GSO code; Hà Giang → Tuyên Quang by Nghị quyết 202/2025/QH15), so the recognition follows it.
"""

from __future__ import annotations

from service import walkthrough as w
from tests.helpers import Api, Reviewers
from tests.support.walks import DONG_VAN, recognise_lung_cu_for_2024
from tests.units.support import LUNG_CU_NEW, LUNG_CU_OLD, run_import


async def test_recognition_of_the_old_commune_shows_under_its_successor_via_the_continued_code(api: Api) -> None:
    await run_import(api)
    case_id = await recognise_lung_cu_for_2024(api)
    api.clock.set("2025-08-01T02:00:00")
    auditor = api.who("auditor", "08")  # the new province
    body = await api.ok(await api.get(auditor, f"/v1/admin-units/{LUNG_CU_NEW}/recognitions"))
    assert body["unit"]["code"] == LUNG_CU_NEW and body["unit"]["parent"] == "08"
    assert body["as_of"] == "2025-08-01"
    assert body["lineage"] == [LUNG_CU_NEW, LUNG_CU_OLD]
    assert [(p["predecessor"], p["basis"]) for p in body["predecessors"]] == [(LUNG_CU_OLD, "gso_code_continued")]
    assert w.recognize(2024)["decision"] == {"number": "35/QĐ-SGDĐT", "date": "2025-03-20"}
    assert body["recognitions"] == [
        {
            "case_id": case_id,
            "procedure": "cdht_xa",
            "version": "tt25-2023",
            "unit": LUNG_CU_OLD,
            "unit_name": "Xã Lũng Cú",
            "cycle": 2024,
            "kind": "first",
            "level": 1,
            "decision": {"signer": None, "title": None, "evidence_id": None, **w.recognize(2024)["decision"]},
            "decided_on": "2025-03-20",
            "valid_until": "2028-12-31",  # TT25/2023 Điều 5 k4: three years after the year of recognition
            "status": "in_force",
            "superseded_by": None,
            "via": {
                "basis": "gso_code_continued",
                "source": "GSO danh mục hành chính via vietnam-provinces 2025.10.1 (data 2025-10-18)",
                "effective_on": "2025-07-01",
                "path": [LUNG_CU_OLD, LUNG_CU_NEW],
            },
        }
    ]


async def test_old_commune_lists_its_own_recognition_and_its_successors(api: Api) -> None:
    await run_import(api)
    case_id = await recognise_lung_cu_for_2024(api)
    body = await api.ok(await api.get(api.who("auditor", "VN"), f"/v1/admin-units/{LUNG_CU_OLD}/recognitions"))
    assert body["lineage"] == [LUNG_CU_OLD]
    assert [(r["case_id"], r["via"]) for r in body["recognitions"]] == [(case_id, None)]
    assert [(s["successor"], s["successor_name"], s["basis"]) for s in body["successors"]] == [
        (LUNG_CU_NEW, "Xã Lũng Cú", "gso_code_continued")
    ]


async def test_upgrade_of_the_new_commune_supersedes_the_inherited_recognition(api: Api) -> None:
    await run_import(api)
    first = await recognise_lung_cu_for_2024(api)
    # Cycle 2026 under the two-tier profile: the new commune asks to upgrade the level-1 recognition it inherited
    # (the opening and submission guards read recognitions through the lineage: an upgrade ≥ 12 months after the
    # level-1 decision), reviewed by the province's Department.
    upgrade, leader = await api.new_case(LUNG_CU_NEW, 2026, kind="upgrade", target_level=2)
    reviewers = Reviewers(
        api.who("province_officer", "08"), api.who("province_director", "08"), api.who("council_member", "08")
    )
    await api.walk(upgrade, leader, cycle=2026, until="recognized", level=2, reviewers=reviewers)
    api.clock.set("2027-04-01T02:00:00")
    body = await api.ok(await api.get(reviewers.head, f"/v1/admin-units/{LUNG_CU_NEW}/recognitions"))
    assert [(r["case_id"], r["unit"], r["level"], r["status"], r["superseded_by"]) for r in body["recognitions"]] == [
        (first, LUNG_CU_OLD, 1, "superseded", upgrade),
        (upgrade, LUNG_CU_NEW, 2, "in_force", None),
    ]
    assert body["recognitions"][1]["via"] is None
    assert body["recognitions"][1]["valid_until"] == "2030-12-31"


async def test_recognition_past_its_validity_is_expired(api: Api) -> None:
    await run_import(api)
    await recognise_lung_cu_for_2024(api)
    api.clock.set("2029-01-02T02:00:00")
    body = await api.ok(await api.get(api.who("auditor", "08"), f"/v1/admin-units/{LUNG_CU_NEW}/recognitions"))
    assert [r["status"] for r in body["recognitions"]] == ["expired"]


async def test_commune_leader_of_another_province_is_refused_with_a_reason(api: Api) -> None:
    await run_import(api)
    outsider = api.who("commune_leader", "00070")  # Phường Hoàn Kiếm, Hà Nội
    refused = await api.get(outsider, f"/v1/admin-units/{LUNG_CU_NEW}/recognitions")
    assert refused.status_code == 403
    reason = refused.json()["reasons"][0]
    assert reason["code"] == "outside_jurisdiction"
    assert "your unit 00070 covers neither 00715" in reason["message"]


async def test_who_covers_the_unit_or_its_history_may_read_it(api: Api) -> None:
    await run_import(api)
    await recognise_lung_cu_for_2024(api)
    path = f"/v1/admin-units/{LUNG_CU_NEW}/recognitions"
    for role, unit in [
        ("commune_leader", LUNG_CU_NEW),  # the unit itself
        ("auditor", "08"),  # its province
        ("district_head", DONG_VAN),  # the old district, above a unit it continues
        ("auditor", "H02"),  # the old province
    ]:
        response = await api.get(api.who(role, unit), path)
        assert response.status_code == 200, (role, unit, response.text)
        assert len(response.json()["recognitions"]) == 1
    # The old commune's history is readable from the new province that now answers for it.
    response = await api.get(api.who("auditor", "08"), f"/v1/admin-units/{LUNG_CU_OLD}/recognitions")
    assert response.status_code == 200 and len(response.json()["recognitions"]) == 1
    # Another old district's office is not.
    assert (await api.get(api.who("district_head", "H001"), path)).status_code == 403


async def test_recognitions_without_a_token_are_401_and_of_an_unknown_unit_404(api: Api) -> None:
    await run_import(api, which="current")
    no_token = await api.client.get(f"/v1/admin-units/{LUNG_CU_NEW}/recognitions")
    assert no_token.status_code == 401
    unknown = await api.get(api.who("auditor", "VN"), "/v1/admin-units/99999/recognitions")
    assert unknown.status_code == 404
    assert unknown.json()["reasons"][0]["code"] == "unit_unknown"


async def test_unit_added_by_post_has_no_history_and_no_recognitions(api: Api) -> None:
    admin = api.who("admin", "VN")
    body = {"code": "C77", "name": "Xã Bảy Bảy", "level": "commune", "parent": "P1", "valid_from": "2025-07-01"}
    created = await api.ok(await api.client.post("/v1/admin-units", headers=admin.headers, json=body), 201)
    assert created["code"] == "C77" and created["parent"] == "P1"
    unit = await api.ok(await api.get(admin, "/v1/admin-units/C77"))
    assert (unit["name"], unit["predecessors"], unit["successors"]) == ("Xã Bảy Bảy", [], [])
    history = await api.ok(await api.get(api.who("auditor", "P1"), "/v1/admin-units/C77/recognitions"))
    assert (history["lineage"], history["recognitions"], history["successors"]) == (["C77"], [], [])
