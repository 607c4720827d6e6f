"""The checks an import of the official lists makes before it writes anything: a code held by another kind of
unit or under another parent (``unit_conflict``), a parent that is nowhere (``parent_missing``), and a mapped
succession that cannot be (a unit unknown, a district, another level, running backwards in time or overlapping).
Each check returns every problem it finds, so one refusal names them all."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.authority import NATIONAL_ROOT
from service.domain.errors import Reason
from service.persistence.tables import AdminUnit
from service.persistence.unit_lists import SuccessionRow, UnitList


@dataclass
class KnownUnit:
    """A unit already in the database, as the checks and the import compare it with a list's row."""

    name: str
    level: str
    parent_code: str | None
    valid_from: date | None
    valid_to: date | None
    source: str | None


async def known_units(session: AsyncSession) -> dict[str, KnownUnit]:
    """Every unit in the database by code (one query)."""
    t = AdminUnit.__table__
    rows = await session.execute(
        sa.select(t.c.code, t.c.name, t.c.level, t.c.parent_code, t.c.valid_from, t.c.valid_to, t.c.source)
    )
    return {r.code: KnownUnit(r.name, r.level, r.parent_code, r.valid_from, r.valid_to, r.source) for r in rows}


def check_list(unit_list: UnitList, existing: dict[str, KnownUnit]) -> list[Reason]:
    """Every way the list cannot go in as it is: a code held by another kind of unit, a parent missing."""
    conflicts, codes = [], {u.code for u in unit_list.units}
    for unit in unit_list.units:
        have = existing.get(unit.code)
        if have is not None and (have.level != unit.level or have.parent_code != unit.parent_code):
            conflicts.append(
                Reason(
                    "unit_conflict",
                    f"{unit.code}: the database has a {have.level} under {have.parent_code or 'no parent'} "
                    f"({have.name}); the {unit_list.key} list has a {unit.level} under {unit.parent_code} "
                    f"({unit.name})",
                )
            )
        elif unit.parent_code not in codes and unit.parent_code not in existing:
            conflicts.append(
                Reason(
                    "parent_missing",
                    f"{unit.code}: its parent {unit.parent_code} is neither in the list nor in the database"
                    + (" (the national root comes with `cdht migrate`)" if unit.parent_code == NATIONAL_ROOT else ""),
                )
            )
    return conflicts


def check_mapped(rows: Sequence[SuccessionRow], existing: dict[str, KnownUnit]) -> list[Reason]:
    """Every mapped succession that cannot be recorded, each with why."""
    problems = []
    for row in rows:
        before, after = existing.get(row.predecessor_code), existing.get(row.successor_code)
        if before is None or after is None:
            missing = [code for code, unit in ((row.predecessor_code, before), (row.successor_code, after)) if not unit]
            problems.append(Reason("unit_unknown", f"{row.predecessor_code} → {row.successor_code}: no unit {missing}"))
            continue
        problem = _succession_problem(row, before, after)
        if problem is not None:
            problems.append(problem)
    return problems


def _succession_problem(row: SuccessionRow, before: KnownUnit, after: KnownUnit) -> Reason | None:
    pair = f"{row.predecessor_code} → {row.successor_code}"
    if row.predecessor_code == row.successor_code:
        return Reason("succession_invalid", f"{row.predecessor_code} cannot continue itself")
    if before.level == "district":
        return Reason(
            "district_abolished",
            f"{row.predecessor_code} is a district: districts were abolished on 01/07/2025, not continued",
        )
    if before.level != after.level:
        return Reason(
            "succession_invalid",
            f"{row.predecessor_code} ({before.level}) → {row.successor_code} ({after.level}): "
            "a unit is continued by a unit of its own level",
        )
    if before.valid_to is None or after.valid_to is not None:
        return Reason(
            "succession_direction",
            f"{pair}: a succession runs from a unit that ceased (valid_to set) to one that exists now (no "
            "valid_to); check the H prefix of historical codes",
        )
    if row.effective_on <= before.valid_to:
        return Reason(
            "succession_invalid",
            f"{pair}: effective {row.effective_on}, not after {row.predecessor_code} ceased ({before.valid_to})",
        )
    if after.valid_from and after.valid_from <= before.valid_to:
        return Reason(
            "succession_invalid",
            f"{row.successor_code} exists from {after.valid_from}, before {row.predecessor_code} ceased "
            f"({before.valid_to})",
        )
    return None
