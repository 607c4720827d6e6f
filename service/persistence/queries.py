"""Read queries shared by the API: unit subtrees, the units a unit continues and search scopes (page cursors:
service.api.params)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Select, and_, any_, bindparam, func, or_, select, text, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from service.persistence.tables import AdminUnit, Deadline, UnitSuccession


def unit_subtree(*codes: str, name: str = "subtree") -> Select:
    """The codes of the given units and of every unit below them (a recursive CTE; both databases support it).

    A query that filters on two subtrees (the caller's jurisdiction and a requested unit) names them apart."""
    roots = AdminUnit.code == codes[0] if len(codes) == 1 else AdminUnit.code.in_(codes)
    tree = select(AdminUnit.code).where(roots).cte(name, recursive=True)
    child = aliased(AdminUnit)
    tree = tree.union_all(select(child.code).where(child.parent_code == tree.c.code))
    return select(tree.c.code)


async def subtree_codes(session: AsyncSession, *codes: str) -> list[str]:
    """The codes of ``unit_subtree(*codes)`` (each once), read on their own so that a large table is filtered by a
    list of values (an index condition) rather than joined to the recursive CTE, which the planner can only apply
    as a filter."""
    return list(dict.fromkeys((await session.execute(unit_subtree(*codes))).scalars()))


async def continued_units(session: AsyncSession, code: str) -> list[str]:
    """The units that ceased (``valid_to`` set) and that ``code`` continues (``unit_succession``), by code: the
    offices of ``code`` answer for their territory (authority.Jurisdiction)."""
    query = (
        select(UnitSuccession.predecessor_code)
        .join(AdminUnit, AdminUnit.code == UnitSuccession.predecessor_code)
        .where(UnitSuccession.successor_code == code, AdminUnit.valid_to.is_not(None))
        .order_by(UnitSuccession.predecessor_code)
    )
    return list((await session.execute(query)).scalars())


async def covers_every_unit(session: AsyncSession, code: str) -> bool:
    """Whether ``code`` is the one root of the unit tree (normally the national root), so that its subtree is every
    unit and filtering by it can be skipped. A unit without a parent beside it (an orphan) makes this false."""
    roots = (await session.execute(select(AdminUnit.code).where(AdminUnit.parent_code.is_(None)))).scalars().all()
    return list(roots) == [code]


async def scope_codes(session: AsyncSession, *scopes: str | tuple[str, ...] | None) -> list[str] | None:
    """The units inside every given scope (a unit, or several: their subtrees; e.g. the caller's jurisdiction and a
    requested unit), or None when no filter is needed because each scope covers the whole tree.

    The intersection is computed in Python to stay the same on every database."""
    found: list[str] | None = None
    for scope in scopes:
        roots = (scope,) if isinstance(scope, str) else scope
        if roots is None or (len(roots) == 1 and await covers_every_unit(session, roots[0])):
            continue
        subtree = await subtree_codes(session, *roots)
        if found is None:
            found = subtree
        else:
            inside = set(subtree)
            found = [unit for unit in found if unit in inside]
    return found


def one_of(column: InstrumentedAttribute[Any], values: list[str], dialect: str) -> ColumnElement[bool]:
    """``column IN values``. One value is an equality, so that an index on ``(column, id)`` returns the rows in id
    order (PostgreSQL reads ``= ANY`` of an index's first column in index order, not id order). PostgreSQL gets
    several values as one array parameter (``= ANY($1)``): the same prepared statement whatever their number, and
    no limit of 32,767 parameters. SQLite has no arrays; it gets the list expanded (``IN (?, ?, …)``)."""
    if len(values) == 1:
        return column == values[0]
    if dialect == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type)))
    return column.in_(values)


def like_prefix(prefix: str) -> str:
    """The ``LIKE`` pattern (escape character ``/``) of the values starting with ``prefix``, as ``startswith(prefix,
    autoescape=True)`` writes it: ``%``, ``_`` and ``/`` in the prefix are characters, not wildcards."""
    return prefix.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"


async def prefix_values(session: AsyncSession, column: InstrumentedAttribute[Any], prefix: str) -> list[str]:
    """The distinct values of ``column`` that start with ``prefix`` (PostgreSQL): a "loose index scan", a recursive
    query that reads the next larger value through the column's ``varchar_pattern_ops`` index once per distinct
    value, so its cost follows the number of distinct values (a handful of legal references), not of rows.

    It walks in that index's order (byte order: ``~<~``, ``~>~``), the only order in which the index can both match
    the prefix and step from one value to the next under a non-C collation. ``column IN values`` then selects
    exactly the rows ``column LIKE 'prefix%'`` selects."""
    table, name = column.class_.__tablename__, column.key
    step = (
        f"SELECT {name} FROM {table} WHERE {name} LIKE :pattern ESCAPE '/' {{after}} ORDER BY {name} USING ~<~ LIMIT 1"
    )
    statement = text(
        f"WITH RECURSIVE found(value) AS (({step.format(after='')}) "
        f"UNION ALL SELECT ({step.format(after=f'AND {name} ~>~ found.value')}) FROM found "
        "WHERE found.value IS NOT NULL) SELECT value FROM found WHERE value IS NOT NULL"
    )
    return list((await session.execute(statement, {"pattern": like_prefix(prefix)})).scalars())


def first_ids_of_each(
    column: InstrumentedAttribute[Any],
    values: list[str],
    conditions: list[ColumnElement[bool]],
    limit: int,
) -> Select:
    """The ``limit`` smallest ids of the rows whose ``column`` is one of ``values`` and that meet ``conditions``
    (PostgreSQL): each value's first ids read through an index on ``(column, id)``, stopped at ``limit``, and the
    lists merged (``unnest`` × ``LATERAL``). PostgreSQL 15 cannot read ``column = ANY(values)`` in id order from such
    an index: it would walk every row in id order, or fetch and sort every match. Only ids are selected, so that an
    index holding the filtered columns answers it alone (an index-only scan); the caller reads the rows by id."""
    entity = column.class_
    given = (
        func.unnest(bindparam(None, values, type_=ARRAY(column.type)))
        .table_valued("value")
        .render_derived(name="given")
    )
    page = (
        select(entity.id)
        .where(column == given.c.value, *conditions)
        .order_by(entity.id)
        .limit(limit)
        .lateral("first_of_value")
    )
    return select(page.c.id).select_from(given).join(page, true()).order_by(page.c.id).limit(limit)


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """A deadline past due and not closed: open after its time, or flagged breached and still waiting."""
    return and_(
        Deadline.closed_at.is_(None),
        or_(Deadline.status == "breached", and_(Deadline.status == "open", Deadline.due_at < now)),
    )
