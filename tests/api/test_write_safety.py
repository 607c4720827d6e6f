"""Retries, stale reads and bad input: the same key acts once, a stale ETag is refused, bad input changes nothing."""

from __future__ import annotations

from service import walkthrough as w
from tests.helpers import Api
from tests.support.apps import build_api
from tests.support.definitions import registry_with_settings


async def _state(api: Api, who, case_id: str) -> tuple[str, str, int]:  # type: ignore[no-untyped-def]
    case = await api.ok(await api.get(who, f"/v1/cases/{case_id}"))
    history = await api.ok(await api.get(who, f"/v1/cases/{case_id}/history"))
    return case["state"], case["etag"], len(history)


async def test_same_idempotency_key_and_body_returns_stored_response_without_acting_twice(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    headers = {"Idempotency-Key": "plan-2025-once"}
    first = await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025), headers=headers)
    second = await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025), headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    history = await api.ok(await api.get(leader, f"/v1/cases/{case_id}/history"))
    assert [e["trigger"] for e in history] == ["open", "issue_plan"]
    assert history[1]["idempotency_key"] == "plan-2025-once"


async def test_same_idempotency_key_with_another_body_is_409(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    headers = {"Idempotency-Key": "k-1"}
    await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025), headers=headers))
    other = await api.fire(
        leader, case_id, "issue_plan", w.issue_plan(2025, plan=w.docref("16/KH-UBND", "2025-01-16")), headers=headers
    )
    assert other.status_code == 409
    assert other.headers["content-type"] == "application/problem+json"
    assert other.json()["reasons"][0]["code"] == "idempotency_key_reused"


async def test_idempotency_key_is_scoped_to_the_caller(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    headers = {"Idempotency-Key": "shared"}
    first = await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025), headers=headers))
    # Another leader of the same commune sends the same key and body: not the first caller's stored answer, but a
    # request of its own, which the case (its plan already issued) refuses.
    colleague = api.who("commune_leader", "C3")
    assert colleague.sub != leader.sub
    again = await api.fire(colleague, case_id, "issue_plan", w.issue_plan(2025), headers=headers)
    assert again.status_code == 409, again.text
    assert "Idempotent-Replayed" not in again.headers
    assert again.json()["reasons"][0]["code"] == "wrong_state"
    # A leader of another commune with the same key acts on its own case; the first case keeps one plan.
    other_case, other_leader = await api.new_case("C1", 2025)
    response = await api.fire(other_leader, other_case, "issue_plan", w.issue_plan(2025), headers=headers)
    assert response.status_code == 200, response.text
    assert "Idempotent-Replayed" not in response.headers
    assert response.json()["case"]["id"] == other_case != first["case"]["id"]
    other_history = await api.ok(await api.get(other_leader, f"/v1/cases/{other_case}/history"))
    assert [(e["trigger"], e["idempotency_key"]) for e in other_history] == [("open", None), ("issue_plan", "shared")]
    history = await api.ok(await api.get(leader, f"/v1/cases/{case_id}/history"))
    assert [(e["trigger"], e["actor"]["sub"]) for e in history][1:] == [("issue_plan", leader.sub)]
    # The first caller's own retry still gets its stored answer.
    replay = await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025), headers=headers)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first


async def test_opening_with_the_same_idempotency_key_opens_one_case(api: Api) -> None:
    leader = api.who("commune_leader", "C3")
    body = {"procedure": "cdht_xa", "unit": "C3", "cycle": 2025}
    first = await api.client.post("/v1/cases", json=body, headers={**leader.headers, "Idempotency-Key": "open-1"})
    second = await api.client.post("/v1/cases", json=body, headers={**leader.headers, "Idempotency-Key": "open-1"})
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    third = await api.client.post("/v1/cases", json=body, headers=leader.headers)
    assert third.status_code == 409
    assert third.json()["reasons"][0]["code"] == "case_exists"
    assert third.json()["case_id"] == first.json()["id"]


async def test_stale_if_match_is_412_and_changes_nothing(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    response = await api.get(leader, f"/v1/cases/{case_id}")
    etag = response.headers["ETag"]
    assert etag == response.json()["etag"] == '"v1"'
    await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025), headers={"If-Match": etag}))
    before = await _state(api, leader, case_id)
    stale = await api.fire(
        leader, case_id, "assign_indicators", w.assign_indicators(w_definition()), headers={"If-Match": etag}
    )
    assert stale.status_code == 412
    assert stale.json()["reasons"][0]["code"] == "stale_etag"
    assert await _state(api, leader, case_id) == before
    current = before[1]
    fresh = await api.fire(
        leader, case_id, "assign_indicators", w.assign_indicators(w_definition()), headers={"If-Match": current}
    )
    assert fresh.status_code == 200
    assert fresh.headers["ETag"] == '"v3"'


