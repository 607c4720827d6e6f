"""Benchmark 1 (and 5): audited transitions over HTTP on PostgreSQL, 2 uvicorn workers, 1/16/64 clients, against a
ceiling measured in the same run; and the peak RSS of the API workers under that load.

The transition is ``submit_dossier`` (review_meeting_held → submitted, commune.leader), fired once on each of many
cases: the fullest write a commune makes. It locks and loads the whole case (15 indicators, 15 evidence files,
deadlines, the unit path, prior recognitions), checks authority and five guards (level assessed, dossier complete,
upgrade interval, before the submission deadline, no future dates), moves the state, records the requested level
in the dossier, closes the ``submission`` deadline (met) and opens the ``decision`` deadline (31/03), appends the
hash-chained audit event with the case's digest and the outbox row, commits, and answers with the case as the
caller now sees it. The cases are clones of a case walked through the API (bench/datagen/), one template per
cycle. Each run (the warm-up, each concurrency, the profile) fires the cases of a cycle of its own, the service's
clock moved between runs (the dev clock of its data directory) into that cycle's window for the dossier: windows of
two cycles never overlap. A commune thus has a case in every cycle, and the unit tree every worker keeps is the size
of the country's (``NATIONAL_UNITS``), not one commune per case.

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
import math
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from bench.ceiling_app import prepare
from bench.databases import database, dsn
from bench.datagen import case_clones, case_templates, unit_tree
from bench.datagen.in_process import InProcess
from bench.machine import CpuLoad, cpu_seconds, memory_kb
from bench.profiles import PySpy, cprofile_summary
from bench.results import Report, base_parser, fmt, work_dir
from bench.servers import Server, free_port, uvicorn_argv
from bench.service_config import PY, ROOT, service_env, token
from service import clock_file

CYCLE = 2025  # the first run's cycle; each run after it fires the cases of the next cycle
TRIGGER = "submit_dossier"
CONCURRENCY = (1, 16, 64)
RESERVED = 101  # cases kept aside: one for the in-process statement count, the rest for an in-process profile
# The most submit_dossier per second the service is planned to take on this machine (the goal at 16 clients, 0.3 x
# the ceiling's 1,852/s, is 556/s; the service took 305/s at most on 2026-12-05). Each case is fired once, so the
# default number of cases is this rate over every second the service is loaded, and no run runs dry (a client whose
# items ran out stops, and the run's rate would count the time it stood idle).
PLANNED_RATE = 600
# Units of a national tree: the two official lists the service ships and a deployment imports
# (service/persistence/unit_lists.py): 63 provinces, 696 districts and 10,051 communes until 30/06/2025, 34 provinces
# and 3,321 communes since. The benchmark's tree has as many (34 provinces, the rest communes) and more only if one
# run needs more communes than that (each commune has one case per cycle, and a run fires one cycle).
NATIONAL_UNITS = 63 + 696 + 10_051 + 34 + 3_321
PROVINCES = 34


def moment(cycle: int) -> datetime:
    """The service's clock while a run fires the cases of ``cycle``: 15:00 local on 10/02 of the year after, after
    every clone's last event (the review meeting of 20/01) and before the submission deadline (28/02)."""
    return datetime(cycle + 1, 2, 10, 8, 0, tzinfo=UTC)


NOW = moment(CYCLE)


@dataclass
class Run:
    """One load of the service (the warm-up, each concurrency, the profile) and the cases it fires: those of one
    cycle, the service's clock at ``moment(cycle)``. A commune has one case per cycle, so cases share communes and
    the tree is national-sized: the windows of ``submit_dossier`` of two cycles never overlap (the self-assessment
    comes after the cycle's end, the dossier is due by 28/02 of the next year), hence one cycle per run."""

    name: str
    seconds: float
    cycle: int = 0
    cases: int = 0
    ids: list[str] = field(default_factory=list)
    communes: list[str] = field(default_factory=list)
    first: int = 0  # the serial of its first clone (the ceiling's row)


def plan(concurrencies: Sequence[int], duration: float, warmup: float, warm: float, profiled: float) -> list[Run]:
    """The runs in order, their cases at ``PLANNED_RATE`` over the seconds each loads the service; the last (the
    profile's) also holds the ``RESERVED`` cases."""
    runs = [Run("warm", warm)] + [Run(f"c{c}", warmup + duration) for c in concurrencies] + [Run("profile", profiled)]
    for k, run in enumerate(runs):
        run.cycle, run.cases = CYCLE + k, math.ceil(PLANNED_RATE * run.seconds)
    runs[-1].cases += RESERVED
    return runs


