"""Every error leaves as RFC 9457 problem details (``application/problem+json``) with reasons.

Domain errors carry their status and reasons; request validation becomes 422 with one reason per problem;
unknown routes and methods keep their 404/405; a client that went away mid-request is logged, not a server fault;
anything unexpected is a 500 that leaks nothing but a request id.

Each problem says what is wrong in English (``detail``, the reasons' messages) and in Vietnamese (``detail_vi``):
the raiser's own Vietnamese when it gave one, else the meanings of its reason codes as ``workflows/reasons.py``
declares them, else the Vietnamese name of the status.
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
) -> dict[str, Any]:
    """The problem details document: also for refusals sent before the app runs (``service.serving``)."""
    body: dict[str, Any] = {
        "type": TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "detail_vi": detail_vi or vietnamese_detail(status, reasons or []),
        "reasons": reasons or [],
    }
    if allowed_transitions is not None:
        body["allowed_transitions"] = allowed_transitions
    body.update(extra or {})
    return body


def problem_response(
    status: int, title: str, detail: str, *, headers: dict[str, str] | None = None, **fields: Any
) -> JSONResponse:
    """``problem_body`` (``fields``: its keyword arguments) as a response."""
    return JSONResponse(
        problem_body(status, title, detail, **fields), status_code=status, media_type=PROBLEM, headers=headers
    )


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
    )


async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
    reasons, vietnamese = [], []
    for error in exc.errors():
        where = "/".join(str(p) for p in error["loc"])
        message = f"{where}: {error['msg']}"
        if error["type"] == "time_out_of_range":  # an ``Instant`` outside its range (service.api.params)
            reasons.append({"code": "time_out_of_range", "message": message})
        else:
            reasons.append({"code": "request_invalid", "message": message})
        if vi := (error.get("ctx") or {}).get("vi"):
            vietnamese.append(f"{where}: {vi}")
    return problem_response(
        422,
        "Invalid request",
        "the request is malformed; nothing was changed",
        slug="invalid-payload",
        reasons=reasons,
        detail_vi="; ".join(vietnamese) or None,
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
    )


async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
        # FastAPI could not decode the JSON body (e.g. it is not UTF-8): the same 422 as the trigger routes give.
        return problem_response(
            422,
            "Invalid request",
            "the body is not acceptable JSON; nothing was changed",
            slug="invalid-payload",
            reasons=[{"code": "body_not_json", "message": str(exc.__cause__)}],
        )
    slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    return problem_response(
        exc.status_code,
        detail,
        detail,
        slug=slug,
        reasons=[{"code": slug.replace("-", "_"), "message": detail}],
        headers=getattr(exc, "headers", None),
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
        "detail": {"type": "string"},
        "detail_vi": {"type": "string", "description": "What is wrong, in Vietnamese"},
        "reasons": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                "required": ["code", "message"],
            },
        },
        "allowed_transitions": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["type", "title", "status", "detail", "detail_vi", "reasons"],
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
