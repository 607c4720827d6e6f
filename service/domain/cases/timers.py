"""The system's timers on a case, recorded by the deadline sweeper through the one write tail: a ``flag`` deadline
passed without the act (``deadline_breached``) and a reminder whose day has come (``deadline_reminder``). The
sweeper's ``lapse``/``expire`` are transitions like any other (``engine.fire_on_file``).

Each timer is written on a case file its caller read under the case row's lock (``…_on_file``, which the sweeper's
batches call for many cases read at once), or reads that file itself (``flag_breach``, ``send_reminder``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.actor import Actor
from service.domain.audit.canonical import format_time
from service.domain.audit.writer import EventFacts
from service.domain.cases import deadlines
from service.domain.cases.appliers import Change
from service.domain.cases.batch_tail import Writer
from service.domain.cases.casefile import CaseFile, load_case_file
from service.domain.cases.tail import record
from service.persistence.tables import AuditEvent, Deadline, DeadlineReminder
from workflows.calendar import local_date
from workflows.registry import Registry
from workflows.schema import SYSTEM_BODY


def _record(
    rows: Writer,
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
        rows, cf, change, registry=registry, actor=actor, role=SYSTEM_BODY, outbox_type=outbox_type, extra=extra
    )


def breach_on_file(
    rows: Writer, registry: Registry, cf: CaseFile, key: str, actor: Actor, now: datetime
) -> AuditEvent | None:
    """Record that a ``flag`` deadline passed without the act (TT25/2023 Điều 9 k3) on a case file read under the
    case row's lock: the deadline is breached, the case is overdue, and the breach is escalated to the office above
    the reviewer. Nothing when it is not due (idempotent). The rows created go to ``rows`` (the session, or a batch)."""
    row = cf.deadlines.get(key)
    if row is None or row.status != "open" or row.closed_at is not None or now <= row.due_at:
        return None
    escalate_to = deadlines.escalation_unit(cf, key)
    payload = {"deadline": key, "due_at": row.due_at, "explanation": row.explanation, "escalate_to": escalate_to}
    extra = {"deadline": key, "due_at": format_time(row.due_at), "escalate_to": escalate_to}
    return _record(rows, registry, cf, row, "deadline_breached", payload, actor, now, "deadline.overdue", extra)


async def flag_breach(
    session: AsyncSession, *, registry: Registry, case_id: str, key: str, actor: Actor, now: datetime
) -> AuditEvent | None:
    """``breach_on_file`` on the case file read and locked here, flushed."""
    cf = await load_case_file(session, registry, case_id, lock=True, with_history=False)
    event = breach_on_file(session, registry, cf, key, actor, now)
    if event is not None:
        await session.flush()
    return event


async def reminders_sent(session: AsyncSession, rows: Iterable[Deadline]) -> dict[int, set[int]]:
    """For each deadline row, the reminders already sent for its current due time (days before), in one query."""
    due = {row.id: row.due_at for row in rows if row.id is not None}
    sent: dict[int, set[int]] = {id_: set() for id_ in due}
    if not due:
        return sent
    found = await session.execute(
        select(DeadlineReminder.deadline_id, DeadlineReminder.days_before, DeadlineReminder.due_at).where(
            DeadlineReminder.deadline_id.in_(sorted(due))
        )
    )
    for deadline_id, days_before, due_at in found:
        if due_at == due[deadline_id]:
            sent[deadline_id].add(days_before)
    return sent


def reminder_on_file(
    rows: Writer, registry: Registry, cf: CaseFile, key: str, actor: Actor, now: datetime, sent: set[int]
) -> AuditEvent | None:
    """The most urgent reminder whose day has come (``deadline.approaching``), once per offset and due time (``sent``:
    the offsets already sent for the deadline's due time), on a case file read under the case row's lock; then the
    deadline is scheduled for its next reminder or its due time. The rows created go to ``rows``."""
    row = cf.deadlines.get(key)
    if row is None or row.status != "open" or row.closed_at is not None:
        return None
    offsets = deadlines.reminder_offsets(cf, key)
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
    event = _record(rows, registry, cf, row, "deadline_reminder", payload, actor, now, "deadline.approaching", extra)
    deadlines.schedule(row, offsets, now, sent={*sent, days_before})  # the sweeper's bookkeeping, not the case's
    return event


async def send_reminder(
    session: AsyncSession, *, registry: Registry, case_id: str, key: str, actor: Actor, now: datetime
) -> AuditEvent | None:
    """``reminder_on_file`` on the case file read and locked here, flushed."""
    cf = await load_case_file(session, registry, case_id, lock=True, with_history=False)
    row = cf.deadlines.get(key)
    if row is None:
        return None
    sent = (await reminders_sent(session, [row])).get(row.id, set())
    event = reminder_on_file(session, registry, cf, key, actor, now, sent)
    await session.flush()
    return event
