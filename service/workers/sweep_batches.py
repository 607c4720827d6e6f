"""What the deadline sweeper does to a case, and the sweep of many cases in one transaction (a batch).

``act_on_case`` is the sweeper's whole decision on one case whose file was read under its row's lock: for each of
its due deadlines, soonest first, the reminder whose day has come (``timers.reminder_on_file``), the breach of a
``flag`` deadline (``timers.breach_on_file``), or the transition a ``fire`` deadline fires (``lapse``, ``expire``)
through the engine's checks and write tail (``engine.fire_on_file``). The one-by-one path
(service/workers/deadlines.py) and the batches call it alike; only their I/O differs.

``sweep_batch`` sweeps a batch of cases in one transaction: it claims the rows of those still due (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL: a case another sweeper or a request holds is skipped, and swept by the next sweep; one
another sweeper swept since this sweep listed it is not claimed at all, and a batch of the very cases another
sweeper's batch is at is passed over whole, so that several sweepers at work at once — one per server process, ticking
together — share a sweep's batches without reading any case twice), reads their files
in a few statements (service/domain/cases/batch_files.py), re-checks what is due under the lock, acts on each case,
and writes every case's new rows with one statement per table (service/domain/cases/batch_tail.py) and the changed
case and deadline rows as executemany updates. The batch commits as a whole or not at all, so a crash mid-way
leaves every case of the batch due as it was (nothing lost) and nothing recorded (nothing fired twice). A case
whose change needs what a batch does not read (the unit's recognitions, a payload the service gathers) or whose
file cannot be read here is handed back untouched, for the one-by-one path.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam, exists, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.actor import system_actor
from service.domain.cases import engine, timers
from service.domain.cases.batch_files import PerDialect, among_ids, case_files, claim, claim_statement
from service.domain.cases.batch_tail import RowBatch, Writer
from service.domain.cases.casefile import CaseFile
from service.domain.cases.tail_writes import changed_rows
from service.domain.errors import DomainError
from service.persistence.tables import Case, Deadline
from service.telemetry import metrics
from workflows.guards.registry import reads_history
from workflows.registry import Registry

log = logging.getLogger("cdht.sweeper")
SWEEPER = system_actor("deadlines")
RETRY_AFTER = timedelta(hours=1)  # a fire the engine refused is looked at again after this, not every sweep


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


def is_due(now: Any) -> ColumnElement[bool]:
    """A deadline row whose next action (a reminder day, or the due time) has come, in SQL (``due_rows`` in Python)."""
    return (Deadline.next_action_at <= now) & (Deadline.status == "open") & Deadline.closed_at.is_(None)


# A case row with a deadline still due at ``:now`` (none of its due deadlines acted on since the sweep listed it).
_CLAIM_DUE = claim_statement(
    lambda: exists().where(Deadline.case_id == Case.id, is_due(bindparam("now", type_=Deadline.due_at.type)))
)
# Which of the cases ``:ids`` have a deadline still due at ``:now``.
_STILL_DUE = PerDialect(
    lambda postgresql: (
        select(Deadline.case_id)
        .where(among_ids(Deadline.case_id, postgresql), is_due(bindparam("now", type_=Deadline.due_at.type)))
        .distinct()
    )
)


async def _still_due_among(session: AsyncSession, case_ids: set[str], now: datetime) -> set[str]:
    """Those of ``case_ids`` with a deadline still due, as the database sees it now (one statement)."""
    if not case_ids:
        return set()
    return set((await session.execute(_STILL_DUE.of(session), {"ids": sorted(case_ids), "now": now})).scalars())


_TRY_TAKE = text("SELECT pg_try_advisory_xact_lock(:key)")


async def _taken_elsewhere(session: AsyncSession, case_ids: list[str]) -> bool:
    """Whether another sweeper is at a batch of these very cases (PostgreSQL; else this transaction takes the batch
    until it ends): sweepers that tick together list the same due cases and cut them alike, so each takes whole
    batches instead of splitting each batch's rows between them (``FOR UPDATE SKIP LOCKED`` still keeps apart the
    batches of sweepers whose lists differ). The key is a 64-bit hash of the ids; another sweeper's batch with the
    same key is all of these cases, which it sweeps (or, failing, leaves due for the next sweep)."""
    if not case_ids or session.get_bind().dialect.name != "postgresql":
        return False
    digest = hashlib.blake2b("\n".join(case_ids).encode(), digest_size=8, person=b"cdht.sweep").digest()
    key = int.from_bytes(digest, "big", signed=True)
    return not (await session.execute(_TRY_TAKE, {"key": key})).scalar_one()


def due_rows(cf: CaseFile, now: datetime) -> list[Deadline]:
    """The case's open deadlines whose next action (a reminder day, or the due time) has come, soonest due first."""
    rows = [
        row
        for row in cf.deadlines.values()
        if row.status == "open"
        and row.closed_at is None
        and row.next_action_at is not None
        and row.next_action_at <= now
    ]
    return sorted(rows, key=lambda row: row.due_at)


