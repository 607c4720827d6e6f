"""Refusals made before a request is parsed: NUL bytes in the URL, too many or too large header fields, bodies
over the size limits, and numbers in a JSON body that no route could store.

A pure ASGI middleware, the first thing a request meets inside the app, so every refusal is a problem+json answer
of its own and none travels as an exception through other middleware (an exception raised from ``receive`` inside
Starlette's ``BaseHTTPMiddleware`` reaches the error handlers wrapped in an ``ExceptionGroup`` and becomes a 500):

* header fields: more than ``max_headers`` of them, or more than ``max_header_bytes`` of request line and
  headers, is a 431 before anything reads them (``service.serving`` bounds them again in the server itself,
  before they are even buffered);
* bodies: a ``Content-Length`` over the limit is a 413 before a byte is read; a body that grows past it while
  arriving (``Transfer-Encoding: chunked``) is a 413 as soon as it does. A JSON body (anything but multipart or a
  form) is read whole here, within ``max_body_bytes``, and handed on as read, with its JSON values when it is
  JSON (``PARSED_BODY`` in the request's scope: a route reading the body need not parse it again); an upload
  (multipart) streams to the route, which checks authority and state before reading it: when it grows past the
  limit the 413 is sent from here and the route is told that the client went away (``http.disconnect``), and
  whatever it answers is dropped;
* numbers: JSON admits ``1e309`` (infinity once read), ``NaN`` and integers of thousands of digits. A JSON body
  holding a number that is not finite, or an integer outside what a 64-bit column holds, is a 422
  ``number_out_of_range`` naming where it is.
"""

from __future__ import annotations

import json
import math
from itertools import chain
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import PROBLEM, problem_body, problem_response
from service.domain.language import DEFAULT_LANGUAGE, Language, negotiate

MULTIPART_OVERHEAD = 1024 * 1024  # boundaries, headers and the title field around an evidence file
JSON_INT_MIN, JSON_INT_MAX = -(2**63), 2**63 - 1


class NumberOutOfRange(ValueError):
    """A JSON number no route could store; the message quotes it."""


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NumberOutOfRange(f"{text[:40]} is not a finite number")
    return value


def _bounded_int(text: str) -> int:
    # A number of more than 19 digits is outside 64 bits; refusing by length first never converts a huge one.
    if len(text.lstrip("-")) > 19 or not JSON_INT_MIN <= int(text) <= JSON_INT_MAX:
        raise NumberOutOfRange(f"{text[:40]}{'…' if len(text) > 40 else ''} is outside the 64-bit integer range")
    return int(text)


def _no_constant(name: str) -> Any:
    raise NumberOutOfRange(f"{name} is not a finite number")


PARSED_BODY = "cdht.json_body"  # in a request's scope: (the body as read, its JSON values), when it is JSON
NOT_JSON = object()


def read_json(body: bytes) -> tuple[Any, str | None]:
    """``body``'s JSON values and None; or ``NOT_JSON`` and what is wrong with a number in it, when it holds one no
    route could store; or ``NOT_JSON`` and None when it is not JSON at all (the route says what is wrong)."""
    try:
        return json.loads(body, parse_float=_finite_float, parse_int=_bounded_int, parse_constant=_no_constant), None
    except NumberOutOfRange as exc:
        return NOT_JSON, str(exc)
    except (ValueError, RecursionError):
        return NOT_JSON, None


