"""The floor under a transition's CPU: what the database driver alone costs for the very statements the service
sends for one ``submit_dossier``, against what the whole service costs for it (in-process), and against the
ceiling's two statements through the same driver.

    python -m bench.statement_floor --reuse NAME --work-dir DIR [--count 300]   # DIR, NAME: bench.transition_cpu's
    python -m bench.statement_floor --work-dir DIR                               # on 420 cases made for it

``bench_transitions`` runs the second when a goal is missed (in its profiles).

It copies the kept database twice (``CREATE DATABASE … TEMPLATE``). On the first copy it fires ``--count``
transitions through the real app behind an in-process ASGI client (``bench.transition_cpu.fire_timed``: its heap
settled as a server's worker settles it, the first 20 untimed), timing the process's CPU, and captures every
statement the app sends with its parameters as the driver receives them (SQLAlchemy's ``before_cursor_execute``: SQL
text in asyncpg's ``$n`` style, parameters after SQLAlchemy's bind processing). On the second copy (the same rows as
the first had before) it replays each transition's statements on one asyncpg connection of the service's own engine
(so with the type codecs SQLAlchemy installs: JSON decoded by Python, as the service's reads are) in a transaction
of its own — the same rows read, locked, written and committed — timing the CPU again: that is the driver's share
with nothing of SQLAlchemy, FastAPI or our code. Then the ceiling's transaction (one ``UPDATE``, one ``INSERT``,
``bench.ceiling_app``) the same way, on its tables in that copy (made when missing). Each figure is CPU per
transaction of this process (``time.process_time``) and of the PostgreSQL backends serving it; the copies are
dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

from bench.bench_transitions import CYCLE, NOW, TRIGGER, Run, leader, moment, setup
from bench.databases import _admin, database, sa_url
from bench.datagen.in_process import InProcess
from bench.machine import cpu_seconds
from bench.service_config import token
from bench.transition_cpu import WARM, fire_timed

CEILING_ROWS = 1000


class Captured:
    """Each transition's statements as the driver received them: ``[(sql, parameters), …]`` per transition."""

    def __init__(self) -> None:
        self.transitions: list[list[tuple[str, tuple[Any, ...]]]] = []
        self.recording = False

    def start(self) -> None:
        """A new transition: what the driver receives from now on is its (until ``stop``)."""
        self.transitions.append([])
        self.recording = True

    def stop(self) -> None:
        self.recording = False

    def __call__(self, conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001
        if self.recording:
            assert not executemany, "a transition's statements are single executions"
            self.transitions[-1].append((statement, tuple(parameters)))


async def _service(
    db: str, data: Path, now: datetime, calls: list[tuple[str, str]], body: dict, captured: Captured
) -> tuple[float, float]:
    """Fire the transitions through the app (``transition_cpu.fire_timed``: its heap settled, the first ``WARM``
    untimed), capturing the timed ones' statements; CPU of this process and of the backends per transition."""
    api = InProcess(db, data, now)
    try:
        timed = await fire_timed(api, db, calls, body, each=captured.start)
    finally:
        captured.stop()
        await api.close()
    return timed.cpu / timed.count, timed.server / timed.count


async def _replay(db: str, transitions: list[list[tuple[str, tuple[Any, ...]]]]) -> dict:
    """Replay the captured transitions, then the ceiling's, each in a transaction of its own on one connection of
    the service's engine; CPU per transaction (this process, the backends) and round trips per transaction."""
    from service.persistence.db import make_engine

    engine = make_engine(sa_url(db))  # the service's own engine: SQLAlchemy's asyncpg codecs installed
    out: dict[str, Any] = {}
    try:
        async with engine.connect() as sa_connection:
            raw = await sa_connection.get_raw_connection()
            conn = raw.driver_connection  # asyncpg's, with SQLAlchemy's codecs
            await sa_connection.rollback()
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            # Warm the driver's statement cache as the service's warm-up did its own.
            for statements in transitions[:1]:
                for sql, _ in statements:
                    await conn.prepare(sql)
            rows = 0
            server, cpu = cpu_seconds(pid), time.process_time()
            for statements in transitions:
                async with conn.transaction():
                    for sql, params in statements:
                        rows += len(await conn.fetch(sql, *params))
            cpu, server = time.process_time() - cpu, cpu_seconds(pid) - server
            n = len(transitions)
            out["ours"] = {
                "cpu_ms": 1000 * cpu / n,
                "backend_ms": 1000 * server / n,
                "statements": sum(len(s) for s in transitions) / n,
                "rows_read": rows / n,
            }
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS bench_ceiling_row (id integer PRIMARY KEY, value integer NOT NULL, "
                "updated_at timestamptz NOT NULL);"
                "CREATE TABLE IF NOT EXISTS bench_ceiling_log (id bigserial PRIMARY KEY, row_id integer NOT NULL, "
                "at timestamptz NOT NULL, body text NOT NULL)"
            )
            await conn.execute(
                "INSERT INTO bench_ceiling_row SELECT g, 0, now() FROM generate_series(0, $1 - 1) AS g "
                "ON CONFLICT DO NOTHING",
                CEILING_ROWS,
            )
            update = "UPDATE bench_ceiling_row SET value = value + 1, updated_at = now() WHERE id = $1"
            insert = "INSERT INTO bench_ceiling_log (row_id, at, body) VALUES ($1, now(), $2)"
            body = '{"data": {"note": "ceiling"}}'
            for i in range(WARM):  # as the service's warm-up
                async with conn.transaction():
                    await conn.fetch(update, i)
                    await conn.fetch(insert, i, body)
            count = max(len(transitions), 300)
            server, cpu = cpu_seconds(pid), time.process_time()
            for i in range(count):
                async with conn.transaction():
                    await conn.fetch(update, i % CEILING_ROWS)
                    await conn.fetch(insert, i % CEILING_ROWS, body)
            cpu, server = time.process_time() - cpu, cpu_seconds(pid) - server
            out["ceiling"] = {"cpu_ms": 1000 * cpu / count, "backend_ms": 1000 * server / count, "statements": 2}
    finally:
        await engine.dispose()
    return out


def floor(template: str, data: Path, now: datetime, calls: list[tuple[str, str]], body: dict) -> list[str]:
    """Fire ``calls`` (path, token; the first ``WARM`` untimed) on a copy of ``template`` and replay them on
    another; the figures as lines of text. ``template`` must have no connections open."""
    first, second = f"{template}_floor_a_{os.getpid()}", f"{template}_floor_b_{os.getpid()}"
    captured = Captured()
    listener = captured.__call__
    for copy in (first, second):
        asyncio.run(_admin(f'CREATE DATABASE "{copy}" TEMPLATE "{template}"'))
    try:
        event.listen(Engine, "before_cursor_execute", listener)
        try:
            service_cpu, service_backend = asyncio.run(_service(first, data, now, calls, body, captured))
        finally:
            event.remove(Engine, "before_cursor_execute", listener)
        # Only the timed transitions were captured; their cases are untouched by the warm-up's, so the second
        # copy holds each as the first did when the app fired it (the audit chains' heads aside: a replayed event
        # numbers past a gap where the warm-up's would be, which nothing checks while writing).
        figures = asyncio.run(_replay(second, captured.transitions))
    finally:
        for copy in (first, second):
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)'))
    ours, ceiling = figures["ours"], figures["ceiling"]
    return [
        f"{len(captured.transitions)} {TRIGGER} one after the other, load average {os.getloadavg()[0]:.1f}:",
        f"the service in-process (app and ASGI client): CPU {1000 * service_cpu:.2f} ms each, "
        f"PostgreSQL's backends {1000 * service_backend:.2f} ms",
        f"its statements replayed on asyncpg alone ({ours['statements']:.1f} statements and BEGIN/COMMIT, "
        f"{ours['rows_read']:.1f} rows read): CPU {ours['cpu_ms']:.2f} ms each, backend {ours['backend_ms']:.2f} ms",
        f"the ceiling's transaction on asyncpg alone: CPU {ceiling['cpu_ms']:.2f} ms each, "
        f"backend {ceiling['backend_ms']:.2f} ms",
    ]


