"""The console's reading pages: the inbox ("việc cần làm"), the cases list with its filters, the deadlines
dashboard and the case page. Each reads through the API's own read functions or the domain, under the caller's
authority; none decides who may see or do what."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from service.api.cases import cursor_after, list_cases, newest_first
from service.api.deadlines import list_deadlines
from service.api.schemas import case_out
from service.console.caseview import case_view, evidence_codes, indicator_steps
from service.console.i18n import LOCAL
from service.console.render import page
from service.console.routing import PREFIX, ConsoleRoute, services_and_now, signed_in
from service.domain import authority
from service.domain.actor import Actor
from service.domain.case_pages import load_case_files
from service.domain.cases.explain import allowed_transitions
from service.domain.errors import InvalidPayload, Reason
from service.persistence.tables import Case

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
INBOX_PAGE = 50  # candidate cases the inbox checks per page, newest first


def _int(value: str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidPayload(f"{name} must be a number", reasons=[Reason("form_field_unreadable", name)]) from None


def _choice(value: str | None) -> bool | None:
    return {"true": True, "false": False}.get(value or "")


async def inbox_page(svc: Any, actor: Actor, at: datetime, cursor: str | None) -> tuple[list[Any], list[Any], Any]:
    """A page of the inbox: the readable cases whose state opens a step one of the person's roles can take
    (``authority.acting_states``, from the definitions and profiles), newest first; on those alone the engine's own
    checks decide what the person may do now — a case step (explain), an indicator's step or its evidence."""
    query = newest_first(select(Case).where(authority.acting_states(actor, svc.registry)), cursor, INBOX_PAGE)
    async with svc.sessions() as session:
        scope = await authority.jurisdiction(session, actor)
        rows = (await session.execute(query.where(authority.readable_cases(scope)))).scalars().all()
        files = await load_case_files(session, svc.registry, rows[:INBOX_PAGE])
    todo, on_indicators = [], []
    for cf in files:
        allowed = allowed_transitions(cf, actor, at)
        if allowed:
            todo.append(case_out(cf, allowed=allowed, now=at))
            continue
        acting = [f"{code}: {t.trigger}" for code, t in indicator_steps(cf, actor, at)]
        acting += [f"{code}: evidence" for code in evidence_codes(cf, actor, at)]
        if acting:
            on_indicators.append((case_out(cf, allowed=[], now=at), acting))
    return todo, on_indicators, cursor_after(rows, INBOX_PAGE)


@router.get("/")
async def inbox(request: Request) -> Response:
    actor = signed_in(request)
    svc, at = services_and_now(request)
    todo, acting_on_indicators, next_cursor = await inbox_page(svc, actor, at, request.query_params.get("cursor"))
    deadlines = await list_deadlines(actor, svc, at, status="open", limit=10)
    return page(
        request,
        "inbox.html",
        todo=todo,
        indicator_cases=acting_on_indicators,
        next_cursor=next_cursor,
        deadlines=deadlines.items,
        procedures=svc.registry,
    )


@router.get("/cases")
async def cases(request: Request) -> Response:
    actor = signed_in(request)
    svc, at = services_and_now(request)
    q = request.query_params
    filters = {
        "procedure": q.get("procedure") or None,
        "unit": q.get("unit") or None,
        "cycle": _int(q.get("cycle"), "cycle"),
        "state": q.get("state") or None,
        "overdue": _choice(q.get("overdue")),
    }
    listed = await list_cases(actor, svc, at, cursor=q.get("cursor") or None, limit=50, **filters)
    keys = sorted({key for key, _ in svc.registry.procedures})
    # The kinds of organisation each procedure about an organisation names (its definition, as the opening checks).
    current = [p.definition for p in (svc.registry.current(key, at.date()) for key in keys) if p is not None]
    kinds = [(d.key, d.organisation_kinds) for d in current if d.organisation_kinds]
    query = {k: v for k, v in q.items() if k != "cursor"}
    return page(
        request,
        "cases.html",
        items=listed.items,
        next_cursor=listed.next_cursor,
        filters=filters,
        keys=keys,
        organisation_kinds=kinds,
        query=query,
    )


@router.get("/deadlines")
async def deadlines(request: Request) -> Response:
    actor = signed_in(request)
    svc, at = services_and_now(request)
    q = request.query_params
    status = q.get("status") if q.get("status") in ("open", "met", "breached", "waived") else None
    listed = await list_deadlines(
        actor,
        svc,
        at,
        unit=q.get("unit") or None,
        status=status,
        overdue=_choice(q.get("overdue")),
        procedure=q.get("procedure") or None,
        cursor=q.get("cursor") or None,
        limit=50,
    )
    by_unit: dict[str, int] = {}
    for row in listed.items:
        if row.overdue:
            by_unit[row.unit_name] = by_unit.get(row.unit_name, 0) + 1
    return page(
        request,
        "deadlines.html",
        items=listed.items,
        next_cursor=listed.next_cursor,
        status_filter=status,
        overdue=q.get("overdue", ""),
        by_unit=by_unit,
    )


def as_of_moment(text: str | None) -> datetime | None:
    """A day (dd/mm/yyyy or yyyy-mm-dd, the end of that day local time) or a local date and time."""
    if not text:
        return None
    text = text.strip()
    try:
        if "/" in text:
            day, month, year = (int(p) for p in text.split("/"))
            return datetime.combine(datetime(year, month, day).date(), time(23, 59, 59), LOCAL)
        if "T" in text:
            moment = datetime.fromisoformat(text)
            return moment if moment.tzinfo else moment.replace(tzinfo=LOCAL)
        return datetime.combine(datetime.fromisoformat(text).date(), time(23, 59, 59), LOCAL)
    except ValueError:
        raise InvalidPayload(
            "as_of must be a date (dd/mm/yyyy) or a date and time",
            reasons=[Reason("form_field_unreadable", f"as_of: {text}")],
        ) from None


@router.get("/cases/{case_id}")
async def case_page(request: Request, case_id: str) -> Response:
    actor = signed_in(request)
    svc, at = services_and_now(request)
    as_of = as_of_moment(request.query_params.get("as_of"))
    view = await case_view(svc, actor, case_id, at, as_of=as_of)
    return page(request, "case.html", view=view, done=request.query_params.get("done"))
