"""The console's writes: opening a case, taking a step, uploading and downloading evidence. Each goes through the
API's own write functions (``open_and_answer``, ``fire_payload``, ``upload_evidence``), so the console refuses and
accepts exactly what the API does, with the same codes and citations; a step sends the case version the page showed
(If-Match) and the key the form was rendered with (Idempotency-Key), so a double click acts once and a stale page
acts never."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from service.api.deps import request_id
from service.api.indicators import download_evidence, upload_evidence
from service.api.schemas import event_out
from service.api.transitions import fire_payload, open_and_answer, trigger_path
from service.console.caseview import case_view
from service.console.forms import FormProblem, payload_from_form
from service.console.render import page, refusal
from service.console.routing import PREFIX, ConsoleRoute, bad_form, checked_form, services_and_now, signed_in
from service.console.session import csrf_ok, load
from service.domain.errors import DomainError, InvalidPayload, Reason, StaleVersion
from service.persistence.tables import AuditEvent
from workflows.schema import payload_json_schema

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


async def open_from_form(request: Request, procedure: str | None = None) -> Response:
    """Open a case from the open-case form (or, with ``procedure``, a report from its form) through the API's own
    opening, and show it."""
    actor = signed_in(request)
    svc, at = services_and_now(request)
    form = await checked_form(request)
    try:
        cycle = int(form.get("cycle", ""))
        level = int(form["target_level"]) if form.get("target_level") else None
    except ValueError:
        raise InvalidPayload("cycle must be a year", reasons=[Reason("form_field_unreadable", "cycle")]) from None
    fields = ("procedure", "unit", "cycle", "kind", "target_level", "subject", "subject_kind")
    answer = await open_and_answer(
        request,
        svc=svc,
        actor=actor,
        at=at,
        procedure=procedure or form.get("procedure", ""),
        unit=form.get("unit", "").strip(),
        cycle=cycle,
        kind=form.get("kind") or "first",
        target_level=level,
        subject=form.get("subject") or None,
        subject_kind=form.get("subject_kind") or None,
        idempotency_key=form.get("idempotency_key") or None,
        idempotency_body={name: form.get(name) for name in fields},
    )
    opened = json.loads(answer.body)
    return RedirectResponse(f"{PREFIX}/cases/{opened['id']}?done=case_opened", status_code=303)


@router.post("/cases")
async def open_case(request: Request) -> Response:
    return await open_from_form(request)


async def _changes_since(svc: Any, case_id: str, seen_seq: int) -> list[Any]:
    async with svc.sessions() as session:
        rows = (
            await session.execute(
                select(AuditEvent.__table__)
                .where(AuditEvent.case_id == case_id, AuditEvent.seq > seen_seq)
                .order_by(AuditEvent.seq)
            )
        ).all()
    return [event_out(row) for row in rows]


@router.post("/cases/{case_id}/steps/{trigger}")
async def take_step(request: Request, case_id: str, trigger: str) -> Response:
    actor = signed_in(request)
    svc, at = services_and_now(request)
    form = await checked_form(request)
    indicator = form.get("indicator") or None
    try:
        seen_seq = int(form.get("seen_seq") or 0)
    except ValueError:
        seen_seq = 0
    view = await case_view(svc, actor, case_id, at)  # the case as it is now, under the caller's authority
    definition = view.definition
    process = definition.indicator_process
    transitions = (process.transitions if process else []) if indicator else definition.transitions
    transition = next((t for t in transitions if t.trigger == trigger), None)
    try:
        if transition is None:
            raise InvalidPayload(f"{trigger} is no step of this case", reasons=[Reason("trigger_unknown", trigger)])
        try:
            data = {} if transition.collector else payload_from_form(payload_json_schema(transition.payload), form)
        except FormProblem as problem:
            raise InvalidPayload(
                f"the field {problem.field_name} cannot be read",
                reasons=[Reason("form_field_unreadable", str(problem))],
            ) from None
        await fire_payload(
            svc,
            actor=actor,
            case_id=case_id,
            trigger=trigger,
            indicator=indicator,
            data=data,
            comment=form.get("comment") or None,
            if_match=form.get("if_match") or None,
            idempotency_key=form.get("idempotency_key") or None,
            scope=f"POST {trigger_path(case_id, trigger, indicator)}",
            request_id=request_id(request),
        )
    except DomainError as error:
        lang = load(request).lang
        stale = await _changes_since(svc, case_id, seen_seq) if isinstance(error, StaleVersion) else None
        view = await case_view(svc, actor, case_id, at)
        return page(
            request,
            "case.html",
            status_code=error.status,
            view=view,
            failed={"trigger": trigger, "indicator": indicator, "problem": refusal(error, lang), "form_values": form},
            stale=stale,
        )
    anchor = f"&indicator={indicator}" if indicator else ""
    return RedirectResponse(f"{PREFIX}/cases/{case_id}?done={trigger}{anchor}", status_code=303)


@router.post("/cases/{case_id}/indicators/{code}/evidence")
async def upload(request: Request, case_id: str, code: str) -> Response:
    """The API's upload itself (same checks: authority and state before the body is read, type, size); the CSRF
    token comes in the X-CSRF-Token header the console's script sends with the form."""
    actor = signed_in(request)
    if not csrf_ok(load(request), request.headers.get("x-csrf-token")):
        raise bad_form()
    svc, at = services_and_now(request)
    try:
        answer = await upload_evidence(case_id, code, request, actor, svc, at)
    except DomainError as error:
        return page(
            request, "_upload_result.html", status_code=error.status, problem=refusal(error, load(request).lang)
        )
    stored = json.loads(answer.body)
    return page(request, "_upload_result.html", status_code=201, stored=stored, code=code)


@router.get("/cases/{case_id}/indicators/{code}/evidence/{evidence_id}")
async def download(request: Request, case_id: str, code: str, evidence_id: str) -> Response:
    actor = signed_in(request)
    svc, _ = services_and_now(request)
    return await download_evidence(case_id, code, evidence_id, actor, svc)
