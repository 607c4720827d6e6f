"""Benchmark 4: webhook deliveries per second with one dispatcher.

``--events`` outbox rows (``case.transitioned`` of communes all over the country, bodies as the engine writes them)
wait for one subscription (made through ``POST /v1/webhooks``, pointed at a local receiver). One dispatcher
(bench/dispatcher_proc.py: ``service.workers.webhooks.run_dispatcher`` alone, in a process of its own, as
``cdht worker`` runs it) fans them out, claims, signs and posts them to a fast raw-asyncio receiver in another
process (bench/receiver.py), recording every attempt. The rate is deliveries received per second between the first
and the last; the end-to-end time from the dispatcher's start is given too. Goal ≥ 500/s.

    python -m bench.bench_webhooks [--quick] [--events N]
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from bench.databases import database, dsn
from bench.datagen import unit_tree
from bench.datagen.in_process import InProcess
from bench.machine import CpuLoad, backend_pids, cpu_seconds
from bench.profiles import PySpy
from bench.results import Report, base_parser, work_dir
from bench.servers import free_port, get_once
from bench.service_config import PY, ROOT, service_env, token

NOW = datetime(2026, 2, 10, 8, 0, tzinfo=UTC)


async def outbox_rows(db: str, count: int, communes: list[tuple[str, str]], first_id: int = 0) -> None:
    records = []
    for i in range(count):
        commune, _ = communes[(first_id + i) % len(communes)]
        uid, case_id = str(uuid.uuid4()), str(uuid.uuid4())
        body = {
            "type": "case.transitioned",
            "timestamp": "2026-02-10T01:00:00.000000Z",
            "data": {
                "case_id": case_id,
                "procedure": "cdht_xa",
                "version": "tt25-2023",
                "unit": commune,
                "cycle": 2025,
                "from": "review_meeting_held",
                "to": "submitted",
                "trigger": "submit_dossier",
                "actor": f"chu-tich.{commune}",
                "event_id": uid,
                "seq": 51,
            },
        }
        records.append((uid, case_id, 51, "case.transitioned", commune, json.dumps(body), NOW))
    connection = await asyncpg.connect(dsn(db))
    try:
        await connection.copy_records_to_table(
            "outbox",
            records=[(u, c, s, t, unit, b, at) for u, c, s, t, unit, b, at in records],
            columns=["event_uid", "case_id", "seq", "type", "unit_code", "body", "created_at"],
        )
    finally:
        await connection.close()


async def subscribe(db: str, data: Path, url: str) -> str:
    api = InProcess(db, data, NOW)
    try:
        admin = token("quan-tri.VN", "admin", "VN")
        created = await api.call(
            "POST", "/v1/webhooks", admin, json={"url": url, "events": ["case.transitioned"], "description": "bench"}
        )
        return created["id"]
    finally:
        await api.close()


async def delivered(db: str) -> int:
    connection = await asyncpg.connect(dsn(db))
    try:
        return await connection.fetchval("SELECT count(*) FROM webhook_delivery WHERE status = 'delivered'")
    finally:
        await connection.close()


def stats(port: int) -> dict:
    status, body = asyncio.run(get_once(port, "/stats"))
    return json.loads(body)


def backends(db: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend connected to ``db`` (the dispatcher's connections: nothing else
    uses the benchmark's database meanwhile), read from /proc where the server runs on this machine."""

    out = {}
    for pid in asyncio.run(backend_pids(db)):
        if cpu := cpu_seconds(pid):  # 0.0: the backend ended meanwhile
            out[pid] = cpu
    return out


