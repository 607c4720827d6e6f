"""Benchmark 2: the audit log at national scale.

Loads ``--events`` audit events (default 10 million: 10,600-odd communes × 10 cycles × 94 events) as whole,
valid case chains: ten template cases (one per cycle 2025–2034, each walked through the API to ``recognized``:
15 indicators with evidence, 13 returned once and resubmitted, 94 events) cloned onto every commune with new ids,
units and times, hashes and digests recomputed (bench/datagen.py), COPY-loaded in time order across every case (as
real years write them: the events of all provinces interleave in id order), the audit table's secondary indexes
built after the load and the table vacuumed. ``--keep`` keeps the database; ``--reuse NAME`` measures a kept one
again without loading (upgrade it first when the migrations changed). Then, against the service (uvicorn, one
worker), one client at a time:

- case history p99: ``GET /v1/cases/{id}/history`` of random cases, as the province's officer (and the query
  behind it alone, over asyncpg, for comparison);
- filtered search, first page p99: ``GET /v1/audit/events`` with six kinds of filters (a rare trigger, a commune,
  an actor, a week, a trigger since a date nationally, a citation prefix), random values;
- as_of p99: ``GET /v1/cases/{id}?as_of=`` at a time in the middle of the case's history (a replay);
- full verify throughput: ``GET /v1/audit/verify`` as a national auditor (every chain, every case's tables);
- incremental verify: a checkpoint signed (``POST /v1/audit/checkpoints``: the first, every case's tables sealed),
  signed again with nothing new (the seals carried forward), then ``GET /v1/audit/verify?mode=incremental`` from it:
  its fixed cost with nothing new since;
- the hashing limit: the canonical text and SHA-256 of each event alone, in Python and in PostgreSQL
  (``bench/verify_limit.py``), the most any full verify can reach on the machine;
- export throughput: ``GET /v1/audit/export?format=jsonl`` as a national auditor, streamed and counted.

Goals: history p99 < 10 ms, search p99 < 50 ms, verify ≥ 200,000 events/s.

    python -m bench.bench_audit [--quick] [--events N] [--cycles C]
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import asyncpg

from bench import datagen
from bench.common import (
    CpuLoad,
    Http,
    PySpy,
    Report,
    Server,
    base_parser,
    bearer,
    cprofile_summary,
    cpu_seconds,
    database,
    dsn,
    fmt,
    free_port,
    latency_summary,
    service_env,
    token,
    uvicorn_argv,
    work_dir,
)

FIRST_CYCLE = 2025
NATIONAL = "VN"


async def build(db: str, data: Path, events: int, cycles: int, log: Any) -> dict[str, Any]:
    cases = math.ceil(events / datagen.EVENTS_PER_FULL_CASE)
    communes = math.ceil(cases / cycles)
    rows = datagen.tree(communes, 34)
    await datagen.add_units(db, datagen.template_units(cycles) + rows)
    t0 = time.monotonic()
    templates = await datagen.make_templates(db, data, [FIRST_CYCLE + c for c in range(cycles)])
    log(f"[audit] {cycles} templates walked through the API in {time.monotonic() - t0:.0f} s")
    pairs = datagen.communes_of(rows)
    clones = []
    for c in range(cycles):  # cycle after cycle, as the years go by (ids follow time)
        for commune, province in pairs:
            if len(clones) < cases:
                clones.append(datagen.Clone(len(clones), commune, province, c))
    t0 = time.monotonic()
    ids = await datagen.load(db, templates, clones, rebuild_indexes=events > 300_000, interleave=True, progress=log)
    load_seconds = time.monotonic() - t0
    sample = random.Random(7).sample(range(len(ids)), 3)
    await datagen.check_clones(db, [ids[i] for i in sample])
    connection = await asyncpg.connect(dsn(db))
    total = await connection.fetchval("SELECT count(*) FROM audit_event")
    size = await connection.fetchval("SELECT pg_size_pretty(pg_total_relation_size('audit_event'))")
    db_size = await connection.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    await connection.close()
    return {
        "case_ids": ids,
        "clones": clones,
        "templates": templates,
        "events": total,
        "load_seconds": load_seconds,
        "table_size": size,
        "db_size": db_size,
        "communes": communes,
    }


@contextlib.contextmanager
def reuse_or_create(name: str | None, *, keep: bool) -> Iterator[str]:
    """The kept database ``name`` as it is (never dropped here), or a new one (``bench.common.database``)."""
    if name:
        yield name
        return
    with database("audit", keep=keep) as db:
        yield db


async def reused(db: str) -> dict[str, Any]:
    """What ``build`` returns, read from a kept database (``--reuse``)."""
    connection = await asyncpg.connect(dsn(db))
    try:
        rows = await connection.fetch(
            "SELECT c.id, c.unit_code, u.parent_code FROM cases AS c JOIN admin_unit AS u ON u.code = c.unit_code "
            f"WHERE u.parent_code <> '{datagen.TPL_PROVINCE}' ORDER BY c.created_at, c.id"
        )
        total = await connection.fetchval("SELECT count(*) FROM audit_event")
        size = await connection.fetchval("SELECT pg_size_pretty(pg_total_relation_size('audit_event'))")
        db_size = await connection.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    finally:
        await connection.close()
    clones = [datagen.Clone(i, row["unit_code"], row["parent_code"], 0) for i, row in enumerate(rows)]
    return {
        "case_ids": [row["id"] for row in rows],
        "clones": clones,
        "events": total,
        "load_seconds": float("nan"),
        "table_size": size,
        "db_size": db_size,
        "communes": len({clone.commune for clone in clones}),
    }


async def middle_times(db: str, case_ids: list[str]) -> list[datetime]:
    """The time of the event in the middle of each case's history (where an as_of replay stops)."""
    connection = await asyncpg.connect(dsn(db))
    try:
        return [
            await connection.fetchval(
                "SELECT occurred_at FROM audit_event WHERE case_id = $1 ORDER BY seq "
                "OFFSET (SELECT count(*) / 2 FROM audit_event WHERE case_id = $1) LIMIT 1",
                case_id,
            )
            for case_id in case_ids
        ]
    finally:
        await connection.close()


