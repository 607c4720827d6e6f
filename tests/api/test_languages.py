"""Refusals in Vietnamese and English (``Accept-Language``, Vietnamese by default), and the refusals issue 15 named:
no token echoed, unknown triggers and indicators as 404s naming what exists, date format hints, a key reused on
another endpoint called so, malformed figures as 422; local times beside UTC."""

from __future__ import annotations

from datetime import datetime

from service import walkthrough as w
from tests.helpers import DEFINITION, Api

VI = {"Accept-Language": "vi-VN,vi;q=0.9"}


async def test_refusals_follow_accept_language_with_both_in_the_body(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    officer = api.who("commune_officer", "C3")
    path = f"/v1/cases/{case_id}/transitions/issue_plan"
    body = {"data": w.issue_plan(2025)}
    for headers, language in (({"Accept-Language": ""}, "vi"), (VI, "vi"), ({"Accept-Language": "en-US,en"}, "en")):
        response = await api.client.post(path, headers={**officer.headers, **headers}, json=body)
        assert response.status_code == 403
        assert response.headers["content-language"] == language
        assert "accept-language" in response.headers["vary"].lower()
        problem = response.json()
        assert problem["detail"] == problem[f"detail_{language}"]
        assert problem["detail_vi"] == "Bạn không có thẩm quyền thực hiện việc này"
        assert problem["detail_en"] == "you may not issue_plan in this case"
        [reason] = problem["reasons"]
        assert reason["code"] == "not_authorised"
        assert reason["message"] == reason[f"message_{language}"]
        assert reason["message_vi"].startswith("Bạn không có thẩm quyền thực hiện việc này — commune.leader: ")
        assert reason["message_en"].startswith("commune.leader: needs role commune_leader")
    # a refusal made before any route (a body over the limit) follows the header too
    big = "x" * (api.settings.request_max_bytes + 1)
    response = await api.client.post(path, headers={**leader.headers, **VI}, content=big)
    assert response.status_code == 413 and response.headers["content-language"] == "vi"
    assert response.json()["detail"] == response.json()["detail_vi"] == "Nội dung yêu cầu vượt quá giới hạn"


async def test_a_token_without_bearer_is_not_echoed(api: Api) -> None:
    token = api.who("commune_leader", "C1").headers["Authorization"].removeprefix("Bearer ")
    for header in (token, f"Token {token}", f"{token} {token}"):
        response = await api.client.get("/v1/cases", headers={"Authorization": header})
        assert response.status_code == 401
        assert token not in response.text and token[:20] not in response.text
        assert [r["code"] for r in response.json()["reasons"]] == ["bad_scheme"]
    response = await api.client.get("/v1/cases", headers={"Authorization": f"Basic {token}"})
    assert "not Basic" in response.json()["reasons"][0]["message_en"] and token not in response.text


async def test_an_unknown_trigger_is_a_404_naming_the_procedures_triggers(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    response = await api.fire(leader, case_id, "isue_plan", w.issue_plan(2025))
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["reasons"][0]["code"] == "trigger_unknown"
    assert "issue_plan" in problem["triggers"] and "lapse" not in problem["triggers"]
    assert (
        "cdht_xa/tt25-2023 has no trigger isue_plan; its triggers: assign_indicators"
        in problem["detail_en"] + (problem["reasons"][0]["message_en"])
    )
    # the system's own triggers are no operation either; another procedure's trigger names this one's
    for trigger in ("lapse", "compile"):
        response = await api.fire(api.who("admin", "VN"), case_id, trigger)
        assert response.status_code == 404 and "issue_plan" in response.json()["triggers"], response.text
    # indicator triggers: the indicator process's
    response = await api.client.post(
        f"/v1/cases/{case_id}/indicators/TC1.1/transitions/approve", headers=leader.headers, json={"data": {}}
    )
    assert response.status_code == 404 and response.json()["triggers"] == [
        "accept",
        "reopen",
        "return",
        "submit_evidence",
    ]
    # outside the jurisdiction nothing is told; without a token, 401
    assert (await api.fire(api.who("commune_leader", "C9"), case_id, "isue_plan")).status_code == 403
    response = await api.client.post(f"/v1/cases/{case_id}/transitions/isue_plan", json={"data": {}})
    assert response.status_code == 401
    history = await api.ok(await api.get(leader, f"/v1/cases/{case_id}/history"))
    assert [event["trigger"] for event in history] == ["open"]


async def test_an_unknown_indicator_is_a_404_not_a_403(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)))
    await api.ok(await api.fire(leader, case_id, "assign_indicators", w.assign_indicators(DEFINITION)))
    member = api.who("commune_member", "C3", org="hoi_khuyen_hoc")
    response = await api.upload(member, case_id, "TC9.9")
    assert response.status_code == 404, response.text
    reason = response.json()["reasons"][0]
    assert reason["code"] == "indicator_unknown" and "TC1.1, TC1.2" in reason["message_en"]
    response = await api.fire_indicator(member, case_id, "TC9.9", "submit_evidence", {"rating": "pass"})
    assert response.status_code == 404 and response.json()["reasons"][0]["code"] == "indicator_unknown"


