"""Procedure definitions as published: states, transitions, bodies, deadlines, citations, criteria, diagrams."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, Response

from service.api import openapi_doc
from service.api.cases import ActorDep, ServicesDep
from service.api.errors import problems
from service.domain.errors import NotFound, Reason, UnknownProcedure
from workflows.diagram.mermaid import mermaid
from workflows.diagram.svg import svg
from workflows.published import published_schema
from workflows.registry import Procedure, Registry

router = APIRouter(prefix="/v1", tags=["procedures"])


def _find(registry: Registry, key: str, version: str) -> Procedure:
    procedure = registry.get(key, version)
    if procedure is None:
        raise UnknownProcedure(
            f"no procedure {key}/{version}", why=f"known: {', '.join(f'{k}/{v}' for k, v in registry.procedures)}"
        )
    return procedure


def summary(procedure: Procedure, registry: Registry) -> dict[str, Any]:
    d = procedure.definition
    current = registry.current(d.key)
    return {
        "key": d.key,
        "version": d.version,
        "title": d.title,
        "instrument": d.instrument,
        "effective_from": d.effective_from.isoformat(),
        "current": current is procedure,
        **({"repealed_on": d.repealed_on.isoformat(), "repealed_by": d.repealed_by} if d.repealed_on else {}),
    }


@router.get("/procedures", responses=problems(401), summary="The procedures this service runs")
async def list_procedures(actor: ActorDep, svc: ServicesDep) -> list[dict[str, Any]]:
    return [summary(p, svc.registry) for _, p in sorted(svc.registry.procedures.items())]


@router.get(
    "/procedures/{key}/{version}",
    responses=problems(401, 404),
    summary="A definition: states, transitions with payload schemas, bodies, deadlines, citations, criteria",
)
async def get_procedure(key: str, version: str, actor: ActorDep, svc: ServicesDep) -> dict[str, Any]:
    procedure = _find(svc.registry, key, version)
    d = procedure.definition
    body = d.model_dump(mode="json")
    # payload_schema: what the console builds its forms from (workflows.published: the guards' rules that JSON
    # Schema can say, what only the guards check in its description); example: a well-formed payload.
    for transition, dumped in zip(d.transitions, body["transitions"], strict=True):
        dumped["payload_schema"] = published_schema(d, transition)
    if d.indicator_process:
        process = body["indicator_process"]
        for transition, dumped in zip(d.indicator_process.transitions, process["transitions"], strict=True):
            dumped["payload_schema"] = published_schema(d, transition)
    body["triggers_by_state"] = procedure.triggers_by_state
    body["profiles"] = {name: p.model_dump(mode="json") for name, p in svc.registry.profiles.items()}
    return {**summary(procedure, svc.registry), "definition": body}


@router.get(
    "/procedures/{key}/{version}/openapi.json",
    responses=problems(404),
    summary="The OpenAPI document for integrators of one procedure",
    description="The service's OpenAPI document with the trigger operations of this procedure and version only, "
    "each with the procedure's own body schema (e.g. `CdhtXaTt252023SubmitDossier`), example, summary and legal "
    "citation: generate a client from it to get one typed model per step. Needs no token, like /openapi.json.",
)
async def get_procedure_openapi(key: str, version: str, request: Request, svc: ServicesDep) -> dict[str, Any]:
    return openapi_doc.for_procedure(request.app.openapi(), svc.registry, key, version)


@router.get(
    "/procedures/{key}/{version}/diagram",
    responses={
        200: {"content": {"text/plain": {}, "image/svg+xml": {}}, "description": "Mermaid source or SVG"},
        **problems(401, 404, 422),
    },
    summary="The state diagram, drawn from the definition the engine runs",
)
async def get_diagram(
    key: str,
    version: str,
    actor: ActorDep,
    svc: ServicesDep,
    format: Literal["mermaid", "svg"] = "mermaid",
    process: Literal["case", "indicator"] = "case",
) -> Response:
    d = _find(svc.registry, key, version).definition
    if process == "indicator" and d.indicator_process is None:
        raise NotFound(
            f"{key}/{version} has no indicator sub-process",
            reasons=[Reason("no_indicator_process", "use process=case")],
        )
    indicator = process == "indicator"
    if format == "svg":
        return Response(svg(d, indicator_process=indicator), media_type="image/svg+xml")
    return PlainTextResponse(mermaid(d, indicator_process=indicator))
