"""The deadline sweeper: the law's deadlines hold even when nobody calls the API (PROCEDURES.md §6).

Each sweep finds open deadlines that are past due or inside a reminder window, and for each case in turn claims
the case row (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so a second sweeper or a request holding the case is
passed over and the case is taken up by the next sweep) and acts through the engine as ``system:deadlines``:
fires ``lapse``/``expire``, flags and escalates an overdue decision, sends each reminder once. Everything it does
is checked again under the lock, so a crash or a concurrent sweeper never fires anything twice and, because an
unfinished case stays due, never skips anything.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.domain.actor import system_actor
from service.domain.cases import engine, timers
from service.domain.errors import DomainError
from service.persistence.db import unit_of_work
from service.persistence.tables import Case, Deadline
from service.telemetry import context as log_context
from service.telemetry import metrics, tracing
from workflows.registry import Registry

log = logging.getLogger("cdht.sweeper")
SWEEPER = system_actor("deadlines")


@dataclass
class SweepReport:
    fired: list[tuple[str, str]] = field(default_factory=list)  # (case id, trigger)
    flagged: list[tuple[str, str]] = field(default_factory=list)  # (case id, deadline)
    reminded: list[tuple[str, str, int]] = field(default_factory=list)  # (case id, deadline, days before)
    refused: list[tuple[str, str, str]] = field(default_factory=list)  # (case id, trigger, reasons)
    skipped: list[str] = field(default_factory=list)  # cases held by someone else; taken up by the next sweep

    def summary(self) -> str:
        return (
            f"fired {len(self.fired)}, flagged {len(self.flagged)}, reminded {len(self.reminded)}, "
            f"refused {len(self.refused)}, skipped {len(self.skipped)}"
        )


RETRY_AFTER = timedelta(hours=1)  # a fire the engine refused is looked at again after this, not every sweep


async def _due_cases(session: AsyncSession, now: datetime) -> list[str]:
    """Cases with a deadline whose next action (a reminder day, or the due time) has come, soonest first."""
    rows = await session.execute(
        select(Deadline.case_id)
        .where(Deadline.next_action_at <= now, Deadline.status == "open", Deadline.closed_at.is_(None))
        .order_by(Deadline.next_action_at, Deadline.id)
    )
    return list(dict.fromkeys(case_id for (case_id,) in rows))


async def _sweep_case(
    session: AsyncSession, registry: Registry, case_id: str, now: datetime, report: SweepReport
) -> None:
    claimed = (
        await session.execute(select(Case).where(Case.id == case_id).with_for_update(skip_locked=True))
    ).scalar_one_or_none()
    if claimed is None:
        report.skipped.append(case_id)
        return
    procedure = registry.get(claimed.procedure, claimed.version)
    rows = (
        (
            await session.execute(
                select(Deadline)
                .where(
                    Deadline.case_id == case_id,
                    Deadline.status == "open",
                    Deadline.closed_at.is_(None),
                    Deadline.next_action_at <= now,
                )
                .order_by(Deadline.due_at)
            )
        )
        .scalars()
        .all()
    )
    for row in rows:
        rule = procedure.definition.deadlines.get(row.key) if procedure else None
        if rule is None:
            # The pinned definition no longer has this deadline: nothing can act on it; say so, once.
            log.error("case %s: deadline %s is not in %s/%s", case_id, row.key, claimed.procedure, claimed.version)
            row.next_action_at = None
            continue
        if row.due_at >= now:
            event = await timers.send_reminder(
                session, registry=registry, case_id=case_id, key=row.key, actor=SWEEPER, now=now
            )
            if event is not None:
                report.reminded.append((case_id, row.key, json.loads(event.payload)["days_before"]))
                metrics.DEADLINE_REMINDERS.labels(claimed.procedure, row.key).inc()
            continue
        if rule.on_breach == "flag":
            if await timers.flag_breach(
                session, registry=registry, case_id=case_id, key=row.key, actor=SWEEPER, now=now
            ):
                report.flagged.append((case_id, row.key))
                metrics.DEADLINE_BREACHES.labels(claimed.procedure, row.key, "flag").inc()
            continue
        try:
            await engine.apply_transition(
                session, registry=registry, case_id=case_id, trigger=rule.fires, actor=SWEEPER, payload={}, now=now
            )
            report.fired.append((case_id, rule.fires))
            metrics.DEADLINE_BREACHES.labels(claimed.procedure, row.key, "fire").inc()
        except DomainError as exc:
            # Nothing was written by the engine; the deadline stays due and is looked at again later.
            reasons = "; ".join(r.message for r in exc.reasons) or exc.detail
            report.refused.append((case_id, rule.fires, reasons))
            row.next_action_at = now + RETRY_AFTER
            log.warning("sweeper could not fire %s on case %s: %s", rule.fires, case_id, reasons)


SWEEP_CONCURRENCY = 8  # cases swept at once, each in its own transaction (its row claimed FOR UPDATE SKIP LOCKED)


async def sweep(
    sessions: async_sessionmaker[AsyncSession],
    registry: Registry,
    *,
    now: datetime,
    stop: asyncio.Event | None = None,
    concurrency: int | None = None,
) -> SweepReport:
    """One pass over every due case, one transaction per case, ``concurrency`` cases at a time (soonest first);
    stops between cases when ``stop`` is set."""
    report = SweepReport()
    started = time.perf_counter()
    async with sessions() as session:
        case_ids = await _due_cases(session, now)
        if concurrency is None:
            # SQLite has one writer at a time (BEGIN IMMEDIATE): more cases at once would only queue on its lock.
            concurrency = 1 if session.get_bind().dialect.name == "sqlite" else SWEEP_CONCURRENCY
    gate = asyncio.Semaphore(concurrency)

    async def one(case_id: str) -> None:
        async with gate:
            if stop is not None and stop.is_set():
                return
            scope = log_context.new_scope(case=case_id, actor=SWEEPER.sub)
            try:
                with tracing.span("sweep.case", case=case_id):
                    async with unit_of_work(sessions) as session:
                        await _sweep_case(session, registry, case_id, now, report)
            except Exception:  # one case's failure must not stop the others; it stays due for the next sweep
                log.exception("sweeping case %s failed", case_id)
                report.skipped.append(case_id)
            finally:
                log_context.reset(scope)

    await asyncio.gather(*(one(case_id) for case_id in case_ids))
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
    """Sweep every ``interval`` seconds until ``stop`` is set."""
    while not stop.is_set():
        try:
            await sweep(sessions, registry, now=clock(), stop=stop)
        except Exception:
            log.exception("sweep failed; retrying in %ss", interval)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass
