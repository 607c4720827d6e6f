"""A district-tier learning unit ("Đơn vị học tập" cấp huyện, TT24/2023 Điều 5–10) through HTTP: a case about an
organisation of the district, walked by each body the circular names, before the reform (three_tier, unit D1)."""

from __future__ import annotations

from tests.helpers import Api
from tests.procedures import other_payloads as p
from tests.procedures.other_payloads import ORG
from tests.support.walks import LEARNING_UNIT, LearningUnitActors, open_learning_unit_case, walk_learning_unit


async def test_learning_unit_walked_by_each_body_recognised_at_level_2(api: Api) -> None:
    case_id, actors = await walk_learning_unit(api, until="recognize", level=2)
    case = await api.ok(await api.get(actors.chairman, f"/v1/cases/{case_id}"))
    assert case["state"] == "recognized"
    assert (case["unit"], case["subject"], case["subject_kind"], case["profile"]) == (
        "D1",
        ORG,
        "co_quan_nha_nuoc",
        "three_tier",
    )
    assert (case["requested_level"], case["level"], case["decided_on"]) == (2, 2, "2025-02-14")
    deadlines = {d["key"]: d for d in case["deadlines"]}
    assert {k: d["status"] for k, d in deadlines.items()} == {
        "submission": "met",
        "decision": "met",
        "validity": "open",
    }
    assert deadlines["decision"]["inputs"]["named_date"] == "2025-02-15"  # Điều 10 k3
    # 03 years following the year recognised (Điều 5 k4): decided in 2025, held until 31/12/2028.
    assert deadlines["validity"]["due_at"].startswith("2028-12-31")
    history = await api.ok(await api.get(actors.chairman, f"/v1/cases/{case_id}/history"))
    transitions = [(e["trigger"], e["actor"]["role"]) for e in history if e["kind"] == "transition"]
    assert transitions == [
        ("form_assessment_team", "learning_unit_head"),  # Điều 10 k1 a
        ("complete_self_assessment", "learning_unit_head"),  # k1 b
        ("submit_dossier", "learning_unit_head"),  # k1 c
        ("receive_dossier", "district_officer"),  # k2 a: Phòng GDĐT
        ("form_council", "district_head"),  # k2 b: Trưởng phòng
        ("record_appraisal", "council_member"),  # k2 c
        ("propose_recognition", "district_head"),  # k2 đ: the Trưởng phòng proposes
        ("recognize", "district_leader"),  # Điều 5 k1: Chủ tịch UBND huyện
    ]
    assert history[0]["payload"]["subject"] == ORG
    assert history[0]["payload"]["pinned"]["subject_kind"] == "co_quan_nha_nuoc"
    verify = await api.ok(await api.get(actors.chairman, "/v1/audit/verify", case=case_id))
    assert verify["ok"] is True


async def test_indicators_that_apply_go_to_the_assessment_team(api: Api) -> None:
    case_id, actors = await walk_learning_unit(api, until="form_assessment_team")
    body = await api.ok(await api.get(actors.head, f"/v1/cases/{case_id}/indicators"))
    assigned = [i["code"] for i in body["indicators"] if i["state"] == "assigned"]
    # A state agency: TC3.4 (general schools) and TC3.5 (vocational institutions) do not apply (Điều 6 k3 d–đ).
    assert assigned == [f"TC1.{i}" for i in range(1, 6)] + [f"TC2.{i}" for i in range(1, 6)] + [
        "TC3.1",
        "TC3.2",
        "TC3.3",
    ]
    assert {i["assignee_org"] for i in body["indicators"] if i["state"]} == {ORG}
    not_applying = {i["code"]: i["explanation"] for i in body["indicators"] if i["state"] is None}
    assert set(not_applying) == {"TC3.4", "TC3.5"}
    assert {i["code"] for i in body["indicators"] if not i["applies"]} == {"TC3.4", "TC3.5"}
    tc24 = next(i for i in body["indicators"] if i["code"] == "TC2.4")
    assert tc24["label"]["vi"].startswith("Chỉ tiêu 4: Tối thiểu 50% Thành viên trong đơn vị có chứng nhận")
    assert tc24["labels_vi_by_level"]["2"].startswith("Chỉ tiêu 4: Tối thiểu 70% Thành viên trong đơn vị có trình độ")
    assert all("does not apply" in text for text in not_applying.values())


