"""A province-tier learning unit ("Đơn vị học tập" cấp tỉnh, TT24/2023 Điều 11–16) through HTTP: Sở GDĐT receives,
its director forms the council and replies to a unit that fails, the provincial chairman recognises one that
passes — the same before the reform (three_tier, cycle 2024) and after it (two_tier, cycle 2025)."""

from __future__ import annotations

import pytest

from tests.helpers import Api
from tests.procedures import other_payloads as p
from tests.support.walks import LEARNING_UNIT_PROVINCE, walk_learning_unit

SCHOOL = "THPT_CHU_VAN_AN"  # a public upper-secondary school: members and learners (Điều 2 k2, k8)
ENTERPRISE = "CTY_CAP_NUOC_P1"  # an enterprise managed by the province (Điều 2 k4)


@pytest.mark.parametrize(("cycle", "profile"), [(2024, "three_tier"), (2025, "two_tier")])
async def test_school_recognised_by_the_provincial_chairman(api: Api, cycle: int, profile: str) -> None:
    case_id, actors = await walk_learning_unit(
        api,
        until="recognize",
        procedure=LEARNING_UNIT_PROVINCE,
        cycle=cycle,
        kind="trung_hoc_pho_thong_cong_lap",
        org=SCHOOL,
    )
    case = await api.ok(await api.get(actors.chairman, f"/v1/cases/{case_id}"))
    assert (case["state"], case["level"], case["unit"], case["profile"]) == ("recognized", 1, "P1", profile)
    history = await api.ok(await api.get(actors.chairman, f"/v1/cases/{case_id}/history"))
    roles = [(e["trigger"], e["actor"]["role"]) for e in history if e["kind"] == "transition"][3:]
    assert roles == [
        ("receive_dossier", "province_officer"),  # Điều 16 k2 a: Sở GDĐT
        ("form_council", "province_director"),  # k2 b: Giám đốc Sở
        ("record_appraisal", "council_member"),  # k2 c
        ("propose_recognition", "province_director"),  # k2 đ
        ("recognize", "province_leader"),  # Điều 11 k1: Chủ tịch UBND tỉnh
    ]
    body = await api.ok(await api.get(actors.head, f"/v1/cases/{case_id}/indicators"))
    applying = [i["code"] for i in body["indicators"] if i["state"]]
    # A school: the digital-transformation indicator of upper-secondary schools applies, TC3.5–3.6 do not.
    assert "TC3.4" in applying and "TC3.5" not in applying and "TC3.6" not in applying
    assert len(body["indicators"]) == 16  # Điều 12: 5 + 5 + 6


async def test_school_needs_95_percent_of_its_learners_as_learning_citizens(api: Api) -> None:
    case_id, actors = await walk_learning_unit(
        api, until="collect", procedure=LEARNING_UNIT_PROVINCE, kind="trung_hoc_pho_thong_cong_lap", org=SCHOOL
    )
    await api.ok(await api.fire_indicator(actors.head, case_id, "TC3.1", "reopen", {"reason": "số liệu người học"}))
    # The members' share alone is not enough for a school: its learners' share is required (Điều 12 k3 a).
    members_only = {"rating": "pass", "figures": {"members_share": 96.0}}
    refused = await api.fire_indicator(actors.head, case_id, "TC3.1", "submit_evidence", members_only)
    assert refused.status_code == 422 and p.codes(refused) == ["figures_invalid"]  # missing figures: malformed
    assert "figures.learners_share must be a percentage" in refused.json()["reasons"][0]["message"]
    short = {"rating": "pass", "figures": {"members_share": 96.0, "learners_share": 94.9}}
    await api.ok(await api.fire_indicator(actors.head, case_id, "TC3.1", "submit_evidence", short))
    body = await api.ok(await api.get(actors.head, f"/v1/cases/{case_id}/indicators"))
    tc31 = next(i for i in body["indicators"] if i["code"] == "TC3.1")
    assert tc31["result"] == {"1": False, "2": False}
    assert "level 1 needs members_share ≥ 90%, learners_share ≥ 95%" in tc31["explanation"]
    assert "level 2 needs members_share ≥ 95%, learners_share ≥ 97%" in tc31["explanation"]
    await api.ok(await api.fire_indicator(actors.head, case_id, "TC3.1", "return", {"reason": "kiểm tra lại"}))
    enough = {"rating": "pass", "figures": {"members_share": 96.0, "learners_share": 95.0}}
    await api.ok(await api.fire_indicator(actors.head, case_id, "TC3.1", "submit_evidence", enough))
    body = await api.ok(await api.get(actors.head, f"/v1/cases/{case_id}/indicators"))
    assert next(i for i in body["indicators"] if i["code"] == "TC3.1")["result"] == {"1": True, "2": False}


@pytest.mark.parametrize(("cycle", "profile"), [(2024, "three_tier"), (2025, "two_tier")])
async def test_enterprise_without_the_language_indicator_refused_by_the_directors_reply(
    api: Api, cycle: int, profile: str
) -> None:
    case_id, actors = await walk_learning_unit(
        api,
        until="record_appraisal",
        procedure=LEARNING_UNIT_PROVINCE,
        cycle=cycle,
        kind="to_chuc_kinh_te",
        org=ENTERPRISE,
        failed=("TC2.5",),
    )
    body = await api.ok(await api.get(actors.head, f"/v1/cases/{case_id}/indicators"))
    applying = [i["code"] for i in body["indicators"] if i["state"]]
    # Not for economic organisations: the language share (Điều 6 k2 d) and the state budget (Điều 6 k1 c).
    assert "TC2.4" not in applying and "TC1.3" not in applying
    assert body["criteria"]["TC2"] == {"1": True, "2": False}  # self-assessed: passes without TC2.4
    api.clock.set(f"{cycle + 1}-02-10T02:00:00")
    by_chairman = await api.fire(actors.chairman, case_id, "refuse", p.dv_refuse(f"{cycle + 1}-02-10"))
    assert by_chairman.status_code == 403  # the reply is the Giám đốc Sở's (Điều 16 k2 d)
    refused = await api.ok(await api.fire(actors.office_head, case_id, "refuse", p.dv_refuse(f"{cycle + 1}-02-10")))
    assert refused["case"]["state"] == "refused" and refused["case"]["profile"] == profile
    assert refused["event"]["actor"]["role"] == "province_director"
    assert refused["event"]["citation"] == "TT24/2023 Điều 16 k2 d"


async def test_province_decision_overdue_escalated_to_the_ministry(api: Api) -> None:
    case_id, _ = await walk_learning_unit(
        api, until="submit_dossier", procedure=LEARNING_UNIT_PROVINCE, cycle=2025, kind="co_quan_nha_nuoc", org="SO_YT"
    )
    report = await p.run_sweep(api, "2026-02-16T00:00:00+07:00")
    assert report.flagged == [(case_id, "decision")]
    overdue = [data for kind, data in await p.outbox_types(api, case_id) if kind == "deadline.overdue"]
    assert overdue[0]["escalate_to"] == "VN"  # above the provincial chairman (Điều 16 k3; Điều 18 k3)
