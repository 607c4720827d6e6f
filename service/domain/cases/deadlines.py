"""A case's deadline rows: opened when a transition enters a state, met, waived or breached when one leaves it,
moved by an extension. Called by the engine only, inside its transaction (PROCEDURES.md §6)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from service.domain.cases.casefile import CaseFile
from service.persistence.tables import Deadline
from workflows.calendar import (
    DueDate,
    days_after_due,
    extended_due,
    fixed_date_due,
    local_date,
    start_of_local_day,
    validity_end_due,
)
from workflows.schema import Deadline as DeadlineRule


def due_date(cf: CaseFile, rule: DeadlineRule, *, now: datetime, payload: dict[str, Any]) -> DueDate | None:
    """When a deadline opening now falls, or None when the case lacks what the rule needs."""
    case, settings = cf.case, cf.settings
    kind = rule.rule.kind
    if kind == "fixed_date":
        month_day = settings.get(rule.rule.date_setting) if rule.rule.date_setting else None
        return fixed_date_due(
            rule, cycle=case.cycle, inclusive=bool(settings.get("cutoff_inclusive", True)), month_day=month_day
        )
    if kind in ("working_days_after", "calendar_days_after"):
        start = payload.get(rule.rule.start_field) if rule.rule.start_field else None
        days = int(settings[rule.rule.days_setting]) if rule.rule.days_setting else None
        return days_after_due(
            rule, start=date.fromisoformat(start) if isinstance(start, str) else local_date(now), days=days
        )
    if case.decided_on is None:
        return None
    years = int(settings.get("validity_years_after_decision_year", 3))
    return validity_end_due(rule, decided_on=case.decided_on, years_after=years)


def reminder_offsets(cf: CaseFile, key: str) -> list[int]:
    """Days before a deadline on which its reminders go (the ``reminder_days_before`` setting), largest first."""
    rule = cf.procedure.definition.deadlines.get(key)
    if rule is None or not rule.reminders:
        return []
    return sorted({int(d) for d in cf.settings.get("reminder_days_before", [])}, reverse=True)


def reminder_starts(due_at: datetime, offsets: list[int]) -> dict[int, datetime]:
    """Each reminder goes out at the start (00:00 local) of the day ``d`` days before the due day."""
    if not offsets:
        return {}
    due_day = local_date(due_at)
    return {d: start_of_local_day(due_day - timedelta(days=d)) for d in offsets}


def open_reminder(due_at: datetime, offsets: list[int], now: datetime) -> int | None:
    """The most urgent reminder whose day has come before the deadline, if any (a late sweep sends only it)."""
    return _open_of(reminder_starts(due_at, offsets), due_at, now)


def _open_of(starts: dict[int, datetime], due_at: datetime, now: datetime) -> int | None:
    """``open_reminder`` of the reminders' ``starts``."""
    started = [d for d, at in starts.items() if at <= now < due_at]
    return min(started) if started else None


def schedule(row: Deadline, offsets: list[int], now: datetime, *, sent: set[int] = frozenset()) -> None:
    """When the sweeper next has to look at this deadline: the next reminder day, or the due time."""
    if row.status != "open" or row.closed_at is not None:
        row.next_action_at = None
        return
    starts = reminder_starts(row.due_at, offsets)  # worked out once for both questions
    pending = _open_of(starts, row.due_at, now)
    if pending is not None and pending not in sent:
        row.next_action_at = now
        return
    later = [at for at in starts.values() if now < at < row.due_at]
    row.next_action_at = min([*later, row.due_at])


def open_deadlines(
    add: Callable[[Any], None], cf: CaseFile, state: str, *, now: datetime, payload: dict[str, Any]
) -> None:
    for key, rule in cf.procedure.definition.deadlines.items():
        if state not in rule.opens_in or key in cf.deadlines:
            continue
        due = due_date(cf, rule, now=now, payload=payload)
        if due is None:
            continue
        row = Deadline(
            case_id=cf.case.id,
            key=key,
            due_at=due.at,
            status="open",
            on_breach=rule.on_breach,
            rule=due.rule,
            calendar_version=due.calendar_version,
            inputs=due.inputs,
            explanation=due.explanation,
            citation=rule.citation,
            opened_at=now,
        )
        schedule(row, reminder_offsets(cf, key), now)
        add(row)
        cf.deadlines[key] = row


def close_deadlines(cf: CaseFile, trigger: str, *, now: datetime) -> None:
    """Meet, waive or close the deadlines a trigger ends. A deadline already flagged stays breached."""
    for key, row in cf.deadlines.items():
        rule = cf.procedure.definition.deadlines.get(key)
        if rule is None or row.closed_at is not None:
            continue
        if trigger in rule.waives_on:
            row.status = "waived" if row.status == "open" else row.status
        elif trigger in rule.closes_on:
            if row.status == "open":
                # A timer that simply runs out (validity) is met; a duty not done in time is breached.
                late = now > row.due_at and not (trigger == rule.fires and rule.on_breach == "fire")
                row.status = "breached" if late else "met"
                row.breached_at = now if late else None
        else:
            continue
        row.closed_at = now
        row.next_action_at = None


def extend_deadline(
    cf: CaseFile, key: str, until: date, reason: str, legal_basis: str | None = None, *, now: datetime
) -> None:
    """Move a deadline; its reminders are due again for the new date."""
    row = cf.deadlines[key]
    original = DueDate(row.due_at, row.rule, row.calendar_version, dict(row.inputs), row.explanation)
    due = extended_due(original, until, reason, legal_basis)
    row.due_at, row.rule, row.inputs, row.explanation = due.at, due.rule, due.inputs, due.explanation
    schedule(row, reminder_offsets(cf, key), now)


def is_overdue(row: Deadline, now: datetime) -> bool:
    """Past due and not closed: open after its time, or flagged and still waiting for the act."""
    return row.closed_at is None and (row.status == "breached" or (row.status == "open" and now > row.due_at))


def escalation_unit(cf: CaseFile, key: str) -> str | None:
    """The office above the one that must act (the reviewer), to whom an overdue decision is escalated, when
    the deadline's rule asks for escalation."""
    target = cf.procedure.definition.deadlines[key].escalate_to
    if target is None:
        return None
    rule = cf.profile.bodies.get("reviewer.head" if target == "above_reviewer" else target.removeprefix("above:"))
    reviewer = cf.units.at(rule.at) if rule else None
    if reviewer is None:
        return None
    index = cf.units.codes.index(reviewer)
    return cf.units.codes[index + 1] if index + 1 < len(cf.units.codes) else None