def measured(work: Path, cases: int = 420) -> list[str]:
    """``floor`` on cases of its own: ``cases`` in review_meeting_held made in a database of their own (dropped at
    the end), their data under ``work``; what ``bench_transitions`` adds to its profiles when a goal is missed."""
    from service import walkthrough as w

    data = work / "floor-data"
    with database("floor") as db:
        run = Run("floor", 0.0, CYCLE, cases)
        asyncio.run(setup(db, data, [run], lambda m: None))
        calls = [
            (f"/v1/cases/{i}/transitions/{TRIGGER}", leader(c, CYCLE))
            for i, c in zip(run.ids, run.communes, strict=True)
        ]
        return floor(db, data, moment(CYCLE), calls, {"data": w.submit_dossier(CYCLE)})


def main() -> None:
    from service import walkthrough as w

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reuse", help="the kept database of bench.transition_cpu --make (default: make cases)")
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--count", type=int, default=300)
    args = parser.parse_args()
    if not args.reuse:
        print("\n  ".join(measured(args.work_dir)))
        return
    ids = (args.work_dir / "ids").read_text().split()
    communes = (args.work_dir / "communes").read_text().split()
    calls = [
        (f"/v1/cases/{case_id}/transitions/{TRIGGER}", token(f"chu-tich.{commune}", "commune_leader", commune))
        for case_id, commune in list(zip(ids, communes, strict=True))[: args.count]
    ]
    body = {"data": w.submit_dossier(CYCLE)}
    print("\n  ".join(floor(args.reuse, args.work_dir / "data", NOW, calls, body)))


if __name__ == "__main__":
    main()
