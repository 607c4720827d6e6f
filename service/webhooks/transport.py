"""The dispatcher's HTTP transport: connections kept alive per address, taken and given back in constant time.

httpx's default pool (httpcore's ``AsyncConnectionPool``) looks over every connection it holds, and asks each idle
one whether its socket became readable, whenever a request starts or a response closes: with the dozens of posts a
dispatcher keeps in flight, that scan was a third of the dispatcher's CPU (benchmark 4's profile). Here each origin
(scheme, the address ``safety.post_pinned`` checked and connects to, port) has a stack of idle HTTP/1.1 connections;
a request takes the most recently used one that is still usable (only that one is checked) or opens a new one, and
gives it back when its response is closed, if the server kept it open. A request with ``Connection: close`` (every
https post: a TLS connection verified for one hostname must not carry another's request) is never given back.

Each request leaves in one write: httpcore writes a request's head and its body in two calls, each a ``send`` over
the socket (and, under anyio, a checkpoint and a timeout scope); ``_OneWrite`` holds what is written until the
connection next reads (the answer), then sends it at once with the last write's timeout. A webhook body is small
and already in memory, so nothing is held that was not held already. ``_OneWrite`` also keeps its socket for the
question httpcore asks of every idle connection before reusing it (is it readable, i.e. closed by the server?):
anyio rebuilt its table of socket attributes to answer it each time (4 % of the dispatcher's samples).

Bounded: the dispatcher bounds the requests in flight (``webhook_concurrency``), hence the connections in use; at
most ``max_idle`` idle connections are kept in all, and an idle one older than ``keepalive_expiry`` is closed when
next taken. Timeouts, TLS server names (``sni_hostname``) and errors are httpcore's and httpx's, as with the default
transport.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpcore
import httpx
from httpcore._utils import is_socket_readable  # the check httpcore's own streams make

__all__ = ["KeptAliveTransport"]


def _key(origin: httpcore.Origin) -> tuple[bytes, bytes, int]:
    return origin.scheme, origin.host, origin.port


class _GiveBack:
    """A response body that hands its connection back to the pool once closed."""

    def __init__(self, stream: Any, pool: _Connections, origin: httpcore.Origin, conn: Any) -> None:
        self.stream, self.pool, self.origin, self.conn = stream, pool, origin, conn

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self.stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            if hasattr(self.stream, "aclose"):
                await self.stream.aclose()
        finally:
            await self.pool.give_back(self.origin, self.conn)


class _OneWrite(httpcore.AsyncNetworkStream):
    """A network stream that sends what was written in one call, when the connection next reads (or starts TLS)."""

    def __init__(self, stream: httpcore.AsyncNetworkStream) -> None:
        self.stream = stream
        self.socket: socket.socket | None = None
        self.pending: list[bytes] = []
        self.timeout: float | None = None

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            self.pending.append(buffer)
            self.timeout = timeout

    async def _flush(self) -> None:
        if self.pending:
            data = self.pending[0] if len(self.pending) == 1 else b"".join(self.pending)
            self.pending = []
            await self.stream.write(data, self.timeout)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        await self._flush()
        return await self.stream.read(max_bytes, timeout)

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        await self._flush()
        return _OneWrite(await self.stream.start_tls(ssl_context, server_hostname, timeout))

    async def aclose(self) -> None:
        self.pending = []
        await self.stream.aclose()

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # asked each time a kept connection is taken: the socket looked up once
            if self.socket is None:
                self.socket = self.stream.get_extra_info("socket")
            return is_socket_readable(self.socket)
        return self.stream.get_extra_info(info)


class _OneWriteBackend(httpcore.AnyIOBackend):
    """httpcore's anyio backend, its TCP streams wrapped in ``_OneWrite``."""

    async def connect_tcp(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        return _OneWrite(await super().connect_tcp(*args, **kwargs))


class _Connections:
    """Idle HTTP/1.1 connections by origin (httpcore's request interface, as ``AsyncHTTPTransport`` calls it)."""

    def __init__(self, ssl_context: ssl.SSLContext, *, max_idle: int, keepalive_expiry: float) -> None:
        self.ssl_context, self.max_idle, self.keepalive_expiry = ssl_context, max_idle, keepalive_expiry
        self.idle: dict[tuple[bytes, bytes, int], list[httpcore.AsyncHTTPConnection]] = {}
        self.idle_count = 0
        self.opened = 0  # connections opened in all (tests and figures)
        self.backend = _OneWriteBackend()

    async def take(self, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        stack = self.idle.get(_key(origin))
        while stack:
            conn = stack.pop()
            self.idle_count -= 1
            if conn.is_idle() and not conn.has_expired():
                return conn
            await conn.aclose()
        self.opened += 1
        return httpcore.AsyncHTTPConnection(
            origin=origin,
            ssl_context=self.ssl_context,
            keepalive_expiry=self.keepalive_expiry,
            http1=True,
            network_backend=self.backend,
        )

    async def give_back(self, origin: httpcore.Origin, conn: httpcore.AsyncHTTPConnection) -> None:
        if conn.is_idle() and self.idle_count < self.max_idle:
            self.idle.setdefault(_key(origin), []).append(conn)
            self.idle_count += 1
        else:
            await conn.aclose()

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        origin = request.url.origin
        conn = await self.take(origin)
        try:
            response = await conn.handle_async_request(request)
        except BaseException:
            await conn.aclose()
            raise
        response.stream = _GiveBack(response.stream, self, origin, conn)
        return response

    async def aclose(self) -> None:
        stacks, self.idle, self.idle_count = list(self.idle.values()), {}, 0
        for stack in stacks:
            for conn in stack:
                await conn.aclose()

    async def __aenter__(self) -> _Connections:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class KeptAliveTransport(httpx.AsyncHTTPTransport):
    """httpx's transport (request and response mapping, exceptions) over ``_Connections`` instead of its pool."""

    def __init__(self, *, max_idle: int, keepalive_expiry: float = 5.0) -> None:
        super().__init__(trust_env=False)
        self._pool = _Connections(httpx.create_ssl_context(), max_idle=max_idle, keepalive_expiry=keepalive_expiry)  # type: ignore[assignment]

    @property
    def opened(self) -> int:
        return self._pool.opened  # type: ignore[attr-defined,no-any-return]
