"""A case as it stood at a past time, rebuilt from its audit events alone.

The events are replayed through the same rules the engine applied (``engine.apply_change``: effects, indicators,
deadlines), on objects that are never saved. Because every case event records the digest of the case it left
behind, a replay can prove itself: the rebuilt case's digest equals the digest of the last event replayed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain import deadlines
from service.domain.audit.canonical import case_chain
from service.domain.audit.digest import recorded_digest_holds
from service.domain.casefile import CaseFile, resolve, unit_path
from service.domain.engine import apply_change
from service.domain.errors import Conflict, NotFound, Reason
from service.domain.recognitions import inheritance, prior_recognitions
from service.persistence.tables import AuditEvent, Case, CaseIndicator, Deadline, Evidence
from workflows.calendar import local_date
from workflows.registry import Registry
from workflows.schema import Definition


def _ignore(_: Any) -> None:
    """Rows a replay creates are never saved."""


async def case_as_of(
    session: AsyncSession, registry: Registry, case_id: str, at: datetime | None = None, *, position: int | None = None
) -> tuple[CaseFile, AuditEvent]:
    """The case after the last of its events at or before ``at`` (or up to its sequence number ``position``),
    and that event."""
    query = select(AuditEvent).where(AuditEvent.chain == case_chain(case_id)).order_by(AuditEvent.seq)
    if at is not None:
        # Cut by sequence: every event up to the last one at or before ``at`` (times never run backwards in a
        # chain — the engine refuses it — but the cut must not depend on that).
        last = (
            select(func.max(AuditEvent.seq))
            .where(AuditEvent.chain == case_chain(case_id), AuditEvent.occurred_at <= at)
            .scalar_subquery()
        )
        query = query.where(AuditEvent.seq <= last)
    if position is not None:
        query = query.where(AuditEvent.seq <= position)
    events = (await session.execute(query)).scalars().all()
    if not events:
        when = at.isoformat() if at is not None else f"audit position {position}"
        raise NotFound(
            f"case {case_id} did not exist at {when}",
            reasons=[Reason("case_not_yet_opened", "choose a time after the case was opened")],
        )
    opening, *rest = events
    cf = await _opened(session, registry, case_id, opening)
    for event in rest:
        _apply(cf, event, registry)
    cf.case.event_seq, cf.case.last_hash = events[-1].seq, events[-1].hash
    return cf, events[-1]


async def _opened(session: AsyncSession, registry: Registry, case_id: str, event: AuditEvent) -> CaseFile:
    facts = json.loads(event.payload)
    case = Case(
        id=case_id,
        procedure=facts["procedure"],
        version=facts["version"],
        profile=facts["profile"],
        unit_code=facts["unit"],
        subject=facts.get("subject") or "",
        cycle=facts["cycle"],
        kind=facts["kind"],
        state=event.to_state,
        target_level=facts["target_level"],
        pinned=facts.get("pinned") or {},
        dossier={},
        opened_by=event.actor_sub,
        created_at=event.occurred_at,
        updated_at=event.occurred_at,
        row_version=1,
    )
    procedure, profile = resolve(registry, case)
    unit, units = await unit_path(session, case.unit_code)
    prior = await prior_recognitions(
        session,
        unit_code=case.unit_code,
        procedure=case.procedure,
        subject=case.subject,
        exclude_case=case_id,
        decided_by=local_date(event.occurred_at),
        policy=inheritance((case.pinned or {}).get("settings")),
    )
    cf = CaseFile(
        case,
        procedure,
        profile,
        unit,
        units,
        {},
        [],
        {},
        prior,
    )
    deadlines.open_deadlines(_ignore, cf, case.state, now=event.occurred_at, payload={})
    return cf


def _apply(cf: CaseFile, event: AuditEvent, registry: Registry) -> None:
    payload = json.loads(event.payload)
    case, definition, now = cf.case, cf.procedure.definition, event.occurred_at
    if event.kind in ("transition", "indicator_transition"):
        transition = (
            definition.indicator_transition(event.trigger) if event.indicator else definition.transition(event.trigger)
        )
        if transition is None:
            raise Conflict(
                f"event {event.seq} of case {case.id} names {event.trigger}, unknown to {definition.key}/"
                f"{definition.version}",
                reasons=[Reason("replay_failed", "the pinned definition does not match the history")],
            )
        data = payload.get("data") or {}
        ctx = cf.guard_context(trigger=event.trigger, payload=data, now=now, indicator=event.indicator)
        apply_change(
            cf, _ignore, transition=transition, ctx=ctx, state_after=event.to_state, now=now, indicator=event.indicator
        )
    elif event.kind == "evidence_uploaded":
        cf.evidence.append(
            Evidence(
                id=payload["evidence_id"],
                case_id=case.id,
                indicator_code=event.indicator,
                sha256=payload["sha256"],
                size=payload["size"],
                media_type=payload["media_type"],
                filename=payload["filename"],
                title=payload.get("title"),
                uploaded_by=event.actor_sub,
                uploaded_at=now,
            )
        )
    elif event.kind == "deadline_breached":
        row = cf.deadlines[payload["deadline"]]
        row.status, row.breached_at, row.next_action_at = "breached", now, None
    elif event.kind == "deadline_reminder":
        return  # reminders change nothing the case shows
    elif event.kind == "case_migrated":
        # A migration (service/domain/case_migrations.py) moved the case to another version of its definition:
        # the events after it are read under that version, with the settings it added pinned.
        case.version, case.state = payload["to_version"], event.to_state
        added = payload.get("settings_added") or {}
        if added and "settings" in (case.pinned or {}):
            case.pinned = {**case.pinned, "settings": {**case.pinned["settings"], **added}}
        cf.procedure, cf.profile = resolve(registry, case)
    else:
        raise Conflict(
            f"event {event.seq} of case {case.id} is of kind {event.kind}, which this service cannot replay",
            reasons=[Reason("replay_failed", "upgrade the service before reading this history")],
        )
    case.row_version += 1
    case.updated_at = now


@dataclass(frozen=True)
class ProvenState:
    """A case as its newest event left it, read from the tables and proven by that event's ``state_digest``: what a
    replay up to that event would rebuild (the digest covers the row, its indicators, deadlines and evidence)."""

    case: Case
    definition: Definition
    deadlines: dict[str, Deadline]


async def proven_current(
    session: AsyncSession, registry: Registry, positions: dict[str, int], *, batch: int = 500
) -> dict[str, ProvenState]:
    """Of the cases at ``positions`` ({case id: sequence number}), those whose newest event is that position and
    whose tables still match its digest, read ``batch`` cases at a time (five queries a batch, no replay). A case
    missing here (moved on since, or changed outside the engine) must be replayed."""
    proven: dict[str, ProvenState] = {}
    ids = sorted(positions)
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        # Plain rows, not ORM entities (nothing here is written): the digest and the report read attributes only.
        cases = (await session.execute(select(Case.__table__).where(Case.id.in_(chunk)))).all()
        current = [case for case in cases if case.event_seq is not None and case.event_seq == positions[case.id]]
        if not current:
            continue
        wanted = [case.id for case in current]
        digests = dict(
            (
                await session.execute(
                    select(AuditEvent.chain, AuditEvent.state_digest).where(
                        tuple_(AuditEvent.chain, AuditEvent.seq).in_([(case_chain(c.id), c.event_seq) for c in current])
                    )
                )
            ).all()
        )
        indicators, evidence, due = defaultdict(list), defaultdict(list), defaultdict(list)
        for table, into in ((CaseIndicator, indicators), (Evidence, evidence), (Deadline, due)):
            for row in await session.execute(select(table.__table__).where(table.case_id.in_(wanted))):
                into[row.case_id].append(row)
        for case in current:
            recorded = digests.get(case_chain(case.id))
            if recorded_digest_holds(recorded, case, indicators[case.id], due[case.id], evidence[case.id]):
                procedure, _ = resolve(registry, case)
                proven[case.id] = ProvenState(case, procedure.definition, {row.key: row for row in due[case.id]})
    return proven
