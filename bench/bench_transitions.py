"""Benchmark 1 (and 5): audited transitions over HTTP on PostgreSQL, 2 uvicorn workers, 1/16/64 clients, against a
ceiling measured in the same run; and the peak RSS of the API workers under that load.

The transition is ``submit_dossier`` (review_meeting_held → submitted, commune.leader), fired once on each of many
cases: the fullest write a commune makes. It locks and loads the whole case (15 indicators, 15 evidence files,
deadlines, the unit path, prior recognitions), checks authority and five guards (level assessed, dossier complete,
upgrade interval, before the submission deadline, no future dates), moves the state, records the requested level
in the dossier, closes the ``submission`` deadline (met) and opens the ``decision`` deadline (31/03), appends the
hash-chained audit event with the case's digest and the outbox row, commits, and answers with the case as the
caller now sees it. The cases are clones of one case walked through the API (bench/datagen.py), one per commune.

The ceiling is bench/ceiling_app.py: a bare FastAPI route that parses the same JSON body and does one transaction
updating one row and inserting one, served the same way (uvicorn, 2 workers each on its own SO_REUSEPORT socket:
bench/reuseport.py; uvloop, same pool size). Each concurrency runs the ceiling then the service, back to back, with
the same load generator (bench/loadgen.py, a process of its own, closed loop). Goals: service throughput ≥ 0.5 ×
the ceiling's and p99 ≤ 2 × the ceiling's p99 at every concurrency; peak RSS (VmHWM) of each API worker < 200 MB.

    python -m bench.bench_transitions [--quick] [--cases N] [--duration S]

The default number of cases scales with the runs (``cases_needed``: ``PLANNED_RATE`` per second the service is
loaded), so that no run runs out of cases: 50,501 at full size (about 5 minutes to make), 16,301 with ``--quick``.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench import datagen
from bench.ceiling_app import prepare
from bench.common import (
    PY,
    ROOT,
    CpuLoad,
    PySpy,
    Report,
    Server,
    base_parser,
    cprofile_summary,
    cpu_seconds,
    database,
    dsn,
    fmt,
    free_port,
    memory_kb,
    service_env,
    token,
    uvicorn_argv,
    work_dir,
)

CYCLE = 2025
NOW = datetime(CYCLE + 1, 2, 10, 8, 0, tzinfo=UTC)  # 15:00 local on 10/02: after every clone's last event
TRIGGER = "submit_dossier"
CONCURRENCY = (1, 16, 64)
RESERVED = 101  # cases kept aside: one for the in-process statement count, the rest for an in-process profile
# The most submit_dossier per second the service is planned to take on this machine (the goal at 16 clients, 0.3 x
# the ceiling's 1,852/s, is 556/s; the service took 305/s at most on 2026-12-05). Each case is fired once, so the
# default number of cases is this rate over every second the service is loaded, and no run runs dry (a client whose
# items ran out stops, and the run's rate would count the time it stood idle).
PLANNED_RATE = 600


def cases_needed(concurrencies: int, duration: float, warmup: float, warm: float, profiled: float) -> int:
    """Cases for the service's runs at ``PLANNED_RATE``: the warm-up run, each concurrency's run (warm-up and
    measured seconds), the profile's run, and the cases kept aside."""
    seconds = warm + concurrencies * (warmup + duration) + profiled
    return int(PLANNED_RATE * seconds) + RESERVED


async def setup(db: str, data: Path, communes: int, log: Any) -> list[str]:
    rows = datagen.tree(communes)
    await datagen.add_units(db, datagen.template_units(1) + rows)
    templates = await datagen.make_templates(db, data, [CYCLE], until="review_meeting_held", returns=0)
    pairs = datagen.communes_of(rows)
    clones = [datagen.Clone(i, commune, province, 0) for i, (commune, province) in enumerate(pairs)]
    ids = await datagen.load(db, templates, clones, chunk=250, progress=log)
    await datagen.check_clones(db, ids[:2])
    await prepare(dsn(db), len(ids))
    log(f"[transitions] {len(ids):,} cases in review_meeting_held ({templates[0].events} events each)")
    return ids


