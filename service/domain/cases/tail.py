"""The one tail of every write to a case: the change applied through its kind's applier, a new version of the case
(``row_version``, ``updated_at``), the audit event with the state digest the case now has, and its outbox row.

Every writer of a case goes through ``record``: a transition, an opening, an evidence upload, a deadline's breach
or reminder, a case migration. It never commits: the caller's unit of work does, so state, audit and outbox commit
together or not at all (DESIGN.md contract 1).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.actor import Actor
from service.domain.audit.canonical import format_time
from service.domain.audit.writer import append_case_event
from service.domain.cases.appliers import Change, apply
from service.domain.cases.casefile import CaseFile
from service.persistence.tables import AuditEvent, Case, OutboxMessage
from workflows.registry import Registry


def _outbox(
    session: AsyncSession,
    *,
    case: Case,
    event: AuditEvent,
    type_: str,
    now: datetime,
    extra: dict[str, Any] | None = None,
) -> None:
    data = {
        "case_id": case.id,
        "procedure": case.procedure,
        "version": case.version,
        "unit": case.unit_code,
        "cycle": case.cycle,
        "from": event.from_state,
        "to": event.to_state,
        "trigger": event.trigger,
        "actor": event.actor_sub,
        "event_id": event.uid,
        "seq": event.seq,
        **(extra or {}),
    }
    session.add(
        OutboxMessage(
            event_uid=event.uid,
            case_id=case.id,
            seq=event.seq,
            type=type_,
            unit_code=case.unit_code,
            body={"type": type_, "timestamp": format_time(now), "data": data},
            created_at=now,
        )
    )


def record(
    session: AsyncSession,
    cf: CaseFile,
    change: Change,
    *,
    registry: Registry,
    actor: Actor,
    role: str | None,
    outbox_type: str,
    request_id: str | None = None,
    idempotency_key: str | None = None,
    extra: dict[str, Any] | None = None,
) -> AuditEvent:
    """Apply ``change`` to the case file and record it: the audit event (with the case's new state digest) and
    its outbox row of type ``outbox_type`` (``extra`` added to its data)."""
    apply(cf, change, add=session.add, registry=registry)
    event = append_case_event(
        session,
        case=cf.case,
        facts=change.facts,
        actor=actor,
        actor_role=role,
        now=change.at,
        state_digest=cf.state_digest(),
        request_id=request_id,
        idempotency_key=idempotency_key,
    )
    _outbox(session, case=cf.case, event=event, type_=outbox_type, now=change.at, extra=extra)
    return event