async def test_share_below_90_percent_fails_and_the_level_cannot_be_asked(api: Api) -> None:
    case_id, actors = await walk_learning_unit(api, until="collect")
    await api.ok(await api.fire_indicator(actors.head, case_id, "TC2.1", "reopen", {"reason": "số liệu cuối năm"}))
    data = {"rating": "pass", "figures": {"members_share": 89.9}}
    await api.ok(await api.fire_indicator(actors.head, case_id, "TC2.1", "submit_evidence", data))
    await api.ok(await api.fire_indicator(actors.head, case_id, "TC2.1", "accept"))
    body = await api.ok(await api.get(actors.head, f"/v1/cases/{case_id}/indicators"))
    tc21 = next(i for i in body["indicators"] if i["code"] == "TC2.1")
    assert tc21["result"] == {"1": False, "2": False} and tc21["disagrees_at"] == [1, 2]
    assert "members_share ≥ 90%" in tc21["explanation"]
    assert body["assessed_level"] == 0 and body["criteria"]["TC2"] == {"1": False, "2": False}
    api.clock.set("2025-01-05T02:00:00")
    await api.ok(await api.fire(actors.head, case_id, "complete_self_assessment", p.dv_self_assessment(2024)))
    api.clock.set("2025-01-10T02:00:00")
    refused = await api.fire(actors.head, case_id, "submit_dossier", p.dv_submit(1))
    assert refused.status_code == 409, refused.text
    assert p.codes(refused) == ["requested_level_not_assessed"]


async def test_indicator_without_evidence_is_not_met(api: Api) -> None:
    actors = LearningUnitActors(api)
    case_id = await open_learning_unit_case(api, actors)
    await api.ok(await api.fire(actors.head, case_id, "form_assessment_team", p.dv_team(2024)))
    # Rated pass, but no file: not met (Điều 9 k3), and the self-rating is shown to disagree.
    await api.ok(await api.fire_indicator(actors.head, case_id, "TC1.1", "submit_evidence", {"rating": "pass"}))
    body = await api.ok(await api.get(actors.head, f"/v1/cases/{case_id}/indicators"))
    tc11 = next(i for i in body["indicators"] if i["code"] == "TC1.1")
    assert tc11["result"] == {"1": False, "2": False}
    assert "no evidence on record: not met (TT24/2023 Điều 9 k3)" in tc11["explanation"]
    await api.ok(await api.fire_indicator(actors.head, case_id, "TC1.1", "return", {"reason": "thiếu minh chứng"}))
    await api.ok(await api.upload(actors.head, case_id, "TC1.1"), 201)
    await api.ok(await api.fire_indicator(actors.head, case_id, "TC1.1", "submit_evidence", {"rating": "pass"}))
    body = await api.ok(await api.get(actors.head, f"/v1/cases/{case_id}/indicators"))
    assert next(i for i in body["indicators"] if i["code"] == "TC1.1")["result"] == {"1": True, "2": True}


async def test_submission_due_on_15_january_of_the_next_year(api: Api) -> None:
    actors = LearningUnitActors(api)
    case_id = await open_learning_unit_case(api, actors)
    case = await api.ok(await api.get(actors.head, f"/v1/cases/{case_id}"))
    (deadline,) = case["deadlines"]
    assert deadline["key"] == "submission"
    assert deadline["due_at"] == "2025-01-15T16:59:59.999999Z"  # 23:59:59.999999 on 15/01/2025, local time
    assert deadline["inputs"]["named_date"] == "2025-01-15"
    assert "TT24/2023 Điều 10 k1 c" in deadline["explanation"]


