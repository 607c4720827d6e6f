"""The annual results reports in the console (TT25/2023 Điều 23 k2): the office's reports listed and opened; a
report is a case, so its steps (compile, approve, submit, acknowledge, return) are the case page's forms, and its
compiled figures are previewed there; the XLSX, DOCX and CSV documents are the API's own exports."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.api.cases import list_cases
from service.api.reports import PROCEDURE, export_report
from service.console.actions import open_from_form
from service.console.render import page
from service.console.routing import PREFIX, ConsoleRoute, services_and_now, signed_in
from service.domain.errors import InvalidPayload, Reason

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


@router.get("/reports")
async def reports(request: Request) -> Response:
    actor = signed_in(request)
    svc, at = services_and_now(request)
    listed = await list_cases(actor, svc, at, procedure=PROCEDURE, cursor=request.query_params.get("cursor"), limit=50)
    return page(request, "reports.html", items=listed.items, next_cursor=listed.next_cursor)


@router.post("/reports")
async def open_report(request: Request) -> Response:
    return await open_from_form(request, procedure=PROCEDURE)


@router.get("/reports/{report_id}/export")
async def export(request: Request, report_id: str) -> Response:
    actor = signed_in(request)
    svc, _ = services_and_now(request)
    chosen = request.query_params.get("format", "xlsx")
    if chosen not in ("json", "csv", "xlsx", "docx"):
        raise InvalidPayload("format: json, csv, xlsx or docx", reasons=[Reason("form_field_unreadable", chosen)])
    return await export_report(report_id, actor, svc, format=chosen)  # type: ignore[arg-type]
