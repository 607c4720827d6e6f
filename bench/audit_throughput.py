"""The audit benchmark's throughputs: the full verify profiled in-process, the incremental verify from a checkpoint
signed just before, the hashing limit per event (``bench.verify_limit``), and a streamed export counted.
"""

from __future__ import annotations

import time
from typing import Any

import asyncpg

from bench.databases import dsn
from bench.profiles import cprofile_summary
from bench.servers import Http


async def stream_count(port: int, path: str, headers: dict[str, str]) -> tuple[int, int, float, int]:
    """Lines and bytes of a streamed answer, and the seconds it took."""
    counts = [0, 0]

    def sink(chunk: bytes) -> None:
        counts[0] += chunk.count(b"\n")
        counts[1] += len(chunk)

    http = Http(port)
    t0 = time.perf_counter()
    try:
        status, _ = await http.request("GET", path, headers=headers, sink=sink)
    finally:
        await http.close()
    return counts[0], counts[1], time.perf_counter() - t0, status


async def profile_verify(db: str, case_ids: list[str]) -> list[str]:
    """Where verify's time goes: cProfile around verify over many cases' chains, in-process."""
    import cProfile

    from sqlalchemy.ext.asyncio import create_async_engine

    from bench.databases import sa_url
    from service.domain.audit.verify import verify
    from service.persistence.db import session_factory

    engine = create_async_engine(sa_url(db))
    profile = cProfile.Profile()
    try:
        async with session_factory(engine)() as session:
            profile.enable()
            for case_id in case_ids:
                await verify(session, case_id=case_id)
            profile.disable()
    finally:
        await engine.dispose()
    return cprofile_summary(profile)


async def verify_incremental(http: Http, headers: dict[str, str]) -> dict[str, Any]:
    """Sign a checkpoint (the first: every case sealed), sign one again with nothing new (every seal carried
    forward), then the incremental verify from it: its fixed cost (the signature, the signed heads looked up, every
    chain's numbering, every case's seal) with nothing new to re-hash."""
    import json

    t0 = time.perf_counter()
    status, body = await http.request("POST", "/v1/audit/checkpoints", headers=headers)
    signed = time.perf_counter() - t0
    again = 0.0
    if status == 201:
        t0 = time.perf_counter()
        status, body = await http.request("POST", "/v1/audit/checkpoints", headers=headers)
        again = time.perf_counter() - t0
    if status != 201:
        return {
            "ok": False,
            "error": body[:300],
            "events_trusted": 0,
            "events_checked": 0,
            "seconds": 0.0,
            "sign_seconds": signed,
            "sign_again_seconds": again,
        }
    t0 = time.perf_counter()
    status, body = await http.request("GET", "/v1/audit/verify?mode=incremental", headers=headers)
    seconds = time.perf_counter() - t0
    answer = json.loads(body) if status == 200 else {"ok": False, "error": body[:300]}
    return {
        "ok": answer.get("ok"),
        "events_trusted": answer.get("events_trusted") or 0,
        "events_checked": answer.get("events_checked") or 0,
        "seconds": seconds,
        "sign_seconds": signed,
        "sign_again_seconds": again,
        **({"first_bad_event": answer["first_bad_event"]} if answer.get("first_bad_event") else {}),
    }


async def hashing_limit(db: str, events: int = 100_000) -> dict[str, float]:
    """What building each event's canonical text and hashing it costs alone, per event on one core
    (``bench.verify_limit``), and the throughput two cores doing nothing else would reach with the cheaper side."""
    from bench.verify_limit import postgres_limit, python_limit

    connection = await asyncpg.connect(dsn(db))
    try:
        py = await python_limit(connection, events)
        pg = await postgres_limit(connection, events)
    finally:
        await connection.close()
    per_event = min(py["text µs"] + py["sha256 µs"], pg["read + text + sha256 + hex"])
    return {
        "events": py["events"],
        "python_text": py["text µs"],
        "python_sha256": py["sha256 µs"],
        "pg_read": pg["read"],
        "pg_text": pg["text µs"],
        "pg_sha256": pg["sha256 + hex µs"],
        "ceiling": 2 / (per_event / 1e6) if per_event > 0 else 0.0,
    }
