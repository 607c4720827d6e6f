"""Annual results reports: a report is a case of procedure ``bao_cao_ket_qua`` for the reviewing office's unit
(TT25/2023 Điều 23 k2), or of ``bao_cao_don_vi_hoc_tap`` for Phòng GDĐT's learning-unit results (TT24/2023 Điều 20
k3); its steps are the ordinary transition operations (``compile``, ``approve``, ``submit``, ``acknowledge``,
``return_report``); here it is opened, read and exported as JSON, CSV, XLSX, DOCX or PDF."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from service.api.cases import ActorDep, NowDep, ServicesDep, readable_case
from service.api.errors import problems
from service.api.schemas import CaseOut, case_out
from service.api.transitions import open_and_answer
from service.domain import reports
from service.domain.cases.explain import allowed_transitions
from service.domain.errors import NotFound, Reason
from service.persistence.tables import AdminUnit
from service.reports import pdf_report
from service.reports.csv_report import report_csv
from service.reports.docx_report import report_docx
from service.reports.json_report import report_json
from service.reports.xlsx_report import report_xlsx

router = APIRouter(prefix="/v1", tags=["reports"])
PROCEDURE = "bao_cao_ket_qua"
REPORT_PROCEDURES = (PROCEDURE, "bao_cao_don_vi_hoc_tap")
MEDIA = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    unit: str = Field(description="The reviewing office's unit: the district (three-tier) or province (two-tier)")
    cycle: int = Field(ge=2000, le=2100)
    procedure: Literal["bao_cao_ket_qua", "bao_cao_don_vi_hoc_tap"] = Field(
        default=PROCEDURE,
        description="bao_cao_ket_qua: the communes' results (TT25/2023 Điều 23 k2); bao_cao_don_vi_hoc_tap: the "
        "district tier's learning units, due to the Sở before 15/03 (TT24/2023 Điều 20 k3)",
    )


class ReportOut(BaseModel):
    case: CaseOut
    snapshot: dict[str, Any] | None = Field(description="The latest compiled snapshot, if any")


async def _report(session, svc, report_id: str, actor):  # type: ignore[no-untyped-def]
    cf = await readable_case(session, svc.registry, report_id, actor)
    if cf.case.procedure not in REPORT_PROCEDURES:
        raise NotFound(f"{report_id} is not a report", reasons=[Reason("not_a_report", f"it is a {cf.case.procedure}")])
    return cf


@router.post(
    "/reports",
    status_code=201,
    response_model=CaseOut,
    responses=problems(401, 403, 404, 409, 422),
    summary="Open the annual results report of an office for cycle N (TT25/2023 Điều 23 k2; TT24/2023 Điều 20 k3)",
)
async def open_report(body: ReportIn, request: Request, actor: ActorDep, svc: ServicesDep, at: NowDep) -> JSONResponse:
    return await open_and_answer(
        request,
        svc=svc,
        actor=actor,
        at=at,
        procedure=body.procedure,
        unit=body.unit,
        cycle=body.cycle,
        kind="first",
        target_level=None,
    )


@router.get(
    "/reports/{report_id}",
    response_model=ReportOut,
    responses=problems(401, 403, 404),
    summary="A report: its case (state, deadlines, who may act) and its compiled snapshot",
)
async def get_report(report_id: str, actor: ActorDep, svc: ServicesDep, at: NowDep) -> ReportOut:
    async with svc.sessions() as session:
        cf = await _report(session, svc, report_id, actor)
    snapshot = ((cf.case.dossier or {}).get("compile") or {}).get("snapshot")
    return ReportOut(case=case_out(cf, allowed=allowed_transitions(cf, actor, at), now=at), snapshot=snapshot)


@router.get(
    "/reports/{report_id}/export",
    responses={
        200: {"description": "The report document", "content": {m: {} for m in MEDIA.values()}},
        **problems(401, 403, 404, 409, 503),
    },
    summary="The compiled report as JSON or CSV, or once approved as XLSX, DOCX (NĐ 30/2020 layout) or PDF",
    description="`rebuild=true` computes the snapshot again from the audit log at the position the compile "
    "recorded instead of reading the stored one; the bytes are the same. `format=pdf` is the DOCX rendered by "
    "LibreOffice where the server has it installed (503 `pdf_renderer_missing` where it has not).",
    response_class=Response,
)
async def export_report(
    report_id: str,
    actor: ActorDep,
    svc: ServicesDep,
    format: Literal["json", "csv", "xlsx", "docx", "pdf"] = "json",
    rebuild: Annotated[bool, Query(description="Recompute from the audit log")] = False,
) -> Response:
    async with svc.sessions() as session:
        cf = await _report(session, svc, report_id, actor)
        snapshot = await reports.rebuild(session, svc.registry, cf) if rebuild else reports.compiled(cf)
        parent = await session.get(AdminUnit, cf.unit.parent_code) if cf.unit.parent_code else None
    if format == "json":
        content = report_json(snapshot)
    elif format == "csv":
        content = report_csv(snapshot)
    else:
        meta = reports.document_meta(cf, parent.name if parent and parent.level != "national" else None)
        content = (report_xlsx if format == "xlsx" else report_docx)(snapshot, meta)
        if format == "pdf":
            renderer = pdf_report.find_renderer(svc.settings.pdf_renderer)
            if renderer is None:
                raise pdf_report.missing_renderer(svc.settings.pdf_renderer)
            timeout = svc.settings.pdf_timeout_seconds
            content = await asyncio.to_thread(pdf_report.docx_to_pdf, content, renderer, timeout=timeout)
    name = f"{cf.case.procedure.replace('_', '-')}-{cf.unit.code}-{cf.case.cycle}.{format}"
    return Response(
        content, media_type=MEDIA[format], headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
