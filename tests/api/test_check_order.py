"""The engine's checks run in one order (service/domain/cases/checks.py): readable, clock, version, trigger,
authority, state, payload, guards. A request that breaks several is refused by the first, and ``explain`` gives the
same reasons the write refuses with, from the same checks."""

from __future__ import annotations

from service import walkthrough as w
from tests.helpers import Api

FUTURE_PLAN = w.issue_plan(2025, plan=w.docref("15/KH-UBND", "2025-12-31"))  # fails has_no_future_dates


def code_of(response) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    return response.status_code, response.json()["reasons"][0]["code"]


async def test_each_check_refuses_before_the_ones_after_it(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    stale = {"If-Match": '"v99"'}
    outsider = api.who("commune_leader", "C9")
    officer = api.who("commune_officer", "C3")
    # readable before everything: the outsider learns nothing, not even that the ETag is stale
    assert code_of(await api.fire(outsider, case_id, "assign_indicators", {}, headers=stale)) == (
        403,
        "outside_jurisdiction",
    )
    # clock before version
    api.clock.set("2025-01-01T00:00:00")
    assert code_of(await api.fire(leader, case_id, "issue_plan", {}, headers=stale)) == (409, "time_out_of_order")
    api.clock.set("2025-01-21T02:00:00")
    # version before trigger (an indicator the case has no record of)
    unknown = f"/v1/cases/{case_id}/indicators/TC9.9/transitions/submit_evidence"
    response = await api.client.post(unknown, headers={**leader.headers, **stale}, json={"data": {}})
    assert code_of(response) == (412, "stale_etag")
    response = await api.client.post(unknown, headers=leader.headers, json={"data": {}})
    assert code_of(response) == (404, "indicator_unknown")
    # authority before state: the officer may never assign, whatever the state
    assert code_of(await api.fire(officer, case_id, "assign_indicators", {})) == (403, "not_authorised")
    # state before payload
    assert code_of(await api.fire(leader, case_id, "assign_indicators", {})) == (409, "wrong_state")
    # payload before guards
    assert code_of(await api.fire(leader, case_id, "issue_plan", {"plan": "not a reference"})) == (
        422,
        "payload_invalid",
    )
    # the guards last; the refusal tells what may be fired now, as explain judges it (without a payload)
    refused = await api.fire(leader, case_id, "issue_plan", FUTURE_PLAN)
    assert code_of(refused) == (409, "future_date")
    assert refused.json()["allowed_transitions"] == ["issue_plan"]
    history = await api.ok(await api.get(leader, f"/v1/cases/{case_id}/history"))
    assert [event["trigger"] for event in history] == ["open"]


async def test_explain_gives_the_reasons_the_write_refuses_with(api: Api) -> None:
    case_id, _ = await api.new_case("C3", 2025)
    officer = api.who("commune_officer", "C3")
    explained = await api.ok(await api.get(officer, f"/v1/cases/{case_id}/explain"))
    issue_plan = next(check for check in explained["triggers"] if check["trigger"] == "issue_plan")
    refused = await api.fire(officer, case_id, "issue_plan", w.issue_plan(2025))
    assert refused.status_code == 403
    assert issue_plan["allowed"] is False
    refusal = [{"code": r["code"], "message": r["message_en"]} for r in refused.json()["reasons"]]
    assert issue_plan["reasons"] == refusal
