"""A case's indicators and their evidence files (upload, download)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from starlette.datastructures import UploadFile as StarletteUploadFile

from service.api.cases import ActorDep, NowDep, ServicesDep, readable_case
from service.api.deps import request_id
from service.api.errors import problems
from service.api.schemas import EvidenceOut, IndicatorOut, IndicatorsOut, Label, evidence_out
from service.domain.cases.evidence import check_evidence_allowed, record_evidence
from service.domain.errors import InvalidPayload, NotFound, Reason
from service.domain.evidence import ALLOWED_MEDIA_TYPES, served_bytes, store_evidence_file
from service.persistence.db import unit_of_work
from service.persistence.tables import Evidence
from workflows.criteria import assess

router = APIRouter(prefix="/v1", tags=["indicators"])


@router.get(
    "/cases/{case_id}/indicators",
    response_model=IndicatorsOut,
    responses=problems(401, 403, 404),
    summary="Indicators with assignee, state, rating, figures, computed result and evidence",
    description="TC4/TC5 results are computed from the reported figures (TT25/2023 Điều 6–8); "
    "`disagrees_at` shows the levels where the self-rating says otherwise.",
)
async def list_indicators(case_id: str, actor: ActorDep, svc: ServicesDep) -> IndicatorsOut:
    async with svc.sessions() as session:
        cf = await readable_case(session, svc.registry, case_id, actor)
        files = (
            (
                await session.execute(
                    select(Evidence).where(Evidence.case_id == case_id).order_by(Evidence.uploaded_at, Evidence.id)
                )
            )
            .scalars()
            .all()
        )
    definition = cf.procedure.definition
    assessment = assess(definition, cf.indicators, disadvantaged=cf.disadvantaged, subject_kind=cf.subject_kind)
    applying = {i.code for i in definition.applicable_indicators(cf.subject_kind)}
    items = []
    sought = cf.case.requested_level or cf.case.target_level  # the label is in the wording of the level sought
    for criterion in definition.criteria:
        for indicator in criterion.indicators:
            row = cf.indicator_rows.get(indicator.code)
            result = assessment.indicators[indicator.code]
            items.append(
                IndicatorOut(
                    code=indicator.code,
                    criterion=criterion.code,
                    label=Label(vi=indicator.label_vi(sought), en=indicator.en),
                    labels_vi_by_level={str(level): text for level, text in (indicator.levels_vi or {}).items()},
                    applies=indicator.code in applying,
                    measure=indicator.measure.kind,
                    assignee_org=row.assignee_org if row else None,
                    state=row.state if row else None,
                    rating=row.rating if row else None,
                    figures=row.figures if row else None,
                    note=row.note if row else None,
                    result={str(level): ok for level, ok in result.result.items()},
                    disagrees_at=result.disagrees_at,
                    explanation=result.explanation,
                    evidence=[evidence_out(f) for f in files if f.indicator_code == indicator.code],
                )
            )
    return IndicatorsOut(
        case_id=case_id,
        assessed_level=assessment.level,
        criteria={code: {str(lv): ok for lv, ok in passes.items()} for code, passes in assessment.criteria.items()},
        indicators=items,
    )


async def _chunks(upload: StarletteUploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(64 * 1024):
        yield chunk


UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": "The evidence file"},
                    "title": {"type": "string", "maxLength": 300, "description": "What the file shows"},
                },
                "required": ["file"],
            }
        }
    },
}


@router.post(
    "/cases/{case_id}/indicators/{code}/evidence",
    status_code=201,
    response_model=EvidenceOut,
    responses=problems(401, 403, 404, 409, 413, 415, 422),
    summary="Upload an evidence file",
    description="PDF, JPEG, PNG, DOCX, XLSX or ODT, checked by content and declared type; stored by "
    "SHA-256; the upload is an audit event carrying the hash.",
    openapi_extra={"requestBody": UPLOAD_BODY},
)
async def upload_evidence(
    case_id: str, code: str, request: Request, actor: ActorDep, svc: ServicesDep, at: NowDep
) -> JSONResponse:
    # Authority and state are checked before the body is read, so a refused caller stores nothing.
    async with svc.sessions() as session:
        cf = await readable_case(session, svc.registry, case_id, actor)
    check_evidence_allowed(cf, code, actor, at)
    async with request.form(max_files=1, max_fields=2) as form:
        file, title = form.get("file"), form.get("title")
        if not isinstance(file, StarletteUploadFile) or (title is not None and not isinstance(title, str)):
            raise InvalidPayload(
                "send the file as multipart field 'file' (and optionally a text field 'title')",
                reasons=[Reason("upload_malformed", "multipart/form-data with a 'file' part is required")],
            )
        if title is not None and len(title) > 300:
            raise InvalidPayload("the title is too long", reasons=[Reason("title_too_long", "at most 300 characters")])
        stored = await store_evidence_file(
            _chunks(file),
            data_dir=svc.settings.data_dir,
            max_bytes=svc.settings.evidence_max_bytes,
            declared_type=file.content_type,
            filename=file.filename,
        )
    async with unit_of_work(svc.sessions) as session:
        evidence, _ = await record_evidence(
            session,
            registry=svc.registry,
            case_id=case_id,
            indicator=code,
            actor=actor,
            stored=stored,
            title=title,
            now=svc.settings.clock,  # read once the case is locked: concurrent uploads are dated in lock order
            request_id=request_id(request),
        )
    return JSONResponse(evidence_out(evidence).model_dump(mode="json"), status_code=201)


@router.get(
    "/cases/{case_id}/indicators/{code}/evidence/{evidence_id}",
    responses={
        200: {
            "description": "The file, as the type its content was checked to be",
            "content": {t: {} for t in ALLOWED_MEDIA_TYPES},
        },
        **problems(401, 403, 404, 409),
    },
    summary="Download an evidence file",
    description="The bytes are served only if they still hash to the recorded SHA-256 (and have its size); a file "
    "changed on disk is refused with 409 `evidence_file_altered`, logged and counted "
    "(`cdht_evidence_integrity_failures_total`).",
    response_class=Response,
)
async def download_evidence(case_id: str, code: str, evidence_id: str, actor: ActorDep, svc: ServicesDep) -> Response:
    async with svc.sessions() as session:
        await readable_case(session, svc.registry, case_id, actor)
        row = await session.get(Evidence, evidence_id)
    if row is None or row.case_id != case_id or row.indicator_code != code:
        raise NotFound(
            f"no evidence {evidence_id} for {code} in case {case_id}",
            reasons=[Reason("evidence_unknown", "check the case, indicator and evidence ids")],
        )
    content = await served_bytes(svc.settings.data_dir, row)
    ascii_name = row.filename.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return Response(
        content,
        media_type=row.media_type,
        headers={
            "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(row.filename)}",
            "ETag": f'"{row.sha256}"',
            "X-Content-Type-Options": "nosniff",
        },
    )
