"""The I/O of the one write tail, batched: the rows ``tail.record`` creates for many cases (audit events, outbox rows,
deadlines, reminders, indicators, evidence, opened cases) gathered in memory and inserted a table at a time.

A set-based writer (the deadline sweep in batches, a campaign's openings) runs the engine's own per-case code — the
checks, the guards, the appliers, the state digest and the event hash of ``tail.record`` — and hands it a
``RowBatch`` where that code would hand its rows to the session (``add``). The rows are the objects the engine
builds; only their insertion differs: ``RowBatch.insert`` writes each table's rows with one executemany statement
(asyncpg sends every row's execution in one round trip), parents before children, inside the caller's transaction,
which commits or rolls back the batch as a whole. Changes to rows read through the session (the case row, its deadlines)
are left to the session's flush, which sends them as executemany ``UPDATE``s.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from service.persistence.tables import (
    AuditEvent,
    Case,
    CaseIndicator,
    Deadline,
    DeadlineReminder,
    Evidence,
    OutboxMessage,
)


class Writer(Protocol):
    """Where the write tail hands the rows it creates: a session, or a ``RowBatch``."""

    def add(self, row: Any) -> None: ...


# Parents before children (foreign keys): a case before its deadlines, indicators, evidence, events and outbox rows.
ORDER: tuple[type, ...] = (Case, Deadline, CaseIndicator, Evidence, AuditEvent, OutboxMessage, DeadlineReminder)


def _columns(table: Table) -> tuple[tuple[str, bool], ...]:
    """Each column's name, and whether a row may leave it out when empty (a key the database numbers)."""
    return tuple(
        (column.key, bool(column.primary_key and column.autoincrement is not False)) for column in table.columns
    )


_COLUMNS = {model: _columns(model.__table__) for model in ORDER}  # type: ignore[attr-defined]
_INSERTS = {model: insert(model.__table__) for model in ORDER}  # type: ignore[attr-defined]


class RowBatch:
    """Rows created by the write tail for many cases, inserted a table at a time by ``insert``."""

    def __init__(self) -> None:
        self.rows: dict[type, list[Any]] = {model: [] for model in ORDER}

    def add(self, row: Any) -> None:
        kind = type(row)
        if kind not in self.rows:
            raise TypeError(f"a batched write cannot insert {kind.__name__} rows")
        self.rows[kind].append(row)

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.rows.values())

    def count(self, model: type) -> int:
        return len(self.rows[model])

    def values(self, model: type) -> list[dict[str, Any]]:
        """The rows of ``model`` as the parameters of its insert (a numbered key left to the database)."""
        out = []
        for row in self.rows[model]:
            values = {}
            for key, numbered in _COLUMNS[model]:
                value = getattr(row, key)
                if value is None and numbered:
                    continue
                values[key] = value
            out.append(values)
        return out

    async def insert(self, session: AsyncSession) -> None:
        """Every gathered row inserted, a statement per table (executemany), in the session's transaction; the
        batch is empty afterwards."""
        for model in ORDER:
            if not self.rows[model]:
                continue
            values = self.values(model)
            for keys in {tuple(v) for v in values}:  # a statement per shape (an id given or not)
                same = [v for v in values if tuple(v) == keys]
                await session.execute(_INSERTS[model], same)
            self.rows[model] = []
