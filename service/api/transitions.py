"""The writes on a case over HTTP: opening one (POST /cases) and every trigger as its own operation, each one unit
of work around the engine, answered from what the write left (no second read), retry-safe with Idempotency-Key."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from service.api import trigger_docs
from service.api.cases import (
    IDEMPOTENCY_KEY,
    IF_MATCH,
    ActorDep,
    IdempotencyKey,
    NowDep,
    ServicesDep,
    json_response,
    readable_case,
)
from service.api.deps import Services, current_actor, request_id
from service.api.errors import problems
from service.api.limits import PARSED_BODY
from service.api.schemas import CaseOut, OpenCaseIn, TransitionOut, case_out, etag_of, event_out
from service.api.trigger_front import Direct, TriggerRoutes
from service.domain.actor import Actor
from service.domain.cases import engine, idempotency, opening
from service.domain.cases.checks import unknown_trigger
from service.domain.cases.idempotency import IdempotencyRequest
from service.domain.errors import InvalidPayload, PreconditionFailed, Reason
from service.persistence.db import unit_of_work
from workflows.registry import Registry

router = APIRouter(prefix="/v1", tags=["cases"])


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
) -> Response:
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
        subject_kind=body.subject_kind,
        idempotency_key=idempotency_key,
        idempotency_body=body.model_dump(mode="json"),
    )


async def _answered_before(
    session: AsyncSession, actor: Actor, idem: IdempotencyRequest | None, *, etag: bool
) -> Response | None:
    """The stored answer to a retry of the same key and body (the write is not run again); None for a first try."""
    stored = await idempotency.find(session, actor, idem) if idem else None
    if stored is None:
        return None
    tag = (stored.body.get("case") or {}).get("etag") if etag else None
    return json_response(stored.body, stored.status_code, replayed=True, etag=tag)


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
    subject_kind: str | None = None,
    idempotency_key: str | None = None,
    idempotency_body: Any = None,
) -> Response:
    """The HTTP side of ``opening.open_case``: one unit of work, answered from the case file the opening built,
    201."""
    idem = idempotency.idempotency_request(idempotency_key, f"POST {request.url.path}", idempotency_body)
    async with unit_of_work(svc.sessions) as session:
        if answered := await _answered_before(session, actor, idem, etag=False):
            return answered
        outcome = await opening.open_case(
            session,
            registry=svc.registry,
            actor=actor,
            procedure=procedure,
            unit_code=unit,
            cycle=cycle,
            kind=kind,
            target_level=target_level,
            subject=subject,
            subject_kind=subject_kind,
            now=at,
            request_id=request_id(request),
            idempotency_key=idem.key if idem else None,
        )
        out = case_out(outcome.case_file, allowed=outcome.allowed, now=outcome.at).model_dump(mode="json")
        if idem:
            idempotency.remember(session, actor, idem, status_code=201, body=out, now=outcome.at)
    return json_response(out, 201, etag=out["etag"])


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
    parsed = request.scope.get(PARSED_BODY)
    if parsed is not None and parsed[0] == raw:  # parsed by ``RequestLimits``, its numbers checked
        body = parsed[1]
    else:
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
    # A NUL in a JSON string is written \u0000 (a bare control character is not JSON); a body without one, and
    # without NUL bytes (as UTF-16 and UTF-32 have), has none to look for.
    if (b"\\u0000" in raw or b"\x00" in raw) and (bad := _nul_paths(body)):
        raise InvalidPayload(
            "text may not contain NUL characters", reasons=[Reason("nul_character", f"at {p}") for p in bad]
        )
    return data, comment


async def fire(request: Request, *, actor: Actor, case_id: str, trigger: str, indicator: str | None) -> Response:
    """The HTTP side of the single write path: the body and the If-Match and Idempotency-Key headers read (as
    FastAPI reads a declared header: the first of that name), then ``fire_payload``."""
    data, comment = await read_body(request)
    headers = request.headers
    out, status, etag, replayed = await fire_payload(
        request.app.state.services,
        actor=actor,
        case_id=case_id,
        trigger=trigger,
        indicator=indicator,
        data=data,
        comment=comment,
        if_match=headers.get("if-match"),
        idempotency_key=headers.get("idempotency-key"),
        scope=f"POST {request.url.path}",
        request_id=request_id(request),
    )
    return json_response(out, status, etag=etag, replayed=replayed)


def trigger_path(case_id: str, trigger: str, indicator: str | None) -> str:
    """The API path of a trigger: the scope of its Idempotency-Key, for the API and the console alike."""
    if indicator is None:
        return f"/v1/cases/{case_id}/transitions/{trigger}"
    return f"/v1/cases/{case_id}/indicators/{indicator}/transitions/{trigger}"


async def fire_payload(
    svc: Services,
    *,
    actor: Actor,
    case_id: str,
    trigger: str,
    indicator: str | None,
    data: dict[str, Any],
    comment: str | None,
    if_match: str | None,
    idempotency_key: str | None,
    scope: str,
    request_id: str | None,
) -> tuple[dict[str, Any] | bytes, int, str | None, bool]:
    """One unit of work around ``engine.apply_transition``, which reads the app clock once it holds the case's
    lock, answered from the case file the write left: (body, status, ETag, replayed), the body its JSON values
    (with an Idempotency-Key, as the record keeps them; a replay) or, without one, its JSON text, written by
    pydantic straight from ``TransitionOut``. Shared by the API and the console, so both refuse and accept
    exactly the same."""
    idem = idempotency.idempotency_request(idempotency_key, scope, {"data": data, "comment": comment})
    async with unit_of_work(svc.sessions) as session:
        stored = await idempotency.find(session, actor, idem) if idem else None
        if stored is not None:
            return stored.body, stored.status_code, (stored.body.get("case") or {}).get("etag"), True
        outcome = await engine.apply_transition(
            session,
            registry=svc.registry,
            case_id=case_id,
            trigger=trigger,
            actor=actor,
            payload=data,
            now=svc.settings.clock,
            indicator=indicator,
            expected_version=expected_version(if_match),
            idempotency_key=idem.key if idem else None,
            request_id=request_id,
            comment=comment,
        )
        answer = TransitionOut(
            case=case_out(outcome.case_file, allowed=outcome.allowed, now=outcome.at), event=event_out(outcome.event)
        )
        out: dict[str, Any] | bytes
        if idem:  # the idempotency record keeps the body as JSON values
            out = answer.model_dump(mode="json", by_alias=True)
            idempotency.remember(session, actor, idem, status_code=200, body=out, now=outcome.at)
        else:  # written straight to JSON text: no dict of it in between
            out = TransitionOut.__pydantic_serializer__.to_json(answer, by_alias=True)
    return out, 200, etag_of(outcome.case.row_version), False


def _case_route(trigger: str):  # noqa: ANN202 - a route function, typed by its signature
    async def fire_case(case_id: str, request: Request, actor: ActorDep) -> Response:
        return await fire(request, actor=actor, case_id=case_id, trigger=trigger, indicator=None)

    return fire_case


def _indicator_route(trigger: str):  # noqa: ANN202
    async def fire_indicator(case_id: str, code: str, request: Request, actor: ActorDep) -> Response:
        return await fire(request, actor=actor, case_id=case_id, trigger=trigger, indicator=code)

    return fire_indicator


def _direct(route: APIRoute) -> Direct:
    """The route's endpoint called with the caller and its path parameters (strings), as FastAPI's request handler
    calls it, for the trigger front (``trigger_front``); only for an endpoint whose one dependency is the caller and
    whose other parameters are the request and the path's."""
    dependant = route.dependant
    calls = [dependency.call for dependency in dependant.dependencies]
    others = dependant.query_params + dependant.header_params + dependant.cookie_params + dependant.body_params
    if calls != [current_actor] or others or dependant.request_param_name != "request":
        raise RuntimeError(f"{route.path}: not a trigger route the front can answer directly")
    endpoint = route.endpoint

    async def answer(request: Request) -> Response:
        return await endpoint(request=request, actor=await current_actor(request), **request.path_params)

    return answer