class RequestLimits:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_upload_bytes: int,
        max_header_bytes: int = 32 * 1024,
        max_headers: int = 100,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes + MULTIPART_OVERHEAD
        self.max_header_bytes = max_header_bytes
        self.max_headers = max_headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if refusal := self._refusal_of_head(scope):
            await refusal(scope, receive, send)
            return
        headers = dict(scope["headers"])  # names are lower case in ASGI
        lang = negotiate(headers.get(b"accept-language", b"").decode("latin-1"))
        content_type = headers.get(b"content-type", b"").lower()
        multipart = content_type.startswith(b"multipart/")
        limit = self.max_upload_bytes if multipart else self.max_body_bytes
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            await too_large(f"the request body is {int(length)} bytes; the limit is {limit}", lang)(
                scope, receive, send
            )
            return
        if not length and b"transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body
        elif multipart or content_type.startswith(b"application/x-www-form-urlencoded"):
            await self._stream(scope, receive, send, limit, lang)
        else:
            await self._buffered(scope, receive, send, limit, lang)

    def _refusal_of_head(self, scope: Scope) -> Any:
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"").lower():
            return problem_response(
                422,
                "Invalid request",
                "the URL contains a NUL character",
                slug="invalid-payload",
                reasons=[{"code": "nul_character", "message": "the URL contains a NUL character"}],
            )
        fields = scope["headers"]
        if len(fields) > self.max_headers:
            return JSONResponse(too_many_headers(len(fields), self.max_headers), 431, media_type=PROBLEM)
        size = len(scope.get("raw_path") or scope["path"]) + len(scope.get("query_string", b""))
        size += sum(map(len, chain.from_iterable(fields))) + 4 * len(fields)  # "name: value\r\n" each
        if size > self.max_header_bytes:
            return JSONResponse(headers_too_large(self.max_header_bytes), 431, media_type=PROBLEM)
        return None

    async def _buffered(self, scope: Scope, receive: Receive, send: Send, limit: int, lang: Language) -> None:
        """Read the whole (JSON) body within ``limit``, check its numbers, and hand it on as one message."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body: there is nobody to answer
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await too_large(f"the request body exceeds the limit of {limit} bytes", lang)(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        value, problem = read_json(body)
        if problem:
            await problem_response(
                422,
                "Invalid request",
                f"the body holds a number no field accepts: {problem}; nothing was changed",
                slug="invalid-payload",
                reasons=[{"code": "number_out_of_range", "message": problem}],
                detail_vi=f"nội dung có số không hợp lệ ({problem}): số phải hữu hạn, số nguyên trong khoảng 64 bit",
                lang=lang,
            )(scope, receive, send)
            return
        if value is not NOT_JSON:  # parsed once: the route takes the values from here (``transitions.read_body``)
            scope[PARSED_BODY] = (body, value)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()  # after the body: wait for the client to go away, as servers do
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _stream(self, scope: Scope, receive: Receive, send: Send, limit: int, lang: Language) -> None:
        """Hand the body on as it arrives; past ``limit``, answer 413 and tell the app the client went away."""
        seen, refused, started = 0, False, False

        async def counted() -> Message:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    refused = True
                    if not started:
                        await too_large(f"the request body exceeds the limit of {limit} bytes", lang)(
                            scope, receive, send
                        )
                    return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 is the answer; what the app says after being cut off is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, counted, guarded)


def too_large(detail: str, lang: Language = DEFAULT_LANGUAGE) -> Any:
    return problem_response(
        413,
        "Payload too large",
        detail,
        slug="payload-too-large",
        reasons=[{"code": "body_too_large", "message": detail}],
        lang=lang,
    )


def too_many_headers(count: int, limit: int) -> dict[str, Any]:
    """The 431 problem of a request with more than ``limit`` header fields (``count`` when known)."""
    detail = f"the request has {count} header fields; the limit is {limit}"
    vi = f"yêu cầu có {count} trường header; tối đa {limit}"
    return _head_problem(detail, vi, {"code": "headers_too_many", "message": detail})


def headers_too_large(limit: int) -> dict[str, Any]:
    """The 431 problem of a request whose request line and header fields exceed ``limit`` bytes."""
    detail = f"the request line and header fields exceed {limit} bytes"
    vi = f"dòng yêu cầu và các trường header vượt quá {limit} byte"
    return _head_problem(detail, vi, {"code": "headers_too_large", "message": detail})


def _head_problem(detail: str, detail_vi: str, reason: dict[str, str]) -> dict[str, Any]:
    title = "Request header fields too large"
    return problem_body(431, title, detail, slug="headers-too-large", reasons=[reason], detail_vi=detail_vi)
