"""Servers in subprocesses and a lean HTTP/1.1 client to measure them: a free port, ``Server`` (started, ready when
a path answers, stopped with its workers), a uvicorn command line, and ``Http`` (keep-alive and little CPU, so the
load generator leaves the cores to the servers).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.machine import children, cmdline
from bench.service_config import PY, ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A server in a subprocess (uvicorn with N workers, a receiver...), ready when ``ready_path`` answers."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, log_dir: Path) -> None:
        self.name, self.argv, self.env, self.port = name, argv, env, port
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready_path: str = "/healthz", timeout: float = 90.0) -> Server:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}; see {self.log_path}")
            try:
                status, _ = asyncio.run(get_once(self.port, ready_path))
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer {ready_path} within {timeout:.0f} s; see {self.log_path}")

    def workers(self) -> list[int]:
        """The processes that serve requests: uvicorn's worker children, or the server itself with one worker."""
        assert self.process is not None
        kids = [pid for pid in children(self.process.pid) if "resource_tracker" not in cmdline(pid)]
        return kids or [self.process.pid]

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        kids = children(self.process.pid)
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for pid in kids:  # the workers uvicorn started, if any outlived it
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def uvicorn_argv(target: str, port: int, workers: int) -> list[str]:
    """A uvicorn server of ``target`` (a factory); several workers each on a socket of their own (``bench.reuseport``:
    the kernel spreads the connections, where uvicorn's shared socket let one worker take them all)."""
    if workers > 1:
        return [PY, "-m", "bench.reuseport", target, "--port", str(port), "--workers", str(workers)]
    return [
        PY,
        "-m",
        "uvicorn",
        target,
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--no-access-log",
    ]


class Http:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
            self.reader = self.writer = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
        sink: Any = None,
    ) -> tuple[int, bytes]:
        """One request; the body is returned, or handed chunk by chunk to ``sink`` (then b"" is returned)."""
        if self.writer is None:
            await self._connect()
        assert self.reader is not None and self.writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        for name, value in (headers or {}).items():
            lines.append(f"{name}: {value}")
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        length, chunked, close = None, False, False
        for line in header_lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        parts: list[bytes] = []
        emit = sink or parts.append
        if chunked:
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                emit(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
        elif length is not None:
            if length:
                emit(await self.reader.readexactly(length))
        else:
            emit(await self.reader.read())
            close = True
        if close:
            await self.close()
        return status, b"".join(parts)


async def get_once(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    client = Http(port)
    try:
        return await client.request("GET", path, headers=headers)
    finally:
        await client.close()


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}
