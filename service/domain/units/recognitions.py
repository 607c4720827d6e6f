"""A unit's recognitions over time, across cases and across the two-tier reform.

A recognition is a case that reached a level (``cases.level`` and ``decided_on``). Units that were merged or
renamed hand their history on through ``unit_succession`` (predecessor → successor), so a commune formed on
1 July 2025 carries the recognitions of the communes it continues (PROCEDURES.md §7: "the service keeps each
commune's recognition history across cases"). Validity runs to 31/12 of the decision year plus the case's pinned
``validity_years_after_decision_year`` (TT25/2023 Điều 5 k4, Điều 10 k4, Điều 15 k4). A case about an
organisation (TT24/2023: ``subject``) finds the organisation's recognitions on the unit or anywhere below it (and
below the units it continues), since after the reform the district tier's cases open on the province.

The successions themselves are walked by service.domain.units.successions; a unit's own view of its history (the
``GET /v1/admin-units/{code}`` answer) is service.domain.units.history.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.units.successions import lineage, walk_many
from service.domain.units.tree_cache import walk_at
from service.persistence.per_dialect import among
from service.persistence.queries import subtree_codes
from service.persistence.tables import AdminUnit, Case
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
    tree_version: int | None = None,
) -> tuple[PriorRecognition, ...]:
    """Recognitions of this procedure held by the unit or a unit whose recognitions it carries, oldest first. With
    the unit tree's ``tree_version``, the succession walk comes from what this process read at that version."""
    lines = await lines_at(session, unit_code, policy, tree_version)
    held = await prior_recognitions_of(
        session,
        [unit_code],
        procedure=procedure,
        subject=subject,
        exclude_case=exclude_case,
        decided_by=decided_by,
        policy=policy,
        lines=lines,
    )
    return held[unit_code]


async def lines_at(
    session: AsyncSession, unit_code: str, policy: str, tree_version: int | None
) -> dict[str, list[str]] | None:
    """The units whose recognitions ``unit_code`` carries, walked on the tree this process read at
    ``tree_version``; None when there is no version to walk at (``carriers`` walks the database's records)."""
    if tree_version is None or policy == "none":
        return None
    sole = policy == "sole_predecessor"
    return {unit_code: await walk_at(session, unit_code, tree_version, backwards=True, sole=sole)}


def held_conditions(
    table: Table, *, excluding: bool, decided_by: bool, postgresql: bool = False
) -> list[ColumnElement[bool]]:
    """What makes a row of the cases ``table`` (or an alias of it) a recognition held by one of the units
    ``:units`` for ``:procedure`` and ``:subject`` (not ``:exclude_case``, decided by ``:decided_by`` when asked).
    ``postgresql``: the units bound as one array (``per_dialect.among``), else an expanding ``IN``."""
    conditions = [
        among(table.c.unit_code, postgresql, "units"),
        table.c.procedure == bindparam("procedure"),
        table.c.subject == bindparam("subject"),
        table.c.level.is_not(None),
        table.c.decided_on.is_not(None),
    ]
    if excluding:
        conditions.append(table.c.id != bindparam("exclude_case"))
    if decided_by:
        conditions.append(table.c.decided_on <= bindparam("decided_by"))
    return conditions


HELD_COLUMNS = ("id", "level", "decided_on", "unit_code", "pinned")  # what a recognition is built from
_HELD: dict[tuple[bool, bool], Select] = {}


def _held_statement(excluding: bool, decided_by: bool) -> Select:
    """The recognitions held by a set of units (``:units``), built once per shape (a case left out, a date)."""
    query = _HELD.get((excluding, decided_by))
    if query is None:
        table = Case.__table__  # type: ignore[attr-defined]
        query = select(*(table.c[c] for c in HELD_COLUMNS)).where(
            *held_conditions(table, excluding=excluding, decided_by=decided_by)
        )
        query = _HELD[(excluding, decided_by)] = query.order_by(table.c.decided_on, table.c.id)
    return query


async def carriers(
    session: AsyncSession,
    codes: list[str],
    *,
    subject: str,
    policy: str,
    lines: dict[str, list[str]] | None,
) -> dict[str, list[str]]:
    """Each unit whose recognitions count, with the units of ``codes`` that carry them; ``lines``: the units whose
    recognitions each carries, when already walked."""
    if lines is None and policy == "none":
        lines = {code: [code] for code in codes}
    elif lines is None:
        lines = await walk_many(session, codes, backwards=True, sole=policy == "sole_predecessor")
    carried_by: dict[str, list[str]] = {}
    for origin, line in lines.items():
        # An organisation's recognitions (TT24: subject) follow the organisation, wherever in the unit's area its
        # earlier cases were opened: the district before the reform, the province that the profile seats after it.
        area = await subtree_codes(session, *line) if subject else line
        for code in dict.fromkeys([*line, *area]):
            carried_by.setdefault(code, []).append(origin)
    return carried_by