async def test_bad_dates_say_the_format(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    response = await api.get(leader, f"/v1/cases/{case_id}", as_of="20/01/2025")
    assert response.status_code == 422
    [reason] = response.json()["reasons"]
    assert reason["code"] == "date_malformed"
    assert "2026-01-15" in reason["message_en"] and "2026-01-15" in reason["message_vi"]
    plan = w.issue_plan(2025, plan=w.docref("15/KH-UBND", "15/01/2025"))
    response = await api.fire(leader, case_id, "issue_plan", plan)
    assert response.status_code == 422
    assert (
        "plan/date: '15/01/2025' is not a 'date'; write the date as YYYY-MM-DD"
        in (response.json()["reasons"][0]["message_en"])
    )


async def test_a_key_reused_on_another_endpoint_is_called_so(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    key = {"Idempotency-Key": "one-key"}
    await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025), headers=key))
    response = await api.fire(leader, case_id, "assign_indicators", w.assign_indicators(DEFINITION), headers=key)
    assert response.status_code == 409
    problem = response.json()
    assert problem["detail_en"] == "this Idempotency-Key was already used on another endpoint"
    message = problem["reasons"][0]["message_en"]
    assert f"first used for POST /v1/cases/{case_id}/transitions/issue_plan, not POST" in message
    assert "body" not in message
    # the same endpoint with another body is still called that
    response = await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025, note="x"), headers=key)
    assert response.status_code == 409 and "different body" in response.json()["reasons"][0]["message_en"]


async def test_malformed_figures_are_a_422(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)))
    await api.ok(await api.fire(leader, case_id, "assign_indicators", w.assign_indicators(DEFINITION)))
    officer = api.who("commune_officer", "C3")
    await api.ok(await api.upload(officer, case_id, "TC5.1"), 201)
    for figures in ({"share": "many"}, {"portion": 80.0}, {}, {"share": 120.0}):
        payload = {**w.submit_evidence(DEFINITION, "TC5.1"), "figures": figures}
        response = await api.fire_indicator(officer, case_id, "TC5.1", "submit_evidence", payload)
        assert response.status_code == 422, response.text
        assert [r["code"] for r in response.json()["reasons"]] == ["figures_invalid"]
    payload = {**w.submit_evidence(DEFINITION, "TC1.1"), "figures": {"share": 90.0}}
    await api.ok(await api.upload(officer, case_id, "TC1.1"), 201)
    response = await api.fire_indicator(officer, case_id, "TC1.1", "submit_evidence", payload)
    assert response.status_code == 422 and response.json()["reasons"][0]["code"] == "figures_unexpected"
    await api.ok(
        await api.fire_indicator(officer, case_id, "TC5.1", "submit_evidence", w.submit_evidence(DEFINITION, "TC5.1"))
    )


async def test_times_the_law_speaks_of_carry_local_time(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    case = await api.ok(await api.get(leader, f"/v1/cases/{case_id}"))
    submission = next(d for d in case["deadlines"] if d["key"] == "submission")
    assert submission["due_at"] == "2026-02-28T16:59:59.999999Z"
    assert submission["due_local"] == "2026-02-28T23:59:59.999999+07:00"
    assert datetime.fromisoformat(submission["due_local"]) == datetime.fromisoformat(submission["due_at"])
    [event] = await api.ok(await api.get(leader, f"/v1/cases/{case_id}/history"))
    assert event["occurred_at_local"] == "2025-01-20T09:00:00+07:00"
    page = await api.ok(await api.get(leader, "/v1/deadlines"))
    assert page["items"][0]["due_local"].endswith("+07:00")
