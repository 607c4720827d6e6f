"""The write tail's SQL on SQLAlchemy Core: the rows a write created (gathered in a ``RowBatch``) and the columns it
changed in the rows it read (the case row, its deadlines and indicators), written as prebuilt statements instead of
through the session's unit of work.

The engine builds and changes the same objects as ever (``tail.record``: appliers, digest, hash); only how they
reach the database differs. Each write is a *part*: an ``INSERT`` of one new row, or an ``UPDATE`` by primary key of
the columns a read row changed (those its ORM state holds a committed value for). On PostgreSQL the parts of one
case's write go as **one statement** — every part but the last a data-modifying CTE of the last — so the case's
update, its deadlines', the new deadline, the audit event and the outbox row cost one round trip instead of five
(PostgreSQL runs them on one snapshot and checks the foreign keys at the statement's end); SQLite runs the same
statements one after the other. A batch (the sweep: many cases) sends each statement shape once with the parameters
of every row of that shape (executemany). The statement of a shape (which parts, which columns) is built once per
process. Once written, each read row's ORM state is marked committed, as the session's flush does after its own
``UPDATE`` (SQLAlchemy's ``InstanceState._commit_all``), so the session sends nothing again;
tests/domain/test_tail_writes.py holds this to what the session's flush writes, on both databases.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import and_, bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import instance_state

from service.domain.cases.casefile import CaseFile
from service.persistence.tables import (
    AuditEvent,
    Case,
    CaseIndicator,
    Deadline,
    DeadlineReminder,
    Evidence,
    OutboxMessage,
)

# The tables of the rows a write creates, parents before children (foreign keys): a case before its deadlines,
# indicators, evidence, events and outbox rows.
ORDER: tuple[type, ...] = (Case, Deadline, CaseIndicator, Evidence, AuditEvent, OutboxMessage, DeadlineReminder)

# A part's shape: (table's model, "insert" or "update", the columns written).
Shape = tuple[type, str, tuple[str, ...]]

_UPDATED = (Case, Deadline, CaseIndicator)  # the rows a write reads and may change
_COLUMNS = {model: tuple(c.key for c in model.__table__.columns) for model in ORDER}  # type: ignore[attr-defined]
# Each table's columns a new row may leave out when empty (a key the database numbers).
_NUMBERED = {
    model: {c.key for c in model.__table__.primary_key if c.autoincrement is not False}  # type: ignore[attr-defined]
    for model in ORDER
}
_KEYS = {model: tuple(c.key for c in model.__table__.primary_key) for model in _UPDATED}  # type: ignore[attr-defined]
_MAX_SHAPES = 512  # statements kept per process (a write has a handful of shapes; a new one is built on first use)
# One case's writes on PostgreSQL, by their shapes: the statement and each part's parameter names.
_STATEMENTS: dict[tuple[Shape, ...], tuple[Any, tuple[tuple[str, ...], ...]]] = {}
_PLAIN: dict[tuple[type, str], Any] = {}  # a table's insert or update, its columns named by the parameters


def changed_rows(cf: CaseFile) -> list[Any]:
    """The rows of the case file read from the database that the write changed (new rows are not among them)."""
    out = []
    for row in (cf.case, *cf.deadlines.values(), *cf.indicator_rows.values()):
        state = getattr(row, "_sa_instance_state", None)  # None: a plain row (file_rows), which nothing changes
        if state is not None and state.key is not None and state.modified:
            out.append(row)
    return out


def row_values(model: type, rows: Iterable[Any]) -> list[dict[str, Any]]:
    """New rows of ``model`` as the values of their inserts (a numbered key left to the database when empty)."""
    columns, numbered = _COLUMNS[model], _NUMBERED[model]
    out = []
    for row in rows:
        values = row.__dict__
        out.append({c: values.get(c) for c in columns if c not in numbered or values.get(c) is not None})
    return out


def _combined(shapes: tuple[Shape, ...]) -> tuple[Any, tuple[tuple[str, ...], ...]]:
    """One statement for the parts ``shapes`` (built once per shape): the parts before the last its data-modifying
    CTEs, each part's values bound under names of its own (``p<i>_<column>``); and, per part, those names in the
    order of the part's values (``_parts``: the columns, then an update's keys)."""
    found = _STATEMENTS.get(shapes)
    if found is None:
        parts, names = [], []
        for i, (model, kind, columns) in enumerate(shapes):
            table, prefix = model.__table__, f"p{i}_"  # type: ignore[attr-defined]
            values = {c: bindparam(prefix + c, type_=table.c[c].type) for c in columns}
            if kind == "insert":
                parts.append(insert(table).values(values))
                names.append(tuple(prefix + c for c in columns))
            else:
                keys = [table.c[k] == bindparam(f"{prefix}k_{k}", type_=table.c[k].type) for k in _KEYS[model]]
                parts.append(update(table).where(and_(*keys)).values(values))
                names.append(tuple(prefix + c for c in (*columns, *(f"k_{k}" for k in _KEYS[model]))))
        statement = parts[-1].add_cte(*(part.cte(f"w{i}") for i, part in enumerate(parts[:-1])))
        found = (statement, tuple(names))
        if len(_STATEMENTS) >= _MAX_SHAPES:
            _STATEMENTS.clear()
        _STATEMENTS[shapes] = found
    return found


def _plain(model: type, kind: str) -> Any:
    """A table's insert, or its update by primary key (``k_<key>``); the columns are the parameters' keys."""
    found = _PLAIN.get((model, kind))
    if found is None:
        table = model.__table__  # type: ignore[attr-defined]
        if kind == "insert":
            found = insert(table)
        else:
            found = update(table).where(and_(*(table.c[k] == bindparam(f"k_{k}") for k in _KEYS[model])))
        _PLAIN[(model, kind)] = found
    return found


def _parts(new: Mapping[type, list[Any]], changed: Iterable[Any]) -> list[tuple[Shape, dict[str, Any]]]:
    """Every write as (shape, its values): the updates of the changed rows, then the new rows, parents first."""
    out: list[tuple[Shape, dict[str, Any]]] = []
    for row in changed:
        model, state = type(row), instance_state(row)
        columns = tuple(c for c in _COLUMNS[model] if c in state.committed_state)
        if columns:
            values = {c: state.dict[c] for c in columns}
            values.update({f"k_{k}": state.dict[k] for k in _KEYS[model]})
            out.append(((model, "update", columns), values))
    for model in ORDER:
        if new.get(model):
            out.extend(((model, "insert", tuple(values)), values) for values in row_values(model, new[model]))
    return out


async def write(
    session: AsyncSession, new: Mapping[type, list[Any]], changed: Iterable[Any], *, one_case: bool
) -> None:
    """Insert the ``new`` rows (by table) and write the columns the ``changed`` rows changed, in the session's
    transaction; the changed rows' states are committed. ``one_case``: the writes of one case, one statement on
    PostgreSQL; else (and on SQLite) each shape sent once with the values of all its rows (executemany)."""
    changed = list(changed)
    parts = _parts(new, changed)
    if one_case and len(parts) > 1 and session.get_bind().dialect.name == "postgresql":
        statement, names = _combined(tuple(shape for shape, _ in parts))
        params: dict[str, Any] = {}
        for (_, values), named in zip(parts, names, strict=True):
            params.update(zip(named, values.values(), strict=True))
        await session.execute(statement, params)
    else:
        grouped: dict[Shape, list[dict[str, Any]]] = {}
        for shape, values in parts:
            grouped.setdefault(shape, []).append(values)
        for (model, kind, _), rows in grouped.items():
            await session.execute(_plain(model, kind), rows[0] if len(rows) == 1 else rows)
    for row in changed:
        state = instance_state(row)
        state._commit_all(state.dict, session.sync_session.identity_map)