async def test_dossier_after_15_january_refused_submission_deadline_passed(api: Api) -> None:
    case_id, actors = await walk_learning_unit(api, until="complete_self_assessment")
    api.clock.set("2025-01-15T17:00:00")  # 00:00 on 16/01/2025 local
    refused = await api.fire(actors.head, case_id, "submit_dossier", p.dv_submit(day="2025-01-15"))
    assert refused.status_code == 409, refused.text
    assert p.codes(refused) == ["submission_deadline_passed"]
    assert "15/01/2025" in refused.json()["reasons"][0]["message"]


async def test_self_assessment_closes_after_the_data_year(api: Api) -> None:
    case_id, actors = await walk_learning_unit(api, until="collect")
    api.clock.set("2024-12-20T02:00:00")
    early = await api.fire(actors.head, case_id, "complete_self_assessment", p.dv_self_assessment(2023))
    assert p.codes(early) == ["cycle_not_ended"]
    assert "01/01–31/12/2024" in early.json()["reasons"][0]["message"]


async def test_opening_without_subject_or_kind_refused(api: Api) -> None:
    api.clock.set("2024-10-01T02:00:00")
    head = api.who("learning_unit_head", "D1", org=ORG)
    refused = await p.open_case(api, head, LEARNING_UNIT, "D1", 2024)
    assert refused.status_code == 422, refused.text
    assert p.codes(refused) == ["subject_required", "subject_kind_required"]
    unknown = await p.open_case(api, head, LEARNING_UNIT, "D1", 2024, subject=ORG, subject_kind="truong_thpt")
    assert p.codes(unknown) == ["subject_kind_unknown"]
    # A kind of the province tier only (Điều 2 k4) is not one of the district tier's (k3).
    province_only = await p.open_case(
        api, head, LEARNING_UNIT, "D1", 2024, subject=ORG, subject_kind="dai_hoc_cong_lap"
    )
    assert p.codes(province_only) == ["subject_kind_unknown"]


async def test_head_of_another_organisation_cannot_open_forbidden(api: Api) -> None:
    api.clock.set("2024-10-01T02:00:00")
    other = api.who("learning_unit_head", "D1", org="TRUNG_TAM_Y_TE_D1")
    refused = await p.open_case(api, other, LEARNING_UNIT, "D1", 2024, subject=ORG, subject_kind="co_quan_nha_nuoc")
    assert refused.status_code == 403, refused.text
    assert p.codes(refused) == ["not_authorised", "not_authorised"]
    assert any(ORG in r["message"] and "TRUNG_TAM_Y_TE_D1" in r["message"] for r in refused.json()["reasons"])


async def test_head_of_another_organisation_cannot_act_forbidden(api: Api) -> None:
    actors = LearningUnitActors(api)
    case_id = await open_learning_unit_case(api, actors)
    other = api.who("learning_unit_head", "D1", org="TRUNG_TAM_Y_TE_D1")
    refused = await api.fire(other, case_id, "form_assessment_team", p.dv_team(2024))
    assert refused.status_code == 403
    # Another organisation's head may not even read the case (it speaks for its own organisation only).
    assert p.codes(refused) == ["outside_jurisdiction"]
    assert (await api.get(other, f"/v1/cases/{case_id}")).status_code == 403
    own = await api.ok(await api.get(actors.head, f"/v1/cases/{case_id}"))
    assert own["subject"] == ORG


async def test_education_office_head_may_open_for_a_unit_it_guides(api: Api) -> None:
    api.clock.set("2024-10-01T02:00:00")
    opened = await p.open_case(
        api, api.who("district_head", "D1"), LEARNING_UNIT, "D1", 2024, subject=ORG, subject_kind="ubnd_xa"
    )
    body = await api.ok(opened, 201)
    assert body["subject"] == ORG and body["state"] == "forming_team" and body["subject_kind"] == "ubnd_xa"


