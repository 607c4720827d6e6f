"""How ``cdht serve`` runs the app under uvicorn, with the request head bounded inside the server.

uvicorn's httptools protocol (what ``uvicorn[standard]`` picks) keeps no limit on a request's head: a 32 MB
``Authorization`` header is buffered whole, a piece at a time (each piece copied onto the last), before the app
sees a byte of it. ``BoundedHttpToolsProtocol`` counts the bytes of each request head (request line and header
fields) as they arrive and feeds the parser no further than ``max_head_bytes``; a head that would go past it, or
that holds more than ``max_headers`` fields, is answered 431 (problem+json, as the app answers) and the
connection closed. The answer goes out first, then the connection stops sending (FIN) and discards what the
client still sends for ``LINGER_SECONDS``, so a client in the middle of sending reads the 431 instead of a reset.
Nothing of such a request reaches the app.

The app checks the same limits again (``service.api.limits``), for any other server it may run under (there the
head is buffered by the server first: uvicorn's h11 protocol, for one, stops at ``h11_max_incomplete_event_size``,
16 KB by default, with a plain 400).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.api.errors import PROBLEM
from service.api.limits import headers_too_large, too_many_headers
from service.config import Settings

LINGER_SECONDS = 1.0  # how long a refused connection reads and discards before it closes


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with each request head bounded (``max_head_bytes``, ``max_headers``)."""

    max_head_bytes = 32 * 1024
    max_headers = 100

    def connection_made(self, transport: asyncio.Transport) -> None:
        self._reading_head, self._head_bytes, self._header_count, self._refused = True, 0, 0, False
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering: what the client still sends is read and dropped
        if not self._reading_head:
            super().data_received(data)
            return
        room = self.max_head_bytes - self._head_bytes
        head, rest = data[:room], data[room:]
        self._head_bytes += len(head)
        super().data_received(head)
        if not rest or self._refused or self.transport.is_closing():
            return
        if self._reading_head:  # the head goes on past the limit
            self._refuse(headers_too_large(self.max_head_bytes))
        else:
            self.data_received(rest)  # the body, or the next request on the connection

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._refused:
            return
        if self._header_count > self.max_headers:
            self._refuse(too_many_headers(self._header_count, self.max_headers))
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._refused:
            return
        self._reading_head = False
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._refused:
            return
        super().on_message_complete()
        self._reading_head, self._head_bytes, self._header_count = True, 0, 0  # the next request's head

    def _refuse(self, problem: dict[str, Any]) -> None:
        self._refused = True
        body = json.dumps(problem, ensure_ascii=False).encode()
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            + f"content-type: {PROBLEM}\r\ncontent-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
            + body
        )
        if self.transport.can_write_eof():
            self.transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER_SECONDS, self.transport.close)


def http_protocol(settings: Settings) -> type[BoundedHttpToolsProtocol]:
    """The protocol ``cdht serve`` gives uvicorn, bounded by the settings."""
    return type(
        "BoundedHttpToolsProtocol",
        (BoundedHttpToolsProtocol,),
        {"max_head_bytes": settings.request_max_header_bytes, "max_headers": settings.request_max_headers},
    )


class EnvironmentBoundedHttpToolsProtocol(BoundedHttpToolsProtocol):
    """The bounded protocol of each process of ``cdht serve --workers N``: uvicorn hands the worker processes a
    protocol class by name, so its limits are read from the environment when the process imports this module."""

    def connection_made(self, transport: asyncio.Transport) -> None:
        limits = _environment_limits()
        self.max_head_bytes, self.max_headers = limits
        super().connection_made(transport)


_LIMITS: tuple[int, int] | None = None


def _environment_limits() -> tuple[int, int]:
    global _LIMITS
    if _LIMITS is None:
        settings = Settings()
        _LIMITS = (settings.request_max_header_bytes, settings.request_max_headers)
    return _LIMITS


def run(app: Any, settings: Settings, *, host: str, port: int, workers: int = 1) -> None:
    """Serve ``app`` on ``host:port`` until stopped, with the request head bounded by the settings. With
    ``workers`` > 1, ``app`` is the import string of an app factory each worker process calls. Logging is the
    process's (``service.telemetry.logs``): uvicorn's own set-up and access log are off (the app logs each request
    with its id)."""
    common: dict[str, Any] = dict(host=host, port=port, log_config=None, access_log=False, proxy_headers=True)
    if workers > 1:
        uvicorn.run(app, factory=True, workers=workers, http=EnvironmentBoundedHttpToolsProtocol, **common)
    else:
        uvicorn.run(app, http=http_protocol(settings), **common)
