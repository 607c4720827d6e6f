"""Which unit continues which: the ``unit_succession`` records (predecessor → successor, e.g. the communes and
provinces of the 2025 two-tier reform) and the walks along them, backwards (the units a unit continues, whose
history it carries: ``lineage``) and forwards (the units that continue it: ``successors``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from service.persistence.tables import AdminUnit, UnitSuccession

MAX_GENERATIONS = 8  # a unit is merged a handful of times at most; the bound keeps a bad mapping from looping


def _step(near: Any, far: Any) -> Any:
    return select(near, far).where(near.in_(bindparam("asked", expanding=True)))


# One generation of a walk, built once: (unit asked, the unit one step away) backwards and forwards.
_STEP_BACK = _step(UnitSuccession.successor_code, UnitSuccession.predecessor_code)
_STEP_ON = _step(UnitSuccession.predecessor_code, UnitSuccession.successor_code)


async def _walk(session: AsyncSession, unit_code: str, *, backwards: bool, sole: bool = False) -> list[str]:
    """The unit followed by its predecessors (``backwards``) or successors, nearest first; with ``sole``, a unit's
    predecessors are followed only when it continues exactly one."""
    return (await walk_many(session, [unit_code], backwards=backwards, sole=sole))[unit_code]


Step = Callable[[list[str]], Awaitable[Mapping[str, Sequence[str]]]]


async def walk_many(
    session: AsyncSession | None,
    unit_codes: Iterable[str],
    *,
    backwards: bool,
    sole: bool = False,
    step: Step | None = None,
) -> dict[str, list[str]]:
    """``_walk`` for many units at once: one query per generation for all of them, or ``step`` asked for each
    generation instead (a process's copy of the records, ``tree_cache``)."""
    query = _STEP_BACK if backwards else _STEP_ON

    async def read(asked: list[str]) -> Mapping[str, Sequence[str]]:
        assert session is not None
        found: dict[str, list[str]] = {}
        for row in (await session.execute(query, {"asked": asked})).all():
            found.setdefault(row[0], []).append(row[1])
        return found

    seen = {code: [code] for code in unit_codes}
    frontier = {code: [code] for code in seen}
    for _ in range(MAX_GENERATIONS):
        asked = sorted({code for codes in frontier.values() for code in codes})
        if not asked:
            break
        found = await (step or read)(asked)
        for origin, codes in frontier.items():
            frontier[origin] = [
                code
                for near in codes
                if near in found and (not sole or len(found[near]) == 1)
                for code in found[near]
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


# --- the records, with both units' names and levels ----------------------------------------------------


@dataclass(frozen=True)
class SuccessionLink:
    """One ``unit_succession`` row with both units' names and levels."""

    predecessor: str
    predecessor_name: str
    predecessor_level: str
    successor: str
    successor_name: str
    successor_level: str
    effective_on: date
    basis: str
    source: str


async def links_where(session: AsyncSession, where: Any) -> list[SuccessionLink]:
    before, after = aliased(AdminUnit), aliased(AdminUnit)
    query = (
        select(UnitSuccession, before.name, before.level, after.name, after.level)
        .join(before, before.code == UnitSuccession.predecessor_code)
        .join(after, after.code == UnitSuccession.successor_code)
        .where(where)
        .order_by(UnitSuccession.predecessor_code, UnitSuccession.successor_code)
    )
    return [
        SuccessionLink(
            row.predecessor_code,
            before_name,
            before_level,
            row.successor_code,
            after_name,
            after_level,
            row.effective_on,
            row.basis,
            row.source,
        )
        for row, before_name, before_level, after_name, after_level in (await session.execute(query)).all()
    ]


async def succession_links(session: AsyncSession, unit_code: str) -> tuple[list[SuccessionLink], list[SuccessionLink]]:
    """The units this one directly continues, and those that directly continue it."""
    links = await links_where(
        session, (UnitSuccession.successor_code == unit_code) | (UnitSuccession.predecessor_code == unit_code)
    )
    return (
        [link for link in links if link.successor == unit_code],
        [link for link in links if link.predecessor == unit_code],
    )