def held_by(
    rows: Iterable[Sequence[Any]], carried_by: dict[str, list[str]], codes: Iterable[str]
) -> dict[str, tuple[PriorRecognition, ...]]:
    """The recognitions each of ``codes`` holds, from rows of ``HELD_COLUMNS`` in order of decision."""
    held: dict[str, list[PriorRecognition]] = {code: [] for code in codes}
    for case_id, level, decided_on, unit_code, pinned in rows:
        recognition = PriorRecognition(case_id, level, decided_on, valid_until(decided_on, pinned), unit_code)
        for origin in carried_by[unit_code]:
            held[origin].append(recognition)
    return {code: tuple(found) for code, found in held.items()}


async def prior_recognitions_of(
    session: AsyncSession,
    unit_codes: Iterable[str],
    *,
    procedure: str,
    subject: str = "",
    exclude_case: str | None = None,
    decided_by: date | None = None,
    policy: str = DEFAULT_INHERITANCE,
    lines: dict[str, list[str]] | None = None,
) -> dict[str, tuple[PriorRecognition, ...]]:
    """``prior_recognitions`` of many units in a few queries (a campaign opening a province's communes); ``lines``:
    the units whose recognitions each carries, when already walked."""
    codes = list(unit_codes)
    carried_by = await carriers(session, codes, subject=subject, policy=policy, lines=lines)
    query = _held_statement(exclude_case is not None, decided_by is not None)
    bound = {"units": sorted(carried_by), "procedure": procedure, "subject": subject}
    bound |= {"exclude_case": exclude_case, "decided_by": decided_by}
    return held_by((await session.execute(query, bound)).all(), carried_by, codes)


# How TC4.1 counts a subordinate unit as recognised (the setting ``tc41_counts`` of the district and province
# definitions): a recognition in force on 31/12 of the evaluation year, or decided for that cycle (its decision comes
# after the year's end but before the dossier: communes decide by 31/03 of N+1, TT25/2023 Điều 9 k3).
TC41_RULES = ("in_force_at_cycle_end_or_decided_for_cycle", "in_force_at_cycle_end")
DEFAULT_TC41_RULE = TC41_RULES[0]


@dataclass(frozen=True)
class SubordinateCount:
    source: str  # e.g. "communes of H001 (cdht_xa)"
    units: int
    recognised: dict[str, int]  # level -> units holding a recognition at that level or above
    as_of: date  # 31/12 of the evaluation year
    rule: str = DEFAULT_TC41_RULE  # which recognitions counted (the setting tc41_counts)


def _in_force(decided_on: date, until: date, on: date) -> bool:
    return decided_on <= on <= until


async def count_recognised_subordinates(
    session: AsyncSession,
    *,
    unit_code: str,
    cycle: int,
    sources: Iterable[dict[str, str]],
    levels: Iterable[int],
    policy: str = DEFAULT_INHERITANCE,
    rule: str = DEFAULT_TC41_RULE,
) -> SubordinateCount | None:
    """How many of the unit's subordinate units were recognised for the evaluation year, per level (TT25/2023
    Điều 11 k4 a, Điều 16 k4 a: "có ít nhất 90% số xã/huyện được công nhận"), whatever day the count is taken.

    The data year is 01/01–31/12 of the cycle (Điều 14 k1 b, Điều 19 k1 b). The units counted are those directly
    under ``unit_code`` at the source's level that existed on 31/12 of the cycle; a unit counts at a level when it
    holds, at that level or above, a recognition in force on 31/12 of the cycle, or (``rule`` =
    ``in_force_at_cycle_end_or_decided_for_cycle``, the default) one decided for that cycle — its own, or one it
    carries from a unit it continues (``policy``, as for the case kinds). The first source whose level has units
    under the case's unit is used (the caller leaves out the sources a setting turns off).
    """
    if rule not in TC41_RULES:
        raise ValueError(f"tc41_counts: {rule!r} is not one of {', '.join(TC41_RULES)}")
    cycle_end = date(cycle, 12, 31)
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
                select(Case.unit_code, Case.cycle, Case.level, Case.decided_on, Case.pinned).where(
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
            for_cycle = rule == TC41_RULES[0] and row.cycle == cycle
            if for_cycle or _in_force(row.decided_on, valid_until(row.decided_on, row.pinned), cycle_end):
                unit = carried_by[row.unit_code]
                best[unit] = max(best.get(unit, 0), row.level)
        return SubordinateCount(
            source=f"{source['unit_level']}s of {unit_code} ({source['procedure']})",
            units=len(units),
            recognised={str(lv): sum(1 for level in best.values() if level >= lv) for lv in levels},
            as_of=cycle_end,
            rule=rule,
        )
    return None
