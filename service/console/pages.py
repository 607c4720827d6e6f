"""The console's reading pages: the inbox ("việc cần làm"), the cases list with its filters, the deadlines
dashboard and the case page. Each reads through the API's own read functions or the domain, under the caller's
authority; none decides who may see or do what."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import select

from service.api.cases import list_cases
from service.api.deadlines import list_deadlines
from service.console.caseview import case_view, evidence_codes, indicator_steps
from service.console.i18n import LOCAL
from service.console.render import page
from service.console.routing import PREFIX, ConsoleRoute, services_and_now, signed_in
from service.domain.actor import Actor
from service.domain.case_pages import load_case_files
from service.domain.errors import InvalidPayload, Reason
from service.persistence.tables import Case

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
INBOX_SCAN = 500  # cases read for the inbox, newest first


def _int(value: str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidPayload(f"{name} must be a number", reasons=[Reason("form_field_unreadable", name)]) from None


def _choice(value: str | None) -> bool | None:
    return {"true": True, "false": False}.get(value or "")


async def cases_with_indicator_steps(svc: Any, actor: Actor, at: datetime, items: list[Any]) -> list[Any]:
    """Of these cases, those where the person may take an indicator's step now (the engine's checks decide)."""

    def indicators_run(case: Any) -> bool:  # the definition's indicator sub-process runs in the case's state
        process = svc.registry.procedures[(case.procedure, case.version)].definition.indicator_process
        return process is not None and case.state in process.case_states

    candidates = [c for c in items if indicators_run(c)]
    if not candidates:
        return []
    async with svc.sessions() as session:
        rows = (await session.execute(select(Case).where(Case.id.in_([c.id for c in candidates])))).scalars().all()
        files = await load_case_files(session, svc.registry, list(rows))
    acting = {
        cf.case.id: [f"{code}: {t.trigger}" for code, t in indicator_steps(cf, actor, at)]
        + [f"{code}: evidence" for code in evidence_codes(cf, actor, at)]
        for cf in files
    }
    return [(c, acting[c.id]) for c in candidates if acting.get(c.id)]


@router.get("/")
async def inbox(request: Request) -> Response:
    actor = signed_in(request)
    svc, at = services_and_now(request)
    listed = await list_cases(actor, svc, at, limit=INBOX_SCAN)
    todo = [c for c in listed.items if c.allowed_transitions]
    acting_on_indicators = await cases_with_indicator_steps(svc, actor, at, [c for c in listed.items if c not in todo])
    deadlines = await list_deadlines(actor, svc, at, status="open", limit=10)
    return page(
        request,
        "inbox.html",
        todo=todo,
        indicator_cases=acting_on_indicators,
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
    query = {k: v for k, v in q.items() if k != "cursor"}
    return page(
        request,
        "cases.html",
        items=listed.items,
        next_cursor=listed.next_cursor,
        filters=filters,
        keys=keys,
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
