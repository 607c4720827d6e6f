"""Administrative units: the tree that jurisdiction is decided on (province, district, commune)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from service.api.deps import Services, current_actor, now, request_id, services
from service.api.errors import problems
from service.api.schemas import AdminUnitIn, AdminUnitOut, Out, unit_out
from service.domain.actor import Actor
from service.domain.errors import UnknownUnit
from service.domain.units.history import unit_recognitions
from service.domain.units.successions import SuccessionLink, succession_links
from service.domain.units.tree import create_unit
from service.persistence.db import unit_of_work
from service.persistence.tables import AdminUnit
from workflows.calendar import local_date

router = APIRouter(prefix="/v1", tags=["admin-units"])


class SuccessionOut(Out):
    """One unit continued by another (a merger or a rename) from ``effective_on``; its recognitions follow it."""

    predecessor: str
    predecessor_name: str
    predecessor_level: str
    successor: str
    successor_name: str
    successor_level: str
    effective_on: date
    basis: str  # resolution (Nghị quyết 202/2025/QH15, a mapping file), gso_code_continued
    source: str


class AdminUnitDetailOut(AdminUnitOut):
    predecessors: list[SuccessionOut]  # the units this one directly continues
    successors: list[SuccessionOut]  # the units that directly continue this one


class DocRefOut(Out):
    number: str
    date: date
    signer: str | None = None
    title: str | None = None
    evidence_id: str | None = None


class ViaOut(Out):
    """How a recognition of another unit reached this one: the holder's succession step and the chain of codes
    from the holder to the unit asked about."""

    basis: str
    source: str
    effective_on: date
    path: list[str]


class UnitRecognitionOut(Out):
    case_id: str
    procedure: str
    version: str
    unit: str  # the unit that holds the recognition
    unit_name: str
    cycle: int
    kind: str
    level: int
    decision: DocRefOut | None
    decided_on: date
    valid_until: date
    status: Literal["in_force", "expired", "superseded"]
    superseded_by: str | None  # the later recognition's case
    via: ViaOut | None  # null for the unit's own recognitions


class UnitRecognitionsOut(Out):
    unit: AdminUnitOut
    as_of: date
    lineage: list[str]  # the unit and every unit it continues, nearest first: whose recognitions are listed
    predecessors: list[SuccessionOut]  # every succession step within the lineage
    successors: list[SuccessionOut]  # every unit that continues this one, over all generations
    recognitions: list[UnitRecognitionOut]


def succession_out(link: SuccessionLink) -> SuccessionOut:
    return SuccessionOut(
        predecessor=link.predecessor,
        predecessor_name=link.predecessor_name,
        predecessor_level=link.predecessor_level,
        successor=link.successor,
        successor_name=link.successor_name,
        successor_level=link.successor_level,
        effective_on=link.effective_on,
        basis=link.basis,
        source=link.source,
    )


@router.post(
    "/admin-units",
    status_code=201,
    response_model=AdminUnitOut,
    responses=problems(401, 403, 404, 409, 422),
    summary="Add an administrative unit (role admin, within the admin's unit)",
)
async def add_unit(
    body: AdminUnitIn,
    request: Request,
    actor: Annotated[Actor, Depends(current_actor)],
    svc: Annotated[Services, Depends(services)],
    at: Annotated[datetime, Depends(now)],
) -> JSONResponse:
    async with unit_of_work(svc.sessions) as session:
        unit = await create_unit(session, actor=actor, data=body.model_dump(), now=at, request_id=request_id(request))
        out = unit_out(unit).model_dump(mode="json")
    return JSONResponse(out, status_code=201)


@router.get(
    "/admin-units/{code}",
    response_model=AdminUnitDetailOut,
    responses=problems(401, 404),
    summary="An administrative unit, with the units it continues and those that continue it",
)
async def get_unit(
    code: str, actor: Annotated[Actor, Depends(current_actor)], svc: Annotated[Services, Depends(services)]
) -> AdminUnitDetailOut:
    async with svc.sessions() as session:
        unit = await session.get(AdminUnit, code)
        if unit is None:
            raise UnknownUnit(f"no administrative unit {code}", why=f"no unit has code {code}")
        before, after = await succession_links(session, code)
    return AdminUnitDetailOut(
        **unit_out(unit).model_dump(),
        predecessors=[succession_out(link) for link in before],
        successors=[succession_out(link) for link in after],
    )


@router.get(
    "/admin-units/{code}/recognitions",
    response_model=UnitRecognitionsOut,
    responses=problems(401, 403, 404),
    summary="A unit's recognitions across cases and across the two-tier reform (with those of the units it continues)",
)
async def get_unit_recognitions(
    code: str,
    actor: Annotated[Actor, Depends(current_actor)],
    svc: Annotated[Services, Depends(services)],
    at: Annotated[datetime, Depends(now)],
) -> UnitRecognitionsOut:
    """For a commune formed on 01/07/2025: its own recognitions and those of every unit it continues (``via``
    names the succession); for a unit that ceased: its own, and the units that continue it (``successors``).
    Readable by whoever's unit covers the unit or any unit it continues or that continues it (as a case is)."""
    async with svc.sessions() as session:
        history = await unit_recognitions(session, actor=actor, unit_code=code, today=local_date(at))
    return UnitRecognitionsOut(
        unit=unit_out(history.unit),
        as_of=history.as_of,
        lineage=list(history.lineage),
        predecessors=[succession_out(link) for link in history.predecessors],
        successors=[succession_out(link) for link in history.successors],
        recognitions=[
            UnitRecognitionOut(
                case_id=item.case_id,
                procedure=item.procedure,
                version=item.version,
                unit=item.unit,
                unit_name=item.unit_name,
                cycle=item.cycle,
                kind=item.kind,
                level=item.level,
                decision=DocRefOut.model_validate(item.decision) if item.decision else None,
                decided_on=item.decided_on,
                valid_until=item.valid_until,
                status=item.status,  # type: ignore[arg-type]
                superseded_by=item.superseded_by,
                via=(
                    ViaOut(
                        basis=item.via.basis,
                        source=item.via.source,
                        effective_on=item.via.effective_on,
                        path=list(item.via.path),
                    )
                    if item.via
                    else None
                ),
            )
            for item in history.recognitions
        ],
    )


@router.get(
    "/admin-units",
    response_model=list[AdminUnitOut],
    responses=problems(401),
    summary="Units directly under a parent (default: the top level)",
)
async def list_units(
    actor: Annotated[Actor, Depends(current_actor)],
    svc: Annotated[Services, Depends(services)],
    parent: str | None = None,
) -> list[AdminUnitOut]:
    query = select(AdminUnit).where(AdminUnit.parent_code == parent if parent else AdminUnit.parent_code.is_(None))
    async with svc.sessions() as session:
        units = (await session.execute(query.order_by(AdminUnit.code))).scalars().all()
    return [unit_out(u) for u in units]
