"""Administrative units: the tree that jurisdiction is decided on (province, district, commune)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from service.api.deps import Services, current_actor, now, request_id, services
from service.api.errors import problems
from service.api.schemas import AdminUnitIn, AdminUnitOut, unit_out
from service.domain.actor import Actor
from service.domain.admin_units import create_unit
from service.domain.errors import NotFound, Reason
from service.persistence.db import unit_of_work
from service.persistence.tables import AdminUnit

router = APIRouter(prefix="/v1", tags=["admin-units"])


@router.post(
    "/admin-units",
    status_code=201,
    response_model=AdminUnitOut,
    responses=problems(401, 403, 409, 422),
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
    "/admin-units/{code}", response_model=AdminUnitOut, responses=problems(401, 404), summary="An administrative unit"
)
async def get_unit(
    code: str, actor: Annotated[Actor, Depends(current_actor)], svc: Annotated[Services, Depends(services)]
) -> AdminUnitOut:
    async with svc.sessions() as session:
        unit = await session.get(AdminUnit, code)
    if unit is None:
        raise NotFound(f"no administrative unit {code}", reasons=[Reason("unit_unknown", f"no unit has code {code}")])
    return unit_out(unit)


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