def cases_needed(concurrencies: int, duration: float, warmup: float, warm: float, profiled: float) -> int:
    """Cases for the service's runs at ``PLANNED_RATE``: the warm-up run, each concurrency's run (warm-up and
    measured seconds), the profile's run, and the cases kept aside."""
    return sum(run.cases for run in plan(range(concurrencies), duration, warmup, warm, profiled))


def scaled(runs: list[Run], cases: int) -> None:
    """``--cases``: that many in all, shared among the runs by their seconds (the reserved ones first)."""
    rest, seconds = cases - RESERVED, sum(run.seconds for run in runs)
    for run in runs:
        run.cases = max(1, int(rest * run.seconds / seconds))
    runs[-1].cases += RESERVED


def tree_communes(runs: list[Run]) -> int:
    return max(NATIONAL_UNITS - PROVINCES, *(run.cases for run in runs))


async def setup(db: str, data: Path, runs: list[Run], log: Any) -> None:
    """Each run's cases in review_meeting_held (a template per cycle, cloned), spread over the communes."""
    rows = unit_tree.tree(tree_communes(runs), PROVINCES)
    await unit_tree.add_units(db, unit_tree.template_units(len(runs)) + rows)
    cycles = [run.cycle for run in runs]
    templates = await case_templates.make_templates(db, data, cycles, until="review_meeting_held", returns=0)
    pairs = unit_tree.communes_of(rows)
    clones, serial = [], 0
    for k, run in enumerate(runs):
        run.first = serial
        for i in range(run.cases):
            commune, province = pairs[(serial + i) % len(pairs)]  # consecutive communes, on from the last run's
            clones.append(case_clones.Clone(serial + i, commune, province, k))
            run.communes.append(commune)
        serial += run.cases
    ids = await case_clones.load(db, templates, clones, chunk=250, progress=log)
    for run in runs:
        run.ids = ids[run.first : run.first + run.cases]
    await case_clones.check_clones(db, [run.ids[0] for run in runs])
    await prepare(dsn(db), len(ids))
    log(
        f"[transitions] {len(ids):,} cases in review_meeting_held ({templates[0].events} events each), cycles "
        f"{cycles[0]}–{cycles[-1]} (one per run), {len(pairs):,} communes in {PROVINCES} provinces"
    )


def leader(commune: str, cycle: int) -> str:
    """The commune leader's token for a case of ``cycle``: each case its own token, as before cases shared
    communes (the sub names the cycle: the same claims signed in the same second would give the same token)."""
    return token(f"chu-tich.{commune}.{cycle}", "commune_leader", commune)


def items(run: Run) -> tuple[list[dict], list[dict]]:
    from service import walkthrough as w

    body = json.dumps({"data": w.submit_dossier(run.cycle, 1)}, ensure_ascii=False)
    service, ceiling = [], []
    for i, (case_id, commune) in enumerate(zip(run.ids, run.communes, strict=True)):
        headers = {"Authorization": f"Bearer {leader(commune, run.cycle)}", "Content-Type": "application/json"}
        service.append({"p": f"/v1/cases/{case_id}/transitions/{TRIGGER}", "h": headers, "b": body})
        ceiling.append({"p": f"/ceiling/{run.first + i}", "h": headers, "b": body})
    return service, ceiling


def write_items(run: Run, out: Path, keep: int = 0) -> dict[str, Path]:
    """The run's items for the service and the ceiling, in files (without the last ``keep``)."""
    paths = {}
    for name, rows in zip(("service", "ceiling"), items(run), strict=True):
        paths[name] = out / f"items-{run.name}-{name}.json"
        paths[name].write_text(json.dumps(rows[: len(rows) - keep]))
    return paths


def set_clock(data: Path, cycle: int) -> None:
    """Move the service's clock (the dev clock of its data directory, read at every reading of the clock by every
    worker) to ``moment(cycle)``, from its frozen ``NOW``."""
    clock_file.write(data, clock_file.DevClock(moment(cycle) - NOW, set_by="bench"))


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


async def statements_per_transition(db: str, data: Path, case_id: str, commune: str, cycle: int) -> tuple[int, float]:
    """SQL statements one transition issues (and its in-process time), counted on the engine."""
    from sqlalchemy import event

    api = InProcess(db, data, moment(cycle))
    count = [0]

    def before(*_args: Any) -> None:
        count[0] += 1

    from service import walkthrough as w

    event.listen(api.app.state.services.engine.sync_engine, "before_cursor_execute", before)
    tok = leader(commune, cycle)
    started = time.perf_counter()
    await api.call("POST", f"/v1/cases/{case_id}/transitions/{TRIGGER}", tok, json={"data": w.submit_dossier(cycle)})
    elapsed = time.perf_counter() - started
    await api.close()
    return count[0], elapsed


