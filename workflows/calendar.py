"""Due dates the law sets, each with the rule, the calendar version and the inputs used, so it can be explained.

Dates are local dates in Asia/Ho_Chi_Minh; a cut-off is the end of its local day (23:59:59). "trước ngày X"
is read as on or before X unless the ``cutoff_inclusive`` setting is off (PROCEDURES.md §6, §10 q2).
Working days come from ``workflows.workdays`` (Labour Code holidays, the yearly days off and make-up days);
every due date records the calendar version and which years were confirmed, so it can be explained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from workflows.schema import Deadline
from workflows.workdays import WorkCalendar, load_calendar

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CALENDAR_VERSION = "calendar-days"  # fixed dates need no holiday table


@dataclass(frozen=True)
class DueDate:
    at: datetime  # UTC, aware
    rule: str
    calendar_version: str
    inputs: dict[str, Any] = field(default_factory=dict)
    explanation: str = ""


def end_of_local_day(day: date) -> datetime:
    """The last instant of a local day (23:59:59.999999): a submission at 23:59:59.5 is still on the day."""
    return datetime.combine(day, time(23, 59, 59, 999999), tzinfo=LOCAL_TZ).astimezone(timezone.utc)


def start_of_local_day(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=LOCAL_TZ).astimezone(timezone.utc)


def local_date(moment: datetime) -> date:
    return moment.astimezone(LOCAL_TZ).date()


def describe(at: datetime) -> str:
    local = at.astimezone(LOCAL_TZ)
    return f"{local:%d/%m/%Y}, {local:%H:%M} Asia/Ho_Chi_Minh"


def fixed_date_due(deadline: Deadline, *, cycle: int, inclusive: bool, month_day: str | None = None) -> DueDate:
    """A fixed day of the year after the cycle, e.g. 28/02 of N+1 (TT25/2023 Điều 9 k1 d); ``month_day`` ("MM-DD",
    from the rule's ``date_setting``) replaces the rule's own day where a jurisdiction sets it."""
    rule = deadline.rule
    month, day = (int(part) for part in month_day.split("-")) if month_day else (rule.month, rule.day)
    named = date(cycle + rule.year_offset, month, day)
    last_day = named if inclusive else named - timedelta(days=1)
    at = end_of_local_day(last_day)
    reading = "on or before" if inclusive else "before"
    explanation = f"{describe(at)}: {reading} {named:%d/%m/%Y}, the year after cycle {cycle}, {deadline.citation}"
    return DueDate(
        at,
        "fixed_date",
        CALENDAR_VERSION,
        {"cycle": cycle, "named_date": named.isoformat(), "cutoff_inclusive": inclusive},
        explanation,
    )


def days_after_due(
    deadline: Deadline, *, start: date, calendar: WorkCalendar | None = None, days: int | None = None
) -> DueDate:
    """``days`` working or calendar days after ``start`` (start itself not counted), to the end of that day.

    E.g. the Minister decides within 20 working days of a complete dossier (TT25/2023 Điều 19 k2 e). ``days``
    overrides the rule's own count (a ``days_setting`` the engine has read).
    """
    rule = deadline.rule
    days = int(days if days is not None else rule.days or 0)
    if rule.kind == "working_days_after":
        calendar = calendar or load_calendar()
        last_day = calendar.add_working_days(start, days)
        unit = "working days"
        version = calendar.version
        basis = calendar.describe_years(start, last_day)
    else:
        last_day = start + timedelta(days=days)
        unit, version, basis = "calendar days", CALENDAR_VERSION, "calendar days"
    at = end_of_local_day(last_day)
    explanation = f"{describe(at)}: {days} {unit} after {start:%d/%m/%Y} ({basis}), {deadline.citation}"
    return DueDate(at, rule.kind, version, {"start": start.isoformat(), "days": days}, explanation)


def validity_end_due(deadline: Deadline, *, decided_on: date, years_after: int) -> DueDate:
    """End of the recognition's validity: 31/12 of the decision year + N (TT25/2023 Điều 5 k4)."""
    last_day = date(decided_on.year + years_after, 12, 31)
    at = end_of_local_day(last_day)
    explanation = (
        f"{describe(at)}: end of {decided_on.year} + {years_after} years after the decision of "
        f"{decided_on:%d/%m/%Y}, {deadline.citation}"
    )
    return DueDate(
        at,
        "validity_end",
        CALENDAR_VERSION,
        {"decided_on": decided_on.isoformat(), "years_after_decision_year": years_after},
        explanation,
    )


def extended_due(original: DueDate, until: date, reason: str, legal_basis: str | None = None) -> DueDate:
    """The deadline moved to the end of ``until``; the explanation gives the reason and the legal basis."""
    at = end_of_local_day(until)
    inputs = {**original.inputs, "extended_until": until.isoformat(), "reason": reason}
    why = reason
    if legal_basis:
        inputs["legal_basis"] = legal_basis
        why = f"{reason}; legal basis: {legal_basis}"
    return DueDate(
        at,
        "extension",
        original.calendar_version,
        inputs,
        f"{describe(at)}: extended ({why}); originally {original.explanation}",
    )