async def _unknown_trigger(case_id: str, trigger: str, request: Request, actor: ActorDep, svc: ServicesDep) -> None:
    async with svc.sessions() as session:
        cf = await readable_case(session, svc.registry, case_id, actor)
    raise unknown_trigger(cf.procedure.definition, trigger, indicator="code" in request.path_params)


def _header_docs() -> list[dict[str, Any]]:
    """If-Match and Idempotency-Key, which ``fire`` reads from the request, documented as declared headers are."""
    return [
        trigger_docs.header_parameter("If-Match", IF_MATCH),
        trigger_docs.header_parameter("Idempotency-Key", IDEMPOTENCY_KEY),
    ]


def add_trigger_routes(router: APIRouter, registry: Registry) -> TriggerRoutes:
    """One OpenAPI operation per trigger, with its payload schema, bodies, guards and legal source, added to the
    app's own router (``/v1/…``); the routes by name, for the front that matches them (``trigger_front``)."""
    routes = TriggerRoutes()
    for indicator, path, make, prefix, tag in (
        (False, "/v1/cases/{case_id}/transitions/", _case_route, "transition_", "transitions"),
        (True, "/v1/cases/{case_id}/indicators/{code}/transitions/", _indicator_route, "indicator_", "indicators"),
    ):
        for trigger, variants in trigger_docs.human_triggers(registry, indicator=indicator).items():
            router.add_api_route(
                path + trigger,
                make(trigger),
                methods=["POST"],
                response_model=TransitionOut,
                operation_id=prefix + trigger,
                summary=trigger_docs.summary(trigger, variants),
                tags=[tag],
                description=trigger_docs.describe(variants, indicator=indicator),
                openapi_extra={
                    "parameters": _header_docs(),
                    "requestBody": trigger_docs.request_body(variants, indicator=indicator),
                },
                responses=problems(401, 403, 404, 409, 412, 422),
            )
            routes.named[indicator][trigger] = router.routes[-1]
            routes.direct[id(router.routes[-1])] = _direct(router.routes[-1])
        # Any other trigger (a typo, or the system's lapse and expire): 404 trigger_unknown naming the triggers of
        # the case's procedure, once the case is known to be readable, instead of the router's bare "Not Found".
        router.add_api_route(path + "{trigger}", _unknown_trigger, methods=["POST"], include_in_schema=False)
        routes.unknown[indicator] = router.routes[-1]
    return routes
