"""The system's timers on a case, recorded by the deadline sweeper through the one write tail: a ``flag`` deadline
passed without the act (``deadline_breached``) and a reminder whose day has come (``deadline_reminder``). The
sweeper's ``lapse``/``expire`` are transitions like any other (``engine.apply_transition``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.actor import Actor
from service.domain.audit.canonical import format_time
from service.domain.audit.writer import EventFacts
from service.domain.cases import deadlines
from service.domain.cases.appliers import Change
from service.domain.cases.casefile import CaseFile, load_case_file
from service.domain.cases.tail import record
from service.persistence.tables import AuditEvent, Deadline, DeadlineReminder
from workflows.calendar import local_date
from workflows.registry import Registry
from workflows.schema import SYSTEM_BODY


def _record(
    session: AsyncSession,
    registry: Registry,
    cf: CaseFile,
    row: Deadline,
    kind: str,
    payload: dict[str, Any],
    actor: Actor,
    now: datetime,
    outbox_type: str,
    extra: dict[str, Any],
) -> AuditEvent:
    """A deadline's event on the case (the case's state unchanged), through the one write tail, as the system."""
    facts = EventFacts(
        kind=kind,
        trigger=f"deadline:{row.key}",
        from_state=cf.case.state,
        to_state=cf.case.state,
        payload=payload,
        citation=row.citation,
    )
    change = Change(facts, now, actor.sub)
    return record(
        session, cf, change, registry=registry, actor=actor, role=SYSTEM_BODY, outbox_type=outbox_type, extra=extra
    )


async def flag_breach(
    session: AsyncSession, *, registry: Registry, case_id: str, key: str, actor: Actor, now: datetime
) -> AuditEvent | None:
    """Record that a ``flag`` deadline passed without the act (TT25/2023 Điều 9 k3): the deadline is breached,
    the case is overdue, and the breach is escalated to the office above the reviewer. Idempotent."""
    cf = await load_case_file(session, registry, case_id, lock=True, with_history=False)
    row = cf.deadlines.get(key)
    if row is None or row.status != "open" or row.closed_at is not None or now <= row.due_at:
        return None
    escalate_to = deadlines.escalation_unit(cf, key)
    payload = {"deadline": key, "due_at": row.due_at, "explanation": row.explanation, "escalate_to": escalate_to}
    extra = {"deadline": key, "due_at": format_time(row.due_at), "escalate_to": escalate_to}
    event = _record(session, registry, cf, row, "deadline_breached", payload, actor, now, "deadline.overdue", extra)
    await session.flush()
    return event


async def send_reminder(
    session: AsyncSession, *, registry: Registry, case_id: str, key: str, actor: Actor, now: datetime
) -> AuditEvent | None:
    """The most urgent reminder whose day has come (``deadline.approaching``), once per offset and due time;
    then the deadline is scheduled for its next reminder or its due time."""
    cf = await load_case_file(session, registry, case_id, lock=True, with_history=False)
    row = cf.deadlines.get(key)
    if row is None or row.status != "open" or row.closed_at is not None:
        return None
    offsets = deadlines.reminder_offsets(cf, key)
    sent = set(
        (
            await session.execute(
                select(DeadlineReminder.days_before).where(
                    DeadlineReminder.deadline_id == row.id, DeadlineReminder.due_at == row.due_at
                )
            )
        ).scalars()
    )
    days_before = deadlines.open_reminder(row.due_at, offsets, now)
    if days_before is None or days_before in sent:
        deadlines.schedule(row, offsets, now, sent=sent)
        return None
    days_left = (local_date(row.due_at) - local_date(now)).days
    payload = {
        "deadline": key,
        "days_before": days_before,
        "days_left": days_left,
        "due_at": row.due_at,
        "explanation": row.explanation,
    }
    extra = {"deadline": key, "due_at": format_time(row.due_at), "days_before": days_before, "days_left": days_left}
    event = _record(session, registry, cf, row, "deadline_reminder", payload, actor, now, "deadline.approaching", extra)
    deadlines.schedule(row, offsets, now, sent={*sent, days_before})  # the sweeper's bookkeeping, not the case's
    await session.flush()
    return event
