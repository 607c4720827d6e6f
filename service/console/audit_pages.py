"""The auditors' pages: the audit search with every filter of the API, paged, each event opening its case as it
stood then (or just before); the chain verification of one case or of every chain, with its result explained; the
export; the signed checkpoints with their signature check. Each is the API's own function, called as the signed-in
person, so the console shows exactly what the API would answer them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from service.api.audit import search_events, verify_audit
from service.api.audit_export import export_audit
from service.api.schemas import EventPage
from service.console.render import ENV, context, page
from service.console.routing import PREFIX, ConsoleRoute, services_and_now, signed_in
from service.domain import authority
from service.domain.audit.verify import merge_parts
from service.domain.errors import InvalidPayload, Reason
from service.workers.verify_processes import verify_with_progress

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
PROGRESS_RANGES = 8  # the full verify is shown in this many ranges of chains
FILTERS = ("case", "procedure", "actor", "role", "unit", "trigger", "kind", "citation", "since", "until")


def _moment(name: str, text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InvalidPayload(
            f"{name} must be a date or a date and time (ISO 8601)",
            reasons=[Reason("form_field_unreadable", f"{name}: {text}")],
        ) from None


def before(moment: datetime) -> str:
    """The instant just before an event, as the case page's as_of reads it."""
    return (moment - timedelta(seconds=1)).isoformat()


@router.get("/audit")
async def audit(request: Request) -> Response:
    actor = signed_in(request)
    svc, _ = services_and_now(request)
    q = request.query_params
    values: dict[str, Any] = {name: (q.get(name) or None) for name in FILTERS}
    breaches = {"true": True, "false": False}.get(q.get("breaches") or "")
    searched = any(values.values()) or breaches is not None or bool(q.get("search"))
    found = None
    if searched:
        answer = await search_events(
            actor,
            svc,
            case=values["case"],
            procedure=values["procedure"],
            actor_sub=values["actor"],
            role=values["role"],
            unit=values["unit"],
            trigger=values["trigger"],
            kind=values["kind"],
            citation=values["citation"],
            breaches=breaches,
            since=_moment("since", values["since"]),
            until=_moment("until", values["until"]),
            cursor=q.get("cursor") or None,
            limit=50,
        )
        found = EventPage.model_validate_json(bytes(answer.body))  # the API's answer is written as JSON text
    return page(
        request,
        "audit.html",
        values=values,
        breaches=q.get("breaches") or "",
        found=found,
        before=before,
        query={k: v for k, v in q.items() if k != "cursor"},
    )


@router.get("/audit/verify")
async def audit_verify(request: Request) -> Response:
    actor = signed_in(request)
    svc, _ = services_and_now(request)
    case = request.query_params.get("case") or None
    deep = request.query_params.get("deep") == "true"
    if case is None and not deep:
        authority.require(actor, authority.VERIFY_EVERY_CHAIN)  # refused here, before the page starts
        return StreamingResponse(_verify_every_chain(request, svc), media_type="text/html; charset=utf-8")
    report = await verify_audit(actor, svc, case=case, deep=deep)
    return page(request, "audit_verify.html", report=report, case=case)


async def _verify_every_chain(request: Request, svc: Any) -> AsyncIterator[str]:
    """The page of the full verify, sent as it goes: its head, one line per range of chains as it is verified
    (``verify_with_progress``), then the merged result explained, as the API's full verify reports it."""
    values = context(request)
    head, rest = ENV.get_template("audit_verify_all.html").render(values).split("<!--steps-->")
    between, tail = rest.split("<!--result-->")
    yield head
    parts: dict[int, Any] = {}
    async with svc.sessions() as session:
        async for step in verify_with_progress(session, svc.settings, PROGRESS_RANGES):
            parts[step.index] = step.part
            yield ENV.get_template("_verify_step.html").render(values, step=step)
    report = merge_parts(parts[index] for index in sorted(parts))
    yield between + ENV.get_template("_verify_result.html").render(values, report=report) + tail


@router.get("/audit/export")
async def audit_export(request: Request) -> Response:
    actor = signed_in(request)
    svc, _ = services_and_now(request)
    q = request.query_params
    chosen = "csv" if q.get("format") == "csv" else "jsonl"
    response = await export_audit(
        actor,
        svc,
        export_format=chosen,
        case=q.get("case") or None,
        unit=q.get("unit") or None,
        since=_moment("since", q.get("since")),
        until=_moment("until", q.get("until")),
    )
    name = f"cdht-audit-{q.get('case') or q.get('unit') or 'all'}.{chosen}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
