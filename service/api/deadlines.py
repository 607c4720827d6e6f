"""Deadlines across cases, for the dashboards of a district or province office."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import and_, or_, select

from service.api.audit import as_utc
from service.api.cases import ActorDep, NowDep, ServicesDep
from service.api.errors import problems
from service.api.params import Instant, aware_datetime, decode_cursor, encode_cursor, strict_int
from service.api.schemas import DeadlineOut, deadline_out
from service.domain import authority
from service.persistence.queries import overdue_clause, unit_subtree
from service.persistence.tables import AdminUnit, Case, Deadline

router = APIRouter(prefix="/v1", tags=["deadlines"])


class DeadlineRowOut(DeadlineOut):
    """A deadline with the case it belongs to, for dashboards."""

    id: int
    case_id: str
    procedure: str
    unit: str
    unit_name: str
    cycle: int
    case_state: str


class DeadlinePage(BaseModel):
    items: list[DeadlineRowOut]
    next_cursor: str | None


@router.get(
    "/deadlines",
    response_model=DeadlinePage,
    responses=problems(401, 422),
    summary="Deadlines in the caller's jurisdiction, soonest first, keyset-paginated",
    description="The deadlines of exactly the cases the caller may read by id (its unit and below, and the units "
    "its unit continues since a reform, with theirs).",
)
async def list_deadlines(
    actor: ActorDep,
    svc: ServicesDep,
    at: NowDep,
    unit: Annotated[str | None, Query(description="A unit and all below it")] = None,
    status: Literal["open", "met", "breached", "waived"] | None = None,
    due_before: Annotated[Instant | None, Query(description="Only deadlines due before this time")] = None,
    overdue: Annotated[bool | None, Query(description="Only deadlines past due and not closed")] = None,
    procedure: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
) -> DeadlinePage:
    size = limit or svc.settings.page_size_default
    query = (
        select(Deadline, Case, AdminUnit.name)
        .join(Case, Case.id == Deadline.case_id)
        .join(AdminUnit, AdminUnit.code == Case.unit_code)
    )
    if unit:
        query = query.where(Case.unit_code.in_(unit_subtree(unit, name="requested_unit")))
    if status:
        query = query.where(Deadline.status == status)
    if due_before:
        query = query.where(Deadline.due_at < as_utc(due_before))
    if overdue is not None:
        query = query.where(overdue_clause(at) if overdue else ~overdue_clause(at))
    if procedure:
        query = query.where(Case.procedure == procedure)
    if cursor:
        due_at, after = decode_cursor(cursor, (aware_datetime, strict_int))
        query = query.where(or_(Deadline.due_at > due_at, and_(Deadline.due_at == due_at, Deadline.id > after)))
    async with svc.sessions() as session:
        # The deadlines of exactly the cases the caller may read (authority decides which).
        query = query.where(authority.readable_cases(await authority.jurisdiction(session, actor)))
        rows = (await session.execute(query.order_by(Deadline.due_at, Deadline.id).limit(size + 1))).all()
    items = [
        DeadlineRowOut(
            **deadline_out(row, at).model_dump(),
            id=row.id,
            case_id=case.id,
            procedure=case.procedure,
            unit=case.unit_code,
            unit_name=unit_name,
            cycle=case.cycle,
            case_state=case.state,
        )
        for row, case, unit_name in rows[:size]
    ]
    last = rows[size - 1][0] if len(rows) > size else None
    return DeadlinePage(items=items, next_cursor=encode_cursor([last.due_at.isoformat(), last.id]) if last else None)
