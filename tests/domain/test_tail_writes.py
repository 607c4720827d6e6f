"""The write tail on SQLAlchemy Core (service/domain/cases/tail_writes.py) leaves in the database exactly the rows the
engine built and changed — the case row, its deadlines and indicators, the new deadline, the audit event, the outbox
row — column by column, on both databases; the session holds nothing left to flush, and the audit chain verifies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from service import walkthrough as w
from service.domain.actor import Actor
from service.domain.cases import engine
from service.domain.cases.file_rows import EvidenceRow, IndicatorRow
from service.persistence.db import unit_of_work
from service.persistence.tables import AuditEvent, Case, CaseIndicator, Deadline, Evidence, OutboxMessage
from tests.helpers import DEFINITION, Api, Who

NUMBERED = {"id"}  # keys the database numbers: the engine's new rows do not know them


# The plain rows a case file holds where a write changes nothing (a transition of the case reads its indicators so),
# compared column by column as the table's ORM objects are.
PLAIN = {IndicatorRow: CaseIndicator, EvidenceRow: Evidence}


def _columns(row: Any) -> dict[str, Any]:
    model = PLAIN.get(type(row), type(row))
    return {c.key: getattr(row, c.key) for c in model.__table__.columns if c.key not in NUMBERED}


async def _fired(api: Api, who: Who, case_id: str, trigger: str, payload: dict, **more: Any) -> tuple[str, dict]:
    """Fire ``trigger`` through the engine in a unit of work: the event's uid and what the engine built (columns of
    the case row, its deadlines and indicators, the event), taken before the commit."""
    services = api.app.state.services
    actor = Actor(sub=who.sub, name=f"Test {who.role}", roles=(who.role,), unit=who.unit)
    async with unit_of_work(services.sessions) as session:
        outcome = await engine.apply_transition(
            session, registry=services.registry, case_id=case_id, trigger=trigger, actor=actor, payload=payload, **more
        )
        assert not session.dirty and not session.new  # written by the tail, nothing left for the flush
        cf = outcome.case_file
        return outcome.event.uid, {
            "case": _columns(cf.case),
            "deadlines": {key: _columns(row) for key, row in cf.deadlines.items()},
            "indicators": {code: _columns(row) for code, row in cf.indicator_rows.items()},
            "event": _columns(outcome.event),
        }


async def test_a_transition_stores_what_the_engine_built(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.walk(case_id, leader, cycle=2025, until="review_meeting_held")
    services = api.app.state.services
    uid, built = await _fired(
        api, leader, case_id, "submit_dossier", w.submit_dossier(2025), now=datetime(2026, 2, 10, 2, 0, tzinfo=UTC)
    )
    assert built["case"]["state"] == "submitted"
    assert {row["status"] for row in built["deadlines"].values()} >= {"met", "open"}
    async with services.sessions() as session:
        case = (await session.execute(select(Case).where(Case.id == case_id))).scalar_one()
        deadlines = (await session.execute(select(Deadline).where(Deadline.case_id == case_id))).scalars()
        indicators = (await session.execute(select(CaseIndicator).where(CaseIndicator.case_id == case_id))).scalars()
        event = (await session.execute(select(AuditEvent).where(AuditEvent.uid == uid))).scalar_one()
        outbox = (await session.execute(select(OutboxMessage).where(OutboxMessage.event_uid == uid))).scalar_one()
        assert _columns(case) == built["case"]
        assert {row.key: _columns(row) for row in deadlines} == built["deadlines"]
        assert {row.code: _columns(row) for row in indicators} == built["indicators"]
        assert _columns(event) == built["event"]
        assert (outbox.case_id, outbox.seq, outbox.type) == (case_id, event.seq, "case.transitioned")
        assert outbox.body["data"]["to"] == "submitted" and outbox.body["data"]["event_id"] == event.uid
    body = await api.ok(await api.get(api.who("admin", "VN"), "/v1/audit/verify"))
    assert body["ok"], body


async def test_an_indicator_transition_stores_the_indicator_it_changed(api: Api) -> None:
    case_id, leader = await api.new_case("C3", 2025)
    await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)))
    await api.ok(await api.fire(leader, case_id, "assign_indicators", w.assign_indicators(DEFINITION)))
    officer = api.who("commune_officer", "C3")
    code = DEFINITION.indicators[0].code
    await api.ok(await api.upload(officer, case_id, code), 201)
    payload = w.submit_evidence(DEFINITION, code, level=1)
    _, built = await _fired(api, officer, case_id, "submit_evidence", payload, indicator=code, now=api.settings.clock)
    assert built["indicators"][code]["state"] != "assigned" and built["case"]["row_version"] > 1
    async with api.app.state.services.sessions() as session:
        rows = (await session.execute(select(CaseIndicator).where(CaseIndicator.case_id == case_id))).scalars()
        assert {row.code: _columns(row) for row in rows} == built["indicators"]
        case = (await session.execute(select(Case).where(Case.id == case_id))).scalar_one()
        assert _columns(case) == built["case"]
    body = await api.ok(await api.get(api.who("admin", "VN"), "/v1/audit/verify"))
    assert body["ok"], body