def needs_one_by_one(cf: CaseFile, rows: list[Deadline], now: datetime) -> bool:
    """Whether what is due on the case needs more than a batch reads: a transition whose guards read the unit's
    recognitions, or whose payload the service gathers."""
    definition = cf.procedure.definition
    for row in rows:
        rule = definition.deadlines.get(row.key)
        if rule is None or row.due_at >= now or rule.on_breach == "flag":
            continue
        transition = definition.transition(rule.fires) if rule.fires else None
        if transition is None or transition.collector is not None or reads_history(transition.guards):
            return True
    return False


async def act_on_case(
    session: AsyncSession,
    rows_to: Writer,
    registry: Registry,
    cf: CaseFile,
    due: list[Deadline],
    sent: dict[int, set[int]],
    now: datetime,
    report: SweepReport,
) -> None:
    """Everything due on one case (its file read under its row's lock): reminders, breaches flagged, transitions
    fired as ``system:deadlines``; the rows created go to ``rows_to``. A refused fire writes nothing and is looked at
    again after ``RETRY_AFTER``."""
    case = cf.case
    for row in due:
        rule = cf.procedure.definition.deadlines.get(row.key)
        if rule is None:
            # The pinned definition no longer has this deadline: nothing can act on it; say so, once.
            log.error("case %s: deadline %s is not in %s/%s", case.id, row.key, case.procedure, case.version)
            row.next_action_at = None
            continue
        if row.due_at >= now:
            event = timers.reminder_on_file(rows_to, registry, cf, row.key, SWEEPER, now, sent.get(row.id, set()))
            if event is not None:
                report.reminded.append((case.id, row.key, json.loads(event.payload)["days_before"]))
                metrics.DEADLINE_REMINDERS.labels(case.procedure, row.key).inc()
            continue
        if rule.on_breach == "flag":
            if timers.breach_on_file(rows_to, registry, cf, row.key, SWEEPER, now) is not None:
                report.flagged.append((case.id, row.key))
                metrics.DEADLINE_BREACHES.labels(case.procedure, row.key, "flag").inc()
            continue
        definition = cf.procedure.definition
        try:
            await engine.fire_on_file(
                session,
                cf,
                registry=registry,
                trigger=rule.fires,
                transition=definition.transition(rule.fires),
                actor=SWEEPER,
                payload={},
                at=now,
                rows=rows_to,
            )
            report.fired.append((case.id, rule.fires))
            metrics.DEADLINE_BREACHES.labels(case.procedure, row.key, "fire").inc()
        except DomainError as exc:
            # Nothing was written by the engine; the deadline stays due and is looked at again later.
            reasons = "; ".join(r.message for r in exc.reasons) or exc.detail
            report.refused.append((case.id, rule.fires, reasons))
            row.next_action_at = now + RETRY_AFTER
            log.warning("sweeper could not fire %s on case %s: %s", rule.fires, case.id, reasons)


async def sweep_batch(
    session: AsyncSession, registry: Registry, case_ids: list[str], now: datetime, report: SweepReport
) -> list[str]:
    """Sweep those of ``case_ids`` still due in the session's transaction (the caller commits); return the claimed
    cases left to the one-by-one path. Cases another transaction holds are reported skipped; those another sweeper
    swept meanwhile are not claimed, nor reported; nor is a batch of the very same cases another sweeper is at."""
    if await _taken_elsewhere(session, case_ids):
        return []
    cases = await claim(session, case_ids, statement=_CLAIM_DUE, now=now)
    held = await _still_due_among(session, set(case_ids) - {case.id for case in cases}, now)
    report.skipped.extend(case_id for case_id in case_ids if case_id in held)
    files, left = await case_files(session, registry, cases)
    due: dict[str, list[Deadline]] = {}
    for case_id, cf in files.items():
        rows = due_rows(cf, now)
        if needs_one_by_one(cf, rows, now):
            left.append(case_id)
        elif rows:
            due[case_id] = rows
    sent = await timers.reminders_sent(session, (row for rows in due.values() for row in rows if row.due_at >= now))
    batch = RowBatch()
    for case_id, rows in due.items():
        await act_on_case(session, batch, registry, files[case_id], rows, sent, now, report)
    # The new rows and the changed case and deadline rows: a statement per table and shape (executemany).
    batch.changes(row for cf in files.values() for row in changed_rows(cf))
    await batch.insert(session)
    await session.flush()  # anything else the session holds (nothing, for the engine's own rows)
    return left
