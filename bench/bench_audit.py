"""Benchmark 2: the audit log at national scale.

Loads ``--events`` audit events (default 10 million: 10,600-odd communes × 10 cycles × 94 events) as whole,
valid case chains: ten template cases (one per cycle 2025–2034, each walked through the API to ``recognized``:
15 indicators with evidence, 13 returned once and resubmitted, 94 events) cloned onto every commune with new ids,
units and times, hashes and digests recomputed (bench/datagen/), COPY-loaded in time order across every case (as
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
import random
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from bench.audit_data import FIRST_CYCLE, build, middle_times, reuse_or_create, reused
from bench.audit_latency import explain, latency_report, query_latencies, search_requests, timed_gets
from bench.audit_throughput import hashing_limit, profile_verify, stream_count, verify_incremental
from bench.datagen import case_clones
from bench.machine import CpuLoad, cpu_seconds
from bench.profiles import PySpy
from bench.results import Report, base_parser, latency_summary, work_dir
from bench.servers import Http, Server, bearer, free_port, uvicorn_argv
from bench.service_config import service_env, token

NATIONAL = "VN"


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

        def pick_case() -> tuple[str, case_clones.Clone]:
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


async def _once(http: Http, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    try:
        return await http.request("GET", path, headers=headers)
    finally:
        await http.close()


if __name__ == "__main__":
    main()
