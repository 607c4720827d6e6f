"""Evidence joining an indicator (the definition's evidence rule: who may add it, and in which states), recorded
through the one write tail as an ``evidence_uploaded`` event carrying the file's hash. The file itself is stored
before, by ``service/domain/evidence.py``; this records it."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.actor import Actor
from service.domain.audit.writer import EventFacts
from service.domain.authority import Decision, decide
from service.domain.cases.appliers import Change
from service.domain.cases.casefile import CaseFile, load_case_file
from service.domain.cases.checks import Clock, ensure_readable, ensure_time_moves_forward, read_time
from service.domain.cases.tail import record
from service.domain.errors import NotAuthorised, NotFound, Reason, WrongState
from service.domain.evidence import StoredFile
from service.persistence.tables import AuditEvent, Evidence
from workflows.calendar import local_date
from workflows.registry import Registry


def check_evidence_allowed(cf: CaseFile, indicator: str, actor: Actor, now: datetime | None = None) -> Decision:
    """Who may add evidence to an indicator, and when (the definition's evidence rule). An indicator the procedure
    does not have is a 404; then authority is decided, so a caller who may never add evidence is told so whatever
    the indicator's state."""
    ensure_readable(cf, actor)
    process = cf.procedure.definition.indicator_process
    if process is None:
        raise NotFound(
            f"{cf.procedure.definition.key} takes no evidence",
            reasons=[Reason("indicator_unknown", "this procedure has no indicators")],
        )
    rule = process.evidence
    if cf.procedure.definition.indicator(indicator) is None:
        cf.indicator_row(indicator)  # 404 naming the procedure's indicators (not a 403 "assigned to no organisation")
    decision = decide(actor, rule.bodies, cf.authority_context(indicator, local_date(now) if now else None))
    if not decision.allowed:
        raise NotAuthorised(f"you may not add evidence to {indicator}", why=decision.reasons)
    row = cf.indicator_row(indicator)
    if cf.case.state not in process.case_states or row.state not in rule.indicator_states:
        raise WrongState(
            f"evidence is added while the case is {', '.join(process.case_states)} and the indicator is "
            f"{' or '.join(rule.indicator_states)}; they are {cf.case.state} and {row.state}",
            why=f"the indicator {indicator} is {row.state}",
        )
    return decision


async def record_evidence(
    session: AsyncSession,
    *,
    registry: Registry,
    case_id: str,
    indicator: str,
    actor: Actor,
    stored: StoredFile,
    title: str | None,
    now: datetime | Clock,
    request_id: str | None = None,
) -> tuple[Evidence, AuditEvent]:
    """An uploaded file joins an indicator's evidence; the upload is an audit event carrying its hash. ``now`` is
    the write's time, or the clock to read it from once the case row is locked."""
    cf = await load_case_file(session, registry, case_id, lock=True, with_history=False)
    at = read_time(now)
    decision = check_evidence_allowed(cf, indicator, actor, at)
    ensure_time_moves_forward(cf, at)
    row = cf.indicator_rows[indicator]
    rule = cf.procedure.definition.indicator_process.evidence
    facts = EventFacts(
        kind="evidence_uploaded",
        trigger="upload_evidence",
        from_state=row.state,
        to_state=row.state,
        indicator=indicator,
        payload={
            "evidence_id": str(uuid.uuid4()),
            "sha256": stored.sha256,
            "size": stored.size,
            "media_type": stored.media_type,
            "filename": stored.filename,
            "title": title,
        },
        citation=rule.citation.ref,
    )
    event = record(
        session,
        cf,
        Change(facts, at, actor.sub),
        registry=registry,
        actor=actor,
        role=decision.role,
        outbox_type="evidence.uploaded",
        request_id=request_id,
        extra={"indicator": indicator, "sha256": stored.sha256},
    )
    await session.flush()
    return cf.evidence[-1], event
