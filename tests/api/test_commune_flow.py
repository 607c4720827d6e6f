"""The commune procedure end to end through HTTP (TT25/2023 Điều 9)."""

from __future__ import annotations

from service import walkthrough as w
from tests.helpers import DEFINITION, Api


async def test_full_case_reaches_recognized_at_level_1(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    reviewers = await api.walk(case_id, leader, cycle=2025, until="recognized")
    case = await api.ok(await api.get(reviewers.head, f"/v1/cases/{case_id}"))
    assert case["state"] == "recognized"
    assert case["level"] == 1
    assert case["profile"] == "two_tier"
    assert case["decided_on"] == "2026-03-20"
    deadlines = {d["key"]: d for d in case["deadlines"]}
    assert deadlines["submission"]["status"] == "met"
    assert deadlines["decision"]["status"] == "met"
    assert deadlines["validity"]["status"] == "open"
    assert deadlines["validity"]["due_at"] == "2029-12-31T16:59:59.999999Z"
    history = await api.ok(await api.get(reviewers.head, f"/v1/cases/{case_id}/history"))
    triggers = [e["trigger"] for e in history if e["kind"] == "transition"]
    assert triggers == [
        "issue_plan",
        "assign_indicators",
        "complete_self_assessment",
        "record_review_meeting",
        "submit_dossier",
        "receive_dossier",
        "form_council",
        "record_appraisal",
        "recognize",
    ]
    assert [e["seq"] for e in history] == list(range(1, len(history) + 1))
    verify = await api.ok(await api.get(reviewers.head, "/v1/audit/verify", case=case_id))
    assert verify == {
        "ok": True,
        "mode": "full",
        "events_checked": len(history),
        "chains_checked": 1,
        "first_bad_event": None,
    }


async def test_three_tier_cycle_is_decided_by_the_district_head(api: Api) -> None:
    case_id, leader = await api.new_case("C1", 2024)
    reviewers = await api.walk(case_id, leader, cycle=2024, until="recognized")
    case = await api.ok(await api.get(leader, f"/v1/cases/{case_id}"))
    assert case["profile"] == "three_tier"
    assert reviewers.head.role == "district_head"
    history = await api.ok(await api.get(leader, f"/v1/cases/{case_id}/history"))
    recognize = next(e for e in history if e["trigger"] == "recognize")
    assert recognize["actor"] == {
        "sub": reviewers.head.sub,
        "name": "Test district_head",
        "role": "district_head",
        "unit": "D1",
        "on_behalf_of": None,
    }
    assert recognize["citation"] == "TT25/2023 Điều 9 k2 đ"


async def test_appraisal_not_eligible_ends_refused_with_reasons(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    reviewers = await api.walk(case_id, leader, cycle=2025, until="appraised", failed=("TC3.2",))
    api.clock.set("2026-03-20T02:00:00")
    refused = await api.fire(reviewers.head, case_id, "recognize", w.recognize(2025))
    assert refused.status_code == 409
    assert [r["code"] for r in refused.json()["reasons"]] == ["appraisal_not_eligible"]
    assert refused.json()["allowed_transitions"] == ["refuse"]
    body = await api.ok(await api.fire(reviewers.head, case_id, "refuse", w.refuse(2025)))
    assert body["case"]["state"] == "refused"
    assert body["case"]["level"] is None
    assert body["event"]["payload"]["data"]["reasons"] == w.refuse(2025)["reasons"]
    assert body["case"]["allowed_transitions"] == []


async def test_tc5_figures_reaching_only_level_1_refuse_a_level_2_request(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025, target_level=2)
    figures = {"TC5.1": {"share": 70.0}}  # level 2 needs 80%
    await api.collect(case_id, leader, cycle=2025, level=2, figures=figures)
    indicators = await api.ok(await api.get(leader, f"/v1/cases/{case_id}/indicators"))
    tc51 = next(i for i in indicators["indicators"] if i["code"] == "TC5.1")
    assert tc51["result"] == {"1": True, "2": False}
    assert tc51["rating"] == "pass"
    assert tc51["disagrees_at"] == [2]  # the self-rating says pass; the figures reach level 1 only
    assert indicators["assessed_level"] == 1
    api.clock.set("2026-01-10T02:00:00")
    await api.ok(await api.fire(leader, case_id, "complete_self_assessment", w.complete_self_assessment(2025)))
    api.clock.set("2026-02-10T02:00:00")
    await api.ok(await api.fire(leader, case_id, "record_review_meeting", w.record_review_meeting(2025)))
    refused = await api.fire(leader, case_id, "submit_dossier", w.submit_dossier(2025, 2))
    assert refused.status_code == 409
    reason = refused.json()["reasons"][0]
    assert reason["code"] == "requested_level_not_assessed"
    assert "reaches level 1" in reason["message"] and "TC5 (L2)" in reason["message"]
    body = await api.ok(await api.fire(leader, case_id, "submit_dossier", w.submit_dossier(2025, 1)))
    assert body["case"]["requested_level"] == 1
    assert body["case"]["assessed_level"] == 1


async def test_declined_submission_ends_not_submitted(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.walk(case_id, leader, cycle=2025, until="review_meeting_held")
    body = await api.ok(
        await api.fire(leader, case_id, "decline_submission", {"reason": "Chưa đạt tiêu chí 5; tiếp tục xây dựng"})
    )
    assert body["case"]["state"] == "not_submitted"
    deadlines = {d["key"]: d["status"] for d in body["case"]["deadlines"]}
    assert deadlines == {"submission": "met"}
    again = await api.fire(leader, case_id, "submit_dossier", w.submit_dossier(2025, 1))
    assert again.status_code == 409
    assert again.json()["reasons"][0]["code"] == "wrong_state"


async def test_disadvantaged_commune_passes_tc52_at_its_own_threshold(api: Api) -> None:
    case_id, leader = await api.new_case("C2", 2024)
    figures = {"TC5.2": {"trained_share": 41.0, "university_share": 10.5}}  # below 50/12, above 40/10
    await api.collect(case_id, leader, cycle=2024, figures=figures)
    indicators = await api.ok(await api.get(leader, f"/v1/cases/{case_id}/indicators"))
    tc52 = next(i for i in indicators["indicators"] if i["code"] == "TC5.2")
    assert tc52["result"]["1"] is True
    assert "disadvantaged" in tc52["explanation"]
    assert indicators["assessed_level"] == 1


async def test_indicator_catalogue_carries_the_law_wording(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    indicators = await api.ok(await api.get(leader, f"/v1/cases/{case_id}/indicators"))
    assert [i["code"] for i in indicators["indicators"]] == [i.code for i in DEFINITION.indicators]
    assert len(indicators["indicators"]) == 15
    tc11 = indicators["indicators"][0]
    assert tc11["label"]["vi"].startswith("Thực hiện công tác tuyên truyền")
    assert tc11["state"] is None  # not assigned yet
