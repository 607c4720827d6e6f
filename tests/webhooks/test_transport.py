"""The dispatcher's HTTP transport (``KeptAliveTransport``) against a real receiver: connections are kept alive and
reused between posts, never beyond what the server or a ``Connection: close`` allows; ``post_pinned`` goes through
it unchanged; a request's head and body leave in one write."""

from __future__ import annotations

import asyncio

import httpcore
import httpx

from service.config import Settings
from service.webhooks.safety import post_pinned
from service.webhooks.transport import _OneWrite
from service.workers.webhooks import http_transport
from tests.webhooks.receiver import Receiver

TIMEOUT = httpx.Timeout(5.0, connect=2.0)


async def post(transport: httpx.AsyncBaseTransport, url: str, n: int, **headers: str) -> httpx.Response:
    return await post_pinned(
        transport, url, content=b'{"n":%d}' % n, headers=headers, allow_private=True, timeout=TIMEOUT
    )


async def test_posts_one_after_another_share_one_connection() -> None:
    with Receiver() as receiver:
        async with http_transport(Settings()) as transport:
            answers = [await post(transport, receiver.url, n) for n in range(10)]
            assert [a.status_code for a in answers] == [200] * 10
            assert transport.opened == 1
        assert [r.json()["n"] for r in receiver.requests()] == list(range(10))


async def test_posts_at_once_open_a_connection_each_then_reuse_them() -> None:
    with Receiver() as receiver:
        receiver.respond_with(then=200, delay=0.2)  # all eight are out together
        async with http_transport(Settings()) as transport:
            await asyncio.gather(*(post(transport, receiver.url, n) for n in range(8)))
            opened = transport.opened
            assert 1 < opened <= 8
            await asyncio.gather(*(post(transport, receiver.url, n) for n in range(8, 16)))
            assert transport.opened == opened
        assert sorted(r.json()["n"] for r in receiver.requests()) == list(range(16))


async def test_a_connection_closed_by_the_request_is_not_kept() -> None:
    with Receiver() as receiver:
        async with http_transport(Settings()) as transport:
            for n in range(3):
                assert (await post(transport, receiver.url, n, connection="close")).status_code == 200
            assert transport.opened == 3


async def test_each_address_keeps_its_own_connections() -> None:
    with Receiver() as one, Receiver() as two:
        async with http_transport(Settings()) as transport:
            for n in range(6):
                assert (await post(transport, (one, two)[n % 2].url, n)).status_code == 200
            assert transport.opened == 2
        assert [r.json()["n"] for r in one.requests()] == [0, 2, 4]
        assert [r.json()["n"] for r in two.requests()] == [1, 3, 5]


class Recording(httpcore.AsyncNetworkStream):
    """A network stream that records what reaches it, call by call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.calls.append(("write", buffer))

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.calls.append(("read", b""))
        return b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"

    async def aclose(self) -> None:
        self.calls.append(("close", b""))


async def test_a_request_leaves_in_one_write_before_its_answer_is_read() -> None:
    inner = Recording()
    connection = httpcore.AsyncHTTP11Connection(httpcore.Origin(b"http", b"127.0.0.1", 80), _OneWrite(inner))
    for n in range(2):
        response = await connection.handle_async_request(
            httpcore.Request(
                "POST",
                "http://127.0.0.1:80/hook",
                headers=[(b"Host", b"x"), (b"Content-Length", b"7")],
                content=b'{"n":%d}' % n,
            )
        )
        await response.aread()
        await response.aclose()
        assert response.status == 204
    kinds = [kind for kind, _ in inner.calls]
    assert kinds == ["write", "read", "write", "read"]  # head and body together, each time
    first = inner.calls[0][1]
    assert first.startswith(b"POST /hook HTTP/1.1\r\n") and first.endswith(b'\r\n\r\n{"n":0}')
    await connection.aclose()
    assert inner.calls[-1] == ("close", b"")


async def test_a_kept_connection_the_server_closed_is_not_reused() -> None:
    """The server answers as if it kept the connection, then closes it: the next post sees the idle connection
    readable (closed), drops it and opens another."""
    answered = 0

    async def answer_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        await reader.readexactly(length)
        answered += 1
        writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer_then_close, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hook"
    async with server, http_transport(Settings()) as transport:
        for n in range(3):
            assert (await post(transport, url, n)).status_code == 204
            await asyncio.sleep(0.05)  # the close reaches this side
        assert (answered, transport.opened) == (3, 3)