def items(case_ids: list[str], communes: list[str]) -> tuple[list[dict], list[dict]]:
    from service import walkthrough as w

    body = json.dumps({"data": w.submit_dossier(CYCLE, 1)}, ensure_ascii=False)
    service, ceiling = [], []
    for i, (case_id, commune) in enumerate(zip(case_ids, communes, strict=True)):
        headers = {
            "Authorization": f"Bearer {token(f'chu-tich.{commune}', 'commune_leader', commune)}",
            "Content-Type": "application/json",
        }
        service.append({"p": f"/v1/cases/{case_id}/transitions/{TRIGGER}", "h": headers, "b": body})
        ceiling.append({"p": f"/ceiling/{i}", "h": headers, "b": body})
    return service, ceiling


def loadgen(
    port: int, path: Path, offset: int, concurrency: int, duration: float, warmup: float, db: str | None = None
) -> dict:
    """Run the load generator; with ``db``, also count the database's connections half-way through the run."""
    argv = [PY, "-m", "bench.loadgen", "--port", str(port), "--items", str(path), "--offset", str(offset)]
    if "ceiling" in path.name:
        argv.append("--cycle")  # the ceiling's rows can be updated again and again
    argv += ["--concurrency", str(concurrency), "--duration", str(duration), "--warmup", str(warmup)]
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, text=True, env={"PYTHONPATH": str(ROOT)})
    connections = None
    if db is not None:
        time.sleep(warmup + duration / 2)
        connections = asyncio.run(backends(db))
    stdout, _ = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"the load generator failed ({proc.returncode})")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["connections"] = connections
    return result


async def backends(db: str) -> tuple[int, int]:
    """The database's server processes (connections) and how many of them are running a statement."""
    connection = await asyncpg.connect(dsn(db))
    try:
        row = await connection.fetchrow(
            "SELECT count(*) AS n, count(*) FILTER (WHERE state = 'active') AS active FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            db,
        )
        return row["n"], row["active"]
    finally:
        await connection.close()


async def statements_per_transition(db: str, data: Path, case_id: str, commune: str) -> tuple[int, float]:
    """SQL statements one transition issues (and its in-process time), counted on the engine."""
    from sqlalchemy import event

    api = datagen.InProcess(db, data, NOW)
    count = [0]

    def before(*_args: Any) -> None:
        count[0] += 1

    from service import walkthrough as w

    event.listen(api.app.state.services.engine.sync_engine, "before_cursor_execute", before)
    leader = token(f"chu-tich.{commune}", "commune_leader", commune)
    started = time.perf_counter()
    await api.call("POST", f"/v1/cases/{case_id}/transitions/{TRIGGER}", leader, json={"data": w.submit_dossier(CYCLE)})
    elapsed = time.perf_counter() - started
    await api.close()
    return count[0], elapsed


async def profile_in_process(db: str, data: Path, reserved: list[tuple[str, str]]) -> list[str]:
    """cProfile around transitions fired one after the other through the whole app in-process (wall time: the
    share spent waiting for PostgreSQL shows as epoll)."""
    import cProfile

    from service import walkthrough as w

    api = datagen.InProcess(db, data, NOW)
    body = {"data": w.submit_dossier(CYCLE)}
    calls = [
        (f"/v1/cases/{case_id}/transitions/{TRIGGER}", token(f"chu-tich.{commune}", "commune_leader", commune))
        for case_id, commune in reserved
    ]
    profile = cProfile.Profile()
    started = time.perf_counter()
    try:
        profile.enable()
        for path, tok in calls:
            await api.call("POST", path, tok, json=body)
        profile.disable()
    finally:
        await api.close()
    elapsed = time.perf_counter() - started
    return [f"{len(calls)} transitions in {elapsed:.1f} s ({1000 * elapsed / len(calls):.0f} ms each, profiled)"] + (
        cprofile_summary(profile, top=16)
    )