async def test_council_lacking_a_socio_political_organisation_or_odd_size_refused(api: Api) -> None:
    case_id, actors = await walk_learning_unit(api, until="receive_dossier")
    api.clock.set("2025-01-20T02:00:00")
    four = await api.fire(actors.office_head, case_id, "form_council", p.dv_council(actors.secretary.sub, members=4))
    assert four.status_code == 409, four.text
    assert p.codes(four) == ["council_invalid"]
    message = four.json()["reasons"][0]["message"]
    assert "4 members" in message and "TT24/2023 Điều 10 k2 b" in message
    council = p.dv_council(actors.secretary.sub)
    council["members"][3] = {**council["members"][3], "org_type": "mat_tran", "org": "Ủy ban MTTQ"}
    no_union = await api.fire(actors.office_head, case_id, "form_council", council)
    assert (
        "no representative of a socio-political organisation (tổ chức chính trị-xã hội)"
        in (no_union.json()["reasons"][0]["message"])
    )
    body = await api.ok(await api.fire(actors.office_head, case_id, "form_council", p.dv_council(actors.secretary.sub)))
    assert body["case"]["state"] == "council_formed"


async def test_council_member_not_named_cannot_record_appraisal(api: Api) -> None:
    case_id, actors = await walk_learning_unit(api, until="form_council")
    api.clock.set("2025-02-05T02:00:00")
    codes = [i.code for i in actors.definition().applicable_indicators("co_quan_nha_nuoc")]
    refused = await api.fire(api.who("council_member", "D1"), case_id, "record_appraisal", p.dv_appraisal(codes))
    assert refused.status_code == 403
    assert p.codes(refused) == ["not_authorised"]


async def test_appraisal_missing_an_indicator_or_contradicting_its_results_refused(api: Api) -> None:
    case_id, actors = await walk_learning_unit(api, until="form_council")
    api.clock.set("2025-02-05T02:00:00")
    codes = [i.code for i in actors.definition().applicable_indicators("co_quan_nha_nuoc")]
    partial = p.dv_appraisal(codes[:-1])
    refused = await api.fire(actors.secretary, case_id, "record_appraisal", partial)
    assert p.codes(refused) == ["appraisal_results_incomplete"]
    assert "no result for TC3.3 (TT24/2023 Điều 10 k2 c)" in refused.json()["reasons"][0]["message"]
    # TC3.4 applies only to general schools (Điều 6 k3 d): no result for it is taken from a state agency.
    extra = await api.fire(actors.secretary, case_id, "record_appraisal", p.dv_appraisal([*codes, "TC3.4"]))
    assert "unknown indicators TC3.4" in extra.json()["reasons"][0]["message"]
    contradicting = p.dv_appraisal(codes, failed=("TC2.2",), conclusion="eligible")
    refused = await api.fire(actors.secretary, case_id, "record_appraisal", contradicting)
    assert p.codes(refused) == ["conclusion_inconsistent"]
    other_level = await api.fire(actors.secretary, case_id, "record_appraisal", p.dv_appraisal(codes, level=2))
    assert p.codes(other_level) == ["appraisal_level_mismatch"]


async def test_not_eligible_unit_gets_the_reply_of_the_head_of_the_office_not_the_chairman(api: Api) -> None:
    case_id, actors = await walk_learning_unit(api, until="record_appraisal", failed=("TC2.1",))
    api.clock.set("2025-02-10T02:00:00")
    proposed = await api.fire(actors.office_head, case_id, "propose_recognition", p.dv_propose())
    assert proposed.status_code == 409
    assert p.codes(proposed) == ["appraisal_not_eligible"]
    assert proposed.json()["allowed_transitions"] == ["refuse"]
    # The reply is the Trưởng phòng's (Điều 10 k2 d): the chairman may not send it.
    by_chairman = await api.fire(actors.chairman, case_id, "refuse", p.dv_refuse())
    assert by_chairman.status_code == 403 and p.codes(by_chairman) == ["not_authorised"]
    blank = await api.fire(actors.office_head, case_id, "refuse", p.dv_refuse(reasons=[" "]))
    assert p.codes(blank) == ["reasons_required"]
    body = await api.ok(await api.fire(actors.office_head, case_id, "refuse", p.dv_refuse()))
    assert body["case"]["state"] == "refused"
    assert body["case"]["level"] is None
    assert body["event"]["citation"] == "TT24/2023 Điều 10 k2 d"


