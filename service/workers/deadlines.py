"""The deadline sweeper: the law's deadlines hold even when nobody calls the API (PROCEDURES.md §6).

Each sweep finds open deadlines that are past due or inside a reminder window and sweeps their cases in batches,
each batch one transaction (service/workers/sweep_batches.py): it claims the case rows (``FOR UPDATE SKIP LOCKED``
on PostgreSQL, so a second sweeper or a request holding a case is passed over and the case is taken up by the next
sweep) and acts through the engine as ``system:deadlines``: fires ``lapse``/``expire``, flags and escalates an
overdue decision, sends each reminder once. A case a batch cannot sweep (its change needs the unit's recognitions
or a gathered payload), or every case of a batch that failed, is swept here one by one, in a transaction of its
own, by the same ``act_on_case``. Everything is checked again under the lock, so a crash or a concurrent sweeper
never fires anything twice and, because an unfinished case stays due, never skips anything.

Every server process runs a sweeper (and ``cdht worker`` one more); they tick on the same wall-clock multiples of
the interval (``run_sweeper``), so when many deadlines fall due at once their sweeps run together and share the
cases: a batch claims only the cases still due that no one holds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.domain.cases import timers
from service.domain.cases.batch_files import claim
from service.domain.cases.casefile import case_file_of, pinned
from service.persistence.db import unit_of_work
from service.persistence.tables import Deadline
from service.telemetry import context as log_context
from service.telemetry import metrics, tracing
from service.workers.sweep_batches import (
    RETRY_AFTER,
    SWEEPER,
    SweepReport,
    act_on_case,
    due_rows,
    is_due,
    sweep_batch,
)
from workflows.registry import Registry

log = logging.getLogger("cdht.sweeper")
__all__ = ["RETRY_AFTER", "SWEEPER", "SweepReport", "run_sweeper", "sweep"]


async def _due_cases(session: AsyncSession, now: datetime) -> list[str]:
    """Cases with a deadline whose next action (a reminder day, or the due time) has come, soonest first."""
    rows = await session.execute(
        select(Deadline.case_id).where(is_due(now)).order_by(Deadline.next_action_at, Deadline.id)
    )
    return list(dict.fromkeys(case_id for (case_id,) in rows))


async def _sweep_case(
    session: AsyncSession, registry: Registry, case_id: str, now: datetime, report: SweepReport
) -> None:
    """One case in its own transaction: claimed, its whole file read (the unit's recognitions too), acted on."""
    claimed = await claim(session, [case_id])
    if not claimed:
        report.skipped.append(case_id)
        return
    case = claimed[0]
    if registry.get(case.procedure, case.version) is None:
        # The pinned definition is gone: nothing can act on its deadlines; say so, once.
        for row in (await session.execute(select(Deadline).where(Deadline.case_id == case_id))).scalars():
            if row.status == "open" and row.closed_at is None and row.next_action_at and row.next_action_at <= now:
                log.error("case %s: deadline %s is not in %s/%s", case_id, row.key, case.procedure, case.version)
                row.next_action_at = None
        return
    procedure, profile = pinned(registry, case)
    cf = await case_file_of(session, case, procedure, profile, with_history=True)
    due = due_rows(cf, now)
    sent = await timers.reminders_sent(session, [row for row in due if row.due_at >= now])
    await act_on_case(session, session, registry, cf, due, sent, now, report)
    await session.flush()


SWEEP_CONCURRENCY = 8  # cases swept at once one by one, each in its own transaction (its row claimed SKIP LOCKED)
BATCH_SIZE = 250  # cases per batch transaction [config: the service's; a crash loses at most one batch's work]
BATCH_CONCURRENCY = 2  # batches at once on PostgreSQL (one decides in Python while the other waits on the database)


def _merge(into: SweepReport, done: SweepReport) -> None:
    for outcome in ("fired", "flagged", "reminded", "refused", "skipped"):
        getattr(into, outcome).extend(getattr(done, outcome))


async def sweep(
    sessions: async_sessionmaker[AsyncSession],
    registry: Registry,
    *,
    now: datetime,
    stop: asyncio.Event | None = None,
    concurrency: int | None = None,
    batch_size: int | None = None,
) -> SweepReport:
    """One pass over every due case, soonest first: in batches of ``batch_size`` cases, each one transaction
    (service/workers/sweep_batches.py), ``BATCH_CONCURRENCY`` batches at once on PostgreSQL; a case a batch hands
    back, or every case of a batch that failed, one by one in a transaction each (``concurrency`` at once).
    ``batch_size`` 1 sweeps every case one by one. Stops between batches when ``stop`` is set."""
    report = SweepReport()
    started = time.perf_counter()
    async with sessions() as session:
        case_ids = await _due_cases(session, now)
        sqlite = session.get_bind().dialect.name == "sqlite"
    if concurrency is None:
        # SQLite has one writer at a time (BEGIN IMMEDIATE): more cases at once would only queue on its lock.
        concurrency = 1 if sqlite else SWEEP_CONCURRENCY
    size = BATCH_SIZE if batch_size is None else batch_size
    one_by_one: list[str] = []
    if size > 1:
        batch_gate = asyncio.Semaphore(1 if sqlite else BATCH_CONCURRENCY)

        async def batch(ids: list[str]) -> None:
            async with batch_gate:
                if stop is not None and stop.is_set():
                    return
                done = SweepReport()
                try:
                    with tracing.span("sweep.batch", cases=len(ids)):
                        async with unit_of_work(sessions) as session:
                            left = await sweep_batch(session, registry, ids, now, done)
                except Exception:  # the batch wrote nothing: its cases are swept one by one
                    log.exception("sweeping a batch of %s cases failed; sweeping them one by one", len(ids))
                    one_by_one.extend(ids)
                    return
                _merge(report, done)
                one_by_one.extend(left)

        await asyncio.gather(*(batch(case_ids[i : i + size]) for i in range(0, len(case_ids), size)))
    else:
        one_by_one = case_ids
    gate = asyncio.Semaphore(concurrency)

    async def one(case_id: str) -> None:
        async with gate:
            if stop is not None and stop.is_set():
                return
            scope = log_context.new_scope(case=case_id, actor=SWEEPER.sub)
            done = SweepReport()
            try:
                with tracing.span("sweep.case", case=case_id):
                    async with unit_of_work(sessions) as session:
                        await _sweep_case(session, registry, case_id, now, done)
            except Exception:  # one case's failure must not stop the others; it stays due for the next sweep
                log.exception("sweeping case %s failed", case_id)
                done = SweepReport(skipped=[case_id])
            finally:
                log_context.reset(scope)
            _merge(report, done)

    await asyncio.gather(*(one(case_id) for case_id in one_by_one))
    metrics.SWEEP_SECONDS.observe(time.perf_counter() - started)
    for outcome in ("fired", "flagged", "reminded", "refused", "skipped"):
        if done := len(getattr(report, outcome)):
            metrics.SWEEP_CASES.labels(outcome).inc(done)
    if case_ids:
        log.info("sweep at %s: %s", now.isoformat(), report.summary())
    return report


async def run_sweeper(
    sessions: async_sessionmaker[AsyncSession],
    registry: Registry,
    clock: Callable[[], datetime],
    *,
    interval: float,
    stop: asyncio.Event,
) -> None:
    """Sweep now, then every ``interval`` seconds on the wall clock's multiples of it (``until_next_tick``), until
    ``stop`` is set."""
    while not stop.is_set():
        try:
            await sweep(sessions, registry, now=clock(), stop=stop)
        except Exception:
            log.exception("sweep failed; retrying in %ss", interval)
        try:
            await asyncio.wait_for(stop.wait(), timeout=until_next_tick(interval, time.time()))
        except TimeoutError:
            pass


def until_next_tick(interval: float, at: float) -> float:
    """Seconds from ``at`` (the epoch's seconds) to the next multiple of ``interval``: the sweepers of a deployment
    (one per server process, and ``cdht worker``) tick together whenever they started, so deadlines that fall due at
    once (a cut-off day) are swept by all of them at once, their batches shared (``sweep_batch``)."""
    return interval - at % interval