def main() -> None:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument(
        "--cases", type=int, help="cases prepared (each is fired once); default: enough for PLANNED_RATE req/s"
    )
    parser.add_argument("--duration", type=float, help="measured seconds per run; default 20 (quick 5)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=list(CONCURRENCY), help="clients per run")
    args = parser.parse_args()
    duration = args.duration or (5.0 if args.quick else 20.0)
    warmup = 1.0 if args.quick else 2.0
    warm_seconds, profile_seconds = (1.0, 8.0) if args.quick else (3.0, 15.0)
    cases = args.cases or cases_needed(len(args.concurrency), duration, warmup, warm_seconds, profile_seconds)
    out = work_dir(args, "transitions")
    report = Report(
        "transitions",
        "1. Transitions over HTTP (PostgreSQL, uvicorn workers) and 5. peak RSS of an API worker",
        size=f"{TRIGGER}, {args.workers} workers, {duration:g} s per run after {warmup:g} s warm-up, {cases:,} cases",
    )
    started = time.monotonic()
    load = None
    with database("tx", keep=args.keep) as db:
        case_ids = asyncio.run(setup(db, out / "data", cases, lambda m: print(m, flush=True)))
        communes = [c for c, _ in datagen.communes_of(datagen.tree(cases))]
        service_items, ceiling_items = items(case_ids, communes)
        reserved = list(zip(case_ids[-RESERVED:], communes[-RESERVED:], strict=True))
        svc_path, ceil_path = out / "items-service.json", out / "items-ceiling.json"
        svc_path.write_text(json.dumps(service_items[:-RESERVED]))
        ceil_path.write_text(json.dumps(ceiling_items[:-RESERVED]))

        env = service_env(db, NOW, out / "data")
        svc_port, ceil_port = free_port(), free_port()
        service = Server(
            "service", uvicorn_argv("bench.app_factory:create", svc_port, args.workers), env, svc_port, out
        )
        ceiling = Server(
            "ceiling", uvicorn_argv("bench.ceiling_app:create", ceil_port, args.workers), env, ceil_port, out
        )
        offsets = {"service": 0, "ceiling": 0}
        results: dict[tuple[str, int], dict] = {}
        try:
            service.start()
            ceiling.start()
            load = CpuLoad()
            for name, server, path in (("ceiling", ceiling, ceil_path), ("service", service, svc_path)):
                warm = loadgen(server.port, path, offsets[name], 4, warm_seconds, 0)
                offsets[name] += warm["consumed"]
            for concurrency in args.concurrency:
                for name, server, path in (("ceiling", ceiling, ceil_path), ("service", service, svc_path)):
                    result = loadgen(server.port, path, offsets[name], concurrency, duration, warmup, db)
                    offsets[name] += result["consumed"]
                    results[(name, concurrency)] = result
                    lat = result["latency_ms"]
                    print(
                        f"[transitions] {name:8} c={concurrency:<3} {result['throughput']:8.1f} req/s  "
                        f"p50 {lat['p50']:.1f}  p95 {lat['p95']:.1f}  p99 {lat['p99']:.1f} ms  "
                        f"statuses {result['statuses']}  db connections (active) {result['connections']}",
                        flush=True,
                    )
                    if result["errors"]:
                        report.notes.append(f"{name} c={concurrency}: non-2xx answers, e.g. {result['errors'][0]}")
                    if result["exhausted"]:
                        report.notes.append(f"{name} c={concurrency}: ran out of prepared cases (use --cases)")
            report.load = load.stop()
            rss = {pid: memory_kb(pid) for pid in service.workers()}
            report.notes.append(
                "CPU seconds each worker used over the runs (a socket per worker, bench.reuseport, so the kernel "
                "spreads the connections): service "
                + ", ".join(f"{cpu_seconds(pid):.1f}" for pid in service.workers())
                + "; ceiling "
                + ", ".join(f"{cpu_seconds(pid):.1f}" for pid in ceiling.workers())
            )
            ceiling_rss = {pid: memory_kb(pid) for pid in ceiling.workers()}

            report.figures.append(
                ["clients", "ceiling req/s", "service req/s", "ratio", "ceiling p50/p95/p99 ms",
                 "service p50/p95/p99 ms", "p99 ratio"]
            )  # fmt: skip
            for concurrency in args.concurrency:
                c, s = results[("ceiling", concurrency)], results[("service", concurrency)]
                cl, sl = c["latency_ms"], s["latency_ms"]
                ratio = s["throughput"] / c["throughput"] if c["throughput"] else float("nan")
                p99_ratio = sl["p99"] / cl["p99"] if cl["p99"] else float("nan")
                report.figures.append(
                    [
                        str(concurrency),
                        fmt(c["throughput"]),
                        fmt(s["throughput"]),
                        fmt(ratio, 2),
                        f"{fmt(cl['p50'])}/{fmt(cl['p95'])}/{fmt(cl['p99'])}",
                        f"{fmt(sl['p50'])}/{fmt(sl['p95'])}/{fmt(sl['p99'])}",
                        fmt(p99_ratio, 2),
                    ]
                )
                report.goal(f"throughput at {concurrency} clients", "≥ 0.5 × ceiling", f"{ratio:.2f}", ratio >= 0.5)
                report.goal(f"p99 at {concurrency} clients", "≤ 2 × ceiling p99", f"{p99_ratio:.2f}", p99_ratio <= 2)
            report.notes.append(
                "database connections (and how many were running a statement) half-way through each run: "
                + "; ".join(
                    f"{c} clients: ceiling {results[('ceiling', c)]['connections']}, "
                    f"service {results[('service', c)]['connections']}"
                    for c in args.concurrency
                )
            )
            peak = max(m.get("VmHWM", 0) for m in rss.values()) / 1024
            report.figures.append([])
            report.notes.append(
                "5. peak RSS (VmHWM) of the API workers after the runs: "
                + ", ".join(f"pid {pid} {m.get('VmHWM', 0) / 1024:.0f} MB" for pid, m in rss.items())
                + "; the ceiling's workers: "
                + ", ".join(f"{m.get('VmHWM', 0) / 1024:.0f} MB" for m in ceiling_rss.values())
            )
            report.goal("5. peak RSS of an API worker", "< 200 MB", f"{peak:.0f} MB", peak < 200)

            missed = [g for g in report.goals if not g.met]
            if missed and not args.no_profile:
                seconds = profile_seconds
                spy = PySpy(service.workers(), seconds + 2, out, "transitions")
                time.sleep(1.0)
                profiled = loadgen(service.port, svc_path, offsets["service"], 16, seconds, 0)
                if profiled["exhausted"]:
                    report.notes.append("the profile's run ran out of prepared cases (use --cases)")
                report.profiles[f"service workers under 16 clients (py-spy, {seconds:g} s)"] = spy.finish()
        finally:
            service.stop()
            ceiling.stop()
        case_id, commune = reserved[0]
        statements, elapsed = asyncio.run(statements_per_transition(db, out / "data", case_id, commune))
        if any(not g.met for g in report.goals) and not args.no_profile:
            report.profiles[f"{len(reserved) - 1} {TRIGGER} one after the other, in-process (cProfile)"] = asyncio.run(
                profile_in_process(db, out / "data", reserved[1:])
            )
        report.notes.append(
            f"one {TRIGGER} in-process issues {statements} SQL statements (the ceiling: 2 plus BEGIN/COMMIT); "
            f"{elapsed * 1000:.0f} ms on this machine now"
        )
    report.figures = [row for row in report.figures if row]
    report.seconds = time.monotonic() - started
    report.save(args.json)


if __name__ == "__main__":
    main()
