"""Cases: open, list, read, explain, history, and every trigger as its own operation."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import TypeAdapter
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.api.deps import Services, current_actor, now, request_id, services
from service.api.errors import problems
from service.api.params import Instant, aware_datetime, decode_cursor, encode_cursor, strict_str
from service.api.schemas import (
    CaseOut,
    CasePage,
    EventOut,
    ExplainOut,
    OpenCaseIn,
    TransitionOut,
    TriggerCheckOut,
    case_out,
    etag_of,
    event_out,
)
from service.domain import authority, engine, idempotency, replay
from service.domain.actor import Actor
from service.domain.case_pages import load_case_files
from service.domain.casefile import CaseFile, known_case, load_case_file, unit_path
from service.domain.errors import Conflict, InvalidPayload, PreconditionFailed, Reason
from service.persistence.db import unit_of_work
from service.persistence.queries import overdue_clause, unit_subtree
from service.persistence.tables import AuditEvent, Case, Deadline
from workflows.registry import Registry
from workflows.schema import SYSTEM_BODY, Transition, payload_json_schema

router = APIRouter(prefix="/v1", tags=["cases"])
access_log = logging.getLogger("cdht.audit.access")
ActorDep = Annotated[Actor, Depends(current_actor)]
ServicesDep = Annotated[Services, Depends(services)]
NowDep = Annotated[datetime, Depends(now)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", description="Retry-safe key (≤ 200 chars)")]
IfMatch = Annotated[str | None, Header(alias="If-Match", description="The case's ETag; 412 when stale")]


async def readable(session: AsyncSession, case_id: str, actor: Actor) -> Case:
    """The case row, once the caller is known to be in its jurisdiction: for reads that need nothing else of the
    case file (two queries: the row and its unit path)."""
    case = known_case(await session.get(Case, case_id), case_id)
    _, units = await unit_path(session, case.unit_code)
    authority.require_read(actor, units, case.subject or None)
    note_auditor_read(actor, case_id)
    return case


async def readable_case(session: AsyncSession, registry: Registry, case_id: str, actor: Actor) -> CaseFile:
    cf = await load_case_file(session, registry, case_id, lock=False)
    authority.require_read(actor, cf.units, cf.case.subject or None)
    note_auditor_read(actor, case_id)
    return cf


def note_auditor_read(actor: Actor, case_id: str) -> None:
    if actor.has_role("auditor"):
        access_log.info("auditor read case=%s by=%s unit=%s", case_id, actor.sub, actor.unit)


def expected_version(if_match: str | None) -> int | None:
    if if_match is None or if_match.strip() == "*":
        return None
    # If-Match uses the strong comparison (RFC 9110 §13.1.1): a weak validator never matches.
    match = re.fullmatch(r'\s*"v(\d{1,18})"\s*', if_match)  # more digits: no version a case can have
    if match is None:
        raise PreconditionFailed(
            "If-Match does not name a version of this case",
            reasons=[Reason("etag_malformed", 'send the ETag as returned, e.g. "v3"')],
        )
    return int(match.group(1))


def json_response(body: Any, status: int, *, etag: str | None = None, replayed: bool = False) -> JSONResponse:
    headers = {}
    if etag:
        headers["ETag"] = etag
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body, status_code=status, headers=headers)


@router.post(
    "/cases",
    status_code=201,
    response_model=CaseOut,
    responses=problems(401, 403, 404, 409, 422),
    summary="Open a case",
    description="Opens a case of any procedure (GET /procedures): who may open it is the definition's `open` "
    "rule, e.g. commune.leader for its own commune or reviewer.head for the communes it reviews (TT25/2023 "
    "Điều 9, Điều 24 k1). Pins the definition version, the jurisdiction profile in force for the cycle and "
    "province, and the settings. Refused with reasons when the unit, cycle, kind or the unit's recognition "
    "history does not fit, or when the profile has no one to fill an office the procedure needs.",
)
async def open_case(
    body: OpenCaseIn,
    request: Request,
    actor: ActorDep,
    svc: ServicesDep,
    at: NowDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    return await open_and_answer(
        request,
        svc=svc,
        actor=actor,
        at=at,
        procedure=body.procedure,
        unit=body.unit,
        cycle=body.cycle,
        kind=body.kind,
        target_level=body.target_level,
        subject=body.subject,
        idempotency_key=idempotency_key,
        idempotency_body=body.model_dump(mode="json"),
    )


async def open_and_answer(
    request: Request,
    *,
    svc: Services,
    actor: Actor,
    at: datetime,
    procedure: str,
    unit: str,
    cycle: int,
    kind: str,
    target_level: int | None,
    subject: str | None = None,
    idempotency_key: str | None = None,
    idempotency_body: Any = None,
) -> JSONResponse:
    """The HTTP side of ``engine.open_case``: one unit of work, the opened case as the caller sees it, 201."""
    idem = idempotency.idempotency_request(idempotency_key, f"POST {request.url.path}", idempotency_body)
    async with unit_of_work(svc.sessions) as session:
        outcome = await engine.open_case(
            session,
            registry=svc.registry,
            actor=actor,
            procedure=procedure,
            unit_code=unit,
            cycle=cycle,
            kind=kind,
            target_level=target_level,
            subject=subject,
            now=at,
            request_id=request_id(request),
            idempotency_request=idem,
        )
        if outcome.replay:
            return json_response(outcome.replay.body, outcome.replay.status_code, replayed=True)
        cf = await load_case_file(session, svc.registry, outcome.case.id, lock=False)
        out = case_out(cf, allowed=engine.allowed_transitions(cf, actor, at), now=at).model_dump(mode="json")
        if idem:
            idempotency.remember(session, actor, idem, status_code=201, body=out, now=at)
    return json_response(out, 201, etag=out["etag"])


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
    if cursor:
        created_at, case_id = decode_cursor(cursor, (aware_datetime, strict_str))
        query = query.where(or_(Case.created_at < created_at, and_(Case.created_at == created_at, Case.id < case_id)))
    query = query.order_by(Case.created_at.desc(), Case.id.desc()).limit(size + 1)
    async with svc.sessions() as session:
        scope = await authority.jurisdiction(session, actor)
        rows = (await session.execute(query.where(authority.readable_cases(scope)))).scalars().all()
        files = await load_case_files(session, svc.registry, rows[:size])
    items = [case_out(cf, allowed=engine.allowed_transitions(cf, actor, at), now=at) for cf in files]
    next_cursor = (
        encode_cursor([rows[size - 1].created_at.isoformat(), rows[size - 1].id]) if len(rows) > size else None
    )
    return CasePage(items=items, next_cursor=next_cursor)


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
        cf = await readable_case(session, svc.registry, case_id, actor)
        if as_of is not None:
            moment = as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of
            access_log.info("as_of case=%s at=%s by=%s unit=%s", case_id, moment.isoformat(), actor.sub, actor.unit)
            cf, last = await replay.case_as_of(session, svc.registry, case_id, moment)
            if not cf.holds_recorded_digest(last.state_digest):
                raise Conflict(
                    "the history of this case does not rebuild to the state it recorded",
                    reasons=[Reason("replay_mismatch", f"event {last.seq} records another state; run /audit/verify")],
                )
            out = case_out(cf, allowed=engine.allowed_transitions(cf, actor, moment), now=moment)
            return json_response(out.model_dump(mode="json"), 200)
        out = case_out(cf, allowed=engine.allowed_transitions(cf, actor, at), now=at)
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
        checks = engine.explain(cf, actor, at)
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


EVENT_LIST = TypeAdapter(list[EventOut])


@router.get(
    "/cases/{case_id}/history",
    response_model=list[EventOut],
    responses=problems(401, 403, 404),
    summary="The case's audit events, oldest first",
)
async def case_history(case_id: str, actor: ActorDep, svc: ServicesDep) -> Response:
    async with svc.sessions() as session:
        await readable(session, case_id, actor)
        # Plain rows, not ORM entities: nothing here is changed, and building ~100 instances costs more than the query.
        events = (
            await session.execute(
                select(AuditEvent.__table__).where(AuditEvent.case_id == case_id).order_by(AuditEvent.seq)
            )
        ).all()
    # Each event is built (and so checked) as an EventOut once and serialised by pydantic's own encoder: not
    # validated a second time against the response model, nor re-encoded by the json module (each cost as much
    # as building the events, measured).
    return Response(EVENT_LIST.dump_json([event_out(e) for e in events], by_alias=True), media_type="application/json")


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _nul_paths(value: Any, path: str = "data") -> list[str]:
    if isinstance(value, str):
        return [path] if "\x00" in value else []
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _nul_paths(k, path) + _nul_paths(v, f"{path}/{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _nul_paths(v, f"{path}/{i}")]
    return []


async def read_body(request: Request) -> tuple[dict[str, Any], str | None]:
    """``{data: {...}, comment?}``; anything else is a 422 that changes nothing."""
    raw = await request.body()
    try:
        body = json.loads(raw, parse_constant=_no_constants) if raw.strip() else {}
    except (ValueError, RecursionError) as exc:
        message = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InvalidPayload("the body is not acceptable JSON", reasons=[Reason("body_not_json", message)]) from exc
    if not isinstance(body, dict) or set(body) - {"data", "comment"}:
        raise InvalidPayload(
            "the body must be an object {data, comment?}",
            reasons=[Reason("body_shape", "only the keys data and comment are accepted")],
        )
    data, comment = body.get("data", {}), body.get("comment")
    if not isinstance(data, dict) or (comment is not None and not isinstance(comment, str)):
        raise InvalidPayload(
            "data must be an object and comment a string",
            reasons=[Reason("body_shape", "data: object; comment: string")],
        )
    if bad := _nul_paths(body):
        raise InvalidPayload(
            "text may not contain NUL characters", reasons=[Reason("nul_character", f"at {p}") for p in bad]
        )
    return data, comment


async def fire(
    request: Request,
    *,
    svc: Services,
    actor: Actor,
    at: datetime,
    case_id: str,
    trigger: str,
    indicator: str | None,
    if_match: str | None,
    idempotency_key: str | None,
) -> JSONResponse:
    """The HTTP side of the single write path: one unit of work around ``engine.apply_transition``."""
    data, comment = await read_body(request)
    scope = f"POST {request.url.path}"
    idem = idempotency.idempotency_request(idempotency_key, scope, {"data": data, "comment": comment})
    async with unit_of_work(svc.sessions) as session:
        outcome = await engine.apply_transition(
            session,
            registry=svc.registry,
            case_id=case_id,
            trigger=trigger,
            actor=actor,
            payload=data,
            now=at,
            indicator=indicator,
            expected_version=expected_version(if_match),
            idempotency_request=idem,
            request_id=request_id(request),
            comment=comment,
        )
        if outcome.replay:
            return json_response(
                outcome.replay.body,
                outcome.replay.status_code,
                replayed=True,
                etag=(outcome.replay.body.get("case") or {}).get("etag"),
            )
        cf = outcome.case_file or await load_case_file(session, svc.registry, case_id, lock=False)
        out = TransitionOut(
            case=case_out(cf, allowed=engine.allowed_transitions(cf, actor, at), now=at), event=event_out(outcome.event)
        ).model_dump(mode="json", by_alias=True)
        if idem:
            idempotency.remember(session, actor, idem, status_code=200, body=out, now=at)
    return json_response(out, 200, etag=etag_of(outcome.case.row_version))


def request_body_schema(variants: list[tuple[str, Transition]]) -> dict[str, Any]:
    schemas = [payload_json_schema(t.payload) for _, t in variants]
    # anyOf, not oneOf: two procedures may share a trigger with the same payload, and a body valid for both is valid.
    data = schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"data": data, "comment": {"type": "string"}},
                    "required": ["data"] if any(s.get("required") for s in schemas) else [],
                    "additionalProperties": False,
                }
            }
        },
    }


def describe(variants: list[tuple[str, Transition]]) -> str:
    lines = []
    for procedure, t in variants:
        lines.append(
            f"**{procedure}** — {t.vi} / {t.en}. From {', '.join(t.source)} to "
            f"{'the same state' if t.dest == '=' else t.dest}. Bodies: {', '.join(t.bodies)}. "
            f"Guards: {', '.join(t.guards) or 'none'}. Source: {t.citation.ref} [{t.citation.basis}]."
        )
    return "\n\n".join(lines)


def human_triggers(registry: Registry, *, indicator: bool) -> dict[str, list[tuple[str, Transition]]]:
    """Triggers people fire, by name; system-only ones (lapse, expire) are fired by the deadline worker."""
    found: dict[str, list[tuple[str, Transition]]] = {}
    for (key, version), procedure in sorted(registry.procedures.items()):
        definition = procedure.definition
        transitions = (
            (definition.indicator_process.transitions if definition.indicator_process else [])
            if indicator
            else definition.transitions
        )
        for t in transitions:
            if t.bodies != [SYSTEM_BODY]:
                found.setdefault(t.trigger, []).append((f"{key}/{version}", t))
    return found


def _case_route(trigger: str):  # noqa: ANN202 - a route function, typed by its signature
    async def fire_case(
        case_id: str,
        request: Request,
        actor: ActorDep,
        svc: ServicesDep,
        at: NowDep,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        return await fire(
            request,
            svc=svc,
            actor=actor,
            at=at,
            case_id=case_id,
            trigger=trigger,
            indicator=None,
            if_match=if_match,
            idempotency_key=idempotency_key,
        )

    return fire_case


def _indicator_route(trigger: str):  # noqa: ANN202
    async def fire_indicator(
        case_id: str,
        code: str,
        request: Request,
        actor: ActorDep,
        svc: ServicesDep,
        at: NowDep,
        if_match: IfMatch = None,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        return await fire(
            request,
            svc=svc,
            actor=actor,
            at=at,
            case_id=case_id,
            trigger=trigger,
            indicator=code,
            if_match=if_match,
            idempotency_key=idempotency_key,
        )

    return fire_indicator


def add_trigger_routes(router: APIRouter, registry: Registry) -> None:
    """One OpenAPI operation per trigger, with its payload schema, bodies, guards and legal source."""
    for indicator, path, make, prefix, tag in (
        (False, "/cases/{case_id}/transitions/", _case_route, "transition_", "transitions"),
        (True, "/cases/{case_id}/indicators/{code}/transitions/", _indicator_route, "indicator_", "indicators"),
    ):
        for trigger, variants in human_triggers(registry, indicator=indicator).items():
            router.add_api_route(
                path + trigger,
                make(trigger),
                methods=["POST"],
                response_model=TransitionOut,
                operation_id=prefix + trigger,
                summary=f"{trigger}: {variants[0][1].en}",
                tags=[tag],
                description=describe(variants),
                openapi_extra={"requestBody": request_body_schema(variants)},
                responses=problems(401, 403, 404, 409, 412, 422),
            )
