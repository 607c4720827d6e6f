"""What a process keeps of the unit tree between requests: every unit and every succession record, read once per
version of the tree; a write's unit path and succession walk are worked out from them, without a query.

The version is ``unit_tree_version.version``, bumped by database triggers in the very transaction that changes
``admin_unit`` or ``unit_succession`` (migration 0006), whoever changes them: this process, another API process, the
import, SQL by hand. A write reads the version with its case row, in the same statement, and asks here; what was
read under another version is dropped, never used. The tree is read after the version, so it is never older than
the version says. Entries are kept per database engine (a process serving two databases, as the tests do, keeps
two trees apart). What is handed out is immutable or a copy: a unit path (tuples), a unit row detached from every
session, a walk (a new list). Each unit is kept as a plain named tuple, the values units repeat (a level, a parent's
code, a date, a source) held once: ~310 bytes a unit with its name and its entry, ~4.4 MB per process for a national
tree of 14,166 units (the two official lists; ~470 bytes a unit kept as the rows the driver gives).
"""

from __future__ import annotations

import weakref
from collections import namedtuple
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from service.domain.authority import UnitPath
from service.domain.errors import UnknownUnit
from service.domain.units.paths import MAX_DEPTH, path_of, unit_path
from service.domain.units.successions import walk_many
from service.persistence.tables import AdminUnit, UnitSuccession, UnitTreeVersion

# The version as a column of another statement (the case row's): one round trip reads both. Of the table's columns,
# so that a plain (Core) statement that takes it stays plain.
_VERSION = UnitTreeVersion.__table__.c
TREE_VERSION = select(_VERSION.version).where(_VERSION.id == 1).scalar_subquery()

_UNITS = select(*(AdminUnit.__table__.c[name] for name in AdminUnit.model_fields))
_LINKS = select(UnitSuccession.predecessor_code, UnitSuccession.successor_code).order_by(
    UnitSuccession.predecessor_code, UnitSuccession.successor_code
)


_FIELDS = tuple(AdminUnit.model_fields)
_Unit = namedtuple("_Unit", _FIELDS)  # type: ignore[misc]  # a unit as kept: its columns, read by name


def _compact(rows: Iterable[Sequence[Any]]) -> dict[str, Any]:
    """The units by code, each a ``_Unit`` whose values equal to another unit's (the level, a code and the parent
    code naming it, a date, a source: all but the name) are that same object."""
    shared: dict[Any, Any] = {}
    keep = shared.setdefault
    units = {}
    for row in rows:
        values = zip(_FIELDS, row, strict=True)
        unit = _Unit._make(value if field == "name" else keep(value, value) for field, value in values)
        units[unit.code] = unit
    return units


@dataclass
class _Tree:
    version: int
    units: dict[str, Any]  # code -> the unit (a _Unit: read-only)
    onward: dict[str, tuple[str, ...]]  # predecessor -> successors, in code order
    back: dict[str, tuple[str, ...]]  # successor -> predecessors, in code order


_TREES: weakref.WeakKeyDictionary[Any, _Tree] = weakref.WeakKeyDictionary()


async def _tree(session: AsyncSession, version: int) -> _Tree:
    """The tree of ``session``'s database at ``version``, read now when this process holds another."""
    engine = session.get_bind()
    tree = _TREES.get(engine)
    if tree is not None and tree.version == version:
        return tree
    units = _compact((await session.execute(_UNITS)).all())
    onward: dict[str, tuple[str, ...]] = {}
    back: dict[str, tuple[str, ...]] = {}
    for before, after in (await session.execute(_LINKS)).all():
        onward[before] = (*onward.get(before, ()), after)
        back[after] = (*back.get(after, ()), before)
    tree = _TREES[engine] = _Tree(version, units, onward, back)
    return tree


def _detached(unit: Any) -> AdminUnit:
    """A unit row as a model that belongs to no session, so no request's session can change what others read."""
    return AdminUnit(**{name: getattr(unit, name) for name in AdminUnit.model_fields})


async def unit_path_at(session: AsyncSession, unit_code: str, version: int | None) -> tuple[AdminUnit, UnitPath]:
    """``paths.unit_path``, worked out from the tree this process read at ``version`` (read from the database
    without a version)."""
    if version is None:
        return await unit_path(session, unit_code)
    tree = await _tree(session, version)
    chain = []
    unit = tree.units.get(unit_code)
    while unit is not None and len(chain) < MAX_DEPTH:
        chain.append(unit)
        unit = tree.units.get(unit.parent_code) if unit.parent_code else None
    if not chain:
        raise UnknownUnit(
            f"administrative unit {unit_code} does not exist", why=f"no administrative unit has code {unit_code}"
        )
    return _detached(chain[0]), path_of(chain, tree.onward)


async def walk_at(
    session: AsyncSession, unit_code: str, version: int | None, *, backwards: bool, sole: bool
) -> list[str]:
    """``successions.walk_many`` of one unit, walked on the records this process read at ``version`` (on the
    database's without a version)."""
    if version is None:
        return (await walk_many(session, [unit_code], backwards=backwards, sole=sole))[unit_code]
    tree = await _tree(session, version)
    links = tree.back if backwards else tree.onward

    async def step(asked: list[str]) -> Mapping[str, Sequence[str]]:
        return {code: links[code] for code in asked if code in links}

    return (await walk_many(None, [unit_code], backwards=backwards, sole=sole, step=step))[unit_code]