def w_definition():  # type: ignore[no-untyped-def]
    from tests.helpers import DEFINITION

    return DEFINITION


async def test_malformed_payload_is_422_with_reasons_and_changes_nothing(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    before = await _state(api, leader, case_id)
    bad = await api.fire(leader, case_id, "issue_plan", {"plan": {"number": "1/KH", "date": "2025-02-30"}, "x": 1})
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    messages = [r["message"] for r in bad.json()["reasons"]]
    assert any("plan/date" in m for m in messages)
    assert any("'x' was unexpected" in m for m in messages)
    not_json = await api.client.post(
        f"/v1/cases/{case_id}/transitions/issue_plan",
        content=b"{not json",
        headers={**leader.headers, "Content-Type": "application/json"},
    )
    assert not_json.status_code == 422
    assert not_json.json()["reasons"][0]["code"] == "body_not_json"
    assert await _state(api, leader, case_id) == before


async def test_wrong_state_is_409_with_the_callers_allowed_transitions(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    response = await api.fire(leader, case_id, "submit_dossier", w.submit_dossier(2025, 1))
    assert response.status_code == 409
    body = response.json()
    assert body["reasons"][0]["code"] == "wrong_state"
    assert body["allowed_transitions"] == ["issue_plan"]
    assert body["type"].endswith("/conflict")


async def test_unknown_case_and_unknown_trigger_are_404(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    missing = await api.fire(leader, "00000000-0000-0000-0000-000000000000", "issue_plan", w.issue_plan(2025))
    assert missing.status_code == 404
    assert missing.json()["reasons"][0]["code"] == "case_unknown"
    unknown = await api.client.post(
        f"/v1/cases/{case_id}/transitions/teleport", json={"data": {}}, headers=leader.headers
    )
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"


async def test_bad_token_is_401_problem(api: Api) -> None:
    response = await api.client.get("/v1/cases", headers={"Authorization": "Bearer not-a-jwt"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["reasons"][0]["code"] == "malformed_token"


async def test_explain_lists_every_trigger_with_reasons(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.walk(case_id, leader, cycle=2025, until="plan_issued")
    api.clock.set("2025-03-01T02:00:00")
    body = await api.ok(await api.get(leader, f"/v1/cases/{case_id}/explain"))
    checks = {t["trigger"]: t for t in body["triggers"]}
    assert set(checks) == {"assign_indicators", "grant_extension", "lapse"}
    assert checks["assign_indicators"]["allowed"] is True
    assert checks["assign_indicators"]["checked_when_fired"] == ["has_assignee_for_every_indicator"]
    assert checks["grant_extension"]["allowed"] is False
    assert "province_director" in checks["grant_extension"]["reasons"][0]["message"]
    lapse_codes = {r["code"] for r in checks["lapse"]["reasons"]}
    assert lapse_codes == {"not_authorised", "submission_deadline_not_passed"}


async def test_submission_after_the_deadline_is_refused_unless_extended(database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    registry = registry_with_settings(tmp_path, extensions_allowed=True)
    async for api in build_api(database_url, tmp_path / "data", registry=registry):
        await _late_submission_extended(api)


async def _late_submission_extended(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    reviewers = await api.walk(case_id, leader, cycle=2025, until="review_meeting_held")
    api.clock.set("2026-02-28T16:59:59+00:00")  # 23:59:59 on 28/02/2026 in Hanoi: still on time
    explain = await api.ok(await api.get(leader, f"/v1/cases/{case_id}/explain"))
    assert next(t for t in explain["triggers"] if t["trigger"] == "submit_dossier")["allowed"] is True
    api.clock.set("2026-02-28T17:00:00+00:00")  # one second later
    late = await api.fire(leader, case_id, "submit_dossier", w.submit_dossier(2025, 1))
    assert late.status_code == 409
    assert late.json()["reasons"][0]["code"] == "submission_deadline_passed"
    assert "28/02/2026" in late.json()["reasons"][0]["message"]
    extended = await api.ok(
        await api.fire(
            reviewers.head,
            case_id,
            "grant_extension",
            {"until": "2026-03-10", "reason": "Bão lũ làm gián đoạn", "legal_basis": "Quyết định 7/QĐ-UBND"},
        )
    )
    submission = next(d for d in extended["case"]["deadlines"] if d["key"] == "submission")
    assert submission["rule"] == "extension"
    assert "Bão lũ" in submission["explanation"]
    body = await api.ok(await api.fire(leader, case_id, "submit_dossier", w.submit_dossier(2025, 1)))
    assert body["case"]["state"] == "submitted"


async def test_list_cases_pages_by_keyset_and_filters(api: Api) -> None:
    ids = []
    for unit, cycle in (("C1", 2025), ("C2", 2025), ("C3", 2025), ("C1", 2024), ("C9", 2025)):
        case_id, _ = await api.new_case(unit, cycle)
        ids.append(case_id)
    director = api.who("province_director", "P1")
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await api.ok(await api.get(director, "/v1/cases", **params))
        seen.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids[:4])  # C9 is in another province
    assert len(seen) == len(set(seen))
    by_cycle = await api.ok(await api.get(director, "/v1/cases", cycle=2024))
    assert [item["id"] for item in by_cycle["items"]] == [ids[3]]
    district = await api.ok(await api.get(director, "/v1/cases", unit="D1", cycle=2025))
    assert sorted(i["unit"] for i in district["items"]) == ["C1", "C2"]
    api.clock.set("2025-03-05T00:00:00")  # the cycle-2024 case missed 28/02/2025; the 2025 ones are on time
    overdue = await api.ok(await api.get(director, "/v1/cases", overdue="true"))
    assert [item["id"] for item in overdue["items"]] == [ids[3]]
    on_time = await api.ok(await api.get(director, "/v1/cases", overdue="false"))
    assert sorted(item["id"] for item in on_time["items"]) == sorted(ids[:3])
    bad = await api.get(director, "/v1/cases", cursor="garbage")
    assert bad.status_code == 422


async def test_filtering_on_the_callers_own_unit_lists_its_cases(api: Api) -> None:
    case_id, _ = await api.new_case("C3", 2025)
    director = api.who("province_director", "P1")
    page = await api.ok(await api.get(director, "/v1/cases", unit="P1"))
    assert [item["id"] for item in page["items"]] == [case_id]
    events = await api.ok(await api.get(director, "/v1/audit/events", unit="P1"))
    assert [e["case_id"] for e in events["items"]] == [case_id]


async def test_levels_must_be_whole_numbers_and_dates_calendar_dates(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    week_date = await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025, plan=w.docref("1/KH", "2025-W03-1")))
    assert week_date.status_code == 422
    await api.walk(case_id, leader, cycle=2025, until="review_meeting_held")
    as_float = await api.fire(leader, case_id, "submit_dossier", w.submit_dossier(2025, 1, requested_level=1.0))
    assert as_float.status_code == 422
    assert any("requested_level" in r["message"] for r in as_float.json()["reasons"])


async def test_hostile_inputs_get_problem_details_not_server_errors(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    auditor = api.who("auditor", "VN")
    cases = [
        await api.get(leader, "/v1/cases", cursor=encode(["zz", "x"])),
        await api.get(leader, "/v1/cases", cursor=encode([1, "x"])),
        await api.get(auditor, "/v1/audit/events", cursor=encode(["abc"])),
        await api.get(auditor, "/v1/audit/events", cursor=encode([1e300])),
        await api.get(leader, "/v1/cases", cycle=10**30),
        await api.client.get("/v1/cases/%00", headers=leader.headers),
        await api.client.get("/v1/audit/events?actor=%00", headers=auditor.headers),
        await api.client.post(
            f"/v1/cases/{case_id}/transitions/issue_plan",
            headers=leader.headers,
            content=b'{"data": {"plan": {"number": NaN, "date": "2025-01-15"}}}',
        ),
        await api.client.post(
            f"/v1/cases/{case_id}/transitions/issue_plan",
            headers=leader.headers,
            content=b'{"data": ' + b"[" * 100000 + b"]" * 100000 + b"}",
        ),
        await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025, plan=w.docref("1/KH\x00", "2025-01-15"))),
    ]
    assert [r.status_code for r in cases] == [422] * 10, [r.text[:200] for r in cases]
    assert all(r.headers["content-type"] == "application/problem+json" for r in cases)
    naive = await api.get(auditor, "/v1/audit/events", since="2025-01-01T00:00:00")
    assert naive.status_code == 200
    long_id = await api.client.get("/v1/cases", headers={**leader.headers, "X-Request-ID": "x" * 300})
    assert long_id.status_code == 200
    assert long_id.headers["X-Request-ID"] != "x" * 300
    too_big = await api.client.post(
        f"/v1/cases/{case_id}/transitions/issue_plan",
        headers=leader.headers,
        content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
    )
    assert too_big.status_code == 413
    history = await api.ok(await api.get(leader, f"/v1/cases/{case_id}/history"))
    assert [e["trigger"] for e in history] == ["open"]


def encode(values: list) -> str:  # type: ignore[type-arg]
    from service.api.params import encode_cursor

    return encode_cursor(values)
