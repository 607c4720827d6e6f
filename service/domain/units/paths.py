"""Unit paths: a unit and the units above it, nearest first, with the units continuing those that ceased — what
``authority.UnitPath`` decides reads and acts on. Read for any number of units in one recursive query (and one for
the successions), so that a page of cases costs the same whatever its size."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Select, bindparam, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from service.domain.authority import UnitPath
from service.domain.errors import UnknownUnit
from service.persistence.tables import AdminUnit, UnitSuccession

MAX_DEPTH = 8  # a unit and 7 above it: commune, [district], province, VN with room for odd trees


def _paths_statement() -> Select:
    """``(origin, unit)`` for each asked unit (``:codes``) and every unit above it, by origin then nearness."""
    path = (
        select(AdminUnit.code.label("origin"), AdminUnit.code, AdminUnit.parent_code, literal(0).label("depth"))
        .where(AdminUnit.code.in_(bindparam("codes", expanding=True)))
        .cte("unit_path", recursive=True)
    )
    above = aliased(AdminUnit)
    path = path.union_all(
        select(path.c.origin, above.code, above.parent_code, path.c.depth + 1).where(
            above.code == path.c.parent_code, path.c.depth < MAX_DEPTH - 1
        )
    )
    return (
        select(path.c.origin, AdminUnit).join(path, AdminUnit.code == path.c.code).order_by(path.c.origin, path.c.depth)
    )


PATHS = _paths_statement()  # built once: every call binds its codes


async def unit_paths(session: AsyncSession, codes: Iterable[str]) -> dict[str, tuple[AdminUnit, UnitPath]]:
    """Each existing unit of ``codes`` with its path (a unit that does not exist is left out)."""
    asked = sorted(set(codes))
    if not asked:
        return {}
    chains: dict[str, list[AdminUnit]] = {}
    for origin, unit in (await session.execute(PATHS, {"codes": asked})).all():
        chains.setdefault(origin, []).append(unit)
    ceased = {unit.code: unit.valid_to for chain in chains.values() for unit in chain if unit.valid_to is not None}
    successors: dict[str, tuple[str, ...]] = {}
    if ceased:
        succession = await session.execute(
            select(UnitSuccession.predecessor_code, UnitSuccession.successor_code)
            .where(UnitSuccession.predecessor_code.in_(sorted(ceased)))
            .order_by(UnitSuccession.predecessor_code, UnitSuccession.successor_code)
        )
        for before, after in succession.all():
            successors[before] = (*successors.get(before, ()), after)
    return {origin: (chain[0], path_of(chain, successors)) for origin, chain in chains.items()}


def path_of(chain: Sequence[Any], successors: Mapping[str, tuple[str, ...]]) -> UnitPath:
    """The ``UnitPath`` of a unit's chain (the unit, then the units above it, nearest first), given the units that
    continue each unit (in code order): what ``unit_paths`` reads, or what a process keeps (``tree_cache``)."""
    return UnitPath(
        tuple(unit.code for unit in chain),
        tuple(unit.level for unit in chain),
        {unit.code: unit.valid_to for unit in chain if unit.valid_to is not None},
        {unit.code: successors[unit.code] for unit in chain if unit.valid_to is not None and unit.code in successors},
    )


async def unit_path(session: AsyncSession, unit_code: str) -> tuple[AdminUnit, UnitPath]:
    """The unit and its ancestors, nearest first, in one query (``unit_paths``); 404 when the unit does not exist."""
    found = (await unit_paths(session, [unit_code])).get(unit_code)
    if found is None:
        raise UnknownUnit(
            f"administrative unit {unit_code} does not exist", why=f"no administrative unit has code {unit_code}"
        )
    return found
