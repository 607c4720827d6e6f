"""Follow-up remediation after a commune's evaluation (khac_phuc, Bắc Kạn directive) through HTTP."""

from __future__ import annotations

import uuid

from tests.helpers import Api, Who
from tests.procedures import other_payloads as p

PROCEDURE = "khac_phuc"


async def open_follow_up(api: Api, *, evaluated: str | None = None) -> tuple[str, Who, Who, str]:
    """Open a follow-up for C3, cycle 2025 (two_tier: the provincial Department reviews), and issue the
    recommendations on 01/04/2026. Returns (case id, reviewer head, commune leader, evaluated case id)."""
    director = api.who("province_director", "P1")
    leader = api.who("commune_leader", "C3")
    evaluated = evaluated or str(uuid.uuid4())
    api.clock.set("2026-04-01T02:00:00")
    case = await api.ok(await p.open_case(api, director, PROCEDURE, "C3", 2025), 201)
    await api.ok(
        await api.fire(director, case["id"], "issue_recommendations", p.kp_recommendations(evaluated, "2026-04-01"))
    )
    return case["id"], director, leader, evaluated


async def to_reporting(api: Api) -> tuple[str, Who, Who]:
    case_id, director, leader, _ = await open_follow_up(api)
    api.clock.set("2026-04-20T02:00:00")
    await api.ok(await api.fire(leader, case_id, "adopt_plan", p.kp_plan("2026-04-20")))
    api.clock.set("2026-06-30T02:00:00")
    await api.ok(await api.fire(leader, case_id, "report_progress", p.kp_progress("2026-06-30")))
    return case_id, director, leader


async def test_follow_up_of_a_recognised_commune_walked_to_closed(api: Api) -> None:
    evaluated, commune_leader = await api.new_case("C3", 2025)
    await api.walk(evaluated, commune_leader, cycle=2025, until="recognized")
    case_id, director, leader, _ = await open_follow_up(api, evaluated=evaluated)
    case = await api.ok(await api.get(director, f"/v1/cases/{case_id}"))
    assert case["profile"] == "two_tier"
    assert case["dossier"]["issue_recommendations"]["evaluated_case"] == evaluated
    plan = next(d for d in case["deadlines"] if d["key"] == "plan")
    assert plan["due_at"] == "2026-05-01T16:59:59.999999Z"  # 30 calendar days after 01/04/2026, end of day local
    assert plan["rule"] == "calendar_days_after"
    api.clock.set("2026-04-20T02:00:00")
    adopted = await api.ok(await api.fire(leader, case_id, "adopt_plan", p.kp_plan("2026-04-20")))
    assert adopted["case"]["state"] == "plan_adopted"
    assert {d["key"]: d["status"] for d in adopted["case"]["deadlines"]} == {"plan": "met"}
    for day in ("2026-06-30", "2026-09-30"):  # reported as often as needed; the case stays in reporting
        api.clock.set(f"{day}T02:00:00")
        reported = await api.ok(await api.fire(leader, case_id, "report_progress", p.kp_progress(day)))
        assert reported["case"]["state"] == "reporting"
    assert reported["case"]["dossier"]["report_progress"]["report"]["date"] == "2026-09-30"
    api.clock.set("2026-10-05T02:00:00")
    closed = await api.ok(await api.fire(director, case_id, "close", p.kp_close("2026-10-05")))
    assert closed["case"]["state"] == "closed"
    assert closed["case"]["allowed_transitions"] == []
    assert (closed["case"]["target_level"], closed["case"]["level"], closed["case"]["assessed_level"]) == (
        None,
        None,
        None,
    )
    history = await api.ok(await api.get(director, f"/v1/cases/{case_id}/history"))
    assert [e["trigger"] for e in history if e["kind"] == "transition"] == [
        "issue_recommendations",
        "adopt_plan",
        "report_progress",
        "report_progress",
        "close",
    ]
    indicators = await api.ok(await api.get(director, f"/v1/cases/{case_id}/indicators"))
    assert indicators["indicators"] == [] and indicators["assessed_level"] == 0
    verify = await api.ok(await api.get(director, "/v1/audit/verify", case=case_id))
    assert verify["ok"] is True


async def test_commune_cannot_close_its_own_follow_up_forbidden(api: Api) -> None:
    case_id, _, leader = await to_reporting(api)
    api.clock.set("2026-07-01T02:00:00")
    refused = await api.fire(leader, case_id, "close", p.kp_close("2026-07-01"))
    assert refused.status_code == 403, refused.text
    assert p.codes(refused) == ["not_authorised"]


