"""Procedure definitions as published: states, transitions, bodies, deadlines, citations, criteria, diagrams."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse, Response

from service.api.cases import ActorDep, ServicesDep
from service.api.errors import problems
from service.domain.errors import NotFound, Reason, UnknownProcedure
from workflows.diagram.mermaid import mermaid
from workflows.diagram.svg import svg
from workflows.registry import Procedure, Registry
from workflows.schema import payload_json_schema

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
    for transition, dumped in zip(d.transitions, body["transitions"], strict=True):
        dumped["payload_schema"] = payload_json_schema(transition.payload)
    if d.indicator_process:
        process = body["indicator_process"]
        for transition, dumped in zip(d.indicator_process.transitions, process["transitions"], strict=True):
            dumped["payload_schema"] = payload_json_schema(transition.payload)
    body["triggers_by_state"] = procedure.triggers_by_state
    body["profiles"] = {name: p.model_dump(mode="json") for name, p in svc.registry.profiles.items()}
    return {**summary(procedure, svc.registry), "definition": body}


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
