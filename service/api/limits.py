"""Refusals made before a request is parsed: NUL bytes in the URL and bodies over the size limits.

A pure ASGI middleware, so a too-large body is refused from its ``Content-Length`` before a byte of it is read,
and a body that grows past the limit while streaming stops there (413), whatever route it was meant for.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import problem_response
from service.domain.errors import PayloadTooLarge, Reason

MULTIPART_OVERHEAD = 1024 * 1024  # boundaries, headers and the title field around an evidence file


class RequestLimits:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes + MULTIPART_OVERHEAD

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope.get("query_string", b"").lower():
            await self._refuse(
                scope,
                receive,
                send,
                422,
                "Invalid request",
                "the URL contains a NUL character",
                "invalid-payload",
                "nul_character",
            )
            return
        headers = {key.lower(): value for key, value in scope["headers"]}
        multipart = headers.get(b"content-type", b"").startswith(b"multipart/")
        limit = self.max_upload_bytes if multipart else self.max_body_bytes
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            await self._refuse(
                scope,
                receive,
                send,
                413,
                "Payload too large",
                f"the request body is {int(length)} bytes; the limit is {limit}",
                "payload-too-large",
                "body_too_large",
            )
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise PayloadTooLarge(
                        f"the request body exceeds {limit} bytes",
                        reasons=[Reason("body_too_large", f"the limit is {limit} bytes")],
                    )
            return message

        await self.app(scope, counted, send)

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, status: int, title: str, detail: str, slug: str, code: str
    ) -> Any:
        response = problem_response(status, title, detail, slug=slug, reasons=[{"code": code, "message": detail}])
        await response(scope, receive, send)