async def timed_gets(port: int, requests: list[tuple[str, dict[str, str]]]) -> tuple[list[float], list[str]]:
    http = Http(port)
    latencies, problems = [], []
    try:
        for path, headers in requests:
            t0 = time.perf_counter()
            status, body = await http.request("GET", path, headers=headers)
            latencies.append((time.perf_counter() - t0) * 1000)
            if status != 200 and len(problems) < 3:
                problems.append(f"{status} {path[:120]}: {body[:200]!r}")
    finally:
        await http.close()
    return latencies, problems


async def query_latencies(db: str, case_ids: list[str]) -> list[float]:
    """The query behind the history endpoint, alone (asyncpg, a prepared statement)."""
    connection = await asyncpg.connect(dsn(db))
    statement = await connection.prepare("SELECT * FROM audit_event WHERE case_id = $1 ORDER BY seq")
    latencies = []
    try:
        for case_id in case_ids:
            t0 = time.perf_counter()
            await statement.fetch(case_id)
            latencies.append((time.perf_counter() - t0) * 1000)
    finally:
        await connection.close()
    return latencies


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


def search_requests(
    rng: random.Random, n: int, pick: Any, province_tokens: dict[str, str], national: str, cycles: int
) -> dict[str, list[tuple[str, dict[str, str]]]]:
    """Six kinds of filtered searches, first page (the default 50), random values."""
    kinds: dict[str, list[tuple[str, dict[str, str]]]] = {k: [] for k in SEARCHES}
    for i in range(n):
        kind = SEARCHES[i % len(SEARCHES)]
        commune, province = pick()
        year = FIRST_CYCLE + rng.randrange(cycles)
        headers = bearer(province_tokens[province])
        if kind == "rare trigger in the province":
            params = {"kind": "transition", "trigger": rng.choice(["recognize", "form_council", "submit_dossier"])}
        elif kind == "one commune":
            params = {"unit": commune}
        elif kind == "one actor":
            params = {"actor": f"chu-tich.{commune}"}
        elif kind == "a week":
            start = datetime(year, 2, 1, tzinfo=UTC) + timedelta(days=rng.randrange(200))
            params = {"since": start.isoformat(), "until": (start + timedelta(days=7)).isoformat()}
        elif kind == "national trigger since a date":
            headers = bearer(national)
            params = {"trigger": "record_appraisal", "since": f"{year + 1}-01-01T00:00:00+00:00"}
        else:
            params = {"citation": "TT25/2023 Điều 9 k2"}
        kinds[kind].append((f"/v1/audit/events?{urlencode(params, quote_via=quote)}", headers))
    return kinds


SEARCHES = (
    "rare trigger in the province",
    "one commune",
    "one actor",
    "a week",
    "national trigger since a date",
    "citation prefix",
)


async def profile_verify(db: str, case_ids: list[str]) -> list[str]:
    """Where verify's time goes: cProfile around verify over many cases' chains, in-process."""
    import cProfile

    from sqlalchemy.ext.asyncio import create_async_engine

    from bench.common import sa_url
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


