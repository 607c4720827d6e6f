"""Reading cases: list, read (now or as of a past time), explain, history. The writes are in transitions.py."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy import and_, bindparam, exists, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from service.api.deps import Services, current_actor, now, services
from service.api.errors import problems
from service.api.event_json import event_list_json, out_columns
from service.api.params import Instant, aware_datetime, decode_cursor, encode_cursor, strict_str
from service.api.schemas import CaseOut, CasePage, EventOut, ExplainOut, TriggerCheckOut, case_out
from service.domain import authority
from service.domain.actor import Actor
from service.domain.audit.canonical import case_chain
from service.domain.case_pages import load_case_files
from service.domain.cases import replay
from service.domain.cases.casefile import CaseFile, known_case, load_case_file
from service.domain.cases.explain import allowed_transitions, explain
from service.domain.errors import Conflict, Reason
from service.domain.units.tree_cache import TREE_VERSION, unit_path_at
from service.persistence.db import standalone_reads
from service.persistence.queries import overdue_clause, unit_subtree
from service.persistence.tables import AuditEvent, Case, Deadline
from service.telemetry import context as log_context
from workflows.registry import Registry

router = APIRouter(prefix="/v1", tags=["cases"])
access_log = logging.getLogger("cdht.audit.access")
ActorDep = Annotated[Actor, Depends(current_actor)]
ServicesDep = Annotated[Services, Depends(services)]
NowDep = Annotated[datetime, Depends(now)]
IDEMPOTENCY_KEY = "Retry-safe key (≤ 200 chars)"
IF_MATCH = "The case's ETag; 412 when stale"  # documented on the trigger operations (trigger_docs)
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", description=IDEMPOTENCY_KEY)]


async def require_read_in_tree(
    session: AsyncSession, actor: Actor, case_id: str, unit_code: str, subject: str | None, tree_version: int | None
) -> None:
    """``authority.require_read`` of a case on ``unit_code`` about ``subject``, its unit path taken from the tree
    this process keeps at ``tree_version`` (read from the database without one); an auditor's read is logged."""
    _, units = await unit_path_at(session, unit_code, tree_version)
    authority.require_read(actor, units, subject or None)
    note_auditor_read(actor, case_id)


async def readable_case(session: AsyncSession, registry: Registry, case_id: str, actor: Actor) -> CaseFile:
    log_context.bind(case=case_id)
    cf = await load_case_file(session, registry, case_id, lock=False)
    authority.require_read(actor, cf.units, cf.case.subject or None)
    note_auditor_read(actor, case_id)
    return cf


def note_auditor_read(actor: Actor, case_id: str) -> None:
    if actor.has_role("auditor"):
        access_log.info("auditor read case=%s by=%s unit=%s", case_id, actor.sub, actor.unit)


def json_response(body: Any, status: int, *, etag: str | None = None, replayed: bool = False) -> Response:
    """An answer of JSON values, or of JSON text already written (bytes), with its ETag and replay mark."""
    headers = {}
    if etag:
        headers["ETag"] = etag
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    if isinstance(body, bytes):
        return Response(body, status_code=status, headers=headers, media_type="application/json")
    return JSONResponse(body, status_code=status, headers=headers)


@router.get(
    "/cases",
    response_model=CasePage,
    responses=problems(401, 422),
    summary="List cases",
    description="Cases in the caller's jurisdiction, newest first, keyset-paginated: exactly the cases the caller "
    "may read by id (its unit and below, and the units its unit continues since a reform, with theirs).",
)
async def list_cases(
    actor: ActorDep,
    svc: ServicesDep,
    at: NowDep,
    procedure: str | None = None,
    unit: Annotated[str | None, Query(description="A unit and all below it")] = None,
    cycle: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    state: str | None = None,
    overdue: Annotated[bool | None, Query(description="Only cases with an open deadline already past")] = None,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
) -> CasePage:
    size = limit or svc.settings.page_size_default
    query = select(Case)
    if unit:
        query = query.where(Case.unit_code.in_(unit_subtree(unit, name="requested_unit")))
    if procedure:
        query = query.where(Case.procedure == procedure)
    if cycle is not None:
        query = query.where(Case.cycle == cycle)
    if state:
        query = query.where(Case.state == state)
    if overdue is not None:
        late = exists().where(Deadline.case_id == Case.id, overdue_clause(at))
        query = query.where(late if overdue else ~late)
    query = newest_first(query, cursor, size)
    async with svc.sessions() as session:
        scope = await authority.jurisdiction(session, actor)
        rows = (await session.execute(query.where(authority.readable_cases(scope)))).scalars().all()
        files = await load_case_files(session, svc.registry, rows[:size])
    items = [case_out(cf, allowed=allowed_transitions(cf, actor, at), now=at) for cf in files]
    return CasePage(items=items, next_cursor=cursor_after(rows, size))


def newest_first(query: Any, cursor: str | None, size: int) -> Any:
    """The cases of ``query`` newest first, after ``cursor``: a page and one more (to know whether one follows)."""
    if cursor:
        created_at, case_id = decode_cursor(cursor, (aware_datetime, strict_str))
        query = query.where(or_(Case.created_at < created_at, and_(Case.created_at == created_at, Case.id < case_id)))
    return query.order_by(Case.created_at.desc(), Case.id.desc()).limit(size + 1)


def cursor_after(rows: Any, size: int) -> str | None:
    """The cursor of the next page when ``rows`` (read by ``newest_first``) hold more than a page."""
    return encode_cursor([rows[size - 1].created_at.isoformat(), rows[size - 1].id]) if len(rows) > size else None