async def profile_in_process(db: str, data: Path, reserved: list[tuple[str, str]], cycle: int) -> list[str]:
    """cProfile around transitions fired one after the other through the whole app in-process (wall time: the
    share spent waiting for PostgreSQL shows as epoll)."""
    import cProfile

    from service import walkthrough as w

    api = InProcess(db, data, moment(cycle))
    body = {"data": w.submit_dossier(cycle)}
    calls = [(f"/v1/cases/{case_id}/transitions/{TRIGGER}", leader(commune, cycle)) for case_id, commune in reserved]
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
    runs = plan(args.concurrency, duration, warmup, warm_seconds, profile_seconds)
    if args.cases:
        scaled(runs, args.cases)
    cases = sum(run.cases for run in runs)
    out = work_dir(args, "transitions")
    report = Report(
        "transitions",
        "1. Transitions over HTTP (PostgreSQL, uvicorn workers) and 5. peak RSS of an API worker",
        size=f"{TRIGGER}, {args.workers} workers, {duration:g} s per run after {warmup:g} s warm-up, {cases:,} cases "
        f"of cycles {runs[0].cycle}–{runs[-1].cycle} (one per run) in {tree_communes(runs):,} communes",
    )
    started = time.monotonic()
    load = None
    data = out / "data"
    with database("tx", keep=args.keep) as db:
        asyncio.run(setup(db, data, runs, lambda m: print(m, flush=True)))
        last = runs[-1]
        reserved = list(zip(last.ids[-RESERVED:], last.communes[-RESERVED:], strict=True))
        paths = {run.name: write_items(run, out, RESERVED if run is last else 0) for run in runs}

        env = service_env(db, NOW, data)
        svc_port, ceil_port = free_port(), free_port()
        service = Server(
            "service", uvicorn_argv("bench.app_factory:create", svc_port, args.workers), env, svc_port, out
        )
        ceiling = Server(
            "ceiling", uvicorn_argv("bench.ceiling_app:create", ceil_port, args.workers), env, ceil_port, out
        )
        results: dict[tuple[str, int], dict] = {}
        try:
            service.start()
            ceiling.start()
            load = CpuLoad()
            set_clock(data, runs[0].cycle)
            for name, server in (("ceiling", ceiling), ("service", service)):
                loadgen(server.port, paths["warm"][name], 0, 4, warm_seconds, 0)
            for run, concurrency in zip(runs[1:], args.concurrency, strict=False):
                set_clock(data, run.cycle)
                for name, server in (("ceiling", ceiling), ("service", service)):
                    result = loadgen(server.port, paths[run.name][name], 0, concurrency, duration, warmup, db)
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
                set_clock(data, last.cycle)
                profiled = loadgen(service.port, paths[last.name]["service"], 0, 16, seconds, 0)
                if profiled["exhausted"]:
                    report.notes.append("the profile's run ran out of prepared cases (use --cases)")
                report.profiles[f"service workers under 16 clients (py-spy, {seconds:g} s)"] = spy.finish()
        finally:
            service.stop()
            ceiling.stop()
            clock_file.clear(data)  # the in-process app below reads it too: it runs on its own frozen clock
        case_id, commune = reserved[0]
        statements, elapsed = asyncio.run(statements_per_transition(db, data, case_id, commune, last.cycle))
        if any(not g.met for g in report.goals) and not args.no_profile:
            report.profiles[f"{len(reserved) - 1} {TRIGGER} one after the other, in-process (cProfile)"] = asyncio.run(
                profile_in_process(db, data, reserved[1:], last.cycle)
            )
            from bench.statement_floor import measured  # here: it imports this module

            report.profiles[
                "the floor under a transition: its statements replayed on asyncpg alone, against the whole service "
                "in-process and the ceiling's transaction (bench/statement_floor.py)"
            ] = measured(out)
        report.notes.append(
            f"one {TRIGGER} in-process issues {statements} SQL statements (the ceiling: 2 plus BEGIN/COMMIT); "
            f"{elapsed * 1000:.0f} ms on this machine now"
        )
    report.figures = [row for row in report.figures if row]
    report.seconds = time.monotonic() - started
    report.save(args.json)


if __name__ == "__main__":
    main()