async def test_the_chairman_recognises_only_what_the_head_of_the_office_proposed(api: Api) -> None:
    case_id, actors = await walk_learning_unit(api, until="record_appraisal")
    api.clock.set("2025-02-10T02:00:00")
    early = await api.fire(actors.chairman, case_id, "recognize", p.dv_recognize("2025-02-10"))
    assert early.status_code == 409 and p.codes(early) == ["wrong_state"]
    by_head = await api.fire(actors.office_head, case_id, "recognize", p.dv_recognize("2025-02-10"))
    assert by_head.status_code == 403
    await api.ok(await api.fire(actors.office_head, case_id, "propose_recognition", p.dv_propose()))
    body = await api.ok(await api.fire(actors.chairman, case_id, "recognize", p.dv_recognize("2025-02-10")))
    assert body["case"]["state"] == "recognized" and body["case"]["level"] == 1


async def test_recognised_organisation_cannot_open_another_first_case(api: Api) -> None:
    await walk_learning_unit(api, until="recognize")
    api.clock.set("2025-03-01T02:00:00")
    head = api.who("learning_unit_head", "D1", org=ORG)
    refused = await p.open_case(api, head, LEARNING_UNIT, "D1", 2024, subject=ORG, subject_kind="co_quan_nha_nuoc")
    assert refused.status_code == 409
    assert p.codes(refused) == ["already_recognised"]
    # Another organisation of the same district is a case of its own.
    other = api.who("learning_unit_head", "D1", org="TRUNG_TAM_Y_TE_D1")
    opened = await p.open_case(
        api, other, LEARNING_UNIT, "D1", 2024, subject="TRUNG_TAM_Y_TE_D1", subject_kind="co_quan_nha_nuoc"
    )
    assert (await api.ok(opened, 201))["subject"] == "TRUNG_TAM_Y_TE_D1"


async def test_sweeper_lapses_a_unit_that_did_not_submit_by_15_january(api: Api) -> None:
    actors = LearningUnitActors(api)
    case_id = await open_learning_unit_case(api, actors)
    assert (await p.run_sweep(api, "2025-01-15T23:59:59+07:00")).fired == []
    report = await p.run_sweep(api, "2025-01-16T00:00:00+07:00")
    assert report.fired == [(case_id, "lapse")]
    case = await api.ok(await api.get(actors.head, f"/v1/cases/{case_id}"))
    assert case["state"] == "lapsed"
    assert {d["key"]: d["status"] for d in case["deadlines"]} == {"submission": "breached"}


async def test_decision_not_made_by_15_february_flagged_and_escalated_to_the_province(api: Api) -> None:
    case_id, actors = await walk_learning_unit(api, until="record_appraisal")
    assert (await p.run_sweep(api, "2025-02-15T23:59:59+07:00")).flagged == []
    report = await p.run_sweep(api, "2025-02-16T00:00:00+07:00")
    assert report.flagged == [(case_id, "decision")] and report.fired == []
    events = await p.outbox_types(api, case_id)
    overdue = [data for kind, data in events if kind == "deadline.overdue"]
    assert len(overdue) == 1 and overdue[0]["escalate_to"] == "P1"  # above the district chairman (Điều 10 k3)
    case = await api.ok(await api.get(actors.chairman, f"/v1/cases/{case_id}"))
    assert case["state"] == "appraised"  # flagged, never decided for the office
