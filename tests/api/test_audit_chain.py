"""The audit log is tamper-evident: verification recomputes every hash and names the first bad event."""

from __future__ import annotations

import json

from sqlalchemy import text

from service import walkthrough as w
from tests.helpers import Api


async def _execute(api: Api, sql: str, **params: object) -> None:
    async with api.app.state.services.sessions() as session, session.begin():
        await session.execute(text(sql), params)


async def test_changing_one_payload_byte_is_reported_at_that_event(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.walk(case_id, leader, cycle=2025, until="plan_issued")
    auditor = api.who("auditor", "VN")
    history = await api.ok(await api.get(auditor, f"/v1/cases/{case_id}/history"))
    target = next(e for e in history if e["trigger"] == "issue_plan")
    assert (await api.ok(await api.get(auditor, "/v1/audit/verify", case=case_id)))["ok"] is True
    # 15/KH-UBND becomes 16/KH-UBND: one byte.
    await _execute(
        api,
        "UPDATE audit_event SET payload = replace(payload, '15/KH-UBND', '16/KH-UBND') WHERE uid = :uid",
        uid=target["id"],
    )
    report = await api.ok(await api.get(auditor, "/v1/audit/verify", case=case_id))
    assert report["ok"] is False
    assert report["first_bad_event"]["uid"] == target["id"]
    assert report["first_bad_event"]["seq"] == target["seq"]
    assert "changed" in report["first_bad_event"]["problem"]
    everything = await api.ok(await api.get(auditor, "/v1/audit/verify"))
    assert everything["first_bad_event"]["uid"] == target["id"]


async def test_removing_the_newest_event_is_reported(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.walk(case_id, leader, cycle=2025, until="plan_issued")
    await _execute(api, "DELETE FROM audit_event WHERE case_id = :case AND seq = 2", case=case_id)
    report = await api.ok(await api.get(leader, "/v1/audit/verify", case=case_id))
    assert report["ok"] is False
    assert "missing" in report["first_bad_event"]["problem"]


async def test_removing_a_middle_event_breaks_the_sequence(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.collect(case_id, leader, cycle=2025)
    await _execute(api, "DELETE FROM audit_event WHERE case_id = :case AND seq = 5", case=case_id)
    report = await api.ok(await api.get(leader, "/v1/audit/verify", case=case_id))
    assert report["ok"] is False
    assert report["first_bad_event"]["seq"] == 6
    assert report["events_checked"] == 4


async def test_changing_the_actor_is_reported(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)))
    await _execute(
        api, "UPDATE audit_event SET actor_sub = 'someone-else' WHERE case_id = :case AND seq = 2", case=case_id
    )
    report = await api.ok(await api.get(leader, "/v1/audit/verify", case=case_id))
    assert report["first_bad_event"]["seq"] == 2


async def test_global_verify_needs_a_national_auditor(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    refused = await api.get(api.who("auditor", "P1"), "/v1/audit/verify")
    assert refused.status_code == 403
    report = await api.ok(await api.get(api.who("auditor", "VN"), "/v1/audit/verify"))
    assert report["ok"] is True
    assert report["events_checked"] == 1


async def test_audit_search_filters_within_jurisdiction(api: Api) -> None:
    first, leader = await api.new_case("C3", 2025)
    await api.ok(await api.fire(leader, first, "issue_plan", w.issue_plan(2025)))
    other, other_leader = await api.new_case("C9", 2025)
    auditor = api.who("auditor", "P1")
    page = await api.ok(await api.get(auditor, "/v1/audit/events"))
    assert {e["case_id"] for e in page["items"]} == {first}
    by_trigger = await api.ok(await api.get(auditor, "/v1/audit/events", trigger="issue_plan"))
    assert [e["trigger"] for e in by_trigger["items"]] == ["issue_plan"]
    by_actor = await api.ok(await api.get(api.who("auditor", "VN"), "/v1/audit/events", actor=other_leader.sub))
    assert [e["case_id"] for e in by_actor["items"]] == [other]
    paged = await api.ok(await api.get(auditor, "/v1/audit/events", limit=1))
    assert paged["next_cursor"] is not None
    rest = await api.ok(await api.get(auditor, "/v1/audit/events", limit=1, cursor=paged["next_cursor"]))
    assert rest["items"][0]["id"] != paged["items"][0]["id"]


async def test_case_row_changed_outside_the_engine_is_reported(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.walk(case_id, leader, cycle=2025, until="appraised", failed=("TC3.2",))
    await _execute(api, "UPDATE cases SET state = 'recognized', level = 2 WHERE id = :case", case=case_id)
    report = await api.ok(await api.get(api.who("auditor", "VN"), "/v1/audit/verify", case=case_id))
    assert report["ok"] is False
    assert "changed outside the engine" in report["first_bad_event"]["problem"]


async def test_indicator_changed_outside_the_engine_is_reported(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.collect(case_id, leader, cycle=2025, figures={"TC5.1": {"share": 55.0}})
    await _execute(
        api,
        "UPDATE case_indicator SET figures = :f WHERE case_id = :case AND code = 'TC5.1'",
        case=case_id,
        f='{"share": 65.0}',
    )
    report = await api.ok(await api.get(leader, "/v1/audit/verify", case=case_id))
    assert report["ok"] is False
    assert "changed outside the engine" in report["first_bad_event"]["problem"]


async def test_removing_the_newest_admin_event_is_reported(api: Api) -> None:
    admin = api.who("admin", "VN")
    for code in ("C5", "C6"):
        created = await api.client.post(
            "/v1/admin-units",
            headers=admin.headers,
            json={"code": code, "name": f"Xã {code}", "level": "commune", "parent": "P1"},
        )
        assert created.status_code == 201
    auditor = api.who("auditor", "VN")
    assert (await api.ok(await api.get(auditor, "/v1/audit/verify")))["ok"] is True
    await _execute(api, "DELETE FROM audit_event WHERE chain = 'admin' AND seq = 2")
    report = await api.ok(await api.get(auditor, "/v1/audit/verify"))
    assert report["ok"] is False
    assert report["first_bad_event"]["chain"] == "admin"
    assert "missing" in report["first_bad_event"]["problem"]


async def test_every_accepted_change_leaves_one_outbox_row_and_refusals_none(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)))
    refused = await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025))
    assert refused.status_code == 409
    async with api.app.state.services.sessions() as session:
        rows = (
            await session.execute(
                text("SELECT type, seq, event_uid, body FROM outbox WHERE case_id = :case ORDER BY seq"),
                {"case": case_id},
            )
        ).all()
    history = await api.ok(await api.get(leader, f"/v1/cases/{case_id}/history"))
    assert [(r.type, r.seq) for r in rows] == [("case.opened", 1), ("case.transitioned", 2)]
    assert [r.event_uid for r in rows] == [e["id"] for e in history]
    body = rows[1].body if isinstance(rows[1].body, dict) else json.loads(rows[1].body)
    assert body["type"] == "case.transitioned"
    expected = {
        "case_id": case_id,
        "from": "planning",
        "to": "plan_issued",
        "trigger": "issue_plan",
        "actor": leader.sub,
        "unit": "C3",
        "seq": 2,
        "event_id": history[1]["id"],
    }
    assert {key: body["data"][key] for key in expected} == expected
