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
from service.domain.audit.canonical import format_stored_time
from service.domain.audit.writer import append_case_event
from service.domain.cases.appliers import Change, apply
from service.domain.cases.casefile import CaseFile
from service.persistence.loaded import LoadedValues
from service.persistence.tables import AuditEvent, Case, OutboxMessage
from workflows.registry import Registry

# What an outbox row tells of the case and of the event (their loaded values, ``persistence.loaded``).
_CASE_NAMED = LoadedValues("id", "procedure", "version", "unit_code", "cycle")
_EVENT_NAMED = LoadedValues("from_state", "to_state", "trigger", "actor_sub", "uid", "seq")


def _outbox(
    session: AsyncSession,
    *,
    case: Case,
    event: AuditEvent,
    type_: str,
    now: datetime,
    extra: dict[str, Any] | None = None,
) -> None:
    case_id, procedure, version, unit, cycle = _CASE_NAMED(case)
    from_state, to_state, trigger, actor, uid, seq = _EVENT_NAMED(event)
    data = {
        "case_id": case_id,
        "procedure": procedure,
        "version": version,
        "unit": unit,
        "cycle": cycle,
        "from": from_state,
        "to": to_state,
        "trigger": trigger,
        "actor": actor,
        "event_id": uid,
        "seq": seq,
        **(extra or {}),
    }
    session.add(
        OutboxMessage(
            event_uid=uid,
            case_id=case_id,
            seq=seq,
            type=type_,
            unit_code=unit,
            body={"type": type_, "timestamp": format_stored_time(now), "data": data},
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
