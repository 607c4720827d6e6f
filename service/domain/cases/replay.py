"""A case as it stood at a past time, rebuilt from its audit events alone.

Each event is applied again through the applier of its kind (``appliers``), the very code the engine applied when
it wrote it, on objects that are never saved. Because every case event records the digest of the case it left
behind, a replay can prove itself: the rebuilt case's digest equals the digest of the last event replayed.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, bindparam, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.audit.canonical import case_chain
from service.domain.audit.digest import recorded_digest_holds
from service.domain.audit.writer import EventFacts
from service.domain.cases.appliers import Change, opened_case, replayed
from service.domain.cases.casefile import CaseFile, pinned
from service.domain.errors import NotFound, Reason
from service.domain.units.recognitions import inheritance, prior_recognitions
from service.domain.units.tree_cache import unit_path_at
from service.persistence.tables import AuditEvent, Case, CaseIndicator, Deadline, Evidence
from workflows.calendar import local_date
from workflows.registry import Registry
from workflows.schema import Definition


def change_of(event: AuditEvent | Row[Any]) -> Change:
    """An audit event (an entity or a row) as the appliers read it."""
    facts = EventFacts(
        kind=event.kind,
        trigger=event.trigger,
        from_state=event.from_state,
        to_state=event.to_state,
        indicator=event.indicator,
        payload=json.loads(event.payload),
        citation=event.citation,
    )
    return Change(facts, event.occurred_at, event.actor_sub)


async def case_as_of(
    session: AsyncSession,
    registry: Registry,
    case_id: str,
    at: datetime | None = None,
    *,
    position: int | None = None,
    tree_version: int | None = None,
) -> tuple[CaseFile, Row[Any]]:
    """The case after the last of its events at or before ``at`` (or up to its sequence number ``position``),
    and that event (a row of the audit table). With the unit tree's ``tree_version`` (read with the case row), the
    unit path and the succession walk come from what this process read at that version (``units.tree_cache``)."""
    statement = events_until(at=at is not None, position=position is not None)
    params = {"chain": case_chain(case_id), "at": at, "position": position}
    events = (await session.execute(statement, {k: v for k, v in params.items() if v is not None})).all()
    if not events:
        raise not_yet_opened(case_id, at, position)
    return await rebuilt(session, registry, case_id, events, tree_version=tree_version)


# The columns of an event a replay reads: the appliers' facts, who and when, its place in the chain and what it
# recorded (``case_as_of``'s last event has these).
REPLAYED_COLUMNS = (
    "seq",
    "kind",
    "trigger",
    "from_state",
    "to_state",
    "indicator",
    "payload",
    "citation",
    "occurred_at",
    "actor_sub",
    "hash",
    "state_digest",
)
_EVENTS_UNTIL: dict[tuple[bool, bool], Select[Any]] = {}


def events_until(*, at: bool, position: bool) -> Select[Any]:
    """The statement reading a case's events (``:chain``), oldest first, up to the last one at or before ``:at``
    (with ``at``) and up to the sequence number ``:position`` (with ``position``): the ``REPLAYED_COLUMNS`` as plain
    rows. Built once per shape."""
    query = _EVENTS_UNTIL.get((at, position))
    if query is not None:
        return query
    # Plain rows, not ORM entities: nothing here is written, and the appliers read the events' attributes only. The
    # table's columns, not the model's attributes, so that the statement (and one that takes it) is compiled and
    # read without the ORM's layer.
    event = AuditEvent.__table__.c
    chain = event.chain == bindparam("chain")
    query = select(*(event[name] for name in REPLAYED_COLUMNS)).where(chain).order_by(event.seq)
    if at:
        # Cut by sequence: every event up to the last one at or before ``at`` (times never run backwards in a
        # chain — the engine refuses it — but the cut must not depend on that).
        last = select(func.max(event.seq)).where(chain, event.occurred_at <= bindparam("at")).scalar_subquery()
        query = query.where(event.seq <= last)
    if position:
        query = query.where(event.seq <= bindparam("position"))
    _EVENTS_UNTIL[(at, position)] = query
    return query


def not_yet_opened(case_id: str, at: datetime | None, position: int | None = None) -> NotFound:
    """The refusal of a case read at a time (or audit position) before its first event."""
    when = at.isoformat() if at is not None else f"audit position {position}"
    return NotFound(
        f"case {case_id} did not exist at {when}",
        reasons=[Reason("case_not_yet_opened", "choose a time after the case was opened")],
    )


async def rebuilt(
    session: AsyncSession,
    registry: Registry,
    case_id: str,
    events: Sequence[Row[Any]],
    *,
    tree_version: int | None = None,
) -> tuple[CaseFile, Row[Any]]:
    """The case after ``events`` (its events from the opening on, in order, as read by ``events_until``: rows with
    at least the ``REPLAYED_COLUMNS``), and the last of them."""
    opening, *rest = events
    cf = await _opened(session, registry, case_id, opening, tree_version)
    for event in rest:
        replayed(cf, change_of(event), registry)
    cf.case.event_seq, cf.case.last_hash = events[-1].seq, events[-1].hash
    return cf, events[-1]


async def _opened(
    session: AsyncSession,
    registry: Registry,
    case_id: str,
    event: AuditEvent | Row[Any],
    tree_version: int | None = None,
) -> CaseFile:
    """The case file the opening event created, with the unit's place and its recognitions decided by that day."""
    change = change_of(event)
    case = opened_case(case_id, change)
    procedure, profile = pinned(registry, case)
    unit, units = await unit_path_at(session, case.unit_code, tree_version)
    prior = await prior_recognitions(
        session,
        unit_code=case.unit_code,
        procedure=case.procedure,
        subject=case.subject,
        exclude_case=case_id,
        decided_by=local_date(event.occurred_at),
        policy=inheritance((case.pinned or {}).get("settings")),
        tree_version=tree_version,
    )
    cf = CaseFile(case, procedure, profile, unit, units, {}, [], {}, prior)
    replayed(cf, change, registry)
    return cf


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
                procedure, _ = pinned(registry, case)
                proven[case.id] = ProvenState(case, procedure.definition, {row.key: row for row in due[case.id]})
    return proven
