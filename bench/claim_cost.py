"""What one claim of the webhook dispatcher costs while a disabled subscription has deliveries waiting, in-process on
PostgreSQL: a before → after for the deliveries a disabled subscription holds (``webhook_delivery.held``).

A subscription with ``--waiting`` pending deliveries, due before anyone else's, is disabled the way the dispatcher
disables one (``subscriptions.disable``); an active subscription has ``--batch`` due deliveries. Each of ``--claims``
claims (``delivery.claim``, as the dispatcher calls it) takes the active subscription's deliveries (their leases are
undone between claims, untimed); an idle claim finds nothing to take (the dispatcher polling an empty queue). Prints
the wall and CPU time of each (median; this process's CPU, and the backend's from /proc), and the plan of the
claim's statement with the rows it read (EXPLAIN ANALYZE, BUFFERS).

    python -m bench.claim_cost [--waiting 20000] [--claims 30] [--batch 64]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event

from bench.databases import bench_database, dsn
from bench.machine import backend_pids, cpu_seconds
from bench.service_config import settings_for

NOW = datetime(2026, 2, 10, 8, 0, tzinfo=UTC)


async def fill(db: str, sealed: str, waiting: int, batch: int) -> None:
    """The two subscriptions, an outbox row per delivery, the deliveries: the disabled one's due an hour ago."""
    connection = await asyncpg.connect(dsn(db))
    try:
        for sub in ("off", "on"):
            await connection.execute(
                "INSERT INTO webhook_subscription (id, url, events, secret_sealed, status, created_by, owner_unit, "
                "created_at, updated_at) "
                "VALUES ($1, $2, '[\"case.transitioned\"]', $3, 'active', 'admin', 'VN', $4, $4)",
                sub,
                f"http://127.0.0.1:9/{sub}",
                sealed,
                NOW,
            )
        outbox, deliveries = io.StringIO(), io.StringIO()
        body = json.dumps({"type": "case.transitioned", "data": {"case_id": str(uuid.uuid4()), "seq": 2}})
        for k in range(waiting + batch):
            sub, due = ("off", NOW - timedelta(hours=1)) if k < waiting else ("on", NOW - timedelta(minutes=1))
            due += timedelta(microseconds=k)
            outbox.write(
                f"{k + 1}\t{uuid.uuid4()}\t2\tcase.transitioned\t{body}\t{NOW.isoformat()}\t{NOW.isoformat()}\n"
            )
            deliveries.write(
                f"{uuid.uuid4()}\t{sub}\t{k + 1}\t{uuid.uuid4().hex}\tcase.transitioned\tpending\t0\t0\t"
                f"{due.isoformat()}\t{NOW.isoformat()}\n"
            )
        columns = ["id", "event_uid", "seq", "type", "body", "created_at", "dispatched_at"]
        await connection.copy_to_table("outbox", source=io.BytesIO(outbox.getvalue().encode()), columns=columns)
        await connection.execute("SELECT setval(pg_get_serial_sequence('outbox', 'id'), max(id)) FROM outbox")
        columns = ["id", "subscription_id", "outbox_id", "msg_id", "event_type", "status", "attempts", "retries"]
        columns += ["next_attempt_at", "created_at"]
        await connection.copy_to_table(
            "webhook_delivery", source=io.BytesIO(deliveries.getvalue().encode()), columns=columns
        )
    finally:
        await connection.close()


async def measure(db: str, waiting: int, claims: int, batch: int) -> None:
    from service.persistence.db import make_engine, session_factory, unit_of_work
    from service.persistence.tables import WebhookSubscription
    from service.webhooks import subscriptions
    from service.webhooks.delivery import DISPATCHER, claim

    settings = settings_for(db, NOW, Path(tempfile.mkdtemp(prefix="cdht-claim-")))
    await fill(db, subscriptions.Sealer(settings.sealing_key()).seal("whsec_" + "A" * 43 + "="), waiting, batch)
    engine = make_engine(settings.database_url)
    sessions = session_factory(engine)
    async with unit_of_work(sessions) as session:
        off = await session.get(WebhookSubscription, "off", with_for_update=True)
        await subscriptions.disable(session, subscription=off, actor=DISPATCHER, reason="bench", now=NOW)
    reset = await asyncpg.connect(dsn(db))
    await reset.execute("VACUUM ANALYZE webhook_delivery")
    captured: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "SKIP LOCKED" in statement and not captured:
            captured.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    await claim(sessions, settings, now=NOW, batch=batch)  # warm: the statement's first plan and compile
    mine = await reset.fetchval("SELECT pg_backend_pid()")
    backend = [pid for pid in await backend_pids(db) if pid != mine]
    for kind in ("busy", "idle"):
        walls, cpus, server, taken = [], [], [], 0
        for _ in range(claims):
            leased = "NULL" if kind == "busy" else f"'{(NOW + timedelta(hours=1)).isoformat()}'"
            await reset.execute(f"UPDATE webhook_delivery SET leased_until = {leased} WHERE subscription_id = 'on'")
            b0, c0, w0 = sum(cpu_seconds(p) for p in backend), time.process_time(), time.perf_counter()
            taken = len(await claim(sessions, settings, now=NOW, batch=batch))
            walls.append(time.perf_counter() - w0)
            cpus.append(time.process_time() - c0)
            server.append(sum(cpu_seconds(p) for p in backend) - b0)
        print(
            f"{kind} claim ({taken} taken), {waiting:,} deliveries of a disabled subscription waiting: wall "
            f"{1000 * statistics.median(walls):.2f} ms, CPU {1000 * statistics.median(cpus):.2f} ms here and "
            f"{1000 * sum(server) / claims:.2f} ms in PostgreSQL's backend (mean; /proc, 10 ms ticks) over {claims}",
            flush=True,
        )
    statement, parameters = captured[0]
    await reset.execute("UPDATE webhook_delivery SET leased_until = NULL WHERE subscription_id = 'on'")
    async with reset.transaction():  # the plan of a busy claim (its row locks go with the transaction)
        plan = await reset.fetch("EXPLAIN (ANALYZE, BUFFERS) " + statement, *parameters)
    print("\n".join(row[0] for row in plan))
    await reset.close()
    await engine.dispose()


async def run(args: argparse.Namespace) -> None:
    async with bench_database("claim") as db:
        await measure(db, args.waiting, args.claims, args.batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--waiting", type=int, default=20_000)
    parser.add_argument("--claims", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
