"""A fast webhook receiver for benchmark 4: raw asyncio HTTP/1.1 (keep-alive), answers every POST 204 at once and
counts it; ``GET /stats`` answers ``{"count", "first", "last", "bytes"}`` (times from time.time()).

    python -m bench.receiver --port 9000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

STATS = {"count": 0, "first": None, "last": None, "bytes": 0}
NO_CONTENT = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            length = 0
            for line in lines:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length) if length else b""
            if request_line.startswith("GET /stats"):
                payload = json.dumps(STATS).encode()
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                    + str(len(payload)).encode()
                    + b"\r\n\r\n"
                    + payload
                )
            else:
                now = time.time()
                STATS["count"] += 1
                STATS["bytes"] += len(body)
                STATS["first"] = STATS["first"] or now
                STATS["last"] = now
                writer.write(NO_CONTENT)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(port: int) -> None:
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(args.port))


if __name__ == "__main__":
    main()
