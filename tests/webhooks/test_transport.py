"""The dispatcher's HTTP transport (``KeptAliveTransport``) against a real receiver: connections are kept alive and
reused between posts, never beyond what the server or a ``Connection: close`` allows; ``post_pinned`` goes through
it unchanged."""

from __future__ import annotations

import asyncio

import httpx

from service.config import Settings
from service.webhooks.safety import post_pinned
from service.workers.webhooks import http_client
from tests.webhooks.receiver import Receiver

TIMEOUT = httpx.Timeout(5.0, connect=2.0)


async def post(client: httpx.AsyncClient, url: str, n: int, **headers: str) -> httpx.Response:
    return await post_pinned(client, url, content=b'{"n":%d}' % n, headers=headers, allow_private=True, timeout=TIMEOUT)


async def test_posts_one_after_another_share_one_connection() -> None:
    with Receiver() as receiver:
        async with http_client(Settings()) as client:
            answers = [await post(client, receiver.url, n) for n in range(10)]
            assert [a.status_code for a in answers] == [200] * 10
            assert client._transport.opened == 1  # type: ignore[attr-defined]
        assert [r.json()["n"] for r in receiver.requests()] == list(range(10))


async def test_posts_at_once_open_a_connection_each_then_reuse_them() -> None:
    with Receiver() as receiver:
        receiver.respond_with(then=200, delay=0.2)  # all eight are out together
        async with http_client(Settings()) as client:
            await asyncio.gather(*(post(client, receiver.url, n) for n in range(8)))
            opened = client._transport.opened  # type: ignore[attr-defined]
            assert 1 < opened <= 8
            await asyncio.gather(*(post(client, receiver.url, n) for n in range(8, 16)))
            assert client._transport.opened == opened  # type: ignore[attr-defined]
        assert sorted(r.json()["n"] for r in receiver.requests()) == list(range(16))


async def test_a_connection_closed_by_the_request_is_not_kept() -> None:
    with Receiver() as receiver:
        async with http_client(Settings()) as client:
            for n in range(3):
                assert (await post(client, receiver.url, n, connection="close")).status_code == 200
            assert client._transport.opened == 3  # type: ignore[attr-defined]


async def test_each_address_keeps_its_own_connections() -> None:
    with Receiver() as one, Receiver() as two:
        async with http_client(Settings()) as client:
            for n in range(6):
                assert (await post(client, (one, two)[n % 2].url, n)).status_code == 200
            assert client._transport.opened == 2  # type: ignore[attr-defined]
        assert [r.json()["n"] for r in one.requests()] == [0, 2, 4]
        assert [r.json()["n"] for r in two.requests()] == [1, 3, 5]