async def test_reviewer_asks_for_more_then_closes_after_the_next_report(api: Api) -> None:
    case_id, director, leader = await to_reporting(api)
    api.clock.set("2026-07-05T02:00:00")
    blank = await api.fire(director, case_id, "request_more", {"reason": "  "})
    assert p.codes(blank) == ["reason_required"]
    more = await api.ok(
        await api.fire(director, case_id, "request_more", {"reason": "TC5.1 chưa bền vững; báo cáo lại quý III"})
    )
    assert more["case"]["state"] == "more_requested"
    too_early = await api.fire(director, case_id, "close", p.kp_close("2026-07-05"))
    assert too_early.status_code == 409
    assert p.codes(too_early) == ["wrong_state"]
    api.clock.set("2026-09-30T02:00:00")
    await api.ok(await api.fire(leader, case_id, "report_progress", p.kp_progress("2026-09-30")))
    api.clock.set("2026-10-05T02:00:00")
    early_letter = await api.fire(director, case_id, "close", p.kp_close("2026-09-29"))
    assert p.codes(early_letter) == ["dated_before_previous_step"]
    closed = await api.ok(await api.fire(director, case_id, "close", p.kp_close("2026-10-05")))
    assert closed["case"]["state"] == "closed"


async def test_commune_leader_cannot_open_a_follow_up_forbidden(api: Api) -> None:
    api.clock.set("2026-04-01T02:00:00")
    refused = await p.open_case(api, api.who("commune_leader", "C3"), PROCEDURE, "C3", 2025)
    assert refused.status_code == 403
    assert p.codes(refused) == ["not_authorised"]


async def test_three_tier_cycle_follow_up_opened_by_the_district_head(api: Api) -> None:
    api.clock.set("2025-04-01T02:00:00")
    body = await api.ok(await p.open_case(api, api.who("district_head", "D1"), PROCEDURE, "C1", 2024), 201)
    assert body["profile"] == "three_tier" and body["state"] == "opened"
    refused = await p.open_case(api, api.who("province_director", "P1"), PROCEDURE, "C2", 2024)
    assert refused.status_code == 403  # before the reform the district office reviews, not the Department


async def test_recommendations_without_evaluated_case_or_findings_refused(api: Api) -> None:
    director = api.who("province_director", "P1")
    api.clock.set("2026-04-01T02:00:00")
    case = await api.ok(await p.open_case(api, director, PROCEDURE, "C3", 2025), 201)
    payload = p.kp_recommendations(" ", "2026-04-01")
    payload["recommendations"].append({"criterion": "TC3.2", "finding": "", "kind": "weak"})
    refused = await api.fire(director, case["id"], "issue_recommendations", payload)
    assert refused.status_code == 409
    assert p.codes(refused) == ["evaluated_case_required", "recommendations_invalid"]
    message = refused.json()["reasons"][1]["message"]
    assert "recommendation 3 states no finding" in message and "more than one recommendation on TC3.2" in message
    empty = await api.fire(
        director, case["id"], "issue_recommendations", p.kp_recommendations("x", "2026-04-01", recommendations=[])
    )
    assert p.codes(empty) == ["recommendations_invalid"]


async def test_plan_leaving_a_recommendation_unanswered_refused(api: Api) -> None:
    case_id, _, leader, _ = await open_follow_up(api)
    api.clock.set("2026-04-20T02:00:00")
    plan = p.kp_plan("2026-04-20")
    plan["actions"] = [
        plan["actions"][0],
        {"criterion": "TC2.1", "action": "Bổ sung kinh phí", "due_date": "2026-04-01"},
    ]
    refused = await api.fire(leader, case_id, "adopt_plan", plan)
    assert refused.status_code == 409
    assert p.codes(refused) == ["plan_incomplete"]
    message = refused.json()["reasons"][0]["message"]
    assert "no action for TC5.1" in message
    assert "actions on criteria not recommended: TC2.1" in message
    assert "action 2 is due 01/04/2026, before the plan of 20/04/2026" in message


async def test_progress_report_dated_before_the_plan_refused(api: Api) -> None:
    case_id, _, leader, _ = await open_follow_up(api)
    api.clock.set("2026-04-20T02:00:00")
    await api.ok(await api.fire(leader, case_id, "adopt_plan", p.kp_plan("2026-04-20")))
    refused = await api.fire(leader, case_id, "report_progress", p.kp_progress("2026-04-19"))
    assert refused.status_code == 409
    assert p.codes(refused) == ["dated_before_previous_step"]


async def test_plan_adopted_after_30_days_flagged_breached(api: Api) -> None:
    case_id, director, leader, _ = await open_follow_up(api)
    api.clock.set("2026-05-02T02:00:00")
    case = await api.ok(await api.get(director, f"/v1/cases/{case_id}"))
    assert next(d for d in case["deadlines"] if d["key"] == "plan")["overdue"] is True
    body = await api.ok(await api.fire(leader, case_id, "adopt_plan", p.kp_plan("2026-05-02")))
    assert body["case"]["state"] == "plan_adopted"
    assert {d["key"]: d["status"] for d in body["case"]["deadlines"]} == {"plan": "breached"}


async def test_sweeper_flags_a_missing_plan_without_escalation(api: Api) -> None:
    case_id, _, _, _ = await open_follow_up(api)
    assert (await p.run_sweep(api, "2026-05-01T23:59:59+07:00")).flagged == []
    report = await p.run_sweep(api, "2026-05-02T00:00:00+07:00")
    assert report.flagged == [(case_id, "plan")]
    overdue = [data for kind, data in await p.outbox_types(api, case_id) if kind == "deadline.overdue"]
    assert [(d["deadline"], d["escalate_to"]) for d in overdue] == [("plan", None)]