@router.get(
    "/cases/{case_id}",
    response_model=CaseOut,
    responses=problems(401, 403, 404),
    summary="Read a case, now or as it stood at a past time",
    description="The case with its deadlines and the triggers the caller may fire; `ETag` header. With `as_of`, "
    "the case is rebuilt from its audit events up to that time (state, level, deadlines, indicators, who could "
    "act then), and the rebuild is checked against the digest its last event recorded.",
)
async def get_case(
    case_id: str,
    actor: ActorDep,
    svc: ServicesDep,
    at: NowDep,
    as_of: Annotated[Instant | None, Query(description="ISO 8601; without an offset it is read as UTC")] = None,
) -> JSONResponse:
    async with svc.sessions() as session:
        if as_of is not None:
            # Who may read it is decided on the case as it is today (its unit and subject, the unit path at the
            # tree's version); the case file of today is not needed, the replay builds the one of then. One statement
            # reads both and the events up to ``as_of`` (a row per event; one row of null events for a case opened
            # later; none for no case), outside a transaction as the recognitions' read after it (standalone_reads).
            log_context.bind(case=case_id)
            await standalone_reads(session)
            moment = as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of
            params = {"case_id": case_id, "chain": case_chain(case_id), "at": moment}
            rows = (await session.execute(_AS_OF, params)).all()
            if not rows:
                known_case(None, case_id)
            first = rows[0]
            await require_read_in_tree(session, actor, case_id, first.case_unit, first.case_subject, first.tree_version)
            access_log.info("as_of case=%s at=%s by=%s unit=%s", case_id, moment.isoformat(), actor.sub, actor.unit)
            if first.seq is None:
                raise replay.not_yet_opened(case_id, moment)
            cf, last = await replay.rebuilt(session, svc.registry, case_id, rows, tree_version=first.tree_version)
            if not cf.holds_recorded_digest(last.state_digest):
                raise Conflict(
                    "the history of this case does not rebuild to the state it recorded",
                    reasons=[Reason("replay_mismatch", f"event {last.seq} records another state; run /audit/verify")],
                )
            out = case_out(cf, allowed=allowed_transitions(cf, actor, moment), now=moment)
            return json_response(out.model_dump(mode="json"), 200)
        cf = await readable_case(session, svc.registry, case_id, actor)
        out = case_out(cf, allowed=allowed_transitions(cf, actor, at), now=at)
    return json_response(out.model_dump(mode="json"), 200, etag=out.etag)


@router.get(
    "/cases/{case_id}/explain",
    response_model=ExplainOut,
    responses=problems(401, 403, 404),
    summary="Why each trigger is or is not open to the caller",
)
async def explain_case(case_id: str, actor: ActorDep, svc: ServicesDep, at: NowDep) -> ExplainOut:
    async with svc.sessions() as session:
        cf = await readable_case(session, svc.registry, case_id, actor)
        checks = explain(cf, actor, at)
    return ExplainOut(
        case_id=case_id,
        state=cf.case.state,
        triggers=[
            TriggerCheckOut(
                trigger=c.trigger,
                allowed=c.allowed,
                reasons=[r.as_dict() for r in c.reasons],
                bodies=c.bodies,
                citation=c.citation,
                checked_when_fired=c.checked_when_fired,
            )
            for c in checks
        ],
    )


@router.get(
    "/cases/{case_id}/history",
    response_model=list[EventOut],
    responses=problems(401, 403, 404),
    summary="The case's audit events, oldest first",
)
async def case_history(case_id: str, actor: ActorDep, svc: ServicesDep) -> Response:
    async with svc.sessions() as session:
        # One statement and no transaction around it (standalone_reads): the case's unit and subject, the unit
        # tree's version and the events, a row per event (one row of null events for a case without any; none for
        # no case). The right to read is decided on them before anything is written out.
        await standalone_reads(session)
        rows = (await session.execute(_HISTORY, {"case_id": case_id})).all()
        if not rows:
            known_case(None, case_id)
        unit_code, subject, tree_version = rows[0][:_EVENT]
        await require_read_in_tree(session, actor, case_id, unit_code, subject, tree_version)
    # Plain rows, not ORM entities, written as JSON straight from the rows with each event's stored payload text as
    # it is (event_json): building ~100 pydantic events per answer cost several times the query.
    events = [row[_EVENT:] for row in rows] if rows[0][_EVENT] is not None else []
    return Response(event_list_json(events), media_type="application/json")


# A case's history in one statement: what deciding the right to read needs (the case's unit and subject, the unit
# tree's version) beside each of its events, oldest first (an event's columns from ``_EVENT`` on). Table columns,
# not ORM attributes: the rows come back as plain rows, without the ORM's loading.
_CASES, _EVENTS = Case.__table__.c, AuditEvent.__table__.c
_HISTORY = (
    select(_CASES.unit_code, _CASES.subject, TREE_VERSION, *out_columns())
    .select_from(Case.__table__.outerjoin(AuditEvent.__table__, _EVENTS.case_id == _CASES.id))
    .where(_CASES.id == bindparam("case_id"))
    .order_by(_EVENTS.seq)
)
_EVENT = 3


# A case as it stood at ``:at``, in one statement: the case's unit and subject and the unit tree's version
# (``case_unit``, ``case_subject``, ``tree_version``) beside each of its events up to then, oldest first
# (``replay.events_until``: the columns a replay reads, under their names; ``:chain`` is the case's chain).
_AS_OF_EVENTS = replay.events_until(at=True, position=False).subquery()
_AS_OF = (
    select(
        _CASES.unit_code.label("case_unit"),
        _CASES.subject.label("case_subject"),
        TREE_VERSION.label("tree_version"),
        _AS_OF_EVENTS,
    )
    .select_from(Case.__table__.outerjoin(_AS_OF_EVENTS, true()))
    .where(_CASES.id == bindparam("case_id"))
    .order_by(_AS_OF_EVENTS.c.seq)
)
