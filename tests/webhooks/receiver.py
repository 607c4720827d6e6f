"""A real HTTP webhook receiver for tests.

A tiny ASGI app served by uvicorn on 127.0.0.1 (a free port) in a background thread with its own
event loop, so async tests can use it with a plain ``with Receiver() as r:`` without blocking
their loop. Every request is recorded; responses can be scripted with ``respond_with``.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from dataclasses import dataclass
from typing import Any

import uvicorn
from standardwebhooks.webhooks import Webhook

__all__ = ["Received", "Receiver"]


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    body: bytes
    received_at: float  # time.monotonic() when the body had been read
    status: int  # the status the receiver answered with

    def json(self) -> Any:
        import json

        return json.loads(self.body)


class Receiver:
    """Records every request; answers 200 unless scripted otherwise.

    >>> with Receiver() as r:
    ...     httpx.post(r.url, content=b"{}")
    ...     r.received[0].body
    """

    def __init__(self, path: str = "/hook", *, start_timeout: float = 10.0) -> None:
        if not path.startswith("/"):
            raise ValueError("path must start with '/'")
        self.path = path
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.received: list[Received] = []
        self.delay_seconds: float = 0.0
        self._start_timeout = start_timeout
        self._lock = threading.Lock()
        self._script: collections.deque[int] = collections.deque()
        self._then = 200
        self._redirect_to: str | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    # -- addresses ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise RuntimeError("Receiver is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return self.base_url + self.path

    # -- scripting ---------------------------------------------------------------------------

    def respond_with(
        self,
        *statuses: int,
        then: int = 200,
        redirect_to: str | None = None,
        delay: float | None = None,
    ) -> None:
        """The next responses get ``statuses`` in order, every later one ``then``.

        3xx responses carry ``Location: redirect_to`` (when given). ``delay`` (seconds) is slept
        before every response from now on; ``None`` leaves the current delay unchanged.
        """
        for s in (*statuses, then):
            if not isinstance(s, int) or isinstance(s, bool) or not 100 <= s <= 599:
                raise ValueError(f"not an HTTP status: {s!r}")
        if delay is not None and delay < 0:
            raise ValueError("delay must be >= 0")
        with self._lock:
            self._script = collections.deque(statuses)
            self._then = then
            self._redirect_to = redirect_to
            if delay is not None:
                self.delay_seconds = float(delay)

    def _next_status(self) -> tuple[int, str | None, float]:
        with self._lock:
            status = self._script.popleft() if self._script else self._then
            return status, self._redirect_to, self.delay_seconds

    # -- inspection --------------------------------------------------------------------------

    def requests(self) -> list[Received]:
        """A snapshot of ``received``."""
        with self._lock:
            return list(self.received)

    def clear(self) -> None:
        with self._lock:
            self.received.clear()

    def verified(self, secret: str) -> list[Any]:
        """Every received body, verified with ``standardwebhooks`` against ``secret`` and JSON-parsed.

        Raises ``standardwebhooks.webhooks.WebhookVerificationError`` if any request fails.
        """
        wh = Webhook(secret)
        return [wh.verify(r.body, r.headers) for r in self.requests()]

    async def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[Received]:
        """Wait (without blocking the caller's loop) until at least ``count`` requests arrived."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.requests()
            if len(got) >= count:
                return got
            if time.monotonic() >= deadline:
                raise TimeoutError(f"expected {count} webhook request(s) within {timeout}s, got {len(got)}")
            await asyncio.sleep(0.005)

    def wait_for_sync(self, count: int = 1, timeout: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while True:
            got = self.requests()
            if len(got) >= count:
                return got
            if time.monotonic() >= deadline:
                raise TimeoutError(f"expected {count} webhook request(s) within {timeout}s, got {len(got)}")
            time.sleep(0.005)

    # -- ASGI app ----------------------------------------------------------------------------

    async def _app(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan is off; nothing else is expected
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        received_at = time.monotonic()
        status, redirect_to, delay = self._next_status()
        path = scope["path"] + (("?" + scope["query_string"].decode("latin-1")) if scope["query_string"] else "")
        with self._lock:
            self.received.append(
                Received(
                    method=scope["method"],
                    path=path,
                    headers=headers,
                    body=b"".join(chunks),
                    received_at=received_at,
                    status=status,
                )
            )
        if delay:
            await asyncio.sleep(delay)
        body = b'{"ok":true}' if 200 <= status < 300 else b'{"ok":false}'
        response_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if 300 <= status < 400 and redirect_to is not None:
            response_headers.append((b"location", redirect_to.encode("latin-1")))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})

    # -- lifecycle ---------------------------------------------------------------------------

    def _run(self) -> None:
        assert self._server is not None
        try:
            self._server.run()
        except BaseException as exc:  # noqa: BLE001 - surfaced by start()
            self._error = exc

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("Receiver already started")
        config = uvicorn.Config(
            self._app,
            host=self.host,
            port=0,
            lifespan="off",
            interface="asgi3",
            log_level="warning",
            access_log=False,
            loop="asyncio",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="webhook-receiver", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() >= deadline:
                self.stop()
                raise RuntimeError(f"webhook receiver failed to start: {self._error!r}")
            time.sleep(0.005)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(timeout=10)
        if thread.is_alive():
            raise RuntimeError("webhook receiver thread did not stop")
        self._server = None
        self._thread = None

    def __enter__(self) -> Receiver:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def __aenter__(self) -> Receiver:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop()
