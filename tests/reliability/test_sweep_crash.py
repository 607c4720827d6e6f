"""kill -9 of a worker in the middle of a sweep's batch, then a restart on the same database (PostgreSQL).

Twelve cases of cycle 2025 are past their submission deadline, so one sweep lapses all of them in one batch (one
transaction, service/workers/sweep_batches.py). The test holds the deadline row of the seventh case locked, so the
worker's batch stops in the middle of its writes (the case rows updated, the deadline rows waiting), and kills the
worker there. Nothing of the batch may be left (no lapse, every case still planning); once the lock is released the
worker, restarted, sweeps every case, and each has exactly one lapse event and one outbox row, and the chains verify.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.helpers import Api
from tests.reliability.procs import ProcessGroup
from tests.support.load import Cast, wait_until

pytestmark = pytest.mark.postgres

NOW = "2026-03-01T09:00:00+07:00"  # the submission deadline of cycle 2025 (28/02/2026) has passed
CASES = 12
UNITS = [f"R{i:02d}" for i in range(1, CASES + 1)]  # communes rel_api adds under P1 (R01 … R40)


async def _count(url: str, query: str) -> Any:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return (await connection.execute(text(query))).all()
    finally:
        await engine.dispose()


async def test_kill_9_in_the_middle_of_a_batch_loses_nothing_and_fires_nothing_twice(
    rel_api: Api, cast: Cast, service_env: Any, service_processes: ProcessGroup
) -> None:
    api, group = rel_api, service_processes
    cases = [(await api.new_case(unit, 2025))[0] for unit in UNITS]
    url = api.settings.resolved_database_url
    holder = create_async_engine(url)
    try:
        async with holder.connect() as held:
            transaction = await held.begin()
            await held.execute(text("SELECT id FROM deadline WHERE case_id = :c FOR UPDATE"), {"c": cases[6]})
            worker = group.worker(service_env("worker-1", now=NOW, sweep_interval_seconds=0.5), "worker-1")

            async def stuck() -> bool:
                group.check_alive()
                rows = await _count(
                    url,
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                    "AND query ILIKE 'UPDATE deadline%'",
                )
                return rows[0][0] > 0

            await wait_until(stuck, 90, "the worker's batch waits on the held deadline row")
            worker.kill()
            await transaction.rollback()
    finally:
        await holder.dispose()

    lapses = await _count(url, "SELECT count(*) FROM audit_event WHERE trigger = 'lapse'")
    assert lapses[0][0] == 0, "a batch killed before its commit left lapses"
    states = await _count(url, "SELECT state, count(*) FROM cases GROUP BY state")
    assert dict(states) == {"planning": CASES}

    again = group.restart(worker)  # the same command and environment, on the same database

    async def swept() -> bool:
        group.check_alive()
        rows = await _count(url, "SELECT count(*) FROM cases WHERE state = 'lapsed'")
        return rows[0][0] == CASES

    await wait_until(swept, 90, "the restarted worker lapsed every case")
    again.stop()
    per_case = Counter(
        case_id for (case_id,) in await _count(url, "SELECT case_id FROM audit_event WHERE trigger = 'lapse'")
    )
    assert per_case == {case_id: 1 for case_id in cases}
    outbox = Counter(
        case_id
        for (case_id,) in await _count(
            url, "SELECT o.case_id FROM outbox o JOIN audit_event e ON e.uid = o.event_uid WHERE e.trigger = 'lapse'"
        )
    )
    assert outbox == {case_id: 1 for case_id in cases}
    verify = await api.get(cast.auditor, "/v1/audit/verify")
    assert verify.status_code == 200 and verify.json()["ok"] is True, verify.text
