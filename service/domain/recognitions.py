"""A unit's recognitions over time, across cases and across the two-tier reform.

A recognition is a case that reached a level (``cases.level`` and ``decided_on``). Units that were merged or
renamed hand their history on through ``unit_succession`` (predecessor → successor), so a commune formed on
1 July 2025 carries the recognitions of the communes it continues (PROCEDURES.md §7: "the service keeps each
commune's recognition history across cases"). Validity runs to 31/12 of the decision year plus the case's pinned
``validity_years_after_decision_year`` (TT25/2023 Điều 5 k4, Điều 10 k4, Điều 15 k4).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.persistence.tables import AdminUnit, Case, UnitSuccession
from workflows.calendar import local_date
from workflows.guards.registry import PriorRecognition

DEFAULT_VALIDITY_YEARS = 3  # TT25/2023 Điều 5 k4; a case's pinned setting overrides it
# Whose recognitions a unit carries for kinds and TC4.1 (profile setting ``recognition_inheritance``, §10 [config]):
# "sole_predecessor" — only through a unit that continues exactly one unit on record (a rename, a kept GSO code, a
# province that was not merged); "any_predecessor" — through every unit it continues; "none" — its own only.
INHERITANCE = ("sole_predecessor", "any_predecessor", "none")
DEFAULT_INHERITANCE = "sole_predecessor"


def inheritance(settings: dict[str, Any] | None) -> str:
    value = (settings or {}).get("recognition_inheritance", DEFAULT_INHERITANCE)
    return value if value in INHERITANCE else DEFAULT_INHERITANCE


MAX_GENERATIONS = 8  # a unit is merged a handful of times at most; the bound keeps a bad mapping from looping


async def _walk(session: AsyncSession, unit_code: str, *, backwards: bool, sole: bool = False) -> list[str]:
    """The unit followed by its predecessors (``backwards``) or successors, nearest first; with ``sole``, a unit's
    predecessors are followed only when it continues exactly one."""
    return (await _walk_many(session, [unit_code], backwards=backwards, sole=sole))[unit_code]


async def _walk_many(
    session: AsyncSession, unit_codes: Iterable[str], *, backwards: bool, sole: bool = False
) -> dict[str, list[str]]:
    """``_walk`` for many units at once: one query per generation for all of them."""
    near, far = (
        (UnitSuccession.successor_code, UnitSuccession.predecessor_code)
        if backwards
        else (UnitSuccession.predecessor_code, UnitSuccession.successor_code)
    )
    seen = {code: [code] for code in unit_codes}
    frontier = {code: [code] for code in seen}
    for _ in range(MAX_GENERATIONS):
        asked = sorted({code for codes in frontier.values() for code in codes})
        if not asked:
            break
        found: dict[str, list[str]] = {}
        for row in (await session.execute(select(near, far).where(near.in_(asked)))).all():
            found.setdefault(row[0], []).append(row[1])
        for origin, codes in frontier.items():
            frontier[origin] = [
                code
                for step in codes
                if step in found and (not sole or len(found[step]) == 1)
                for code in found[step]
                if code not in seen[origin]
            ]
            seen[origin].extend(frontier[origin])
    return seen


async def lineage(session: AsyncSession, unit_code: str, policy: str = "any_predecessor") -> list[str]:
    """The unit and the units whose recognitions it carries under ``policy`` (every unit it continues by
    default, which is what its history shows)."""
    if policy == "none":
        return [unit_code]
    return await _walk(session, unit_code, backwards=True, sole=policy == "sole_predecessor")


async def successors(session: AsyncSession, unit_code: str) -> list[str]:
    """The units that continue this one (not including itself)."""
    return (await _walk(session, unit_code, backwards=False))[1:]


def valid_until(decided_on: date, pinned: dict[str, Any] | None) -> date:
    years = ((pinned or {}).get("settings") or {}).get("validity_years_after_decision_year", DEFAULT_VALIDITY_YEARS)
    return date(decided_on.year + int(years), 12, 31)


async def prior_recognitions(
    session: AsyncSession,
    *,
    unit_code: str,
    procedure: str,
    subject: str = "",
    exclude_case: str | None = None,
    decided_by: date | None = None,
    policy: str = DEFAULT_INHERITANCE,
) -> tuple[PriorRecognition, ...]:
    """Recognitions of this procedure held by the unit or a unit whose recognitions it carries, oldest first."""
    held = await prior_recognitions_of(
        session,
        [unit_code],
        procedure=procedure,
        subject=subject,
        exclude_case=exclude_case,
        decided_by=decided_by,
        policy=policy,
    )
    return held[unit_code]


async def prior_recognitions_of(
    session: AsyncSession,
    unit_codes: Iterable[str],
    *,
    procedure: str,
    subject: str = "",
    exclude_case: str | None = None,
    decided_by: date | None = None,
    policy: str = DEFAULT_INHERITANCE,
) -> dict[str, tuple[PriorRecognition, ...]]:
    """``prior_recognitions`` of many units in a few queries (a campaign opening a province's communes)."""
    codes = list(unit_codes)
    if policy == "none":
        lines = {code: [code] for code in codes}
    else:
        lines = await _walk_many(session, codes, backwards=True, sole=policy == "sole_predecessor")
    carried_by: dict[str, list[str]] = {}
    for origin, line in lines.items():
        for code in line:
            carried_by.setdefault(code, []).append(origin)
    query = select(Case.id, Case.level, Case.decided_on, Case.unit_code, Case.pinned).where(
        Case.unit_code.in_(sorted(carried_by)),
        Case.procedure == procedure,
        Case.subject == subject,
        Case.level.is_not(None),
        Case.decided_on.is_not(None),
    )
    if exclude_case is not None:
        query = query.where(Case.id != exclude_case)
    if decided_by is not None:
        query = query.where(Case.decided_on <= decided_by)
    held: dict[str, list[PriorRecognition]] = {code: [] for code in codes}
    for r in (await session.execute(query.order_by(Case.decided_on, Case.id))).all():
        recognition = PriorRecognition(r.id, r.level, r.decided_on, valid_until(r.decided_on, r.pinned), r.unit_code)
        for origin in carried_by[r.unit_code]:
            held[origin].append(recognition)
    return {code: tuple(found) for code, found in held.items()}


@dataclass(frozen=True)
class SubordinateCount:
    source: str  # e.g. "communes of H001 (cdht_xa)"
    units: int
    recognised: dict[str, int]  # level -> units holding a recognition at that level or above
    as_of: date


def _in_force(decided_on: date, until: date, on: date) -> bool:
    return decided_on <= on <= until


async def count_recognised_subordinates(
    session: AsyncSession,
    *,
    unit_code: str,
    cycle: int,
    sources: Iterable[dict[str, str]],
    levels: Iterable[int],
    now: datetime,
    policy: str = DEFAULT_INHERITANCE,
) -> SubordinateCount | None:
    """How many of the unit's subordinate units hold a recognition in force today, per level (TT25/2023 Điều 11
    k4 a, Điều 16 k4 a: "có ít nhất 90% số xã/huyện được công nhận").

    The units counted are those directly under ``unit_code`` at the source's level that existed at the end of the
    evaluation year; a recognition counts when it is in force on the day of the count (decided, not yet past its
    validity) at the level or above — its own, or one it carries from a unit it continues (``policy``, as for the
    case kinds). The first source whose level has units under the case's unit is used, so a province after the
    reform (no districts) falls back to the next source the definition names.
    """
    on, cycle_end = local_date(now), date(cycle, 12, 31)
    levels = sorted(levels)
    for source in sources:
        units = (
            (
                await session.execute(
                    select(AdminUnit.code).where(
                        AdminUnit.parent_code == unit_code,
                        AdminUnit.level == source["unit_level"],
                        (AdminUnit.valid_from.is_(None)) | (AdminUnit.valid_from <= cycle_end),
                        (AdminUnit.valid_to.is_(None)) | (AdminUnit.valid_to >= cycle_end),
                    )
                )
            )
            .scalars()
            .all()
        )
        if not units:
            continue
        carried_by = {unit: unit for unit in units}
        for unit in units:
            for code in (await lineage(session, unit, policy))[1:]:
                carried_by.setdefault(code, unit)
        rows = (
            await session.execute(
                select(Case.unit_code, Case.level, Case.decided_on, Case.pinned).where(
                    Case.unit_code.in_(list(carried_by)),
                    Case.procedure == source["procedure"],
                    Case.subject == "",
                    Case.level.is_not(None),
                    Case.decided_on.is_not(None),
                )
            )
        ).all()
        best: dict[str, int] = {}
        for row in rows:
            if _in_force(row.decided_on, valid_until(row.decided_on, row.pinned), on):
                unit = carried_by[row.unit_code]
                best[unit] = max(best.get(unit, 0), row.level)
        return SubordinateCount(
            source=f"{source['unit_level']}s of {unit_code} ({source['procedure']})",
            units=len(units),
            recognised={str(lv): sum(1 for level in best.values() if level >= lv) for lv in levels},
            as_of=on,
        )
    return None
