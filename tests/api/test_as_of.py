"""A case as it stood at any past time, rebuilt from its audit events (the auditors' question: what did the case
look like when this was decided?)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update

from service import walkthrough as w
from service.domain.audit.canonical import case_chain
from service.domain.cases.replay import case_as_of
from service.persistence.tables import AdminUnit, AuditEvent
from tests.helpers import Api

SHOWN = ("state", "level", "requested_level", "assessed_level", "decided_on", "dossier", "target_level", "etag")


def view(case: dict) -> dict:  # type: ignore[type-arg]
    return {
        **{k: case[k] for k in SHOWN},
        "deadlines": [(d["key"], d["due_at"], d["status"]) for d in case["deadlines"]],
    }


async def test_replay_matches_the_digest_recorded_at_every_event_of_a_full_case(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.walk(case_id, leader, cycle=2025, until="recognized")
    services = api.app.state.services
    async with services.sessions() as session:
        events = (
            (
                await session.execute(
                    select(AuditEvent).where(AuditEvent.chain == case_chain(case_id)).order_by(AuditEvent.seq)
                )
            )
            .scalars()
            .all()
        )
        last_at_time = {e.occurred_at: e for e in events}  # several events can share a time: the last one counts
        for moment, event in last_at_time.items():
            cf, last = await case_as_of(session, services.registry, case_id, moment)
            assert last.seq == event.seq
            assert cf.state_digest() == event.state_digest, f"replay differs after event {event.seq} ({event.trigger})"
    assert len(last_at_time) >= 8


async def test_as_of_each_step_equals_what_the_case_showed_then(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    director = api.who("province_director", "P1")
    seen: dict[str, dict] = {}  # type: ignore[type-arg]

    async def snapshot() -> None:
        case = await api.ok(await api.get(director, f"/v1/cases/{case_id}"))
        seen[case["updated_at"]] = view(case)

    reviewers = api.reviewers(2025)
    await api.collect(case_id, leader, cycle=2025)  # plan, assignments, evidence: all at one time
    await snapshot()
    for day, who, trigger, data in [
        ("2026-01-10", leader, "complete_self_assessment", w.complete_self_assessment(2025)),
        ("2026-01-20", leader, "record_review_meeting", w.record_review_meeting(2025)),
        ("2026-02-10", leader, "submit_dossier", w.submit_dossier(2025, 1)),
        ("2026-02-12", reviewers.officer, "receive_dossier", {"received_on": "2026-02-12"}),
        ("2026-03-01", reviewers.head, "form_council", w.form_council(2025, secretary_sub=reviewers.secretary.sub)),
        ("2026-03-10", reviewers.secretary, "record_appraisal", w.record_appraisal(w_definition(), 2025)),
        ("2026-03-20", reviewers.head, "recognize", w.recognize(2025)),
    ]:
        api.clock.set(f"{day}T02:00:00")
        await api.ok(await api.fire(who, case_id, trigger, data))
        await snapshot()
    auditor = api.who("auditor", "VN")
    for updated_at, expected in seen.items():
        rebuilt = await api.ok(await api.get(auditor, f"/v1/cases/{case_id}", as_of=updated_at))
        assert view(rebuilt) == expected, updated_at
    before = await api.get(auditor, f"/v1/cases/{case_id}", as_of="2024-12-31T00:00:00Z")
    assert before.status_code == 404
    at_submission = await api.ok(await api.get(reviewers.officer, f"/v1/cases/{case_id}", as_of="2026-02-10T02:00:00Z"))
    assert at_submission["state"] == "submitted"
    assert at_submission["allowed_transitions"] == ["receive_dossier"]  # who could act then: the officer


def w_definition():  # type: ignore[no-untyped-def]
    from tests.helpers import DEFINITION

    return DEFINITION


async def test_as_of_reports_a_history_that_no_longer_rebuilds(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)))
    async with api.app.state.services.sessions() as session, session.begin():
        await session.execute(
            update(AuditEvent)
            .where(AuditEvent.chain == case_chain(case_id), AuditEvent.seq == 2)
            .values(to_state="recognized")
        )
    response = await api.get(api.who("auditor", "VN"), f"/v1/cases/{case_id}", as_of=datetime.now().isoformat() + "Z")
    assert response.status_code == 409
    assert response.json()["reasons"][0]["code"] == "replay_mismatch"


async def test_unit_facts_are_pinned_when_the_case_opens(api: Api) -> None:
    case_id, leader = await api.new_case("C2", 2024)  # C2 is a disadvantaged commune
    figures = {"TC5.2": {"trained_share": 41.0, "university_share": 10.5}}  # passes only the disadvantaged bar
    await api.collect(case_id, leader, cycle=2024, figures=figures)
    async with api.app.state.services.sessions() as session, session.begin():
        await session.execute(update(AdminUnit).where(AdminUnit.code == "C2").values(disadvantaged=False))
    indicators = await api.ok(await api.get(leader, f"/v1/cases/{case_id}/indicators"))
    assert indicators["assessed_level"] == 1  # the case keeps the list in force when it was opened
    api.clock.set("2025-01-10T02:00:00")
    await api.ok(await api.fire(leader, case_id, "complete_self_assessment", w.complete_self_assessment(2024)))
    rebuilt = await api.ok(
        await api.get(api.who("auditor", "VN"), f"/v1/cases/{case_id}", as_of="2025-01-10T02:00:00Z")
    )
    assert (rebuilt["state"], rebuilt["assessed_level"]) == ("self_assessed", 1)


async def test_an_act_dated_before_the_cases_last_change_is_refused(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    api.clock.set("2025-01-01T00:00:00")  # behind the opening on 20/01/2025
    response = await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025, plan=w.docref("1/KH", "2024-12-30")))
    assert response.status_code == 409
    assert response.json()["reasons"][0]["code"] == "time_out_of_order"
