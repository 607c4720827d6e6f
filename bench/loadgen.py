"""A closed-loop HTTP load generator, in a process of its own: N clients, each sending its next request as soon as
the previous one is answered, for a fixed time (after a warm-up that is not counted).

Requests come from a JSON file of items ``{"p": path, "h": headers, "b": body}``, taken in order from ``--offset``
(each item once: a transition can be fired once per case); the run ends early if they run out, unless
``--cycle``. Prints one JSON
object: requests, errors, statuses, seconds, throughput, latency percentiles (ms), items consumed.

    python -m bench.loadgen --port 8000 --items items.json --concurrency 16 --duration 20 --warmup 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path

from bench.results import latency_summary
from bench.servers import Http


async def run(args: argparse.Namespace) -> dict:
    items = json.loads(Path(args.items).read_text())
    prepared = [
        (item["p"], item.get("h") or {}, item["b"].encode() if item.get("b") is not None else None) for item in items
    ]
    cursor = [args.offset]
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    errors: list[str] = []
    started = time.perf_counter()
    measure_from = started + args.warmup
    stop_at = measure_from + args.duration
    last_done = [measure_from]

    async def client() -> None:
        http = Http(args.port)
        try:
            while True:
                now = time.perf_counter()
                if now >= stop_at or (cursor[0] >= len(prepared) and not args.cycle):
                    return
                path, headers, body = prepared[cursor[0] % len(prepared)]
                cursor[0] += 1
                t0 = time.perf_counter()
                try:
                    status, payload = await http.request(args.method, path, headers=headers, body=body)
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    status, payload = 0, str(exc).encode()
                    await http.close()
                t1 = time.perf_counter()
                if measure_from <= t1 <= stop_at:  # answered inside the window (sent in it or in the warm-up)
                    statuses[status] += 1
                    latencies.append((t1 - t0) * 1000)
                    last_done[0] = max(last_done[0], t1)
                    if not 200 <= status < 300 and len(errors) < 5:
                        errors.append(f"{status}: {payload[:300].decode(errors='replace')}")
        finally:
            await http.close()

    await asyncio.gather(*(client() for _ in range(args.concurrency)))
    window = (min(stop_at, last_done[0]) - measure_from) if latencies else 0.0
    ok = sum(count for status, count in statuses.items() if 200 <= status < 300)
    return {
        "concurrency": args.concurrency,
        "requests": len(latencies),
        "ok": ok,
        "statuses": {str(k): v for k, v in statuses.items()},
        "errors": errors,
        "seconds": window,
        "throughput": ok / window if window > 0 else 0.0,
        "latency_ms": latency_summary(latencies),
        "consumed": cursor[0] - args.offset,
        "exhausted": cursor[0] >= len(prepared) and not args.cycle,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--items", type=Path, required=True)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--method", default="POST")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--cycle", action="store_true", help="start the items again when they run out")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(run(args))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