def wait_for(port: int, count: int, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = stats(port)
        if current["count"] >= count:
            return current
        time.sleep(0.25)
    return stats(port)


def main() -> None:
    parser = base_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, help="outbox events to deliver; default 10,000 (quick 2,000)")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds")
    args = parser.parse_args()
    events = args.events or (2000 if args.quick else 10000)
    out = work_dir(args, "webhooks")
    report = Report("webhooks", "4. Webhook deliveries, one dispatcher", size=f"{events:,} events, one subscription")
    started = time.monotonic()
    with database("webhooks", keep=args.keep) as db:
        rows = unit_tree.tree(1000, 34)
        asyncio.run(unit_tree.add_units(db, rows))
        communes = unit_tree.communes_of(rows)
        port = free_port()
        asyncio.run(subscribe(db, out / "data", f"http://127.0.0.1:{port}/hooks/cdht"))
        asyncio.run(outbox_rows(db, events, communes))
        env = service_env(db, NOW, out / "data")
        logs = (out / "receiver.log").open("ab"), (out / "dispatcher.log").open("ab")
        receiver = subprocess.Popen(
            [PY, "-m", "bench.receiver", "--port", str(port)], cwd=ROOT, env=env, stdout=logs[0], stderr=logs[0]
        )
        dispatcher = None
        try:
            for _ in range(100):
                try:
                    stats(port)
                    break
                except OSError:
                    time.sleep(0.1)
            load = CpuLoad()
            t0 = time.time()
            dispatcher = subprocess.Popen(
                [PY, "-m", "bench.dispatcher_proc"], cwd=ROOT, env=env, stdout=logs[1], stderr=logs[1]
            )
            early = wait_for(port, min(100, events), args.timeout)
            cpu_early, db_early, receiver_early = cpu_seconds(dispatcher.pid), backends(db), cpu_seconds(receiver.pid)
            result = wait_for(port, events, args.timeout)
            cpu_late, db_late, receiver_late = cpu_seconds(dispatcher.pid), backends(db), cpu_seconds(receiver.pid)
            measured = max(result["count"] - early["count"], 1)
            cpu_ms = (cpu_late - cpu_early) * 1000 / measured
            db_ms = sum(cpu - db_early.get(pid, 0.0) for pid, cpu in db_late.items()) * 1000 / measured
            receiver_ms = (receiver_late - receiver_early) * 1000 / measured
            report.load = load.stop()
            count = result["count"]
            first, last = result["first"] or t0, result["last"] or t0
            rate = (count - 1) / (last - first) if count > 1 and last > first else 0.0
            end_to_end = last - t0
            recorded = asyncio.run(delivered(db))
            report.figures.append(["measure", "value"])
            report.figures.append(["deliveries received", f"{count:,} of {events:,}"])
            report.figures.append(["recorded delivered in the database", f"{recorded:,}"])
            report.figures.append(["rate, first to last delivery", f"{rate:,.0f} /s"])
            report.figures.append(
                [
                    "end to end (dispatcher start to last delivery)",
                    f"{end_to_end:,.1f} s = {count / end_to_end:,.0f} /s",
                ]
            )
            report.figures.append(["dispatcher CPU per delivery (after the first 100)", f"{cpu_ms:,.2f} ms"])
            if db_late:
                report.figures.append(["PostgreSQL CPU per delivery (the dispatcher's backends)", f"{db_ms:,.2f} ms"])
            report.figures.append(["receiver CPU per delivery", f"{receiver_ms:,.2f} ms"])
            report.figures.append(["first delivery after the dispatcher started", f"{first - t0:,.1f} s"])
            report.goal("deliveries per second, one dispatcher", "≥ 500/s", f"{rate:,.0f}/s", rate >= 500)
            if count < events:
                report.notes.append(f"only {count} of {events} delivered within {args.timeout:.0f} s")
            if rate < 500 and not args.no_profile:
                more = max(events // 4, 500)
                spy = PySpy([dispatcher.pid], 100_000, out, "dispatcher")
                t1 = time.monotonic()
                asyncio.run(outbox_rows(db, more, communes, events))
                wait_for(port, count + more, args.timeout)
                title = (
                    f"the dispatcher fanning out and delivering {more:,} more (py-spy, {time.monotonic() - t1:.0f} s)"
                )
                report.profiles[title] = spy.stop()
        finally:
            for proc in (dispatcher, receiver):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        os.kill(proc.pid, 9)
    report.seconds = time.monotonic() - started
    report.save(args.json)


if __name__ == "__main__":
    main()
