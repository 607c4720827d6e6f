"""Deadlines that run themselves: the sweeper lapses, expires, flags and reminds through the engine (TT25/2023
Điều 5 k4, Điều 9 k1 d, k3), once, whatever runs at the same time."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from sqlalchemy import text

from service import walkthrough as w
from service.workers.deadlines import SweepReport, sweep
from tests.helpers import Api
from tests.support.apps import build_api
from tests.support.definitions import registry_with_settings


async def run_sweep(api: Api, at: str) -> SweepReport:
    services = api.app.state.services
    return await sweep(services.sessions, services.registry, now=datetime.fromisoformat(at))


async def events(api: Api, case_id: str) -> list[dict]:  # type: ignore[type-arg]
    return await api.ok(await api.get(api.who("auditor", "VN"), f"/v1/cases/{case_id}/history"))


async def outbox(api: Api, case_id: str) -> list[tuple[str, dict]]:  # type: ignore[type-arg]
    import json

    async with api.app.state.services.sessions() as session:
        rows = (
            await session.execute(text("SELECT type, body FROM outbox WHERE case_id = :c ORDER BY seq"), {"c": case_id})
        ).all()
    return [(r.type, r.body if isinstance(r.body, dict) else json.loads(r.body)) for r in rows]


async def test_sweeper_lapses_exactly_the_cases_that_did_not_submit_once(api: Api) -> None:
    submitted, leader = await api.new_case("C3", 2025)
    await api.walk(submitted, leader, cycle=2025, until="submitted")
    collecting, leader1 = await api.new_case("C1", 2025)
    await api.collect(collecting, leader1, cycle=2025)
    planning, _ = await api.new_case("C2", 2025)
    early = await run_sweep(api, "2026-02-28T23:59:59+07:00")  # the last second of the cut-off day
    assert early.fired == []
    report = await run_sweep(api, "2026-03-01T00:00:00+07:00")
    assert sorted(report.fired) == sorted([(collecting, "lapse"), (planning, "lapse")])
    again = await run_sweep(api, "2026-03-02T00:00:00+07:00")
    assert again.fired == []
    director = api.who("province_director", "P1")
    states = {
        case_id: (await api.ok(await api.get(director, f"/v1/cases/{case_id}")))["state"]
        for case_id in (submitted, collecting, planning)
    }
    assert states == {submitted: "submitted", collecting: "lapsed", planning: "lapsed"}
    lapses = [e for e in await events(api, planning) if e["trigger"] == "lapse"]
    assert len(lapses) == 1
    assert lapses[0]["actor"]["sub"] == "system:deadlines"
    case = await api.ok(await api.get(director, f"/v1/cases/{planning}"))
    assert {d["key"]: d["status"] for d in case["deadlines"]} == {"submission": "breached"}


async def test_reminders_go_once_per_offset_before_the_cut_off(api: Api) -> None:
    case_id, _ = await api.new_case("C3", 2025)
    # Reminders go at 00:00 local on the day 14 and 3 days before the due day (28/02/2026).
    assert (await run_sweep(api, "2026-02-13T23:59:59+07:00")).reminded == []
    first = await run_sweep(api, "2026-02-14T00:00:00+07:00")
    assert first.reminded == [(case_id, "submission", 14)]
    assert (await run_sweep(api, "2026-02-16T09:00:00+07:00")).reminded == []
    third = await run_sweep(api, "2026-02-25T08:00:00+07:00")
    assert third.reminded == [(case_id, "submission", 3)]
    assert (await run_sweep(api, "2026-02-27T00:00:00+07:00")).reminded == []
    sent = [
        (b["data"]["days_before"], b["data"]["days_left"])
        for t, b in await outbox(api, case_id)
        if t == "deadline.approaching"
    ]
    assert sent == [(14, 14), (3, 3)]
    report = await api.ok(await api.get(api.who("auditor", "VN"), "/v1/audit/verify", case=case_id))
    assert report["ok"] is True


async def test_a_late_sweep_sends_only_the_most_urgent_reminder(api: Api) -> None:
    case_id, _ = await api.new_case("C3", 2025)
    report = await run_sweep(api, "2026-02-27T10:00:00+07:00")  # both windows open: only the 3-day one goes
    assert report.reminded == [(case_id, "submission", 3)]
    assert (await run_sweep(api, "2026-02-27T11:00:00+07:00")).reminded == []


EXTENSION = {"until": "2026-03-25", "reason": "Lũ lụt", "legal_basis": "Quyết định 45/QĐ-UBND ngày 20/02/2026"}


async def test_an_extension_is_refused_by_default_naming_the_setting(api: Api) -> None:
    case_id, _ = await api.new_case("C3", 2025)
    head = api.reviewers(2025).head
    api.clock.set("2026-02-27T09:00:00+07:00")
    refused = await api.fire(head, case_id, "grant_extension", EXTENSION)
    assert refused.status_code == 409, refused.text
    reason = refused.json()["reasons"][0]
    assert reason["code"] == "extension_not_allowed"
    assert "setting extensions_allowed" in reason["message"]
    history = await api.ok(await api.get(api.who("auditor", "VN"), f"/v1/cases/{case_id}/history"))
    assert [e["trigger"] for e in history if e["trigger"] == "grant_extension"] == []


async def test_an_extension_allowed_by_the_profile_needs_its_basis_and_brings_the_reminders_back(
    database_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    registry = registry_with_settings(tmp_path, extensions_allowed=True)
    async for api in build_api(database_url, tmp_path / "data", registry=registry):
        case_id, leader = await api.new_case("C3", 2025)
        reviewers = api.reviewers(2025)
        await run_sweep(api, "2026-02-14T00:00:00+07:00")
        await run_sweep(api, "2026-02-25T00:00:00+07:00")
        api.clock.set("2026-02-27T09:00:00+07:00")
        blank = await api.fire(reviewers.head, case_id, "grant_extension", {**EXTENSION, "legal_basis": " "})
        assert blank.status_code == 409 and blank.json()["reasons"][0]["code"] == "extension_basis_required"
        granted = await api.ok(await api.fire(reviewers.head, case_id, "grant_extension", EXTENSION))
        submission = next(d for d in granted["case"]["deadlines"] if d["key"] == "submission")
        assert "extended (Lũ lụt; legal basis: Quyết định 45/QĐ-UBND ngày 20/02/2026)" in submission["explanation"]
        assert granted["event"]["citation"].startswith("not in TT25/2023")
        assert (await run_sweep(api, "2026-03-10T00:00:00+07:00")).reminded == []
        assert (await run_sweep(api, "2026-03-11T00:00:00+07:00")).reminded == [(case_id, "submission", 14)]
        assert (await run_sweep(api, "2026-03-22T00:00:00+07:00")).reminded == [(case_id, "submission", 3)]
        assert (await run_sweep(api, "2026-03-26T00:00:00+07:00")).fired == [(case_id, "lapse")]
        report = await api.ok(await api.get(api.who("auditor", "VN"), "/v1/audit/verify", case=case_id))
        assert report["ok"] is True


async def test_recognition_expires_at_the_end_of_its_validity(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.walk(case_id, leader, cycle=2025, until="recognized")  # decided 20/03/2026
    director = api.who("province_director", "P1")
    case = await api.ok(await api.get(director, f"/v1/cases/{case_id}"))
    validity = next(d for d in case["deadlines"] if d["key"] == "validity")
    assert validity["due_at"] == "2029-12-31T16:59:59.999999Z"  # the end of 31/12/2029 in Hanoi: 2026 + 3 years
    assert "31/12/2029" in validity["explanation"]
    assert (await run_sweep(api, "2029-12-31T23:59:59+07:00")).fired == []
    report = await run_sweep(api, "2030-01-01T00:00:00+07:00")
    assert report.fired == [(case_id, "expire")]
    case = await api.ok(await api.get(director, f"/v1/cases/{case_id}"))
    assert case["state"] == "expired"
    assert case["level"] == 1  # the history keeps the level that was granted
    assert {d["key"]: d["status"] for d in case["deadlines"]}["validity"] == "met"


async def test_undecided_case_is_flagged_overdue_on_1_april_and_escalated(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    reviewers = await api.walk(case_id, leader, cycle=2025, until="under_review")
    director = api.who("province_director", "P1")
    assert (await run_sweep(api, "2026-03-31T23:59:59+07:00")).flagged == []
    api.clock.set("2026-03-31T16:00:00+00:00")
    assert (await api.ok(await api.get(director, "/v1/cases", overdue="true")))["items"] == []
    report = await run_sweep(api, "2026-04-01T00:00:00+07:00")
    assert report.flagged == [(case_id, "decision")]
    assert (await run_sweep(api, "2026-04-02T00:00:00+07:00")).flagged == []
    api.clock.set("2026-04-01T03:00:00+00:00")
    listed = await api.ok(await api.get(director, "/v1/cases", overdue="true"))
    assert [c["id"] for c in listed["items"]] == [case_id]
    deadlines = await api.ok(await api.get(director, "/v1/deadlines", overdue="true"))
    assert [(d["case_id"], d["key"], d["status"]) for d in deadlines["items"]] == [(case_id, "decision", "breached")]
    overdue = [b for t, b in await outbox(api, case_id) if t == "deadline.overdue"]
    assert len(overdue) == 1
    assert overdue[0]["data"]["escalate_to"] == "VN"  # two-tier: the office above the provincial Department
    # The office still decides; the deadline closes, breached, and the case leaves the overdue list.
    api.clock.set("2026-04-03T02:00:00+00:00")
    council = w.form_council(2025, secretary_sub=reviewers.secretary.sub, decision=w.docref("21/QĐ", "2026-04-03"))
    await api.ok(await api.fire(reviewers.head, case_id, "form_council", council))
    await api.ok(
        await api.fire(
            reviewers.secretary,
            case_id,
            "record_appraisal",
            w.record_appraisal(w_definition(), 2025, report=w.docref("2/BC", "2026-04-03")),
        )
    )
    await api.ok(
        await api.fire(
            reviewers.head, case_id, "recognize", w.recognize(2025, decision=w.docref("35/QĐ", "2026-04-03"))
        )
    )
    case = await api.ok(await api.get(director, f"/v1/cases/{case_id}"))
    decision = next(d for d in case["deadlines"] if d["key"] == "decision")
    assert (decision["status"], decision["overdue"]) == ("breached", False)
    assert (await api.ok(await api.get(director, "/v1/cases", overdue="true")))["items"] == []


def w_definition():  # type: ignore[no-untyped-def]
    from tests.helpers import DEFINITION

    return DEFINITION


async def test_three_tier_overdue_decision_escalates_to_the_province(api: Api) -> None:
    case_id, leader = await api.new_case("C1", 2024)
    await api.walk(case_id, leader, cycle=2024, until="submitted")
    await run_sweep(api, "2025-04-01T00:00:00+07:00")
    overdue = [b for t, b in await outbox(api, case_id) if t == "deadline.overdue"]
    assert [b["data"]["escalate_to"] for b in overdue] == ["P1"]


async def test_withdrawal_waives_the_decision_deadline(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.walk(case_id, leader, cycle=2025, until="submitted")
    body = await api.ok(await api.fire(leader, case_id, "withdraw", {"reason": "Hoàn thiện thêm minh chứng"}))
    assert {d["key"]: d["status"] for d in body["case"]["deadlines"]}["decision"] == "waived"
    assert (await run_sweep(api, "2026-04-01T00:00:00+07:00")).flagged == []


async def test_deadline_dashboard_filters_and_pages(api: Api) -> None:
    ids = [(await api.new_case(unit, 2025))[0] for unit in ("C1", "C2", "C3")]
    other, _ = await api.new_case("C9", 2025)
    director = api.who("province_director", "P1")
    seen, cursor = [], None
    while True:
        page = await api.ok(await api.get(director, "/v1/deadlines", limit=2, **({"cursor": cursor} if cursor else {})))
        seen += [d["case_id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(ids)
    district = await api.ok(await api.get(director, "/v1/deadlines", unit="D1", status="open"))
    assert sorted(d["unit"] for d in district["items"]) == ["C1", "C2"]
    before = await api.ok(await api.get(director, "/v1/deadlines", due_before="2026-02-28T00:00:00+07:00"))
    assert before["items"] == []
    national = await api.ok(await api.get(api.who("auditor", "VN"), "/v1/deadlines"))
    assert other in {d["case_id"] for d in national["items"]}


@pytest.mark.postgres
async def test_two_sweepers_at_once_lapse_each_case_once(pg_api: Api) -> None:
    api = pg_api
    await api.add_units(*((f"C3{i}", f"Xã Ba {i}", "commune", "P1") for i in range(6)))
    cases = []
    for unit in ("C1", "C2", "C3", *(f"C3{i}" for i in range(6))):
        case_id, _ = await api.new_case(unit, 2025)
        cases.append(case_id)
    reports = await asyncio.gather(*(run_sweep(api, "2026-03-01T00:00:00+07:00") for _ in range(2)))
    fired = [case_id for report in reports for case_id, _ in report.fired]
    skipped = [case_id for report in reports for case_id in report.skipped]
    assert sorted(fired) == sorted(cases), (fired, skipped)
    follow_up = await run_sweep(api, "2026-03-01T00:05:00+07:00")
    assert follow_up.fired == []
    for case_id in cases:
        assert [e["trigger"] for e in await events(api, case_id)].count("lapse") == 1


async def test_exclusive_cut_off_refuses_on_the_named_day_and_an_extension_reopens_it(
    database_url: str, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    registry = registry_with_settings(tmp_path, cutoff_inclusive=False, extensions_allowed=True)
    async for api in build_api(database_url, tmp_path / "data", registry=registry):
        case_id, leader = await api.new_case("C3", 2025)
        reviewers = await api.walk(case_id, leader, cycle=2025, until="review_meeting_held")
        api.clock.set("2026-02-28T23:59:00+07:00")  # 23:59 on the named day: "trước ngày 28/02" read strictly
        late = await api.fire(leader, case_id, "submit_dossier", w.submit_dossier(2025, 1))
        assert late.status_code == 409
        assert "before 28/02/2026" in late.json()["reasons"][0]["message"]
        await api.ok(
            await api.fire(
                reviewers.head,
                case_id,
                "grant_extension",
                {"until": "2026-03-05", "reason": "Mất điện kéo dài", "legal_basis": "Công văn 12/UBND-VX"},
            )
        )
        accepted = await api.ok(await api.fire(leader, case_id, "submit_dossier", w.submit_dossier(2025, 1)))
        assert accepted["case"]["state"] == "submitted"
        submission = next(d for d in accepted["case"]["deadlines"] if d["key"] == "submission")
        assert submission["status"] == "met"
        assert submission["rule"] == "extension"


async def test_inclusive_cut_off_accepts_at_23_59_and_refuses_a_second_after_midnight(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.walk(case_id, leader, cycle=2025, until="review_meeting_held")
    api.clock.set("2026-03-01T00:00:00+07:00")
    late = await api.fire(leader, case_id, "submit_dossier", w.submit_dossier(2025, 1))
    assert late.status_code == 409
    api.clock.set("2026-02-28T23:59:00+07:00")
    on_time = await api.ok(await api.fire(leader, case_id, "submit_dossier", w.submit_dossier(2025, 1)))
    assert on_time["case"]["state"] == "submitted"