def main() -> None:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, help="audit events to load; default 10,000,000 (quick 200,000)")
    parser.add_argument("--cycles", type=int, help="cycles (one template each); default 10 (quick 2)")
    parser.add_argument("--requests", type=int, help="requests per latency figure; default 1,000 (quick 300)")
    parser.add_argument("--reuse", metavar="DATABASE", help="measure a database kept by --keep, without loading")
    parser.add_argument("--load-only", action="store_true", help="load (with --keep) and measure nothing")
    parser.add_argument(
        "--latency-only",
        action="store_true",
        help="measure history, search and as_of only (no verify, hashing limit or export), and profile history and "
        "as_of with py-spy whatever their figures (unless --no-profile)",
    )
    args = parser.parse_args()
    events = args.events or (200_000 if args.quick else 10_000_000)
    cycles = args.cycles or (2 if args.quick else 10)
    n = args.requests or (300 if args.quick else 1000)
    out = work_dir(args, "audit")
    report = Report("audit", "2. Audit at national scale")
    log = lambda message: print(message, flush=True)  # noqa: E731
    started = time.monotonic()
    with reuse_or_create(args.reuse, keep=args.keep) as db:
        built = asyncio.run(reused(db) if args.reuse else build(db, out / "data", events, cycles, log))
        case_ids, clones = built["case_ids"], built["clones"]
        report.size = (
            f"{built['events']:,} events in {len(case_ids):,} cases "
            f"({built['communes']:,} communes × {cycles} cycles); "
            f"audit_event {built['table_size']} with indexes, database {built['db_size']}"
        )
        report.notes.append(
            f"generated and loaded in {built['load_seconds']:.0f} s "
            f"({built['events'] / max(built['load_seconds'], 1e-9):,.0f} events/s, indexes built after the load)"
        )
        if args.load_only:
            log(f"[audit] loaded: {report.size}; {report.notes[-1]}")
            return
        now = datetime(FIRST_CYCLE + cycles + 1, 6, 1, tzinfo=UTC)
        port = free_port()
        server = Server(
            "service", uvicorn_argv("bench.app_factory:create", port, 1), service_env(db, now, out), port, out
        )
        provinces = sorted({clone.province for clone in clones})
        province_tokens = {p: token(f"chuyen-vien.{p}", "province_officer", p) for p in provinces}
        national = token("kiem-toan.VN", "auditor", NATIONAL)
        rng = random.Random(2024)

        def pick_case() -> tuple[str, datagen.Clone]:
            i = rng.randrange(len(case_ids))
            return case_ids[i], clones[i]

        def pick_commune() -> tuple[str, str]:
            clone = clones[rng.randrange(len(clones))]
            return clone.commune, clone.province

        try:
            server.start()
            load = CpuLoad()
            # warm-up: a few of each, not counted
            warm = [
                (f"/v1/cases/{cid}/history", bearer(province_tokens[c.province]))
                for cid, c in (pick_case() for _ in range(20))
            ]
            asyncio.run(timed_gets(port, warm))

            history = [
                (f"/v1/cases/{cid}/history", bearer(province_tokens[c.province]))
                for cid, c in (pick_case() for _ in range(n))
            ]
            worker = server.workers()[0]
            cpu0 = cpu_seconds(worker)
            history_ms, problems = asyncio.run(timed_gets(port, history))
            cpu_ms = {"history": (cpu_seconds(worker) - cpu0) * 1000 / len(history)}
            query_ms = asyncio.run(query_latencies(db, [rng.choice(case_ids) for _ in range(n)]))
            log(f"[audit] history p99 {latency_summary(history_ms)['p99']:.1f} ms over HTTP")
            report.notes.append(
                "measured as they came: history p50/p95/p99 "
                + "/".join(f"{latency_summary(history_ms)[k]:.1f}" for k in ("p50", "p95", "p99"))
                + " ms"
            )
            report.dump(args.json)
            searches = search_requests(rng, n, pick_commune, province_tokens, national, cycles)
            search_ms: dict[str, list[float]] = {}
            for kind, requests in searches.items():
                search_ms[kind], more = asyncio.run(timed_gets(port, requests))
                problems += more
                k = latency_summary(search_ms[kind])
                log(f"[audit] search '{kind}': p50 {k['p50']:.1f}  p99 {k['p99']:.1f} ms")
                report.notes.append(f"measured as they came: search '{kind}' p50 {k['p50']:.1f}, p99 {k['p99']:.1f} ms")
                report.dump(args.json)
            as_of = []
            picked = [pick_case() for _ in range(max(n // 2, 50))]
            for (cid, clone), middle in zip(picked, asyncio.run(middle_times(db, [c for c, _ in picked])), strict=True):
                moment = quote((middle + timedelta(seconds=1)).isoformat())
                as_of.append((f"/v1/cases/{cid}?as_of={moment}", bearer(province_tokens[clone.province])))
            cpu0 = cpu_seconds(worker)
            as_of_ms, more = asyncio.run(timed_gets(port, as_of))
            cpu_ms["as_of"] = (cpu_seconds(worker) - cpu0) * 1000 / len(as_of)
            problems += more
            log(f"[audit] as_of p99 {latency_summary(as_of_ms)['p99']:.1f} ms")
            if args.latency_only:
                report.load = load.stop()
                latency_report(report, history_ms, query_ms, search_ms, as_of_ms, problems)
                report.notes.append(
                    "the worker's CPU per request (from /proc; it barely moves with the machine's load): "
                    + ", ".join(f"{name} {ms:.2f} ms" for name, ms in cpu_ms.items())
                )
                if not args.no_profile:
                    for name, requests in (("history", history), ("as_of", as_of)):
                        spy = PySpy(server.workers(), 10_000, out, name)
                        asyncio.run(timed_gets(port, requests[: max(n // 2, 100)]))
                        report.profiles[f"{name} over HTTP (py-spy on the worker)"] = spy.stop()
                report.seconds = time.monotonic() - started
                report.save(args.json)
                return

            log("[audit] verify: every chain ...")
            http = Http(port)
            t0 = time.perf_counter()
            status, body = asyncio.run(_once(http, "/v1/audit/verify", bearer(national)))
            verify_seconds = time.perf_counter() - t0
            import json

            verified = json.loads(body) if status == 200 else {"ok": False, "events_checked": 0, "error": body[:300]}
            log(f"[audit] verify: {verified} in {verify_seconds:.1f} s")
            report.notes.append(f"measured as they came: verify {verified} in {verify_seconds:.1f} s")
            report.dump(args.json)
            incremental = asyncio.run(verify_incremental(http, bearer(national)))
            log(f"[audit] incremental verify: {incremental}")
            limit = asyncio.run(hashing_limit(db))
            log(f"[audit] hashing limit per event: {limit}")
            log("[audit] export ...")
            lines, size, export_seconds, export_status = asyncio.run(
                stream_count(port, "/v1/audit/export?format=jsonl", bearer(national))
            )
            report.load = load.stop()

            h, q, s = latency_report(report, history_ms, query_ms, search_ms, as_of_ms, [])
            events_checked = verified.get("events_checked", 0)
            verify_rate = events_checked / verify_seconds if verify_seconds else 0.0
            export_rate = max(lines - 1, 0) / export_seconds if export_seconds else 0.0
            report.figures.append(
                [
                    "verify (every chain)",
                    f"{events_checked:,} events",
                    f"{verify_seconds:,.1f} s",
                    f"{verify_rate:,.0f} events/s",
                    f"ok={verified.get('ok')}",
                    "",
                ]
            )
            report.figures.append(
                [
                    "verify incremental (nothing new since a checkpoint signed just before)",
                    f"{incremental['events_trusted']:,} events trusted, {incremental['events_checked']:,} re-hashed",
                    f"{incremental['seconds']:,.1f} s",
                    f"signing the first checkpoint {incremental['sign_seconds']:,.1f} s, again with nothing new "
                    f"{incremental['sign_again_seconds']:,.1f} s",
                    f"ok={incremental['ok']}",
                    "",
                ]
            )
            report.figures.append(
                [
                    "hashing limit per event, one core (canonical text + SHA-256)",
                    f"{limit['events']:,} events",
                    f"Python {limit['python_text']:.2f} + {limit['python_sha256']:.2f} µs",
                    f"PostgreSQL {limit['pg_text']:.2f} + {limit['pg_sha256']:.2f} µs",
                    f"≤ {limit['ceiling']:,.0f} events/s on 2 cores",
                    "",
                ]
            )
            report.figures.append(
                [
                    "export (jsonl)",
                    f"{max(lines - 1, 0):,} events",
                    f"{export_seconds:,.1f} s",
                    f"{export_rate:,.0f} events/s",
                    f"{size / 1e6:,.0f} MB",
                    f"status {export_status}",
                ]
            )
            report.goal("full verify", "≥ 200,000 events/s", f"{verify_rate:,.0f} events/s", verify_rate >= 200_000)
            if not verified.get("ok"):
                report.notes.append(f"verify did not pass: {verified}")
            if problems:
                report.notes.append("non-200 answers: " + "; ".join(problems[:3]))

            if not args.no_profile:
                if h["p99"] >= 10:
                    spy = PySpy(server.workers(), 10_000, out, "history")
                    asyncio.run(timed_gets(port, history[: max(n // 2, 100)]))
                    report.profiles["history over HTTP (py-spy on the worker)"] = spy.stop()
                if s["p99"] >= 50:
                    slow = max(search_ms, key=lambda kind: latency_summary(search_ms[kind])["p99"])
                    spy = PySpy(server.workers(), 10_000, out, "search")
                    asyncio.run(timed_gets(port, searches[slow][:30]))
                    report.profiles[f"search '{slow}' over HTTP (py-spy on the worker)"] = spy.stop()
                    path, headers = searches[slow][0]
                    report.profiles[f"PostgreSQL's plan of a search '{slow}'"] = asyncio.run(
                        explain(db, out, now, path, headers["Authorization"].split()[1])
                    )
                if verify_rate < 200_000:
                    sample = [rng.choice(case_ids) for _ in range(200)]
                    report.profiles["verify, in-process cProfile over 200 cases' chains"] = asyncio.run(
                        profile_verify(db, sample)
                    )
        finally:
            server.stop()
    report.seconds = time.monotonic() - started
    report.save(args.json)


def latency_report(
    report: Report,
    history_ms: list[float],
    query_ms: list[float],
    search_ms: dict[str, list[float]],
    as_of_ms: list[float],
    problems: list[str],
) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """The latency figures and goals (history, search, as_of) into ``report``; the summaries of history, its query
    alone and every search pooled."""
    report.notes = [note for note in report.notes if not note.startswith("measured as they came")]
    h, q, a = latency_summary(history_ms), latency_summary(query_ms), latency_summary(as_of_ms)
    s = latency_summary([ms for values in search_ms.values() for ms in values])
    row = lambda name, k, places=1: [name, str(k["n"]), *(fmt(k[p], places) for p in ("p50", "p95", "p99", "max"))]  # noqa: E731
    report.figures.append(["measure", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"])
    report.figures.append(row("history (HTTP)", h))
    report.figures.append(row("history query alone (asyncpg)", q, 2))
    for kind, values in search_ms.items():
        report.figures.append(row(f"search: {kind}", latency_summary(values)))
    report.figures.append(row("search: all kinds", s))
    report.figures.append(row("as_of (replay, HTTP)", a))
    report.goal(
        "history p99", "< 10 ms", f"{h['p99']:.1f} ms over HTTP ({q['p99']:.2f} ms the query alone)", h["p99"] < 10
    )
    report.goal("filtered search first page p99", "< 50 ms", f"{s['p99']:.1f} ms", s["p99"] < 50)
    report.goal("as_of p99", "< 50 ms", f"{a['p99']:.1f} ms", a["p99"] < 50)
    if problems:
        report.notes.append("non-200 answers: " + "; ".join(problems[:3]))
    return h, q, s


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


async def _once(http: Http, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    try:
        return await http.request("GET", path, headers=headers)
    finally:
        await http.close()


async def explain(db: str, out: Path, now: datetime, path: str, tok: str) -> list[str]:
    """EXPLAIN ANALYZE of the audit query one search request runs (captured from the app in-process)."""
    from sqlalchemy import event

    api = datagen.InProcess(db, out / "data", now)
    captured: list[tuple[str, Any]] = []

    def before(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "FROM audit_event" in statement:
            captured.append((statement, parameters))

    event.listen(api.app.state.services.engine.sync_engine, "before_cursor_execute", before)
    try:
        await api.call("GET", path, tok)
    finally:
        await api.close()
    if not captured:
        return ["(no audit query captured)"]
    statement, parameters = captured[-1]
    connection = await asyncpg.connect(dsn(db))
    try:
        plan = await connection.fetch("EXPLAIN (ANALYZE, BUFFERS) " + statement, *parameters)
    finally:
        await connection.close()
    # The recursive CTEs resolving the unit subtrees come first in the plan; the scan of audit_event is what counts.
    lines = [row[0] for row in plan]
    start = next((i for i, line in enumerate(lines) if "Semi Join" in line or "audit_event" in line), 0)
    return [f"GET {path[:150]}", lines[0], *lines[start : start + 30], *[x for x in lines if "Execution Time" in x]]


if __name__ == "__main__":
    main()
