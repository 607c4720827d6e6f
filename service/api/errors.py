"""Every error leaves as RFC 9457 problem details (``application/problem+json``) with reasons.

Domain errors carry their status and reasons; request validation becomes 422 with one reason per problem;
unknown routes and methods keep their 404/405; a client that went away mid-request is logged, not a server fault;
anything unexpected is a 500 that leaks nothing but a request id.

Each problem says what is wrong in Vietnamese and in English, both in the body (for logs): ``detail_vi`` and
``detail_en``, and in each reason ``message_vi`` and ``message_en``. The Vietnamese is the raiser's own when it gave
one, else the meanings of the reason codes as ``workflows/reasons.py`` declares them (with the raiser's English
particulars), else the Vietnamese name of the status. ``detail`` and each reason's ``message`` are in the language
the request asked for (``Accept-Language``, ``service.domain.language.negotiate``; Vietnamese by default), named in
the ``Content-Language`` header.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from service.domain.errors import DomainError
from service.domain.language import DEFAULT_LANGUAGE, Language, bilingual, negotiate
from workflows.reasons import describe

PROBLEM = "application/problem+json"
TYPE_BASE = "https://cdht.gov.vn/problems/"
log = logging.getLogger("cdht.api")

STATUS_VI = {
    400: "Yêu cầu không hợp lệ",
    401: "Chưa xác thực",
    403: "Không có thẩm quyền",
    404: "Không tìm thấy",
    405: "Phương thức không được hỗ trợ",
    409: "Xung đột",
    412: "Điều kiện If-Match không thỏa",
    413: "Nội dung yêu cầu quá lớn",
    415: "Kiểu nội dung không được chấp nhận",
    422: "Yêu cầu không hợp lệ",
    431: "Phần đầu (header) của yêu cầu quá lớn",
    500: "Lỗi nội bộ",
    503: "Máy chủ chưa sẵn sàng cho yêu cầu này",
}


def vietnamese_detail(status: int, reasons: list[dict[str, str]]) -> str:
    """The Vietnamese meanings of the reasons' codes, each once; the status's name when none is registered."""
    meanings = [entry.vi for entry in (describe(r.get("code", "")) for r in reasons) if entry is not None]
    return "; ".join(dict.fromkeys(meanings)) or STATUS_VI.get(status, "Yêu cầu bị từ chối")


def language_of(request: Request) -> Language:
    """The language a request asked for (``Accept-Language``), Vietnamese by default."""
    return negotiate(request.headers.get("accept-language"))


def _reason(reason: dict[str, str], lang: Language) -> dict[str, str]:
    texts = bilingual(reason.get("code", ""), reason.get("message", ""), reason.get("message_vi"))
    code = reason.get("code", "")
    return {"code": code, "message": texts[lang], "message_vi": texts["vi"], "message_en": texts["en"]}


def problem_body(
    status: int,
    title: str,
    detail: str,
    *,
    slug: str,
    reasons: list[dict[str, str]] | None = None,
    detail_vi: str | None = None,
    allowed_transitions: list[str] | None = None,
    extra: dict[str, Any] | None = None,
    lang: Language = DEFAULT_LANGUAGE,
) -> dict[str, Any]:
    """The problem details document (``detail``: English; ``reasons``: {code, message in English, message_vi?}),
    rendered in ``lang`` with both languages beside it; also for refusals sent before the app runs
    (``service.serving``)."""
    vietnamese = detail_vi or vietnamese_detail(status, reasons or [])
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": vietnamese if lang == "vi" else detail,
        "detail_vi": vietnamese,
        "detail_en": detail,
        "reasons": [_reason(reason, lang) for reason in reasons or []],
    }
    if allowed_transitions is not None:
        body["allowed_transitions"] = allowed_transitions
    body.update(extra or {})
    return body


def problem_response(
    status: int, title: str, detail: str, *, headers: dict[str, str] | None = None, **fields: Any
) -> JSONResponse:
    """``problem_body`` (``fields``: its keyword arguments) as a response, naming its language."""
    body = problem_body(status, title, detail, **fields)
    language = {"Content-Language": fields.get("lang", DEFAULT_LANGUAGE), "Vary": "Accept-Language"}
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers={**language, **(headers or {})})


async def _domain(request: Request, exc: DomainError) -> JSONResponse:
    headers = {"WWW-Authenticate": 'Bearer realm="cdht"'} if exc.status == 401 else None
    return problem_response(
        exc.status,
        exc.title,
        exc.detail,
        slug=exc.type_slug,
        reasons=[r.as_dict() for r in exc.reasons],
        detail_vi=getattr(exc, "detail_vi", None),
        allowed_transitions=exc.allowed_transitions,
        extra=exc.extra,
        headers=headers,
        lang=language_of(request),
    )


DATE_HINT = "write it in ISO 8601: a date as 2026-01-15, a time as 2026-01-15T09:00:00+07:00 (no offset: UTC)"
DATE_HINT_VI = "viết theo ISO 8601: ngày dạng 2026-01-15, thời điểm dạng 2026-01-15T09:00:00+07:00 (không múi giờ: UTC)"


def _validation_reason(error: dict[str, Any]) -> dict[str, str]:
    where = "/".join(str(p) for p in error["loc"])
    message = f"{where}: {error['msg']}"
    if error["type"] == "time_out_of_range":  # an ``Instant`` outside its range (service.api.params)
        return {"code": "time_out_of_range", "message": message, "message_vi": f"{where}: {error['ctx']['vi']}"}
    if error["type"].startswith(("date", "datetime", "time")):  # a date or time that does not parse
        return {
            "code": "date_malformed",
            "message": f"{message}; {DATE_HINT}",
            "message_vi": f"{where}: không đọc được ngày, giờ; {DATE_HINT_VI}",
        }
    return {"code": "request_invalid", "message": message}


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    reasons = [_validation_reason(error) for error in exc.errors()]
    vietnamese = [r["message_vi"] for r in reasons if "message_vi" in r]
    return problem_response(
        422,
        "Invalid request",
        "the request is malformed; nothing was changed",
        slug="invalid-payload",
        reasons=reasons,
        detail_vi="; ".join(vietnamese) or None,
        lang=language_of(request),
    )


async def _client_gone(request: Request, exc: ClientDisconnect) -> JSONResponse:
    # The client closed the connection, or a body limit answered 413 and ended the request (service.api.limits):
    # nobody reads this answer, and it is no fault of the server.
    log.info("client disconnected (request %s)", getattr(request.state, "request_id", None))
    return problem_response(
        400,
        "Client disconnected",
        "the request ended before its body was read; nothing was changed",
        slug="client-disconnected",
        reasons=[{"code": "client_disconnected", "message": "the connection closed before the body was read"}],
        lang=language_of(request),
    )


# Statuses the framework itself answers (no route matched, a method the route lacks): their reason codes.
HTTP_REASONS = {
    404: (
        "not-found",
        {
            "code": "route_unknown",
            "message": "no operation has this path; see /openapi.json",
            "message_vi": "không có thao tác nào ở đường dẫn này; xem /openapi.json",
        },
    ),
    405: (
        "method-not-allowed",
        {
            "code": "method_not_allowed",
            "message": "the path does not take this method",
            "message_vi": "đường dẫn này không nhận phương thức HTTP này",
        },
    ),
}


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        # FastAPI could not decode the JSON body (e.g. it is not UTF-8): the same 422 as the trigger routes give.
        return problem_response(
            422,
            "Invalid request",
            "the body is not acceptable JSON; nothing was changed",
            slug="invalid-payload",
            reasons=[{"code": "body_not_json", "message": str(exc.__cause__)}],
            lang=language_of(request),
        )
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    slug, reason = HTTP_REASONS.get(exc.status_code, ("http-error", {"code": "request_invalid", "message": detail}))
    return problem_response(
        exc.status_code,
        detail,
        f"{detail}: {request.method} {request.url.path}",
        slug=slug,
        reasons=[reason],
        headers=getattr(exc, "headers", None),
        lang=language_of(request),
    )


async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
    # Two requests raced for the same unique thing (an idempotency key, a case, a unit); the loser's
    # transaction was rolled back whole, so it is a conflict to retry, not a server fault.
    log.info("integrity conflict (request %s): %s", getattr(request.state, "request_id", None), exc.orig)
    return problem_response(
        409,
        "Conflict",
        "a concurrent request changed the same record; nothing was changed, retry the request",
        slug="conflict",
        reasons=[
            {"code": "concurrent_change", "message": "retry; with the same Idempotency-Key the first answer returns"}
        ],
        lang=language_of(request),
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
    log.exception("unhandled error (request %s)", request_id)
    return problem_response(
        500,
        "Internal error",
        f"an unexpected error occurred; request id {request_id}",
        slug="internal-error",
        reasons=[{"code": "internal_error", "message": "nothing was changed"}],
        detail_vi=f"lỗi ngoài dự kiến; mã yêu cầu {request_id}; không có gì bị thay đổi",
        lang=language_of(request),
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain)
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(IntegrityError, _integrity)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected)


PROBLEM_SCHEMA = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "What is wrong, in the language asked for (Accept-Language)"},
        "detail_vi": {"type": "string", "description": "What is wrong, in Vietnamese"},
        "detail_en": {"type": "string", "description": "What is wrong, in English"},
        "reasons": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "code": {"type": "string", "description": "A reason code of the registry (README)"},
                    "message": {"type": "string", "description": "In the language asked for (Accept-Language)"},
                    "message_vi": {"type": "string"},
                    "message_en": {"type": "string"},
                },
                "required": ["code", "message", "message_vi", "message_en"],
            },
        },
        "allowed_transitions": {"type": "array", "items": {"type": "string"}},
        "triggers": {
            "type": "array",
            "items": {"type": "string"},
            "description": "With trigger_unknown: the triggers a caller may fire in the case's procedure",
        },
    },
    "required": ["type", "title", "status", "detail", "detail_vi", "detail_en", "reasons"],
}


PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}  # the component is PROBLEM_SCHEMA (service.api.openapi_doc)


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with the errors every operation can give as the app gives them: 422 (a malformed
    request, a NUL in the URL) as problem+json instead of FastAPI's ``HTTPValidationError``, and 413 wherever a
    body is taken (``RequestLimits``)."""
    for path, item in schema["paths"].items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            if path.startswith("/v1/") or "422" in responses:
                responses["422"] = problems(422)[422]
            if "requestBody" in operation:
                responses.setdefault("413", problems(413)[413])
    for name in ("HTTPValidationError", "ValidationError"):
        schema.get("components", {}).get("schemas", {}).pop(name, None)
    return schema


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the problem statuses an operation can return."""
    text = {
        401: "No or bad token",
        403: "Outside the caller's authority",
        404: "Not found",
        409: "Wrong state, guard failed, or idempotency key reused",
        412: "If-Match is stale",
        413: "Body or upload too large",
        415: "Media type refused",
        422: "Malformed payload",
        503: "The server lacks what the request needs",
        500: "Unexpected error: nothing was changed; the problem names the request id",
    }
    return {
        status: {"description": text.get(status, "Problem"), "content": {PROBLEM: {"schema": PROBLEM_REF}}}
        for status in statuses
    }
