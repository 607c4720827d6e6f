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
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service.domain import engine
from service.domain.actor import system_actor
from service.domain.errors import DomainError
from service.persistence.db import unit_of_work
from service.persistence.tables import Case, Deadline
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


def reminder_days(registry: Registry, case: Case) -> list[int]:
    procedure, profile = registry.get(case.procedure, case.version), registry.profiles.get(case.profile)
    settings = {
        **(procedure.definition.default_settings() if procedure else {}),
        **(profile.default_settings() if profile else {}),
    }
    return sorted((int(d) for d in settings.get("reminder_days_before", [])), reverse=True)


def _horizon(registry: Registry) -> timedelta:
    longest = max(
        (
            max(p.definition.default_settings().get("reminder_days_before", [0]) or [0])
            for p in registry.procedures.values()
        ),
        default=0,
    )
    return timedelta(days=int(longest))


async def _due_cases(session: AsyncSession, registry: Registry, now: datetime) -> list[str]:
    """Cases with an open deadline past due or within the longest reminder window, soonest first."""
    rows = await session.execute(
        select(Deadline.case_id, Deadline.due_at)
        .where(Deadline.status == "open", Deadline.closed_at.is_(None), Deadline.due_at <= now + _horizon(registry))
        .order_by(Deadline.due_at, Deadline.id)
    )
    seen: dict[str, None] = {}
    for case_id, _ in rows:
        seen.setdefault(case_id, None)
    return list(seen)


async def _sweep_case(
    session: AsyncSession, registry: Registry, case_id: str, now: datetime, report: SweepReport
) -> None:
    claimed = (
        await session.execute(select(Case).where(Case.id == case_id).with_for_update(skip_locked=True))
    ).scalar_one_or_none()
    if claimed is None:
        report.skipped.append(case_id)
        return
    rows = (
        (
            await session.execute(
                select(Deadline)
                .where(Deadline.case_id == case_id, Deadline.status == "open", Deadline.closed_at.is_(None))
                .order_by(Deadline.due_at)
            )
        )
        .scalars()
        .all()
    )
    procedure = registry.get(claimed.procedure, claimed.version)
    for row in rows:
        rule = procedure.definition.deadlines.get(row.key) if procedure else None
        if rule is None or row.due_at >= now:
            continue
        if rule.on_breach == "flag":
            if await engine.flag_breach(
                session, registry=registry, case_id=case_id, key=row.key, actor=SWEEPER, now=now
            ):
                report.flagged.append((case_id, row.key))
            continue
        try:
            await engine.apply_transition(
                session, registry=registry, case_id=case_id, trigger=rule.fires, actor=SWEEPER, payload={}, now=now
            )
            report.fired.append((case_id, rule.fires))
        except DomainError as exc:
            # Nothing was written; the case stays due and the refusal is visible in the report and the log.
            reasons = "; ".join(r.message for r in exc.reasons) or exc.detail
            report.refused.append((case_id, rule.fires, reasons))
            log.warning("sweeper could not fire %s on case %s: %s", rule.fires, case_id, reasons)
    for row in rows:
        await session.refresh(row)
        rule = procedure.definition.deadlines.get(row.key) if procedure else None
        if rule is None or not rule.reminders or row.status != "open" or row.closed_at is not None:
            continue
        for days in reminder_days(registry, claimed):
            if await engine.send_reminder(
                session, registry=registry, case_id=case_id, key=row.key, days_before=days, actor=SWEEPER, now=now
            ):
                report.reminded.append((case_id, row.key, days))


async def sweep(sessions: async_sessionmaker[AsyncSession], registry: Registry, *, now: datetime) -> SweepReport:
    """One pass over every due case, one transaction per case."""
    report = SweepReport()
    async with sessions() as session:
        case_ids = await _due_cases(session, registry, now)
    for case_id in case_ids:
        try:
            async with unit_of_work(sessions) as session:
                await _sweep_case(session, registry, case_id, now, report)
        except Exception:  # one case's failure must not stop the others; it stays due for the next sweep
            log.exception("sweeping case %s failed", case_id)
            report.skipped.append(case_id)
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
            await sweep(sessions, registry, now=clock())
        except Exception:
            log.exception("sweep failed; retrying in %ss", interval)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass
